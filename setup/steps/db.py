"""db: PostgreSQL in the agent's db jail, its admin login, the agent's role and databases.

The session it replaces (guide §5):
    bastille create ... atlasdb ...; bastille template atlasdb .../db   (PKG, initdb once,
        listen on 10.0.1.5, pg_hba from warden: never trust)
    su -m postgres -c psql: CREATE ROLE warden SUPERUSER LOGIN PASSWORD '<verifier>'
    psql -h 10.0.1.5 -U warden: CREATE ROLE atlas ...; CREATE DATABASE atlas_brain OWNER atlas;
        system_ops, system_brain, system_skills once per server; GRANTs
    echo "WARDEN_DB_DSN=..." >> the agent's credentials
Passwords are generated once (`secrets`), kept under the secrets directory (0700, files
0600) and reused; the server only ever sees SCRAM verifiers that warden computes, so no
plaintext password can reach its logs. The SQL runs from warden itself, over psycopg,
through a port forward on the run's own SSH connection (setup/db/tunnel.py).

It takes up to three rounds in one run: the jail and its template, then the admin
login (which needs the server up), then the SQL (which needs the admin login).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from .. import jail
from ..config import AgentConfig
from ..db import hba, names
from ..db.catalog import Catalog, read_catalog
from ..db.provision import DbWants, SqlChange, bootstrap_admin_sql, plan_sql
from ..db.provision import apply_sql as run_sql
from ..db.scram import verifier
from ..db.session import connect
from ..db.tunnel import forward
from ..errors import HostError
from ..facts import Facts
from ..layout import credentials, secrets_dir
from ..plan import Change, FileWrite, StepPlan
from ..secretfiles import read_secrets
from ..shell import heredoc, q
from ..transport import Executor

NAME = "db"
ROUNDS = 3
PORT = 5432
ADMIN_SECRET = "pg-admin"  # noqa: S105 - a file name, not a password
AGENT_SECRET = "pg-agent"  # noqa: S105 - a file name, not a password
DSN_KEYS = ("WARDEN_DB_DSN", "DATABASE_URL")


def _context(config: AgentConfig) -> dict[str, Any]:
    access = hba.AgentAccess.for_agent(config.agent_name, config.subnet)
    return {"pg_version": config.pg_version, "hba": hba.pg_hba(config.gateway, [access])}


SPEC = jail.JailRole(step=NAME, role="db", service="postgresql", context=_context)


@dataclass(frozen=True)
class DbState:
    """What warden read through its own login: never printed (the passwords)."""

    reachable: bool
    problem: str | None = None
    admin_ok: bool = False
    catalog: Catalog | None = None
    admin_password: str | None = field(default=None, repr=False)
    agent_password: str | None = field(default=None, repr=False)
    credentials: str | None = field(default=None, repr=False)


def admin_secret(config: AgentConfig) -> str:
    """The admin role's password: the db jail's owner keeps it."""
    return f"{secrets_dir(config.agent_name)}/{ADMIN_SECRET}"


def agent_secret(config: AgentConfig) -> str:
    """The agent role's password."""
    return f"{secrets_dir(config.agent_name)}/{AGENT_SECRET}"


def packages(config: AgentConfig) -> list[str]:
    return jail.packages(config)


def files(config: AgentConfig) -> list[str]:
    return jail.files(config, SPEC.role)


def probes(config: AgentConfig) -> dict[str, str]:
    """The jail's, and mode and owner of the secrets directory and files."""
    if not jail.is_mine(config, SPEC.role):
        return {}
    paths = (secrets_dir(config.agent_name), admin_secret(config), agent_secret(config))
    return {
        **jail.probes(config, SPEC),
        "db.secrets": "for p in "
        + " ".join(q(p) for p in paths)
        + '; do if [ -e "$p" ]; then ls -ldn "$p"; else echo "- - - - $p"; fi; done',
    }


def requires(config: AgentConfig, facts: Facts) -> list[tuple[str, str]]:
    missing = jail.requires(config, facts, SPEC.role)
    if jail.is_mine(config, SPEC.role) and config.agent_user not in facts.users:
        missing.append(("user", f"the agent's user {config.agent_user} does not exist"))
    return missing


def _stats(facts: Facts) -> dict[str, str]:
    """{path: mode letters + uid + gid} from the probe's `ls -ldn`."""
    section = facts.probe("db.secrets")
    found: dict[str, str] = {}
    for line in section.output.splitlines() if section is not None else ():
        words = line.split()
        if len(words) >= 9 and words[2].isdigit():
            found[words[-1]] = f"{words[0][:10]} {words[2]} {words[3]}"
    return found


def _secrets(step: StepPlan, config: AgentConfig, facts: Facts) -> bool:
    """The secrets directory and both passwords (generated once); True when all exist
    as they should."""
    have = _stats(facts)
    directory = secrets_dir(config.agent_name)
    ready = True
    if have.get(directory) != "drwx------ 0 0":
        ready = False
        step.changes.append(
            Change(
                NAME,
                f"secrets directory {directory} (root, 0700)",
                commands=(
                    f"mkdir -p {q(directory)}",
                    f"chown root:wheel {q(directory)}",
                    f"chmod 0700 {q(directory)}",
                ),
            )
        )
    for path, what in ((admin_secret(config), "admin"), (agent_secret(config), "agent")):
        if path not in have:
            ready = False
            step.changes.append(
                Change(
                    NAME,
                    f"generate the PostgreSQL {what} password ({path}, 0600)",
                    files=(FileWrite(path, secrets.token_urlsafe(32) + "\n", 0o600, secret=True),),
                )
            )
        elif have[path] != "-rw------- 0 0":
            ready = False
            step.changes.append(
                Change(
                    NAME,
                    f"{path}: back to root, 0600",
                    commands=(f"chown root:wheel {q(path)}", f"chmod 0600 {q(path)}"),
                )
            )
    return ready


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """The jail, the secrets, the admin login, the SQL, the DSN: each only where it
    differs."""
    if config.runtime == "jail" and "db" in config.roles and not jail.is_mine(config, "db"):
        step = StepPlan(NAME)
        step.refusals.append(
            f"db: WARDEN_DB_AGENT={config.db_agent} (another agent's db jail) is not built in "
            "this version of warden"
        )
        return step
    if config.db_runtime == "host" and "db" in config.roles:
        step = StepPlan(NAME)
        step.refusals.append(
            "db: WARDEN_DB_RUNTIME=host (PostgreSQL on the host) is not built in this "
            "version of warden"
        )
        return step
    step, service_ok = jail.plan(config, facts, SPEC)
    if not jail.is_mine(config, SPEC.role) or step.refusals:
        return step
    ready = _secrets(step, config, facts)
    state = facts.extras.get(NAME)
    jail_name = config.jail_names["db"]
    if not (service_ok and ready) or not isinstance(state, DbState):
        step.changes.append(
            Change(
                NAME,
                f"then, once PostgreSQL runs in {jail_name}: the admin role, role "
                f"{config.agent_name}, databases {names.brain_database(config.agent_name)} and "
                f"{', '.join(names.SHARED_DATABASES)}, the DSN in the credentials",
                deferred=True,
            )
        )
        return step
    if not state.reachable:
        step.refusals.append(f"db: {state.problem}")
        return step
    if not state.admin_ok:
        assert state.admin_password is not None
        sql_text = bootstrap_admin_sql(verifier(state.admin_password))
        delimiter, body = heredoc(sql_text if sql_text.endswith("\n") else sql_text + "\n")
        step.changes.append(
            Change(
                NAME,
                f"create or update PostgreSQL's admin role {names.ADMIN_ROLE} in {jail_name} "
                f"(as postgres on the jail's socket; {state.problem or 'cannot log in'})",
                commands=(
                    f"jexec -l -U postgres {q(jail_name)} psql -X -q -v ON_ERROR_STOP=1 "
                    f"-d {names.ADMIN_DATABASE} <<'{delimiter}'\n{body}{delimiter}",
                ),
                secret=True,
            )
        )
        return step
    assert state.catalog is not None and state.agent_password is not None
    wants = DbWants.for_agent(config.agent_name, state.agent_password)
    for change in plan_sql(wants, state.catalog):
        step.changes.append(Change(NAME, change.summary, sql=change))
    _dsn(step, config, state)
    return step


def dsn(config: AgentConfig, password: str) -> str:
    """The agent's DSN: its role, password and brain database at the db jail."""
    role = names.agent_role(config.agent_name)
    address = config.role_ips["db"]
    return f"postgresql://{role}:{password}@{address}:{PORT}/{names.brain_database(role)}"


def with_dsn(text: str | None, value: str) -> str:
    """The credentials file with warden's DSN lines replaced (other lines kept)."""
    kept = [
        line
        for line in (text or "").splitlines()
        if not any(line.startswith(f"{key}=") for key in DSN_KEYS)
    ]
    return "".join(f"{line}\n" for line in [*kept, *(f"{k}='{value}'" for k in DSN_KEYS)])


def _dsn(step: StepPlan, config: AgentConfig, state: DbState) -> None:
    assert state.agent_password is not None
    wanted = with_dsn(state.credentials, dsn(config, state.agent_password))
    if state.credentials == wanted:
        return
    user = config.agent_user
    step.changes.append(
        Change(
            NAME,
            f"the agent's DSN in {credentials(config.agent_name)} (WARDEN_DB_DSN, DATABASE_URL)",
            files=(
                FileWrite(
                    credentials(config.agent_name),
                    wanted,
                    0o600,
                    owner=user,
                    group=user,
                    secret=True,
                ),
            ),
        )
    )


def enrich(executor: Executor, config: AgentConfig, facts: Facts) -> Facts:
    """Read the passwords and, through the forward, the server's catalog, when there is
    a server to read (its jail runs PostgreSQL and the passwords exist)."""
    if not jail.is_mine(config, SPEC.role) or facts.assumed:
        return facts
    seen = jail.probed(facts, config.jail_names["db"])
    if seen.get("service") != "running":
        return facts
    stored = read_secrets_for(executor, config)
    admin, agent = stored[admin_secret(config)], stored[agent_secret(config)]
    if admin is None or agent is None:
        return facts
    creds = stored[credentials(config.agent_name)]
    state = _login(executor, config, admin.strip(), agent.strip(), creds)
    return facts.with_extra(NAME, state)


def read_secrets_for(executor: Executor, config: AgentConfig) -> dict[str, str | None]:
    return read_secrets(
        executor, [admin_secret(config), agent_secret(config), credentials(config.agent_name)]
    )


def _login(
    executor: Executor, config: AgentConfig, admin: str, agent: str, creds: str | None
) -> DbState:
    host = str(config.role_ips["db"])
    try:
        with forward(executor, host, PORT) as address:
            try:
                conn = connect(address, names.ADMIN_ROLE, admin, names.ADMIN_DATABASE)
            except HostError as exc:
                return DbState(
                    reachable=True,
                    problem=exc.message,
                    admin_password=admin,
                    agent_password=agent,
                    credentials=creds,
                )
            try:
                catalog = read_catalog(
                    conn, admin_opener(address, admin), shared=names.SHARED_DATABASES
                )
            finally:
                conn.close()
    except HostError as exc:
        return DbState(reachable=False, problem=exc.message)
    return DbState(
        reachable=True,
        admin_ok=True,
        catalog=catalog,
        admin_password=admin,
        agent_password=agent,
        credentials=creds,
    )


def admin_opener(
    address: tuple[str, int], password: str
) -> Callable[[str], psycopg.Connection[Any]]:
    def open_database(dbname: str) -> psycopg.Connection[Any]:
        return connect(address, names.ADMIN_ROLE, password, dbname)

    return open_database


def apply_sql(
    executor: Executor,
    config: AgentConfig,
    facts: Facts,
    changes: list[Change],
    *,
    progress: Callable[[str, int, str, str], None] | None = None,
    journal: Callable[[str, int, float], None] | None = None,
) -> None:
    """Run the SQL changes as the admin role through the forward, journalled one by one."""
    state = facts.extras.get(NAME)
    if not isinstance(state, DbState) or state.admin_password is None:
        raise HostError(f"{executor.target}: db: no admin login to run the SQL with")
    run_admin_sql(executor, config, NAME, state.admin_password, changes, progress, journal)


def run_admin_sql(
    executor: Executor,
    config: AgentConfig,
    step: str,
    password: str,
    changes: list[Change],
    progress: Callable[[str, int, str, str], None] | None,
    journal: Callable[[str, int, float], None] | None,
) -> None:
    """SQL changes as the admin role through the forward to the agent's db jail, each
    journalled and shown as it ends (the db step's, and the soul step's seeding)."""
    ordered: list[SqlChange] = [c.sql for c in changes]
    finished: list[SqlChange] = []
    with forward(executor, str(config.role_ips["db"]), PORT) as address:
        started = time.time()

        def done(change: SqlChange) -> None:
            nonlocal started
            finished.append(change)
            if journal is not None:
                journal(change.summary, 0, started)
            if progress is not None:
                progress(step, len(finished), "done", change.summary)
            started = time.time()

        try:
            run_sql(admin_opener(address, password), ordered, on_change=done)
        except Exception:
            if journal is not None and len(finished) < len(ordered):
                journal(ordered[len(finished)].summary, 1, started)
            raise

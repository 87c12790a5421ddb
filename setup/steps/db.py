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

import ipaddress
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
from ..layout import credentials, jail_dir, secrets_dir
from ..plan import Change, FileWrite, StepPlan
from ..registry import RegistryEntry, borrowers, entry_for, load_entries
from ..secretfiles import read_secrets
from ..shared import lent_jail
from ..shell import heredoc, q
from ..transport import Executor

NAME = "db"
ROUNDS = 3
PORT = 5432
ADMIN_SECRET = "pg-admin"  # noqa: S105 - a file name, not a password
AGENT_SECRET = "pg-agent"  # noqa: S105 - a file name, not a password
DSN_KEYS = ("WARDEN_DB_DSN", "DATABASE_URL")
# Inside the db jail (templates/bastille/db: hba_file). The template places the first
# one; this step keeps it listing every agent that uses the jail.
HBA_FILE = "/usr/local/etc/warden/pg_hba.conf"


def _context(config: AgentConfig) -> dict[str, Any]:
    """The template's values; its pg_hba.initial.conf lets the owner alone in."""
    access = hba.AgentAccess.for_agent(config.agent_name, config.subnet)
    return {"pg_version": config.pg_version, "hba": hba.pg_hba(config.gateway, [access])}


SPEC = jail.JailRole(step=NAME, role="db", service="postgresql", context=_context)


@dataclass(frozen=True)
class Server:
    """The PostgreSQL this agent's role lives on: in its own db jail, or in the one
    another agent lends it (WARDEN_DB_AGENT)."""

    owner: str
    jail: str
    address: ipaddress.IPv4Address
    admin_from: ipaddress.IPv4Address
    accesses: tuple[hba.AgentAccess, ...]
    mine: bool

    @property
    def admin_secret(self) -> str:
        """The admin role's password: the jail's owner keeps it."""
        return f"{secrets_dir(self.owner)}/{ADMIN_SECRET}"

    @property
    def hba(self) -> str:
        """pg_hba.conf for the owner and everyone who uses its jail: the owner and the
        agents registered as borrowing it compute the same bytes."""
        return hba.pg_hba(self.admin_from, list(self.accesses))

    @property
    def hba_path(self) -> str:
        """Where the host sees the file (shown in diffs; written from inside the jail)."""
        return f"{jail_dir(self.jail)}/root{HBA_FILE}"


def uses_db(config: AgentConfig) -> bool:
    """The agent has a PostgreSQL role: db in WARDEN_ROLES, jails on this host."""
    return config.runtime == "jail" and "db" in config.roles


def server(config: AgentConfig, facts: Facts) -> Server | str:
    """This agent's server, or why there is none to use (a refusal's text)."""
    if jail.is_mine(config, SPEC.role):
        owner, jail_name = config.agent_name, config.jail_names["db"]
        address, gateway, subnet = config.role_ips["db"], config.gateway, config.subnet
    else:
        lent = lent_jail(config, facts, SPEC.role)
        if isinstance(lent, str):
            return lent
        owner, jail_name = lent.lender, lent.jail
        address, gateway, subnet = lent.address, lent.gateway, lent.subnet
    entries, _ = load_entries(facts)
    entries[config.agent_name] = entry_for(config, facts)  # as it will be registered
    accesses = accesses_for(owner, gateway, subnet, entries)
    return Server(owner, jail_name, address, gateway, accesses, owner == config.agent_name)


def accesses_for(
    owner: str,
    gateway: ipaddress.IPv4Address,
    subnet: ipaddress.IPv4Network,
    entries: dict[str, RegistryEntry],
) -> tuple[hba.AgentAccess, ...]:
    """Who logs in to *owner*'s server: the owner from its /24, and each agent the
    registry shows borrowing it."""
    return (
        hba.AgentAccess.for_agent(owner, subnet),
        *(
            # the borrower's own session connects from the host's address on the
            # owner's /24; its jails from its own /24 (pf lets that one port through)
            hba.AgentAccess.for_agent(entry.agent, f"{gateway}/32", entry.subnet)
            for entry in borrowers(entries, owner)
            if entry.borrows.get(SPEC.role) == owner
        ),
    )


@dataclass(frozen=True)
class DbState:
    """What warden read through its own login: never printed (the passwords)."""

    reachable: bool
    problem: str | None = None
    hba: str | None = None
    admin_ok: bool = False
    catalog: Catalog | None = None
    admin_password: str | None = field(default=None, repr=False)
    agent_password: str | None = field(default=None, repr=False)
    credentials: str | None = field(default=None, repr=False)


def admin_secret(config: AgentConfig) -> str:
    """The admin role's password of the agent's own db jail."""
    return f"{secrets_dir(config.agent_name)}/{ADMIN_SECRET}"


def agent_secret(config: AgentConfig) -> str:
    """The agent role's password."""
    return f"{secrets_dir(config.agent_name)}/{AGENT_SECRET}"


def packages(config: AgentConfig) -> list[str]:
    return jail.packages(config)


def files(config: AgentConfig) -> list[str]:
    return jail.files(config, SPEC.role)


def _secret_paths(config: AgentConfig) -> list[str]:
    """The agent's secrets directory and the passwords it keeps (the admin one only
    for its own jail)."""
    mine = jail.is_mine(config, SPEC.role)
    return [
        secrets_dir(config.agent_name),
        *([admin_secret(config)] if mine else []),
        agent_secret(config),
    ]


def probes(config: AgentConfig) -> dict[str, str]:
    """The jail's (its own), and mode and owner of the secrets directory and files."""
    if not uses_db(config):
        return {}
    return {
        **jail.probes(config, SPEC),
        "db.secrets": "for p in "
        + " ".join(q(p) for p in _secret_paths(config))
        + '; do if [ -e "$p" ]; then ls -ldn "$p"; else echo "- - - - $p"; fi; done',
    }


def requires(config: AgentConfig, facts: Facts) -> list[tuple[str, str]]:
    missing = jail.requires(config, facts, SPEC.role)
    if uses_db(config) and config.agent_user not in facts.users:
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
    """The secrets directory and the passwords (generated once); True when all exist
    as they should."""
    have = _stats(facts)
    directory, *passwords = _secret_paths(config)
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
    for path in passwords:
        what = "admin" if path == admin_secret(config) else "agent"
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
    """The jail, the secrets, pg_hba.conf, the admin login, the SQL, the DSN: each only
    where it differs. With WARDEN_DB_AGENT the jail and its admin login are the other
    agent's: this agent gets its role, its database and a line in that pg_hba.conf."""
    if not uses_db(config):
        return StepPlan(NAME)
    if config.db_runtime == "host":
        step = StepPlan(NAME)
        step.refusals.append(
            "db: WARDEN_DB_RUNTIME=host (PostgreSQL on the host) is not built in this "
            "version of warden"
        )
        return step
    where = server(config, facts)
    if isinstance(where, str):
        step = StepPlan(NAME)
        step.refusals.append(where)
        return step
    if where.mine:
        step, service_ok = jail.plan(config, facts, SPEC)
        if step.refusals:
            return step
    else:
        step, service_ok = StepPlan(NAME), True  # the owner's: read by enrich
    ready = _secrets(step, config, facts)
    state = facts.extras.get(NAME)
    if not (service_ok and ready) or not isinstance(state, DbState):
        step.changes.append(
            Change(
                NAME,
                f"then, once PostgreSQL runs in {where.jail}: its pg_hba.conf, the admin role, "
                f"role {config.agent_name}, databases {names.brain_database(config.agent_name)} "
                f"and {', '.join(names.SHARED_DATABASES)}, the DSN in the credentials",
                deferred=True,
            )
        )
        return step
    if not state.reachable:
        step.refusals.append(f"db: {state.problem}")
        return step
    _hba(step, where, state)
    if not state.admin_ok:
        if not where.mine:
            step.refusals.append(
                f"db: the admin login to {where.owner}'s server in {where.jail} fails "
                f"({state.problem or 'cannot log in'}): run setup for {where.owner} first"
            )
            return step
        assert state.admin_password is not None
        sql_text = bootstrap_admin_sql(verifier(state.admin_password))
        delimiter, body = heredoc(sql_text if sql_text.endswith("\n") else sql_text + "\n")
        step.changes.append(
            Change(
                NAME,
                f"create or update PostgreSQL's admin role {names.ADMIN_ROLE} in {where.jail} "
                f"(as postgres on the jail's socket; {state.problem or 'cannot log in'})",
                commands=(
                    f"jexec -l -U postgres {q(where.jail)} psql -X -q -v ON_ERROR_STOP=1 "
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
    _dsn(step, config, where, state)
    return step


def _hba(step: StepPlan, where: Server, state: DbState) -> None:
    """pg_hba.conf as the registry says: written from inside the jail (root there
    could have turned a path below its root into a link to a host file), then
    reloaded."""
    wanted = where.hba
    if state.hba == wanted:
        return
    roles = ", ".join(a.role for a in where.accesses)
    delimiter, body = heredoc(wanted)
    inside = HBA_FILE
    step.changes.append(
        Change(
            NAME,
            f"pg_hba.conf of {where.jail}: {roles} (scram-sha-256), then reload PostgreSQL",
            files=(FileWrite(where.hba_path, wanted, 0o644, before=state.hba),),
            script=(
                f"jexec -l {q(where.jail)} sh -c "
                + q(f"umask 022; cat > {inside}.new && mv -f {inside}.new {inside}")
                + f" <<'{delimiter}'\n{body}{delimiter}\n"
                f"jexec -l {q(where.jail)} service postgresql reload"
            ),
        )
    )


def dsn(config: AgentConfig, where: Server, password: str) -> str:
    """The agent's DSN: its role, password and brain database at its server."""
    role = names.agent_role(config.agent_name)
    return f"postgresql://{role}:{password}@{where.address}:{PORT}/{names.brain_database(role)}"


def with_dsn(text: str | None, value: str) -> str:
    """The credentials file with warden's DSN lines replaced (other lines kept)."""
    kept = [
        line
        for line in (text or "").splitlines()
        if not any(line.startswith(f"{key}=") for key in DSN_KEYS)
    ]
    return "".join(f"{line}\n" for line in [*kept, *(f"{k}='{value}'" for k in DSN_KEYS)])


def _dsn(step: StepPlan, config: AgentConfig, where: Server, state: DbState) -> None:
    assert state.agent_password is not None
    wanted = with_dsn(state.credentials, dsn(config, where, state.agent_password))
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
    """Read pg_hba.conf, the passwords and, through the forward, the server's catalog,
    when there is a server to read (its jail runs PostgreSQL)."""
    if not uses_db(config) or facts.assumed:
        return facts
    where = server(config, facts)
    if isinstance(where, str):
        return facts
    if where.mine and jail.probed(facts, where.jail).get("service") != "running":
        return facts
    running, hba_text = read_hba(executor, where.jail)
    if not running:
        return facts.with_extra(
            NAME,
            DbState(
                reachable=False,
                problem=f"{where.owner}'s db jail {where.jail} does not run PostgreSQL: run "
                f"setup for {where.owner} first (its --step db)",
            ),
        )
    paths = [where.admin_secret, agent_secret(config), credentials(config.agent_name)]
    stored = read_secrets(executor, paths)
    admin, agent = stored[where.admin_secret], stored[agent_secret(config)]
    if admin is None and not where.mine:
        return facts.with_extra(
            NAME,
            DbState(
                reachable=False,
                problem=f"{where.admin_secret} is missing: run setup for {where.owner} first",
            ),
        )
    if admin is None or agent is None:
        return facts
    creds = stored[credentials(config.agent_name)]
    state = _login(executor, where, admin.strip(), agent.strip(), creds, hba_text)
    return facts.with_extra(NAME, state)


def read_hba(executor: Executor, jail_name: str) -> tuple[bool, str | None]:
    """Whether the jail runs PostgreSQL, and its pg_hba.conf read from inside it."""
    j = q(jail_name)
    result = executor.run(
        f"if jls -j {j} jid >/dev/null 2>&1 && "
        f"jexec -l {j} service postgresql onestatus >/dev/null 2>&1; then echo running; "
        f"jexec -l {j} cat {HBA_FILE} 2>/dev/null || :; else echo stopped; fi\n"
    )
    first, _, rest = result.stdout.partition("\n")
    if result.rc != 0 or first != "running":
        return False, None
    return True, rest


def _login(
    executor: Executor,
    where: Server,
    admin: str,
    agent: str,
    creds: str | None,
    hba_text: str | None,
) -> DbState:
    try:
        with forward(executor, str(where.address), PORT) as address:
            try:
                conn = connect(address, names.ADMIN_ROLE, admin, names.ADMIN_DATABASE)
            except HostError as exc:
                return DbState(
                    reachable=True,
                    problem=exc.message,
                    hba=hba_text,
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
        hba=hba_text,
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
    where = server(config, facts)
    if not isinstance(state, DbState) or state.admin_password is None or isinstance(where, str):
        raise HostError(f"{executor.target}: db: no admin login to run the SQL with")
    run_admin_sql(executor, where, NAME, state.admin_password, changes, progress, journal)


def run_admin_sql(
    executor: Executor,
    where: Server,
    step: str,
    password: str,
    changes: list[Change],
    progress: Callable[[str, int, str, str], None] | None,
    journal: Callable[[str, int, float], None] | None,
) -> None:
    """SQL changes as the admin role through the forward to the agent's server, each
    journalled and shown as it ends (the db step's, and the soul step's seeding)."""
    ordered: list[SqlChange] = [c.sql for c in changes]
    finished: list[SqlChange] = []
    with forward(executor, str(where.address), PORT) as address:
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

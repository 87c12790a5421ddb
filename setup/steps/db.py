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
What it reads and runs through that login is setup/db/login.py, and PostgreSQL on
the host itself (WARDEN_DB_RUNTIME=host) setup/db/host_cluster.py: teardown and the
soul step use them too, through the names this module re-exports.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from .. import jail
from ..config import AgentConfig
from ..db import hba, names
from ..db.host_cluster import PG_VERSIONS, host_values, plan_host_server
from ..db.host_cluster import host_settings_change as host_settings_change
from ..db.login import PORT as PORT
from ..db.login import DbState as DbState
from ..db.login import admin_opener as admin_opener
from ..db.login import login, run_admin_sql
from ..db.login import read_hba as read_hba
from ..db.provision import DbWants, bootstrap_admin_sql, plan_sql
from ..db.scram import verifier
from ..db.server import (
    HOST_CONF,
    HOST_HBA,
    HOST_SECRETS,
    POSTGRES,
    Server,
    host_data,
    host_include,
    server_for,
)
from ..domains import Location
from ..errors import HostError
from ..facts import Facts, Probe, Stat, read, stat_probe, stats
from ..layout import ADMIN_SECRET, AGENT_SECRET, BRIDGE, credentials, secrets_dir
from ..ops import directory, put, run
from ..plan import Change, StepPlan
from ..registry import RegistryEntry, db_on_host, entry_for, load_entries
from ..render import render
from ..shared import lent_jail
from ..shell import q
from ..transport import Executor

NAME = "db"
ROUNDS = 3
DSN_KEYS = ("WARDEN_DB_DSN", "DATABASE_URL")


def _context(config: AgentConfig) -> dict[str, Any]:
    """The template's values; its pg_hba.initial.conf lets the owner alone in."""
    access = hba.AgentAccess.for_agent(config.agent_name, config.subnet)
    return {"pg_version": config.pg_version, "hba": hba.pg_hba(config.gateway, [access])}


SPEC = jail.JailRole(
    step=NAME,
    role="db",
    service="postgresql",
    context=_context,
)


def uses_db(config: AgentConfig) -> bool:
    """The agent has a PostgreSQL role: db in WARDEN_ROLES, jails on this host."""
    return config.runtime == "jail" and "db" in config.roles


def server(config: AgentConfig, facts: Facts) -> Server | str:
    """This agent's server as the registry will have it (this agent registered as the
    plan will register it), or why there is none to use (a refusal's text)."""
    if config.db_agent:
        lent = lent_jail(config, facts, SPEC.role)
        if isinstance(lent, str):
            return lent
    entries, _ = load_entries(facts)
    entries[config.agent_name] = entry_for(config, facts)
    found = server_for(config.agent_name, entries)
    if found is None:
        return f"db: {config.agent_name} has no PostgreSQL server on this host"
    return found


def admin_secret(config: AgentConfig) -> str:
    """The admin role's password of the agent's own db jail."""
    return f"{secrets_dir(config.agent_name)}/{ADMIN_SECRET}"


def agent_secret(config: AgentConfig) -> str:
    """The agent role's password."""
    return f"{secrets_dir(config.agent_name)}/{AGENT_SECRET}"


def packages(config: AgentConfig) -> list[str]:
    """Bastille for a db jail; for PostgreSQL on the host its packages, and every
    other version's server (the host has one cluster)."""
    if db_on_host(config) and uses_db(config):
        return [
            *(f"postgresql{v}-server" for v in PG_VERSIONS),
            f"postgresql{config.pg_version}-client",
        ]
    return jail.packages(config)


def files(config: AgentConfig) -> list[str | Location]:
    if db_on_host(config) and uses_db(config):
        return [HOST_CONF, HOST_HBA]
    return jail.files(config, SPEC.role)


def _secret_paths(config: AgentConfig) -> tuple[list[str], list[str]]:
    """The secrets directories and the passwords this agent's run keeps: the admin
    one of its own jail, or of the host's cluster; never another agent's."""
    directories, passwords = [secrets_dir(config.agent_name)], []
    if db_on_host(config):
        directories.append(HOST_SECRETS)
        passwords.append(f"{HOST_SECRETS}/{ADMIN_SECRET}")
    elif jail.is_mine(config, SPEC.role):
        passwords.append(admin_secret(config))
    return directories, [*passwords, agent_secret(config)]


def probes(config: AgentConfig) -> dict[str, Probe]:
    """The jail's (its own), the host cluster's state (its data directory read as
    postgres, whose it is), and mode and owner of the secrets directories and files."""
    if not uses_db(config):
        return {}
    directories, passwords = _secret_paths(config)
    found = {
        **jail.probes(config, SPEC),
        "db.secrets": stat_probe([*directories, *passwords]),
    }
    if db_on_host(config):
        data = host_data(config.pg_version)
        conf, line = host_include(config.pg_version)
        found["db.host"] = Probe(
            f"if [ -f {q(data + '/PG_VERSION')} ]; then echo initdb=yes; fi; "
            f"if grep -qxF {q(line)} {q(conf)} 2>/dev/null; then echo include=yes; fi",
            POSTGRES,
        )
        found["db.host.running"] = Probe("service postgresql onestatus")
    return found


def requires(config: AgentConfig, facts: Facts) -> list[tuple[str, str]]:
    missing = jail.requires(config, facts, SPEC.role)
    if not uses_db(config):
        return missing
    if config.agent_user not in facts.users:
        missing.append(("user", f"the agent's user {config.agent_user} does not exist"))
    bridge = facts.interfaces.get(BRIDGE)
    if db_on_host(config) and (
        bridge is None or not any(a.ip == config.gateway for a in bridge.inet)
    ):
        missing.append(
            (
                "network",
                f"the agent's gateway {config.gateway}, where PostgreSQL listens, is not on "
                f"{BRIDGE}",
            )
        )
    return missing


def _secrets(step: StepPlan, config: AgentConfig, facts: Facts) -> bool:
    """The secrets directory and the passwords (generated once); True when all exist
    as they should."""
    have = stats(facts.probe("db.secrets"))
    directories, passwords = _secret_paths(config)
    ready = True
    for path in directories:
        if have.get(path) == Stat("drwx------", 0, 0):
            continue
        ready = False
        step.changes.append(
            Change(NAME, f"secrets directory {path} (root, 0700)", ops=(directory(path, 0o700),))
        )
    for path in passwords:
        what = "agent" if path == agent_secret(config) else "admin"
        if path not in have:
            ready = False
            step.changes.append(
                Change(
                    NAME,
                    f"generate the PostgreSQL {what} password ({path}, 0600)",
                    ops=(put(path, secrets.token_urlsafe(32) + "\n", 0o600, secret=True),),
                )
            )
        elif have[path] != Stat("-rw-------", 0, 0):
            ready = False
            step.changes.append(
                Change(
                    NAME,
                    f"{path}: back to root, 0600",
                    ops=(run("chown", "root:wheel", path), run("chmod", "0600", path)),
                )
            )
    return ready


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """The jail, the secrets, pg_hba.conf, the admin login, the SQL, the DSN: each only
    where it differs. With WARDEN_DB_AGENT the jail and its admin login are the other
    agent's: this agent gets its role, its database and a line in that pg_hba.conf."""
    if not uses_db(config):
        return StepPlan(NAME)
    moved = _moved(config, facts)
    where = moved or server(config, facts)
    if isinstance(where, str):
        step = StepPlan(NAME)
        step.refuse("db.server-unavailable", where)
        return step
    if where.jail is None:
        step = StepPlan(NAME)
        service_ok = plan_host_server(step, config, facts, where)
    elif where.mine:
        step, service_ok = jail.plan(config, facts, SPEC)
    else:
        step, service_ok = StepPlan(NAME), True  # the owner's: read by enrich
    if step.refusals:
        return step
    ready = _secrets(step, config, facts)
    state = facts.extras.get(NAME)
    if not (service_ok and ready) or not isinstance(state, DbState):
        step.changes.append(
            Change(
                NAME,
                f"then, once PostgreSQL runs {where.where}: its pg_hba.conf, the admin role, "
                f"role {config.agent_name}, databases {names.brain_database(config.agent_name)} "
                f"and {', '.join(names.SHARED_DATABASES)}, the DSN in the credentials",
                deferred=True,
            )
        )
        return step
    if not state.reachable:
        step.refuse("db.state-unreadable", f"db: {state.problem}")
        return step
    if where.jail is not None:
        _hba(step, where, state)
    if not state.admin_ok:
        if not where.mine:
            step.refuse(
                "db.admin-login-fails",
                f"db: the admin login to {where.owner}'s server {where.where} fails "
                f"({state.problem or 'cannot log in'}): run setup for {where.owner} first",
            )
            return step
        assert state.admin_password is not None
        step.changes.append(
            Change(
                NAME,
                f"create or update PostgreSQL's admin role {names.ADMIN_ROLE} {where.where} "
                f"(as postgres on the server's socket; {state.problem or 'cannot log in'})",
                ops=(
                    where.psql(
                        names.ADMIN_DATABASE,
                        bootstrap_admin_sql(verifier(state.admin_password)),
                        secret=True,
                    ),
                ),
            )
        )
        return step
    assert state.catalog is not None and state.agent_password is not None
    wants = DbWants.for_agent(config.agent_name, state.agent_password)
    for change in plan_sql(wants, state.catalog):
        step.changes.append(Change(NAME, change.summary, sql=change))
    _dsn(step, config, where, state)
    return step


def _place(entry: RegistryEntry) -> str:
    """Where a registry entry keeps the agent's database, in words."""
    if "db" in entry.borrows:
        return f"{entry.borrows['db']}'s db jail (WARDEN_DB_AGENT={entry.borrows['db']})"
    if entry.db_runtime == "host":
        return "the host's PostgreSQL (WARDEN_DB_RUNTIME=host)"
    return f"its own db jail {entry.jails.get('db', '(none)')}"


def _moved(config: AgentConfig, facts: Facts) -> str | None:
    """A refusal when the .env puts the database somewhere other than the registry
    records it: warden never moves a database (the old one would be left behind, and
    its server's teardown would then drop it without a dump)."""
    recorded = load_entries(facts)[0].get(config.agent_name)
    if recorded is None or "db" not in recorded.roles or recorded.runtime != "jail":
        return None
    before, after = _place(recorded), _place(entry_for(config, facts))
    if before == after:
        return None
    return (
        f"db: {config.agent_name}'s database is on {before}, and the .env now says {after}; "
        "warden does not move a database: put the .env back, or tear the agent down (its "
        "brain is dumped first) and set it up again"
    )


def _hba(step: StepPlan, where: Server, state: DbState) -> None:
    """A db jail's pg_hba.conf as the registry says."""
    wanted = where.hba
    if state.hba == wanted or where.jail is None:
        return
    roles = ", ".join(a.role for a in where.accesses)
    step.changes.append(
        jail_hba_change(
            NAME, where, state.hba, f"pg_hba.conf of {where.jail}: {roles} (scram-sha-256)"
        )
    )


def jail_hba_change(step: str, where: Server, before: str | None, summary: str) -> Change:
    """Write the jail's pg_hba.conf from inside the jail (root there could have turned
    a path below its root into a link to a host file), then reload PostgreSQL."""
    assert where.jail is not None
    return Change(
        step,
        f"{summary}, then reload PostgreSQL",
        ops=(put(where.hba_location, where.hba, 0o644, before=before), where.service("reload")),
    )


def dsn(config: AgentConfig, where: Server, password: str) -> str:
    """The agent's DSN: its role, password and brain database at its server."""
    role = names.agent_role(config.agent_name)
    return f"postgresql://{role}:{password}@{where.address}:{PORT}/{names.brain_database(role)}"


def credentials_text(agent: str, value: str) -> str:
    """The whole credentials file: warden's header and its DSN lines. Warden renders it
    whole, never merging back what it read there (the agent owns the file)."""
    header = render("service/credentials.j2", agent=agent)
    return header + "".join(f"{k}='{value}'\n" for k in DSN_KEYS)


def _dsn(step: StepPlan, config: AgentConfig, where: Server, state: DbState) -> None:
    assert state.agent_password is not None
    wanted = credentials_text(config.agent_name, dsn(config, where, state.agent_password))
    if state.credentials == wanted:
        return
    user = config.agent_user
    step.changes.append(
        Change(
            NAME,
            f"the agent's DSN in {credentials(config.agent_name)} (WARDEN_DB_DSN, DATABASE_URL)",
            ops=(put(credentials(config.agent_name), wanted, 0o600, user, user, secret=True),),
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
    paths = [where.admin_secret, agent_secret(config), credentials(config.agent_name)]
    if where.jail is None:
        if host_values(facts).get("running") != "yes":
            return facts
        running, hba_text, stored = True, None, read(executor, files=paths)
    elif where.mine and jail.probed(facts, where.jail).get("service") != "running":
        return facts
    else:
        # one round trip: the server's state and pg_hba.conf inside the jail, the passwords
        running, hba_text, stored = read_hba(executor, where.jail, *paths)
    if not running:
        return facts.with_extra(
            NAME,
            DbState(
                reachable=False,
                problem=f"{where.owner}'s db jail {where.jail} does not run PostgreSQL: run "
                f"setup for {where.owner} first (its --step db)",
            ),
        )
    admin, agent = stored.file(where.admin_secret), stored.file(agent_secret(config))
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
    creds = stored.file(credentials(config.agent_name))
    state = login(executor, where, admin.strip(), agent.strip(), creds, hba_text)
    return facts.with_extra(NAME, state)


SqlApplier = Callable[..., None]


def admin_sql(step: str, password_of: Callable[[Facts], str | None]) -> SqlApplier:
    """A step's apply_sql: its SQL changes as the admin role through the forward to the
    agent's server, journalled one by one (the db step's, and the soul step's seeding)."""

    def apply_sql(
        executor: Executor,
        config: AgentConfig,
        facts: Facts,
        changes: list[Change],
        *,
        progress: Callable[[str, int, str, str], None] | None = None,
        journal: Callable[[str, int, float], None] | None = None,
    ) -> None:
        password, where = password_of(facts), server(config, facts)
        if password is None or isinstance(where, str):
            raise HostError(f"{executor.target}: {step}: no admin login to run the SQL with")
        run_admin_sql(executor, where, step, password, changes, progress, journal)

    return apply_sql


def _admin_password(facts: Facts) -> str | None:
    state = facts.extras.get(NAME)
    return state.admin_password if isinstance(state, DbState) else None


apply_sql = admin_sql(NAME, _admin_password)

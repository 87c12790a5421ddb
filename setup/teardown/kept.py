"""A database on a server that outlives the agent (WARDEN_DB_AGENT, another agent's db
jail; WARDEN_DB_RUNTIME=host, the host's PostgreSQL): what is left of the agent there,
read over its own round trip, and the changes that take the agent out of it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import AgentConfig
from ..db import names
from ..db.provision import DATABASES_SQL, drop_agent_sql, role_exists_sql
from ..db.server import HOST_CONF, HOST_HBA, Server
from ..domains import JailUser
from ..facts import Facts, Probe, read
from ..plan import Change, StepPlan
from ..shell import q
from ..steps import db
from ..transport import Executor
from .names import KEPT_DB, NAME


def brain_check(jail: str, agent: str) -> Probe:
    """Exit 0 when the jail's PostgreSQL has the agent's brain database (asked inside
    the jail, as its postgres)."""
    return Probe(
        f"psql -X -A -t -d {q(names.brain_database(agent))} -c 'select 1' >/dev/null 2>&1",
        JailUser(jail, "postgres"),
    )


@dataclass(frozen=True)
class KeptDb:
    """What is left of this agent on that server, and its settings as they are."""

    running: bool
    brain: bool
    role: bool
    hba: str | None
    conf: str | None = None
    # the server's databases (where the role may own objects or hold grants)
    databases: tuple[str, ...] = ()


def kept_server(server: Server | None) -> Server | None:
    """The server when it outlives the agent: not the agent's own db jail."""
    if server is None or (server.mine and server.jail is not None):
        return None
    return server


def read_kept_db(executor: Executor, server: Server, agent: str) -> KeptDb:
    conf: str | None = None
    if server.jail is not None:
        running, hba_text, _ = db.read_hba(executor, server.jail)
    else:
        found = read(
            executor,
            probes={"running": Probe("service postgresql onestatus")},
            files=[HOST_CONF, HOST_HBA],
        )
        section = found.probe("running")
        running = section is not None and section.rc == 0
        conf, hba_text = found.file(HOST_CONF), found.file(HOST_HBA)
    if not running:
        return KeptDb(False, False, False, hba_text, conf)
    # asked as postgres, where the server runs
    answer = read(
        executor,
        probes={
            "kept": Probe(
                f"if psql -X -A -t -d {q(names.brain_database(agent))} -c 'select 1' "
                ">/dev/null 2>&1; then echo brain; fi\n"
                f"psql -X -A -t -d postgres -c {q(role_exists_sql(agent))} 2>/dev/null || :\n"
                f"psql -X -A -t -d postgres -c {q(DATABASES_SQL)} 2>/dev/null"
                " | sed 's/^/database=/' || :",
                server.postgres,
            )
        },
    ).probe("kept")
    lines = answer.output.split() if answer is not None else []
    databases = tuple(
        line.removeprefix("database=") for line in lines if line.startswith("database=")
    )
    return KeptDb(True, "brain" in lines, "1" in lines, hba_text, conf, databases)


def leave_kept_server(
    step: StepPlan, config: AgentConfig, facts: Facts, server: Server, keep_data: bool
) -> None:
    """Drop the agent's database and role on the server that stays (after the dump;
    kept with --keep-data), and take the agent out of its settings (always: the
    registry no longer lists it, and its /24 may go to another agent)."""
    seen = facts.extras.get(KEPT_DB)
    if not isinstance(seen, KeptDb) or not seen.running:
        return
    role, brain = names.agent_role(config.agent_name), names.brain_database(config.agent_name)
    if (seen.brain or seen.role) and not keep_data:
        step.changes.append(
            Change(
                NAME,
                f"drop database {brain} and role {role} from the PostgreSQL {server.where} "
                "(and the agent's soul rows there)",
                ops=(server.psql("postgres", drop_agent_sql(config.agent_name, seen.databases)),),
            )
        )
    rest = replace(server, accesses=tuple(a for a in server.accesses if a.role != role))
    if rest.jail is not None:
        if seen.hba != rest.hba:
            step.changes.append(
                db.jail_hba_change(
                    NAME, rest, seen.hba, f"pg_hba.conf of {rest.jail} without {role}"
                )
            )
        return
    settings = db.host_settings_change(NAME, rest, seen.conf, seen.hba)
    if settings is not None:
        step.changes.append(settings)
        restart = "restart" if seen.conf != rest.host_conf() else "reload"
        step.changes.append(
            Change(
                NAME,
                f"{restart} PostgreSQL without {role}'s address",
                ops=(rest.service(restart),),
            )
        )

"""PostgreSQL on the host itself (WARDEN_DB_RUNTIME=host): one cluster that serves
every agent whose .env says so, planned from the registry by each of them alike.
"""

from __future__ import annotations

from .. import jail
from ..command import cmd
from ..config import AgentConfig
from ..domains import Location
from ..facts import Facts
from ..ops import Run, check, either, line_in_file, put, run
from ..plan import Change, StepPlan, install
from ..rcconf import setting
from .server import HOST_CONF, HOST_CONF_DIR, HOST_HBA, POSTGRES, Server, host_data, host_include

PG_VERSIONS = range(13, 19)


def host_values(facts: Facts) -> dict[str, str]:
    """The probe's key=value lines and whether the service runs: the plan and enrich
    both decide from them, so they must read them alike."""
    values = jail.probe_values(facts, "db.host")
    running = facts.probe("db.host.running")
    if running is not None and running.rc == 0:
        values["running"] = "yes"
    return values


def plan_host_server(step: StepPlan, config: AgentConfig, facts: Facts, where: Server) -> bool:
    """PostgreSQL on the host (WARDEN_DB_RUNTIME=host), the session it replaces:
        pkg install postgresql17-server postgresql17-client; sysrc postgresql_enable=YES
        service postgresql initdb   (once)
        echo "include_dir = '.../conf.d'" >> /var/db/postgres/data17/postgresql.conf
        listen on localhost and every host agent's .1; pg_hba.conf from warden
        service postgresql start (restart when the addresses change, reload for pg_hba)
    One cluster serves every agent whose .env says so; all of them compute the same
    settings from the registry. True when nothing is left to do for the server."""
    version = config.pg_version
    server_pkg, client_pkg = f"postgresql{version}-server", f"postgresql{version}-client"
    others = sorted(
        f"postgresql{v}-server"
        for v in PG_VERSIONS
        if v != version and facts.packages.get(f"postgresql{v}-server")
    )
    if others:
        step.refuse(
            "db.host-version-mismatch",
            f"db: WARDEN_DB_RUNTIME=host with WARDEN_PG_VERSION={version}, but this host has "
            f"{others[0]} installed: the host has one cluster for every agent; set "
            "WARDEN_PG_VERSION to its version",
        )
        return False
    seen = host_values(facts)
    data = host_data(version)
    if (
        seen.get("initdb") == "yes"
        and seen.get("include") != "yes"
        and facts.file(HOST_CONF) is None
    ):
        step.refuse(
            "db.host-cluster-not-warden",
            f"db: WARDEN_DB_RUNTIME=host, but this host already has a PostgreSQL cluster in "
            f"{data} that warden did not make: its pg_hba.conf would be replaced by warden's "
            "and its clients locked out; use WARDEN_DB_RUNTIME=jail, or move that cluster away",
        )
        return False
    step.changes += install(
        step.name, facts, [server_pkg, client_pkg], f"PostgreSQL {version} on this host"
    )
    enable = setting(step.name, facts.rc_conf, "postgresql_enable", "YES", why="PostgreSQL at boot")
    if enable is not None:
        step.changes.append(enable)
    conf_stale = facts.file(HOST_CONF) != where.host_conf()
    hba_stale = facts.file(HOST_HBA) != where.hba
    settings = host_settings_change(step.name, where, facts.file(HOST_CONF), facts.file(HOST_HBA))
    if settings is not None:
        step.changes.append(settings)
    if seen.get("initdb") != "yes":
        step.changes.append(
            Change(
                step.name,
                f"initdb the host's cluster in {data} (once)",
                ops=(
                    Run(
                        either(
                            cmd("test", "-f", data + "/PG_VERSION"),
                            cmd("service", "postgresql", "initdb"),
                        )
                    ),
                ),
                slow=True,
            )
        )
    pg_conf, line = host_include(version)
    if seen.get("include") != "yes":
        # as postgres: the data directory is postgres', and root must not follow its links
        step.changes.append(
            Change(
                step.name,
                f"{pg_conf}: include warden's settings ({line})",
                ops=(line_in_file(Location(POSTGRES, pg_conf), line),),
            )
        )
    running = seen.get("running") == "yes"
    running_now = check(
        cmd("service", "postgresql", "onestatus"), "PostgreSQL is not running on this host"
    )
    if not running:
        step.changes.append(
            Change(
                step.name,
                "start PostgreSQL",
                ops=(run("service", "postgresql", "start"), running_now),
            )
        )
    elif conf_stale or seen.get("include") != "yes":
        step.changes.append(
            Change(
                step.name,
                "restart PostgreSQL: its listen addresses changed (every host agent's open "
                "sessions are cut once)",
                ops=(run("service", "postgresql", "restart"), running_now),
            )
        )
    elif hba_stale:
        step.changes.append(
            Change(
                step.name,
                "reload PostgreSQL (pg_hba.conf)",
                ops=(run("service", "postgresql", "reload"),),
            )
        )
    return running and not step.changes


def host_settings_change(
    step: str, where: Server, conf_before: str | None, hba_before: str | None
) -> Change | None:
    """The host cluster's warden.conf and pg_hba.conf where they differ (root's files
    outside the data directory); None when both are right."""
    wanted = ((HOST_CONF, where.host_conf(), conf_before), (HOST_HBA, where.hba, hba_before))
    writes = [
        put(path, text, 0o644, before=before) for path, text, before in wanted if text != before
    ]
    if not writes:
        return None
    return Change(
        step,
        f"warden's PostgreSQL settings in {HOST_CONF_DIR} and {HOST_HBA} "
        f"({', '.join(a.role for a in where.accesses) or 'no agent'})",
        ops=tuple(writes),
    )

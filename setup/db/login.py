"""What warden reads and runs through its own admin login to a PostgreSQL server: the
server's state, its catalog, and the SQL changes, all over a port forward on the run's
own SSH connection (setup/db/tunnel.py), never through a shell on the host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from ..domains import JailUser, Location
from ..errors import HostError
from ..facts import Probe, Reading, read
from ..plan import Change
from ..transport import Executor
from . import names
from .catalog import Catalog, read_catalog
from .provision import SqlChange
from .provision import apply_sql as run_sql
from .server import JAIL_HBA, Server
from .session import connect
from .tunnel import forward

PORT = 5432


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


def read_hba(executor: Executor, jail_name: str, *also: str) -> tuple[bool, str | None, Reading]:
    """Whether the jail runs PostgreSQL and its pg_hba.conf, read from inside it (and the
    host's files *also*, in the same round trip)."""
    inside = JailUser(jail_name)
    running = Probe("service postgresql onestatus", inside)
    hba_file = Location(inside, JAIL_HBA)
    found = read(executor, probes={"running": running}, files=[hba_file, *also])
    section = found.probe("running")
    if section is None or section.rc != 0:
        return False, None, found
    return True, found.file(hba_file), found


def login(
    executor: Executor,
    where: Server,
    admin: str,
    agent: str,
    creds: str | None,
    hba_text: str | None,
) -> DbState:
    """Log in as the admin role and read the catalog: a failed login is still a
    reachable server (the plan then makes the admin role), a failed forward is not."""
    try:
        with forward(executor, str(where.admin_address), PORT) as address:
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
    with forward(executor, str(where.admin_address), PORT) as address:
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

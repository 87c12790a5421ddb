"""Which PostgreSQL an agent's role lives on, and how warden reaches it.

Three places, all read from the host registry so that every agent's run (and a
teardown) computes the same answer:
- its own db jail (the default): `jexec -l -U postgres atlasdb psql`, the jail's address;
- another agent's db jail (WARDEN_DB_AGENT): the same, in that agent's jail;
- the host itself (WARDEN_DB_RUNTIME=host): one cluster for every such agent, psql as
  the port's postgres account (setup/domains.py), each agent reaching it on its own .1; warden's
  admin login comes from 127.0.0.1 only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..command import Command, cmd
from ..domains import Domain, HostUser, JailUser, Location, at
from ..layout import (
    ADMIN_SECRET,
    HOST_PG_CONF,
    HOST_PG_CONF_DIR,
    HOST_PG_HBA,
    HOST_PG_SECRETS,
    JAIL_PG_HBA,
    secrets_dir,
)
from ..ops import Run
from ..registry import RegistryEntry, borrowers
from . import hba

JAIL_HBA = JAIL_PG_HBA
HOST_CONF_DIR = HOST_PG_CONF_DIR
HOST_CONF = HOST_PG_CONF
HOST_HBA = HOST_PG_HBA
HOST_SECRETS = HOST_PG_SECRETS
LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
# The port's account: its data directory is read and written as it, never by root.
POSTGRES = HostUser("postgres", "postgres", "/var/db/postgres")


def host_data(version: int) -> str:
    """The port's data directory (rc.conf postgresql_data's default)."""
    return f"/var/db/postgres/data{version}"


def host_include(version: int) -> tuple[str, str]:
    """(postgresql.conf of the host cluster, the line warden adds to it)."""
    return f"{host_data(version)}/postgresql.conf", f"include_dir = '{HOST_CONF_DIR}'"


@dataclass(frozen=True)
class Server:
    """A PostgreSQL server and who may log in to it."""

    owner: str  # the agent whose jail it is, or "the host"
    jail: str | None  # None: on the host
    address: ipaddress.IPv4Address  # what the agent's DSN names
    admin_address: ipaddress.IPv4Address  # where warden's admin login connects
    admin_from: ipaddress.IPv4Address  # where pg_hba.conf allows that login from
    accesses: tuple[hba.AgentAccess, ...]
    admin_secret: str
    mine: bool  # the agent's own run may create the admin login

    @property
    def where(self) -> str:
        """Where the server runs, for a sentence: "in jail atlasdb", "on this host"."""
        return f"in jail {self.jail}" if self.jail is not None else "on this host"

    @property
    def hba(self) -> str:
        """pg_hba.conf for everyone the registry lists on this server: every agent's
        run computes the same bytes."""
        return hba.pg_hba(self.admin_from, list(self.accesses))

    @property
    def hba_location(self) -> Location:
        """The server's pg_hba.conf: root's on the host, the jail's inside its jail."""
        if self.jail is None:
            return at(HOST_HBA)
        return Location(JailUser(self.jail), JAIL_HBA)

    @property
    def postgres(self) -> Domain:
        """Where postgres runs: the port's account on the host, or in the jail."""
        if self.jail is None:
            return POSTGRES
        return JailUser(self.jail, "postgres")

    def as_postgres(
        self, command: Command, *, stdin: str | None = None, secret: bool = False
    ) -> Run:
        """*command* as postgres beside the server (bounded, in its domain)."""
        return Run(command, self.postgres, stdin=stdin, stdin_secret=secret)

    def psql(self, database: str, sql: str, *, secret: bool = False) -> Run:
        """SQL on the server's socket as postgres, from stdin, stopping at an error."""
        return self.as_postgres(
            cmd("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", database),
            stdin=sql,
            secret=secret,
        )

    def service(self, verb: str) -> Run:
        """`service postgresql VERB` where the server runs."""
        command = cmd("service", "postgresql", verb)
        return Run(command) if self.jail is None else Run(command, JailUser(self.jail))

    def host_conf(self) -> str:
        """warden's settings for the host cluster: every host agent's .1 and loopback."""
        agents = ", ".join(a.role for a in self.accesses)
        listen = ",".join(["localhost", *(str(n.network_address + 1) for n in self._nets())])
        return (
            f"# warden: PostgreSQL on this host for {agents} (rendered by warden)\n"
            f"listen_addresses = '{listen}'\n"
            "password_encryption = 'scram-sha-256'\n"
            f"hba_file = '{HOST_HBA}'\n"
        )

    def _nets(self) -> list[ipaddress.IPv4Network]:
        return [a.networks[0] for a in self.accesses]


def accesses_for(
    owner: str,
    gateway: ipaddress.IPv4Address,
    subnet: ipaddress.IPv4Network,
    entries: dict[str, RegistryEntry],
) -> tuple[hba.AgentAccess, ...]:
    """Who logs in to *owner*'s jail: the owner from its /24, and each agent the
    registry shows borrowing it."""
    return (
        hba.AgentAccess.for_agent(owner, subnet),
        *(
            # the borrower's own session connects from the host's address on the
            # owner's /24; its jails from its own /24 (pf lets that one port through)
            hba.AgentAccess.for_agent(entry.agent, f"{gateway}/32", entry.subnet)
            for entry in borrowers(entries, owner)
            if entry.borrows.get("db") == owner
        ),
    )


def server_for(agent: str, entries: dict[str, RegistryEntry]) -> Server | None:
    """The server the registry gives *agent*'s role (None: it has none, or the jail
    it borrows is not registered)."""
    entry = entries.get(agent)
    if entry is None or "db" not in entry.roles or entry.runtime != "jail":
        return None
    lender = entry.borrows.get("db")
    if lender is not None:
        owner = entries.get(lender)
        if owner is None or "db" not in owner.jails or "db" not in owner.addresses:
            return None
        return _jail_server(owner, entries, mine=False)
    if entry.db_runtime == "host":
        on_host = sorted(
            (e for e in entries.values() if e.db_runtime == "host" and "db" in e.roles),
            key=lambda e: ipaddress.IPv4Network(e.subnet),
        )
        return Server(
            owner="the host",
            jail=None,
            address=ipaddress.IPv4Address(entry.gateway),
            admin_address=LOOPBACK,
            admin_from=LOOPBACK,
            accesses=tuple(hba.AgentAccess.for_agent(e.agent, e.subnet) for e in on_host),
            admin_secret=f"{HOST_SECRETS}/{ADMIN_SECRET}",
            mine=True,
        )
    if "db" not in entry.jails or "db" not in entry.addresses:
        return None
    return _jail_server(entry, entries, mine=True)


def _jail_server(owner: RegistryEntry, entries: dict[str, RegistryEntry], *, mine: bool) -> Server:
    gateway = ipaddress.IPv4Address(owner.gateway)
    address = ipaddress.IPv4Address(owner.addresses["db"])
    return Server(
        owner=owner.agent,
        jail=owner.jails["db"],
        address=address,
        admin_address=address,
        admin_from=gateway,
        accesses=accesses_for(owner.agent, gateway, ipaddress.IPv4Network(owner.subnet), entries),
        admin_secret=f"{secrets_dir(owner.agent)}/{ADMIN_SECRET}",
        mine=mine,
    )

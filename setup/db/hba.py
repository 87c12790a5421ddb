"""pg_hba.conf for a db jail: who may log in, from where, to what; never `trust`.

PostgreSQL takes the first line that matches type, database, user and address and
rejects a connection no line matches; the closing `reject` lines make that visible.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from .names import ADMIN_ROLE, BOOTSTRAP_ROLE, SHARED_DATABASES, agent_role, brain_database


@dataclass(frozen=True)
class AgentAccess:
    """An agent role, the networks it logs in from, and the databases it may open."""

    role: str
    networks: tuple[ipaddress.IPv4Network, ...]
    databases: tuple[str, ...]

    @classmethod
    def for_agent(cls, agent: str, *networks: str | ipaddress.IPv4Network) -> AgentAccess:
        """Its own `<agent>_brain` and the shared databases, from its agent subnet (and,
        for an agent using another agent's db jail, from that agent's .1 too: the
        host's address on the lender's /24, where the agent's own session connects
        from)."""
        return cls(
            role=agent_role(agent),
            networks=tuple(ipaddress.IPv4Network(n) for n in networks),
            databases=(brain_database(agent), *SHARED_DATABASES),
        )


def pg_hba(admin_from: str | ipaddress.IPv4Address, agents: Sequence[AgentAccess]) -> str:
    """The whole file: postgres by peer on the socket, the admin role from *admin_from*
    (the agent's .1) only, each agent role from its subnet to its databases, with
    scram-sha-256."""
    admin = ipaddress.IPv4Network(f"{ipaddress.IPv4Address(admin_from)}/32")
    rows = [
        ("local", "all", BOOTSTRAP_ROLE, "", "peer"),
        ("host", "all", ADMIN_ROLE, str(admin), "scram-sha-256"),
    ]
    for agent in agents:
        rows += [
            ("host", ",".join(agent.databases), agent.role, str(network), "scram-sha-256")
            for network in agent.networks
        ]
    rows += [
        ("local", "all", "all", "", "reject"),
        ("host", "all", "all", "0.0.0.0/0", "reject"),
        ("host", "all", "all", "::/0", "reject"),
    ]
    width = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "# Written by warden: the first matching line decides; nothing here is `trust`.",
        "# TYPE".ljust(width[0])
        + "  "
        + "DATABASE".ljust(width[1])
        + "  "
        + "USER".ljust(width[2])
        + "  "
        + "ADDRESS".ljust(width[3])
        + "  METHOD",
    ]
    for row in rows:
        cols = "  ".join(col.ljust(width[i]) for i, col in enumerate(row[:4]))
        lines.append(f"{cols}  {row[4]}")
    return "\n".join(lines) + "\n"

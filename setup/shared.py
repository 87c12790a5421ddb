"""Jails one agent lends to another: WARDEN_DB_AGENT and WARDEN_LLM_AGENT.

The session it replaces (guide §4, "shared services"): orion uses atlas's db jail, so
nothing is created for orion's db; orion's role and database are made on atlas's
server, atlas's pg_hba.conf lists orion, and pf lets orion's /24 reach that one port
of that one jail (every other path between two agents' subnets stays blocked). The
borrowing is recorded in orion's registry entry (`borrows`), so tearing atlas down
is refused while orion still uses it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .config import AgentConfig
from .facts import Facts
from .registry import RegistryEntry, borrowed_roles, load_entries

# The port each lent service listens on (templates/bastille/<role>/).
PORTS = {"db": 5432, "ollama": 11434, "llama-cpp": 8080}
KEYS = {"db": "WARDEN_DB_AGENT", "ollama": "WARDEN_LLM_AGENT", "llama-cpp": "WARDEN_LLM_AGENT"}


@dataclass(frozen=True)
class Lent:
    """Another agent's jail, as its registry entry records it."""

    role: str
    lender: str
    jail: str
    address: ipaddress.IPv4Address
    gateway: ipaddress.IPv4Address
    subnet: ipaddress.IPv4Network


def lent_jail(config: AgentConfig, facts: Facts, role: str) -> Lent | str:
    """The jail this agent borrows for *role*, or why it cannot (a refusal's text)."""
    lender = borrowed_roles(config)[role]
    key = f"{KEYS[role]}={lender}"
    entries, _ = load_entries(facts)
    entry = entries.get(lender)
    if entry is None:
        return (
            f"{role}: {key}, but no agent {lender} is registered on this host: set {lender} "
            f"up first, with {role} in its WARDEN_ROLES"
        )
    if entry.runtime != "jail" or role not in entry.jails or role not in entry.addresses:
        return (
            f"{role}: {key}, but {lender} has no {role} jail of its own on this host (its "
            f"registry entry lists {', '.join(sorted(entry.jails)) or 'no jail'}): name an "
            f"agent whose WARDEN_ROLES has {role}"
        )
    return Lent(
        role=role,
        lender=lender,
        jail=entry.jails[role],
        address=ipaddress.IPv4Address(entry.addresses[role]),
        gateway=ipaddress.IPv4Address(entry.gateway),
        subnet=ipaddress.IPv4Network(entry.subnet),
    )


@dataclass(frozen=True)
class PassRule:
    """One pf pass: a borrower's /24 to the one port of the jail it uses."""

    borrower: str
    subnet: str
    lender: str
    role: str
    address: str
    port: int


def pass_rules(everyone: list[RegistryEntry]) -> list[PassRule]:
    """The pf passes for every borrowing among these agents (a lender that is not
    among them gets none: its jail is gone or going)."""
    by_name = {entry.agent: entry for entry in everyone}
    rules: list[PassRule] = []
    for entry in sorted(everyone, key=lambda e: e.agent):
        for role, lender in sorted(entry.borrows.items()):
            owner = by_name.get(lender)
            if owner is None or role not in owner.addresses:
                continue
            rules.append(
                PassRule(
                    entry.agent, entry.subnet, lender, role, owner.addresses[role], PORTS[role]
                )
            )
    return rules

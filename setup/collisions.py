"""What this agent would take that someone else already has.

Computed at plan time from the registry and from what the host really has (every
address and route, rc.d scripts, users, jails), so a collision stops the run before
anything is touched (exit 2) and names what collides with what.
"""

from __future__ import annotations

import ipaddress

from .config import RESERVED_NAMES, AgentConfig
from .errors import Refusal
from .facts import Facts
from .registry import RegistryEntry, load_entries, owned_roles

WARDEN_BRIDGE = "warden0"


def find_collisions(config: AgentConfig, facts: Facts) -> list[Refusal]:
    """One sentence per collision; empty when the agent fits on this host."""
    entries, unreadable = load_entries(facts)
    mine = entries.pop(config.agent_name, None)
    problems = [Refusal("collision.registry-unreadable", n) for n in unreadable]
    problems += _name_collisions(config, facts, mine)
    problems += _network_collisions(config, facts, entries, mine)
    problems += _jail_collisions(config, facts, entries, mine)
    return problems


def _name_collisions(
    config: AgentConfig, facts: Facts, mine: RegistryEntry | None
) -> list[Refusal]:
    name = config.agent_name
    problems: list[Refusal] = []
    if name in RESERVED_NAMES:
        problems.append(
            Refusal(
                "collision.reserved-name",
                f"AGENT_NAME {name!r} is a name FreeBSD or its packages use",
            )
        )
    if mine is not None:
        return problems
    # Not ours yet: anything of that name was made by someone else and is never taken over.
    if name in facts.rc_scripts:
        problems.append(
            Refusal(
                "collision.rc-script",
                f"an rc.d script named {name!r} already exists on {facts.target} and warden did "
                "not create it; choose another AGENT_NAME",
            )
        )
    if config.agent_user in facts.users:
        problems.append(
            Refusal(
                "collision.user",
                f"a user named {config.agent_user!r} already exists on {facts.target} and warden "
                "did not create it; set WARDEN_AGENT_USER or choose another AGENT_NAME",
            )
        )
    return problems


def _network_collisions(
    config: AgentConfig,
    facts: Facts,
    others: dict[str, RegistryEntry],
    mine: RegistryEntry | None,
) -> list[Refusal]:
    subnet = config.subnet
    problems: list[Refusal] = []
    for other in others.values():
        if ipaddress.IPv4Network(other.subnet).overlaps(subnet):
            problems.append(
                Refusal(
                    "collision.subnet-taken",
                    f"subnet {subnet} is already taken by agent {other.agent!r}",
                )
            )
    own_gateway = ipaddress.IPv4Interface(f"{config.gateway}/{subnet.prefixlen}")
    for ifname, address in facts.addresses():
        if address.network.overlaps(subnet) or address.ip in subnet:
            if mine is not None and ifname == WARDEN_BRIDGE and address == own_gateway:
                continue  # the agent's own gateway, put there by an earlier run
            problems.append(
                Refusal(
                    "collision.address",
                    f"subnet {subnet} overlaps address {address} on {ifname} of {facts.target}",
                )
            )
    for route in facts.routes:
        network = route.network()
        if network is None or network.prefixlen == 0 or not network.overlaps(subnet):
            continue
        if mine is not None and route.netif == WARDEN_BRIDGE and network == subnet:
            continue
        if network.prefixlen == 32 and any(
            a.ip == network.network_address for _, a in facts.addresses()
        ):
            continue  # the host route of an address already reported above
        problems.append(
            Refusal(
                "collision.route",
                f"subnet {subnet} overlaps route {route.destination} via {route.gateway} "
                f"({route.netif}) on {facts.target}",
            )
        )
    return problems


def _jail_collisions(
    config: AgentConfig,
    facts: Facts,
    others: dict[str, RegistryEntry],
    mine: RegistryEntry | None,
) -> list[Refusal]:
    problems: list[Refusal] = []
    claimed = {jail: other.agent for other in others.values() for jail in other.jails.values()}
    for role in owned_roles(config):
        jail = config.jail_names[role]
        if jail in claimed:
            problems.append(
                Refusal(
                    "collision.jail-taken",
                    f"jail name {jail!r} ({role}) is already taken by agent {claimed[jail]!r}",
                )
            )
        elif jail in facts.jails_defined and (mine is None or jail not in mine.jails.values()):
            problems.append(
                Refusal(
                    "collision.jail-exists",
                    f"a jail named {jail!r} ({role}) already exists on {facts.target} and warden "
                    f"did not create it; set {role.upper().replace('-', '_')}_JAIL_NAME",
                )
            )
    return problems

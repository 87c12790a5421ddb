"""The host's record of its agents: /var/db/warden/agents/<AGENT_NAME>.json.

The host is the source of truth. Every plan computes collisions against these entries
(and against what the host really has), so two operators or two checkouts cannot hand
out the same /24, alias index or jail name. Entries hold no timestamps: two hosts that
received the same work hold byte-identical files.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, NonNegativeInt, ValidationError

from . import __version__
from .config import AgentConfig
from .facts import Facts
from .layout import REGISTRY_DIR

ALIAS_PREFIX = "ifconfig_warden0_alias"
# Agents' users get UIDs from here up: clear of FreeBSD's 1001+ for people, and the
# same number is used for the user's own group.
FIRST_AGENT_UID = 2001


def _network(value: str) -> str:
    ipaddress.IPv4Network(value)
    return value


def _address(value: str) -> str:
    ipaddress.IPv4Address(value)
    return value


def _agent_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", value):
        raise ValueError("not an agent name")
    return value


Network = Annotated[str, AfterValidator(_network)]
Address = Annotated[str, AfterValidator(_address)]
AgentName = Annotated[str, AfterValidator(_agent_name)]
LentRole = Literal["db", "ollama", "llama-cpp"]


class RegistryEntry(BaseModel):
    """What warden claimed on a host for one agent."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    agent: str
    subnet: Network
    gateway: Address
    alias_index: NonNegativeInt
    runtime: str
    roles: list[str]
    jails: dict[str, str]
    addresses: dict[str, Address]
    agent_user: str
    uid: NonNegativeInt | None = None
    toolkit_version: str
    config_digest: str
    # {role: the agent whose jail this agent uses for it} (WARDEN_DB_AGENT,
    # WARDEN_LLM_AGENT): the lender's teardown reads it and refuses while it lasts.
    borrows: dict[LentRole, AgentName] = {}
    # "host" with WARDEN_DB_RUNTIME=host: its role is on the host's own PostgreSQL.
    db_runtime: Literal["jail", "host"] = "jail"

    def to_json(self) -> str:
        """The file's exact bytes: sorted keys, two-space indent, trailing newline
        (`borrows` and `db_runtime` only when they say something, so older entries keep
        their bytes)."""
        data = self.model_dump()
        if not data["borrows"]:
            del data["borrows"]
        if data["db_runtime"] == "jail":
            del data["db_runtime"]
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def path_for(agent: str) -> str:
    """Where the agent's entry lives on the host."""
    return f"{REGISTRY_DIR}/{agent}.json"


def load_entries(facts: Facts) -> tuple[dict[str, RegistryEntry], list[str]]:
    """The entries the host holds, and a note for each one warden cannot read."""
    entries: dict[str, RegistryEntry] = {}
    unreadable: list[str] = []
    for name, text in facts.registry.items():
        try:
            data: Any = json.loads(text)
            entries[name] = RegistryEntry.model_validate(data)
        except (ValueError, ValidationError):
            unreadable.append(f"{path_for(name)} is not a valid registry entry")
    return entries, unreadable


def used_alias_indexes(facts: Facts, others: dict[str, RegistryEntry]) -> set[int]:
    """Alias indexes taken by other agents or by any ifconfig_warden0_aliasN in rc.conf."""
    used = {entry.alias_index for entry in others.values()}
    for key in facts.rc_conf:
        suffix = key.removeprefix(ALIAS_PREFIX)
        if key.startswith(ALIAS_PREFIX) and suffix.isdigit():
            used.add(int(suffix))
    return used


def free_uid(facts: Facts, others: dict[str, RegistryEntry]) -> int:
    """The lowest agent UID that no user, no group and no other agent has."""
    used = set(facts.users.values()) | set(facts.groups.values())
    used |= {entry.uid for entry in others.values() if entry.uid is not None}
    uid = FIRST_AGENT_UID
    while uid in used:
        uid += 1
    return uid


def borrowed_roles(config: AgentConfig) -> dict[str, str]:
    """{role: lending agent} for the roles in WARDEN_ROLES whose jail is another agent's."""
    lenders: dict[str, str] = {}
    for role in config.roles:
        if role == "db" and config.db_agent:
            lenders[role] = config.db_agent
        if role in ("ollama", "llama-cpp") and config.llm_agent:
            lenders[role] = config.llm_agent
    return lenders


def db_on_host(config: AgentConfig) -> bool:
    """Its role is on the host's own PostgreSQL (WARDEN_DB_RUNTIME=host): no db jail."""
    return "db" in config.roles and config.db_runtime == "host" and not config.db_agent


def owned_roles(config: AgentConfig) -> list[str]:
    """The roles whose jail this agent has itself (not borrowed from another agent, not
    PostgreSQL on the host)."""
    borrowed = borrowed_roles(config)
    return [
        role
        for role in config.roles
        if role not in borrowed and not (role == "db" and db_on_host(config))
    ]


def borrowers(entries: dict[str, RegistryEntry], lender: str) -> list[RegistryEntry]:
    """The other agents that use one of *lender*'s jails, by name."""
    return sorted(
        (e for e in entries.values() if e.agent != lender and lender in e.borrows.values()),
        key=lambda e: e.agent,
    )


def entry_for(config: AgentConfig, facts: Facts) -> RegistryEntry:
    """This agent's entry: its recorded alias index and UID are kept, else the lowest
    free ones are given."""
    entries, _ = load_entries(facts)
    mine = entries.pop(config.agent_name, None)
    if mine is not None:
        index = mine.alias_index
    else:
        used = used_alias_indexes(facts, entries)
        index = next(i for i in range(len(used) + 1) if i not in used)
    uid = mine.uid if mine is not None and mine.uid is not None else free_uid(facts, entries)
    own = owned_roles(config)
    return RegistryEntry(
        agent=config.agent_name,
        subnet=str(config.subnet),
        gateway=str(config.gateway),
        alias_index=index,
        runtime=config.runtime,
        roles=list(config.roles),
        jails={role: config.jail_names[role] for role in own},
        addresses={role: str(config.role_ips[role]) for role in own},
        agent_user=config.agent_user,
        uid=uid,
        toolkit_version=__version__,
        config_digest=config.digest(),
        borrows=borrowed_roles(config),
        db_runtime="host" if db_on_host(config) else "jail",
    )

"""`invoke ansible.inventory`: warden's hosts and agents as an Ansible inventory.

For fleets that already run Ansible (infra/ansible/): every agent becomes one inventory
host (named after the agent, reached at its warden target), in one group per role it
has, with the names the playbooks need as host variables. The agents come from `.env`
files (offline) or from the registries of the hosts named by `--host` (the hosts are the
source of truth). No password is ever written here: the playbooks read them on the host,
from the secrets directory the db step fills, or take them as vault variables.

The YAML is written by hand: every value is a validated name, address or number, each
scalar is emitted as a JSON string (a valid YAML double-quoted scalar), so the file
parses the same everywhere and needs no YAML library in warden.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import AgentConfig
from .db import names
from .errors import HostError, Refused, WardenError
from .layout import ADMIN_SECRET, AGENT_SECRET, secrets_dir
from .reading import read_registries
from .registry import RegistryEntry, owned_roles
from .transport import parse_target

DB_PORT = 5432
AGENTS_GROUP = "warden_agents"
ROLE_GROUP_PREFIX = "warden_role_"
HEADER = (
    "# Written by `invoke ansible.inventory` (warden). No passwords: the playbooks read\n"
    "# them on each host from warden_db_*_secret, or take them as vault variables.\n"
)


@dataclass(frozen=True)
class AgentRecord:
    """One agent on one host, as the inventory describes it."""

    target: str
    agent: str
    agent_user: str
    runtime: str
    subnet: str
    gateway: str
    roles: tuple[str, ...]
    jails: dict[str, str]
    addresses: dict[str, str]
    origin: str

    @classmethod
    def from_config(cls, config: AgentConfig) -> AgentRecord:
        """What the `.env` says the agent is (its own jails only, like the registry)."""
        own = owned_roles(config)
        return cls(
            target=config.host,
            agent=config.agent_name,
            agent_user=config.agent_user,
            runtime=config.runtime,
            subnet=str(config.subnet),
            gateway=str(config.gateway),
            roles=tuple(config.roles),
            jails={role: config.jail_names[role] for role in own},
            addresses={role: str(config.role_ips[role]) for role in own},
            origin=str(config.source),
        )

    @classmethod
    def from_entry(cls, target: str, entry: RegistryEntry) -> AgentRecord:
        """What the host's registry says the agent is."""
        return cls(
            target=target,
            agent=entry.agent,
            agent_user=entry.agent_user,
            runtime=entry.runtime,
            subnet=entry.subnet,
            gateway=entry.gateway,
            roles=tuple(entry.roles),
            jails=dict(entry.jails),
            addresses=dict(entry.addresses),
            origin=f"{target}'s registry",
        )


def connection_vars(target: str) -> dict[str, Any]:
    """ansible_host/user/port for a warden target (already validated: by the config's
    WARDEN_HOST rule or by parse_targets); `local` runs on the control node."""
    if target == "local":
        return {"ansible_connection": "local"}
    # the same reading of [user@]host[:port] as the SSH executor's (a bare IPv6 address
    # is a host; an ssh_config alias is resolved by Ansible's ssh as by warden's)
    user, host, port = parse_target(target)
    out: dict[str, Any] = {"ansible_host": host}
    if user:
        out["ansible_user"] = user
    if port is not None:
        out["ansible_port"] = port
    return out


def group_name(role: str) -> str:
    """Ansible group names are identifiers: llama-cpp -> warden_role_llama_cpp."""
    return ROLE_GROUP_PREFIX + role.replace("-", "_")


def host_vars(record: AgentRecord) -> dict[str, Any]:
    """Everything the playbooks need about one agent, and no secret."""
    out: dict[str, Any] = {
        **connection_vars(record.target),
        "warden_target": record.target,
        "warden_agent": record.agent,
        "warden_agent_user": record.agent_user,
        "warden_runtime": record.runtime,
        "warden_subnet": str(ipaddress.IPv4Network(record.subnet)),
        "warden_gateway": str(ipaddress.IPv4Address(record.gateway)),
        "warden_roles": list(record.roles),
        "warden_jails": dict(sorted(record.jails.items())),
        "warden_addresses": dict(sorted(record.addresses.items())),
    }
    if "db" in record.jails and "db" in record.addresses:
        out.update(
            {
                "warden_db_jail": record.jails["db"],
                "warden_db_address": str(ipaddress.IPv4Address(record.addresses["db"])),
                "warden_db_port": DB_PORT,
                "warden_db_admin_role": names.ADMIN_ROLE,
                "warden_db_role": names.agent_role(record.agent),
                "warden_db_brain": names.brain_database(record.agent),
                "warden_db_shared": list(names.SHARED_DATABASES),
                "warden_db_admin_secret": f"{secrets_dir(record.agent)}/{ADMIN_SECRET}",
                "warden_db_agent_secret": f"{secrets_dir(record.agent)}/{AGENT_SECRET}",
            }
        )
    return out


def build_inventory(records: Sequence[AgentRecord]) -> dict[str, Any]:
    """The inventory as data: all -> warden_agents (host vars) and one group per role.

    An agent named twice for one target keeps the later record (a registry read after
    the `.env`); the same agent on two targets is refused, since an inventory names
    each host once.
    """
    chosen: dict[str, AgentRecord] = {}
    for record in records:
        seen = chosen.get(record.agent)
        if seen is not None and seen.target != record.target:
            raise Refused(
                f"agent {record.agent} is on {seen.target} ({seen.origin}) and on "
                f"{record.target} ({record.origin}): an inventory names each agent once; "
                "export those hosts separately"
            )
        chosen[record.agent] = record
    if not chosen:
        raise Refused("no agent to export: give --env FILE or --host TARGETS with agents")
    agents = sorted(chosen)
    roles: dict[str, list[str]] = {}
    for agent in agents:
        for role in chosen[agent].roles:
            roles.setdefault(group_name(role), []).append(agent)
    children: dict[str, Any] = {
        AGENTS_GROUP: {"hosts": {agent: host_vars(chosen[agent]) for agent in agents}}
    }
    for group in sorted(roles):
        children[group] = {"hosts": {agent: {} for agent in roles[group]}}
    return {"all": {"children": children}}


def to_yaml(data: Any, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists, strings, ints and bools (all this file holds)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            label = f"{pad}{json.dumps(str(key)) if not _plain(str(key)) else key}:"
            if isinstance(value, dict | list) and value:
                lines.append(label + "\n" + to_yaml(value, indent + 1))
            else:
                lines.append(f"{label} {_scalar(value)}\n")
    elif isinstance(data, list):
        for item in data:
            lines.append(f"{pad}- {_scalar(item)}\n")
    return "".join(lines)


def _plain(key: str) -> bool:
    return key.replace("_", "a").replace("-", "a").isalnum() and key[:1].isalpha()


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict | list) and not value:
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, str):
        return json.dumps(value)
    raise TypeError(f"cannot write {type(value).__name__} into the inventory")


def render(records: Sequence[AgentRecord]) -> str:
    """The inventory file's text."""
    return HEADER + to_yaml(build_inventory(records))


def records_from_envs(
    paths: Sequence[str], load: Callable[[str], AgentConfig]
) -> list[AgentRecord]:
    """The agents of the `.env` files, validated (exit 2 on a bad one)."""
    return [AgentRecord.from_config(load(path)) for path in paths]


def records_from_hosts(
    targets: Sequence[str], accept_new: bool, warn: Callable[[str], None]
) -> list[AgentRecord]:
    """The agents every host's registry holds; every host is tried, then the first
    failure (the highest exit code) is raised, so no partial inventory is written."""
    records: list[AgentRecord] = []
    failures: list[WardenError] = []
    for host in read_registries(list(targets), accept_new):
        if host.error is not None:
            warn(host.error.message)
            failures.append(host.error)
            continue
        for note in host.notes:
            warn(note)
        records += [
            AgentRecord.from_entry(host.target, host.entries[n]) for n in sorted(host.entries)
        ]
    if failures:
        error = HostError("no inventory written: " + "; ".join(exc.message for exc in failures))
        error.exit_code = max(exc.exit_code for exc in failures)
        raise error
    return records

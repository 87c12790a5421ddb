"""The agent's marked block in /etc/hosts: `<role>.<agent>.home.arpa` for each jail
(setup/blocks.py: only the lines between warden's markers for the agent are written)."""

from __future__ import annotations

from .blocks import markers
from .config import AgentConfig
from .facts import Facts
from .layout import HOSTS
from .ops import block as block_put
from .plan import Change
from .registry import owned_roles

DOMAIN = "home.arpa"


def block(config: AgentConfig) -> list[str]:
    """The agent's lines: its gateway, then one per jail of its own."""
    agent = config.agent_name
    begin, end = markers(agent)
    lines = [begin, f"{config.gateway}\thost.{agent}.{DOMAIN}"]
    if config.runtime == "jail":
        for role in owned_roles(config):
            lines.append(
                f"{config.role_ips[role]}\t{role}.{agent}.{DOMAIN} {config.jail_names[role]}"
            )
    return [*lines, end]


def hosts_change(step: str, config: AgentConfig, facts: Facts) -> Change | None:
    """The change that makes the agent's block right, or None (see `broken` first)."""
    write = block_put(HOSTS, facts.file(HOSTS), config.agent_name, block(config), 0o644)
    if write is None:
        return None
    return Change(
        step,
        f"{HOSTS}: names of agent {config.agent_name}'s jails (*.{config.agent_name}.{DOMAIN})",
        ops=(write,),
    )

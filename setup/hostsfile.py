"""The agent's marked block in /etc/hosts: `<role>.<agent>.home.arpa` for each jail.

(The same markers keep warden's lines in the agent's known_hosts and ssh config.)

Only the lines between warden's markers for this agent are ever written; every other
line of the file, and other agents' blocks, stay byte for byte.
"""

from __future__ import annotations

from .config import AgentConfig
from .facts import Facts
from .layout import HOSTS
from .plan import Change, FileWrite
from .registry import owned_roles

DOMAIN = "home.arpa"


def markers(agent: str, part: str = "") -> tuple[str, str]:
    """warden's markers for one agent's block (and one part of it, where two steps keep
    blocks in the same file)."""
    label = f"agent={agent}" + (f" {part}" if part else "")
    return f"# BEGIN warden {label}", f"# END warden {label}"


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


def with_block(text: str | None, agent: str, lines: list[str], part: str = "") -> str:
    """The file with the agent's block replaced (or appended); an empty list removes it."""
    begin, end = markers(agent, part)
    current = (text or "").splitlines()
    if begin in current and end in current[current.index(begin) :]:
        start = current.index(begin)
        stop = current.index(end, start)
        current[start : stop + 1] = lines
    else:
        current += lines
    return "".join(f"{line}\n" for line in current)


def broken(text: str | None, agent: str, path: str = HOSTS, part: str = "") -> str | None:
    """Why the agent's markers in *path* cannot be trusted (a lone or repeated marker)."""
    begin, end = markers(agent, part)
    lines = (text or "").splitlines()
    if lines.count(begin) > 1 or lines.count(end) > 1:
        return f"{path} has agent {agent}'s warden markers more than once"
    if (begin in lines) != (end in lines) or (
        begin in lines and lines.index(end) < lines.index(begin)
    ):
        return f"{path} has a broken warden block for agent {agent} (a marker is missing)"
    return None


def hosts_change(step: str, config: AgentConfig, facts: Facts) -> Change | None:
    """The change that makes the agent's block right, or None (see `broken` first)."""
    before = facts.file(HOSTS)
    wanted = with_block(before, config.agent_name, block(config))
    if before == wanted:
        return None
    return Change(
        step,
        f"{HOSTS}: names of agent {config.agent_name}'s jails (*.{config.agent_name}.{DOMAIN})",
        files=(FileWrite(HOSTS, wanted, 0o644, before=before),),
    )

"""What a host needs to reach the soul's hub itself (soul.sync fetches and pushes from
the host): the deploy key, when WARDEN_SOUL_KEY names one, and the hub's host key,
pinned from the operator's own known_hosts (no trust on first use on the host either).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import paramiko

# scp-like `user@host:path`, or ssh://[user@]host[:port]/path
_SCP = re.compile(r"(?:[^@/]+@)?(?P<host>[A-Za-z0-9.-]+):(?!//)")
_SSH = re.compile(
    r"ssh://(?:[^@/]+@)?(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>\d+))?/"
)


def hub_host(repo: str) -> tuple[str, int] | None:
    """(host, port) of an SSH hub URL; None for a local path or https."""
    match = _SSH.match(repo)
    if match:
        return match.group("host").strip("[]"), int(match.group("port") or 22)
    match = _SCP.match(repo)
    if match and not repo.startswith(("/", "file:", "http:", "https:")):
        return match.group("host"), 22
    return None


def hub_known_hosts(repo: str, known_hosts: Path | None = None) -> list[str] | None:
    """The operator's known_hosts lines for the hub, as lines for the agent's file; []
    when the hub is not over SSH; None when the operator has no key for it."""
    where = hub_host(repo)
    if where is None:
        return []
    host, port = where
    name = host if port == 22 else f"[{host}]:{port}"
    path = known_hosts or Path(os.path.expanduser("~/.ssh/known_hosts"))
    keys = paramiko.HostKeys()
    if path.is_file():
        keys.load(str(path))
    found = keys.lookup(name)
    if not found:
        return None
    return [f"{name} {kind} {key.get_base64()}" for kind, key in sorted(found.items())]


def deploy_key(path: str | None) -> str | None:
    """The deploy key's text (a secret: never printed), or None without one."""
    if path is None:
        return None
    return Path(path).expanduser().read_text(encoding="utf-8")

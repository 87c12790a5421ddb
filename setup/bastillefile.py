"""A role's template tree (templates/bastille/<role>/): rendered, its identity, and its
Bastillefile as warden's operations.

The Bastillefile keeps Bastille's format so it reads as Bastille's documentation says,
but warden applies it itself, verb by verb, each where it belongs: never through
`bastille template`, whose template.sh runs the jail's own `ifconfig` and evaluates
what it prints as host root, and whose CP, LINE_IN_FILE and MOUNT act from the host on
paths the jail's root controls (docs/freebsd/sources.md §6).
"""

from __future__ import annotations

import hashlib
from typing import Any

from .command import Raw, cmd
from .config import AgentConfig
from .domains import JailUser
from .ops import Op, Run, pkg_install, run, sysrc
from .render import SEARCH_PATH, render

TEMPLATES = SEARCH_PATH[0] / "bastille"
BASTILLEFILE = "Bastillefile"


def rendered(config: AgentConfig, role: str, **context: Any) -> dict[str, str]:
    """{path below the template dir: content} of the role's whole template tree."""
    base = TEMPLATES / role
    common = {
        "agent": config.agent_name,
        "assistant": config.assistant_name,
        "jail": config.jail_names[role],
        "ip": str(config.role_ips[role]),
        "gateway": str(config.gateway),
        "subnet": str(config.subnet),
    }
    files: dict[str, str] = {}
    for path in sorted(base.rglob("*.j2")):
        relative = path.relative_to(base).as_posix()
        files[relative.removesuffix(".j2")] = render(
            f"bastille/{role}/{relative}", **common, **context
        )
    return files


def digest(files: dict[str, str]) -> str:
    """One sha256 over every file's path and content: the template's identity."""
    sha = hashlib.sha256()
    for path in sorted(files):
        sha.update(path.encode() + b"\0" + files[path].encode() + b"\0")
    return sha.hexdigest()


def bastillefile_ops(jail: str, text: str) -> list[Op]:
    """The role's Bastillefile, verb by verb, as warden's operations: PKG with `pkg -j`
    (pkg attaches to the jail first), SYSRC and CMD inside the jail (bounded, as its root),
    CONFIG and RESTART with Bastille on the host (they edit jail.conf, restart the jail).
    Any other verb is a template error, found by the tests before it reaches a host."""
    inside = JailUser(jail)
    ops: list[Op] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        verb, _, rest = line.partition(" ")
        rest = rest.strip()
        if verb == "PKG":
            ops.append(pkg_install(rest.split(), jail=jail))
        elif verb == "SYSRC":
            ops.append(sysrc(rest, jail=jail))
        elif verb == "CONFIG" and rest.split()[:1] == ["set"] and len(rest.split()) == 3:
            ops.append(run("bastille", "config", jail, *rest.split()))
        elif verb == "RESTART" and not rest:
            ops.append(run("bastille", "restart", jail))
        elif verb == "CMD" and rest:
            ops.append(Run(cmd(Raw(rest)), inside))
        else:
            raise ValueError(f"Bastillefile of jail {jail}: {line!r} is not a verb warden applies")
    return ops

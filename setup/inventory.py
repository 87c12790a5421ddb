"""Which hosts a command talks to: `--host a,b,c`, `--host @inventory.toml`, or the .env's.

An inventory file is TOML, one table per host:

    [web1]
    target = "root@web1.example.org"
    agents = ["agents/atlas.env"]

Every target is checked here, before any connection, with the same rule as WARDEN_HOST.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from .errors import Refused

_TARGET = re.compile(
    r"(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9][A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
)


def check_target(target: str, origin: str) -> str:
    """A target as ssh understands it, or Refused naming where it came from."""
    match = _TARGET.fullmatch(target)
    port = match.group("port") if match else None
    if target == "local" or (match and (port is None or 0 < int(port) < 65536)):
        return target
    raise Refused(
        f"{origin}: {target!r} is not a host: use local, an ssh_config alias, or [user@]host[:port]"
    )


def parse_targets(option: str | None, default: str) -> list[str]:
    """The targets a run goes to, in the order given, without repeats."""
    if not option:
        return [check_target(default, "WARDEN_HOST")]
    if option.startswith("@"):
        return _from_inventory(Path(option[1:]))
    targets: list[str] = []
    for part in option.split(","):
        target = check_target(part.strip(), "--host")
        if target not in targets:
            targets.append(target)
    if not targets:
        raise Refused("--host: no target given")
    return targets


def _from_inventory(path: Path) -> list[str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise Refused(f"{path}: cannot read the inventory: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise Refused(f"{path}: not valid TOML: {exc}") from None
    targets: list[str] = []
    for name, table in data.items():
        if not isinstance(table, dict) or not isinstance(table.get("target"), str):
            raise Refused(f'{path}: [{name}] needs target = "host"')
        targets.append(check_target(table["target"], f"{path}: [{name}] target"))
    if not targets:
        raise Refused(f"{path}: the inventory names no host")
    return targets

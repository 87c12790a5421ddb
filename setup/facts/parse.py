"""Parsers of the FreeBSD commands' output the facts script gathers: one small
function a command, so each format's quirks stay in one place."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ..layout import REGISTRY_DIR
from .sections import Section


@dataclass(frozen=True)
class Stat:
    """A path's type and mode letters (`drwxr-x---`) and its numeric owner."""

    mode: str
    uid: int
    gid: int


def stats(section: Section | None) -> dict[str, Stat]:
    """{path: Stat} of a stat_probe's section; absent paths are left out."""
    found: dict[str, Stat] = {}
    for line in section.output.splitlines() if section is not None else ():
        words = line.split()
        if line.startswith("l"):
            continue  # a link is not the file warden wants there (and `-> x` is no path)
        if len(words) >= 9 and words[2].isdigit() and words[3].isdigit():
            found[words[-1]] = Stat(words[0][:10], int(words[2]), int(words[3]))
    return found


@dataclass(frozen=True)
class Interface:
    """An interface as `ifconfig -a` shows it."""

    name: str
    flags: tuple[str, ...]
    inet: tuple[ipaddress.IPv4Interface, ...] = ()
    members: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    """One row of `netstat -rn -f inet`."""

    destination: str
    gateway: str
    flags: str
    netif: str

    def network(self) -> ipaddress.IPv4Network | None:
        """The destination as a network (`default` is 0.0.0.0/0)."""
        if self.destination == "default":
            return ipaddress.IPv4Network("0.0.0.0/0")
        try:
            return ipaddress.IPv4Network(self.destination, strict=False)
        except ValueError:
            return None


def parse_ifconfig(text: str) -> dict[str, Interface]:
    """Parse FreeBSD `ifconfig -a`: a header line per interface, TAB-indented details."""
    result: dict[str, Interface] = {}
    name: str | None = None
    flags: tuple[str, ...] = ()
    inet: list[ipaddress.IPv4Interface] = []
    members: list[str] = []
    groups: list[str] = []

    def flush() -> None:
        if name is not None:
            result[name] = Interface(name, flags, tuple(inet), tuple(members), tuple(groups))

    for line in text.splitlines():
        header = re.match(r"^([A-Za-z0-9_.]+): flags=[0-9a-fx]+<([^>]*)>", line)
        if header:
            flush()
            name, flags = header.group(1), tuple(f for f in header.group(2).split(",") if f)
            inet, members, groups = [], [], []
            continue
        words = line.split()
        if not words or name is None:
            continue
        if words[0] == "inet" and len(words) >= 4 and words[2] == "netmask":
            address = _inet(words[1], words[3])
            if address is not None:
                inet.append(address)
        elif words[0] == "member:" and len(words) >= 2:
            members.append(words[1])
        elif words[0] == "groups:":
            groups.extend(words[1:])
    flush()
    return result


def _inet(address: str, netmask: str) -> ipaddress.IPv4Interface | None:
    """FreeBSD prints the mask in hex (0xffffff00); anything else is read as dotted."""
    try:
        mask = str(ipaddress.IPv4Address(int(netmask, 16))) if netmask.startswith("0x") else netmask
        return ipaddress.IPv4Interface(f"{address}/{mask}")
    except ValueError:
        return None


def parse_routes(text: str) -> tuple[Route, ...]:
    """Parse `netstat -rn -f inet`: rows after the Destination header."""
    routes: list[Route] = []
    in_table = False
    for line in text.splitlines():
        words = line.split()
        if words[:2] == ["Destination", "Gateway"]:
            in_table = True
            continue
        if in_table and len(words) >= 4:
            routes.append(Route(words[0], words[1], words[2], words[3]))
    return tuple(routes)


def parse_colon_pairs(text: str) -> dict[str, str]:
    """Parse `name: value` lines (sysrc -a, sysctl)."""
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            pairs[key] = value
        elif line.endswith(":"):
            pairs[line[:-1]] = ""
    return pairs


def parse_yes_no(text: str) -> dict[str, bool]:
    """Parse `name yes|no` lines written by the facts script's loops."""
    result: dict[str, bool] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2:
            result[words[0]] = words[1] == "yes"
    return result


def parse_id_table(text: str) -> dict[str, int]:
    """Parse `name:id` lines cut from /etc/passwd or /etc/group."""
    table: dict[str, int] = {}
    for line in text.splitlines():
        name, _, ident = line.partition(":")
        if name and ident.lstrip("-").isdigit():
            table[name] = int(ident)
    return table


def parse_registry(text: str) -> dict[str, str]:
    """Split the registry snapshot into {agent name: its JSON text}.

    The snapshot adds one newline after each file (so it always ends in one); it is
    taken off again here.
    """
    entries: dict[str, str] = {}
    current: str | None = None
    chunks: list[str] = []
    for line in text.splitlines(keepends=True):
        match = re.match(rf"^== {re.escape(REGISTRY_DIR)}/([^/]+)\.json\n$", line)
        if match:
            if current is not None:
                entries[current] = "".join(chunks)[:-1]
            current, chunks = match.group(1), []
        elif current is not None:
            chunks.append(line)
    if current is not None:
        entries[current] = "".join(chunks)[:-1]
    return entries


def parse_pf(section: Section) -> str:
    """`enabled`, `disabled` or `unavailable` (pf not loaded) from `pfctl -s info`."""
    first = section.output.splitlines()[0] if section.output else ""
    if first.startswith("Status: Enabled"):
        return "enabled"
    if first.startswith("Status: Disabled"):
        return "disabled"
    return "unavailable"


def parse_version(text: str) -> tuple[int, int] | None:
    """(14, 3) from `14.3-RELEASE-p2`."""
    match = re.match(r"^(\d+)\.(\d+)-", text.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None

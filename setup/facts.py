"""Everything a plan needs to know about a host, read in one round trip.

One generated sh script prints delimited sections; each section is the raw output of
a FreeBSD command, parsed here by a small function. Sections are framed by a random
nonce so nothing a host prints can fake a section boundary, and files are framed by
their byte count so their content is taken exactly.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import HostError
from .shell import (
    LIBRARY,
    LOCK_FILE,
    LOCK_HOLDER_FILE,
    RC_NOT_ROOT,
    REGISTRY_DIR,
    checked_path,
    q,
)
from .transport import Executor

KERNEL_MODULES = ("if_bridge", "if_epair", "pf", "pflog", "vmm", "nmdm")
SYSCTLS = (
    "kern.racct.enable",
    "net.inet.ip.forwarding",
    "net.link.bridge.pfil_member",
    "net.link.bridge.pfil_bridge",
    "net.link.bridge.pfil_onlyip",
)
RC_D_DIRS = ("/etc/rc.d", "/usr/local/etc/rc.d")

# The facts script: one section per name. `$W` holds the nonce.
_SECTIONS: tuple[tuple[str, str], ...] = (
    ("uid", "id -u"),
    ("uname", "uname -srm"),
    ("hostname", "uname -n"),
    ("freebsd_version", "freebsd-version -ku"),
    ("sysctl", "sysctl -i " + " ".join(SYSCTLS)),
    (
        "kldstat",
        "for m in " + " ".join(KERNEL_MODULES) + "; do "
        'if kldstat -q -m "$m"; then echo "$m yes"; else echo "$m no"; fi; done',
    ),
    (
        "bastille_version",
        "if command -v bastille >/dev/null 2>&1; then bastille --version 2>&1; fi",
    ),
    (
        "bastille_jails",
        "if command -v bastille >/dev/null 2>&1; then bastille list jails; fi",
    ),
    ("jls", "jls name"),
    ("ifconfig", "ifconfig -a"),
    ("routes", "netstat -rn -f inet"),
    ("rc_conf", "sysrc -a"),
    ("pf", "pfctl -s info"),
    ("rc_scripts", "for d in " + " ".join(RC_D_DIRS) + '; do [ -d "$d" ] && ls "$d"; done; :'),
    ("users", "cut -d: -f1,3 /etc/passwd"),
    ("groups", "cut -d: -f1,3 /etc/group"),
    ("resolv_conf", "if [ -f /etc/resolv.conf ]; then cat /etc/resolv.conf; fi"),
    (
        "lock",
        f"if [ -e {LOCK_FILE} ]; then "
        f"if lockf -kns -t 0 {LOCK_FILE} true; then echo free; "
        f"else echo held; cat {LOCK_HOLDER_FILE} 2>/dev/null; fi; fi",
    ),
)


def registry_snapshot_sh() -> str:
    """sh that prints the registry exactly as the facts and the apply lock both see it."""
    return (
        f'for f in {REGISTRY_DIR}/*.json; do [ -f "$f" ] || continue; '
        'printf \'== %s\\n\' "$f"; cat "$f"; echo; done'
    )


_PROBE_NAME = re.compile(r"[A-Za-z0-9._:-]+")
# Trees whose directories an agent's user or a jail's root can change.
UNTRUSTED_DIRS = ("/home/", "/usr/local/bastille/jails/")
PROBE_PREFIX = "probe."


def build_script(
    packages: Iterable[str] = (),
    files: Iterable[str] = (),
    nonce: str | None = None,
    probes: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    """The facts script for these packages, managed files and probes, and its nonce.

    A probe is a step's own read-only question (`service atlas onestatus`, `ls -ldn
    PATH`): its output and exit code come back as a section. Probe commands are built
    by the steps from validated values only.
    """
    w = nonce or secrets.token_hex(8)
    lines = [LIBRARY, f"W={w}", f'if [ "$(id -u)" -ne 0 ]; then exit {RC_NOT_ROOT}; fi']

    def section(name: str, body: str) -> None:
        # The echo guarantees the end marker starts a line, whatever the output ended with.
        lines.append(f'echo "@@$W {name}"')
        lines.append(f"( {body} ) 2>&1; _r=$?; echo")
        lines.append(f'echo "@@$W end {name} $_r"')

    for name, body in _SECTIONS:
        section(name, body)
    pkg_words = " ".join(q(p) for p in packages)
    section(
        "packages",
        f'for p in {pkg_words}; do if pkg info -e "$p" 2>/dev/null; then echo "$p yes"; '
        'else echo "$p no"; fi; done'
        if pkg_words
        else ":",
    )
    section("registry", registry_snapshot_sh())
    for name, command in (probes or {}).items():
        if not _PROBE_NAME.fullmatch(name):
            raise ValueError(f"probe name {name!r} is not a plain word")
        section(PROBE_PREFIX + name, command)
    for path in files:
        p = q(checked_path(path))
        # Under a home or a jail's root, someone other than root owns the directories:
        # a link there must not make root read (and show) a file it points to.
        guard = (
            f" && [ ! -L {p} ] && [ ! -L {q(path.rsplit('/', 1)[0])} ]"
            if path.startswith(UNTRUSTED_DIRS)
            else ""
        )
        lines.append(
            f"if [ -f {p} ]{guard}; then "
            f'echo "@@$W file $(wc -c < {p} | tr -d " ") "{p}; cat {p}; '
            f'echo; else echo "@@$W nofile "{p}; fi'
        )
    lines.append('echo "@@$W done"')
    return "\n".join(lines) + "\n", w


@dataclass(frozen=True)
class Section:
    """One command's combined output and exit code."""

    output: str
    rc: int


def split_output(raw: bytes | str, nonce: str) -> tuple[dict[str, Section], dict[str, str | None]]:
    """Split the facts script's output into sections and files.

    Works on bytes: a file is framed by its byte count, and decoding first would move
    every offset after a byte that is not UTF-8.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    marker = f"@@{nonce} ".encode()
    sections: dict[str, Section] = {}
    files: dict[str, str | None] = {}
    pos = 0
    current: str | None = None
    start = 0
    done = False
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            end = len(data)
        line = data[pos:end]
        nxt = end + 1
        if line.startswith(marker):
            words = line[len(marker) :].decode(errors="replace").split(" ", 2)
            kind = words[0]
            if kind == "end" and current is not None and len(words) == 3:
                body = data[start : max(start, pos - 1)]  # less the newline added before the marker
                sections[current] = Section(body.decode(errors="replace"), _int(words[2]))
                current = None
            elif kind == "file" and len(words) == 3 and words[1].isdigit():
                size = int(words[1])
                files[words[2]] = data[nxt : nxt + size].decode(errors="replace")
                nxt = nxt + size + 1
            elif kind == "nofile" and len(words) >= 2:
                files[" ".join(words[1:])] = None
            elif kind == "done":
                done = True
            elif current is None and len(words) == 1:
                current, start = kind, nxt
        pos = nxt
    if not done:
        raise ValueError("the facts script did not finish")
    return sections, files


def _int(text: str) -> int:
    return int(text) if text.lstrip("-").isdigit() else -1


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


@dataclass(frozen=True)
class Facts:
    """The host's state as one plan sees it. `assumed` marks an offline, invented host."""

    target: str
    os_name: str
    release: str
    kernel: str
    userland: str
    machine: str
    hostname: str
    uid: int
    sysctl: Mapping[str, str]
    modules: Mapping[str, bool]
    packages: Mapping[str, bool]
    bastille_version: str | None
    jails_defined: tuple[str, ...]
    jails_running: tuple[str, ...]
    interfaces: Mapping[str, Interface]
    routes: tuple[Route, ...]
    rc_conf: Mapping[str, str]
    pf: str
    rc_scripts: frozenset[str]
    users: Mapping[str, int]
    groups: Mapping[str, int]
    nameservers: tuple[str, ...]
    registry: Mapping[str, str]
    registry_snapshot: str
    lock_holder: str | None
    files: Mapping[str, str | None] = field(default_factory=dict)
    probes: Mapping[str, Section] = field(default_factory=dict)
    assumed: bool = False
    # What steps read beyond the sh facts (a database's catalog): by step name.
    extras: Mapping[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> tuple[int, int] | None:
        """The userland's major and minor version."""
        return parse_version(self.userland)

    def addresses(self) -> list[tuple[str, ipaddress.IPv4Interface]]:
        """Every IPv4 address on the host with the interface holding it."""
        return [(i.name, a) for i in self.interfaces.values() for a in i.inet]

    def default_interface(self) -> str | None:
        """The interface of the default route: where NAT goes out."""
        for route in self.routes:
            if route.destination == "default":
                return route.netif
        return None

    def with_extra(self, name: str, value: Any) -> Facts:
        """A copy that also holds a step's extra facts."""
        return replace(self, extras={**self.extras, name: value})

    def with_files(self, files: Mapping[str, str | None]) -> Facts:
        """A copy that also knows these managed files (for offline planning)."""
        return replace(self, files={**self.files, **files})

    def probe(self, name: str) -> Section | None:
        """A probe's output and exit code, or None when it was not asked."""
        return self.probes.get(name)

    def file(self, path: str) -> str | None:
        """A managed file's content, or None when it is absent (or was not read)."""
        return self.files.get(path)


def parse_facts(target: str, raw: bytes | str, nonce: str) -> Facts:
    """Turn the facts script's output into Facts."""
    sections, files = split_output(raw, nonce)

    def out(name: str) -> str:
        return sections[name].output if name in sections else ""

    versions = out("freebsd_version").split()
    uname = out("uname").split()
    registry_text = out("registry")
    lock_lines = out("lock").splitlines()
    nameservers = tuple(
        line.split()[1]
        for line in out("resolv_conf").splitlines()
        if line.startswith("nameserver") and len(line.split()) > 1
    )
    bastille = out("bastille_version").strip()
    return Facts(
        target=target,
        os_name=uname[0] if uname else "unknown",
        release=uname[1] if len(uname) > 1 else "",
        machine=uname[2] if len(uname) > 2 else "",
        kernel=versions[0] if versions else "",
        userland=versions[1] if len(versions) > 1 else (versions[0] if versions else ""),
        hostname=out("hostname").strip(),
        uid=_int(out("uid").strip()),
        sysctl=parse_colon_pairs(out("sysctl")),
        modules=parse_yes_no(out("kldstat")),
        packages=parse_yes_no(out("packages")),
        bastille_version=bastille.splitlines()[-1].strip() if bastille else None,
        jails_defined=tuple(out("bastille_jails").split()),
        jails_running=tuple(out("jls").split())
        if sections.get("jls", Section("", 1)).rc == 0
        else (),
        interfaces=parse_ifconfig(out("ifconfig")),
        routes=parse_routes(out("routes")),
        rc_conf=parse_colon_pairs(out("rc_conf")),
        pf=parse_pf(sections.get("pf", Section("", 1))),
        rc_scripts=frozenset(out("rc_scripts").split()),
        users=parse_id_table(out("users")),
        groups=parse_id_table(out("groups")),
        nameservers=nameservers,
        registry=parse_registry(registry_text),
        registry_snapshot=registry_text,
        lock_holder=("\n".join(lock_lines[1:]).strip() or "unknown")
        if lock_lines[:1] == ["held"]
        else None,
        files=files,
        probes={
            name[len(PROBE_PREFIX) :]: section
            for name, section in sections.items()
            if name.startswith(PROBE_PREFIX)
        },
    )


def gather(
    executor: Executor,
    packages: Iterable[str] = (),
    files: Iterable[str] = (),
    probes: Mapping[str, str] | None = None,
) -> Facts:
    """Read the host's facts in one exec."""
    script, nonce = build_script(packages, files, probes=probes)
    result = executor.run(script)
    if result.rc == RC_NOT_ROOT:
        raise HostError(f"{executor.target}: cannot run as root: {result.stderr.strip()}")
    try:
        return parse_facts(executor.target, result.out, nonce)
    except ValueError as exc:
        detail = result.stderr.strip()[-500:]
        raise HostError(
            f"{executor.target}: the host's facts could not be read (exit {result.rc}): {exc}"
            + (f"; stderr: {detail}" if detail else "")
        ) from None


def fresh_host(target: str, release: str = "14.3-RELEASE") -> Facts:
    """The host --offline assumes: a fresh FreeBSD install, nothing of warden's on it."""
    return Facts(
        target=target,
        os_name="FreeBSD",
        release=release,
        kernel=release,
        userland=release,
        machine="amd64",
        hostname="fresh-host",
        uid=0,
        sysctl={
            "kern.racct.enable": "0",
            "net.inet.ip.forwarding": "0",
        },
        modules={m: False for m in KERNEL_MODULES},
        packages={},
        bastille_version=None,
        jails_defined=(),
        jails_running=(),
        interfaces={
            "vtnet0": Interface(
                "vtnet0",
                ("UP", "BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST"),
                (ipaddress.IPv4Interface("192.0.2.10/24"),),
            ),
            "lo0": Interface(
                "lo0",
                ("UP", "LOOPBACK", "RUNNING", "MULTICAST"),
                (ipaddress.IPv4Interface("127.0.0.1/8"),),
            ),
        },
        routes=(
            Route("default", "192.0.2.1", "UGS", "vtnet0"),
            Route("127.0.0.1", "link#2", "UH", "lo0"),
            Route("192.0.2.0/24", "link#1", "U", "vtnet0"),
        ),
        rc_conf={"hostname": "fresh-host", "ifconfig_vtnet0": "DHCP", "sshd_enable": "YES"},
        pf="unavailable",
        rc_scripts=frozenset({"sshd", "pf", "pflog", "jail", "netif", "routing", "cron"}),
        users={"root": 0, "toor": 0, "daemon": 1, "operator": 2, "www": 80, "nobody": 65534},
        groups={"wheel": 0, "operator": 5, "www": 80, "nobody": 65534},
        nameservers=("192.0.2.1",),
        registry={},
        registry_snapshot="",
        lock_holder=None,
        assumed=True,
    )

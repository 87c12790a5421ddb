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

from .command import Command
from .domains import HOST, READ_SECONDS, Domain, HostUser, JailUser, Location, enter
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
PROBE_PREFIX = "probe."
# A section or a file larger than this is not taken (an agent or a jail could print
# without end): its read fails, and says so.
MAX_READ = 4 * 1024 * 1024
RC_ABSENT = 3  # a file read's "no such file"
RC_TOO_LARGE = -2


@dataclass(frozen=True)
class Probe:
    """A step's own read-only question, asked in a domain: its output and exit code
    come back as a section. Built by the steps from validated values only."""

    body: str
    domain: Domain = HOST
    seconds: int = READ_SECONDS


@dataclass(frozen=True)
class Stat:
    """A path's type and mode letters (`drwxr-x---`) and its numeric owner."""

    mode: str
    uid: int
    gid: int


def stat_probe(paths: Iterable[str], domain: Domain = HOST) -> Probe:
    """`ls -ldn` of each path, in its domain (an absent one: `- - - - PATH`)."""
    words = " ".join(q(checked_path(p)) for p in paths)
    return Probe(
        f'for p in {words}; do if [ -e "$p" ]; then ls -ldn "$p"; else echo "- - - - $p"; fi; done',
        domain,
    )


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


def file_body(path: str) -> str:
    """sh (run in the path's domain) printing a regular file, or exiting 3 when there is
    none; a file that cannot be read fails with the reader's own error."""
    p = q(checked_path(path))
    return (
        f"[ -e {p} ] || exit {RC_ABSENT}; "
        f"[ -f {p} ] || {{ echo 'not a regular file' >&2; exit 1; }}; exec cat {p}"
    )


# How the facts script runs each section: bounded (shell.LIBRARY: warden_run), stdin
# from /dev/null, its output in a fresh file of the script's private directory (root's,
# 0700: a numbered name there is as safe as mktemp's, and costs no process), copied
# (a process it left behind may still write to the first; dd copies MAX_READ and a
# block at most, whatever the first has grown to) and framed by its byte count:
# nothing it prints can fake a frame, nothing it leaves running holds the script's pipe.
# `ulimit -f` (POSIX sh, 512-byte blocks) caps what it can write, there or anywhere: a
# read that prints without end fills no disk (and fails as larger than MAX_READ).
_SECTION_FN = rf"""
warden_section() {{
    _ws_k=$1
    _ws_n=$2
    _ws_s=$3
    shift 3
    _ws_i=$((${{_ws_i:-0}} + 1))
    _ws_o="$_w_tmp/section.$_ws_i"
    : >"$_ws_o" || exit 1
    _ws_r=0
    (ulimit -f {MAX_READ // 512 + 8}; exec timeout --foreground -k 5 "$_ws_s" "$@") \
        </dev/null >"$_ws_o" 2>&1 || _ws_r=$?
    dd if="$_ws_o" of="$_ws_o.seen" bs=65536 count={MAX_READ // 65536 + 1} 2>/dev/null \
        || exit 1
    _ws_c=$(($(wc -c <"$_ws_o.seen")))
    if [ "$_ws_c" -gt {MAX_READ} ]; then
        echo "@@$W $_ws_k $_ws_n {RC_TOO_LARGE} 0"
    else
        echo "@@$W $_ws_k $_ws_n $_ws_r $_ws_c"
        cat "$_ws_o.seen"
    fi
    rm -f "$_ws_o" "$_ws_o.seen"
}}
"""


def build_script(
    packages: Iterable[str] = (),
    files: Iterable[str | Location] = (),
    nonce: str | None = None,
    probes: Mapping[str, Probe] | None = None,
    *,
    base: bool = True,
) -> tuple[str, str]:
    """The facts script for these packages, files and probes, and its nonce.

    Every section runs in its domain (a probe of an agent's clone as the agent, a file
    of a jail inside the jail), so a link an agent or a jail root planted can only lead
    warden to what that agent or jail could read itself.
    """
    w = nonce or secrets.token_hex(8)
    lines = [
        LIBRARY + _SECTION_FN,
        f"W={w}",
        f'if [ "$(id -u)" -ne 0 ]; then exit {RC_NOT_ROOT}; fi',
        "warden_tmp || exit 1",
        "warden_on_exit warden_cleanup",
    ]

    def section(kind: str, name: str, probe: Probe) -> None:
        command = guarded(probe)
        lines.append(f"warden_section {kind} {q(name)} {int(probe.seconds)} {command.sh()}")

    pkg_words = " ".join(q(p) for p in packages)
    for name, body in _SECTIONS if base else ():
        section("sec", name, Probe(body))
    if base:
        section(
            "sec",
            "packages",
            Probe(
                f'for p in {pkg_words}; do if pkg info -e "$p" 2>/dev/null; then echo "$p yes"; '
                'else echo "$p no"; fi; done'
                if pkg_words
                else ":"
            ),
        )
        section("sec", "registry", Probe(registry_snapshot_sh()))
    for name, value in (probes or {}).items():
        if not _PROBE_NAME.fullmatch(name):
            raise ValueError(f"probe name {name!r} is not a plain word")
        section("sec", PROBE_PREFIX + name, value)
    for index, where in enumerate(locations(files)):
        section("file", str(index), file_probe(where))
    lines.append('echo "@@$W done"')
    return "\n".join(lines) + "\n", w


def file_probe(where: Location) -> Probe:
    """Read a file in its domain."""
    return Probe(file_body(where.path), where.domain)


def guarded(probe: Probe) -> Command:
    """The command a section runs: the probe in its domain. A user who does not exist
    yet, or a jail that does not run, has nothing to read there: exit 3 (for a file:
    absent), no output."""
    domain = probe.domain
    if isinstance(domain, HostUser):
        guard = f"id -u {q(domain.user)} >/dev/null 2>&1 || exit {RC_ABSENT}"
    elif isinstance(domain, JailUser):
        guard = f"jls -j {q(domain.jail)} jid >/dev/null 2>&1 || exit {RC_ABSENT}"
    else:
        return enter(HOST, probe.body)
    return enter(HOST, f"{guard}; exec {enter(domain, probe.body).sh()}")


def locations(files: Iterable[str | Location]) -> list[Location]:
    """Files as locations (a plain path is the host's)."""
    return [f if isinstance(f, Location) else Location(HOST, f) for f in files]


@dataclass(frozen=True)
class Section:
    """One command's combined output and exit code."""

    output: str
    rc: int


def split_output(
    raw: bytes | str, nonce: str, files: Iterable[str | Location] = ()
) -> tuple[dict[str, Section], dict[Location, str | None], dict[Location, str]]:
    """Split the facts script's output into sections, files, and files that could not
    be read (why). Works on bytes: every frame carries its byte count."""
    data = raw.encode() if isinstance(raw, str) else raw
    wanted = locations(files)
    # (a file holding a NUL byte is no text warden manages: unreadable, never placed back)
    marker = f"@@{nonce} ".encode()
    sections: dict[str, Section] = {}
    found: dict[Location, str | None] = {}
    unreadable: dict[Location, str] = {}
    pos = 0
    done = False
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            end = len(data)
        line = data[pos:end]
        nxt = end + 1
        if line == marker + b"done":
            done = True
        elif line.startswith(marker):
            words = line[len(marker) :].decode(errors="replace").split(" ")
            if len(words) == 4 and words[0] in ("sec", "file") and words[3].isdigit():
                size = int(words[3])
                body = data[nxt : nxt + size].decode(errors="replace")
                nxt += size
                rc = _int(words[2])
                if words[0] == "sec":
                    sections[words[1]] = Section(body, rc)
                elif words[1].isdigit() and int(words[1]) < len(wanted):
                    where = wanted[int(words[1])]
                    if rc == 0 and "\0" in body:
                        found[where] = None
                        unreadable[where] = "not text: it holds a NUL byte"
                    elif rc == 0:
                        found[where] = body
                    elif rc == RC_ABSENT:
                        found[where] = None
                    else:
                        found[where] = None
                        unreadable[where] = _why(rc, body)
        pos = nxt
    if not done:
        raise ValueError("the facts script did not finish")
    return sections, found, unreadable


def _why(rc: int, output: str) -> str:
    if rc == RC_TOO_LARGE:
        return f"larger than {MAX_READ} bytes"
    if rc in (124, 137):
        return "the read did not finish in time"
    text = " ".join(output.split())[-200:]
    return f"exit {rc}" + (f": {text}" if text else "")


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
    # Files by location (a plain path given here is the host's); None: absent.
    files: Mapping[Location, str | None] = field(default_factory=dict)
    probes: Mapping[str, Section] = field(default_factory=dict)
    assumed: bool = False
    # What steps read beyond the sh facts (a database's catalog): by step name.
    extras: Mapping[str, Any] = field(default_factory=dict)
    # Files that exist but could not be read in their domain, and why: a plan that
    # needs one refuses (setup/planner.py), it never guesses their content.
    unreadable: Mapping[Location, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if any(not isinstance(k, Location) for k in self.files):
            object.__setattr__(
                self, "files", dict(zip(locations(self.files), self.files.values(), strict=True))
            )

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

    def with_files(self, files: Mapping[Location, str | None]) -> Facts:
        """A copy that also knows these files (for offline planning)."""
        return replace(self, files={**self.files, **files})

    def probe(self, name: str) -> Section | None:
        """A probe's output and exit code, or None when it was not asked."""
        return self.probes.get(name)

    def file(self, where: str | Location) -> str | None:
        """A file's content, or None when it is absent (or was not read); a plain path
        is the host's."""
        return self.files.get(where if isinstance(where, Location) else Location(HOST, where))


def parse_facts(
    target: str, raw: bytes | str, nonce: str, asked: Iterable[str | Location] = ()
) -> Facts:
    """Turn the facts script's output into Facts (*asked*: the files it was built for)."""
    return facts_from(target, *split_output(raw, nonce, asked))


def facts_from(
    target: str,
    sections: dict[str, Section],
    files: dict[Location, str | None],
    unreadable: dict[Location, str],
) -> Facts:
    """Facts from the facts script's sections and files."""

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
        unreadable=unreadable,
        probes={
            name[len(PROBE_PREFIX) :]: section
            for name, section in sections.items()
            if name.startswith(PROBE_PREFIX)
        },
    )


def _ask(
    executor: Executor,
    packages: Iterable[str],
    asked: list[Location],
    probes: Mapping[str, Probe] | None,
    *,
    base: bool,
) -> tuple[dict[str, Section], dict[Location, str | None], dict[Location, str]]:
    """Run a facts script (the whole facts with *base*, else only these probes and files)
    in one exec, and split what it printed."""
    script, nonce = build_script(packages, asked, probes=probes, base=base)
    result = executor.run(script)
    if result.rc == RC_NOT_ROOT:
        raise HostError(f"{executor.target}: cannot run as root: {result.stderr.strip()}")
    try:
        return split_output(result.out, nonce, asked)
    except ValueError as exc:
        detail = result.stderr.strip()[-500:]
        what = "the host's facts" if base else "a read on the host"
        raise HostError(
            f"{executor.target}: {what} could not be read (exit {result.rc}): {exc}"
            + (f"; stderr: {detail}" if detail else "")
        ) from None


def gather(
    executor: Executor,
    packages: Iterable[str] = (),
    files: Iterable[str | Location] = (),
    probes: Mapping[str, Probe] | None = None,
) -> Facts:
    """Read the host's facts in one exec."""
    return facts_from(
        executor.target, *_ask(executor, packages, locations(files), probes, base=True)
    )


@dataclass(frozen=True)
class Reading:
    """A few probes and files read outside the facts (a step's enrich, status, teardown),
    each in its domain, in one round trip."""

    sections: Mapping[str, Section]
    files: Mapping[Location, str | None]
    unreadable: Mapping[Location, str]

    def probe(self, name: str) -> Section | None:
        return self.sections.get(PROBE_PREFIX + name)

    def file(self, where: str | Location) -> str | None:
        return self.files.get(where if isinstance(where, Location) else Location(HOST, where))


def read(
    executor: Executor,
    *,
    probes: Mapping[str, Probe] | None = None,
    files: Iterable[str | Location] = (),
) -> Reading:
    """Ask these probes and read these files, each in its domain, bounded; nothing is
    printed or logged of what comes back (secrets are read this way too)."""
    return Reading(*_ask(executor, (), locations(files), probes, base=False))


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

"""The Facts model: a host's state as one plan sees it, built from the script's
sections, or invented for an offline plan."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..domains import HOST, Location
from . import parse
from .parse import Interface, Route
from .script import KERNEL_MODULES, PROBE_PREFIX, locations
from .sections import Section, as_int, split_output


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
        return parse.parse_version(self.userland)

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
        uid=as_int(out("uid").strip()),
        sysctl=parse.parse_colon_pairs(out("sysctl")),
        modules=parse.parse_yes_no(out("kldstat")),
        packages=parse.parse_yes_no(out("packages")),
        bastille_version=bastille.splitlines()[-1].strip() if bastille else None,
        jails_defined=tuple(out("bastille_jails").split()),
        jails_running=tuple(out("jls").split())
        if sections.get("jls", Section("", 1)).rc == 0
        else (),
        interfaces=parse.parse_ifconfig(out("ifconfig")),
        routes=parse.parse_routes(out("routes")),
        rc_conf=parse.parse_colon_pairs(out("rc_conf")),
        pf=parse.parse_pf(sections.get("pf", Section("", 1))),
        rc_scripts=frozenset(out("rc_scripts").split()),
        users=parse.parse_id_table(out("users")),
        groups=parse.parse_id_table(out("groups")),
        nameservers=nameservers,
        registry=parse.parse_registry(registry_text),
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

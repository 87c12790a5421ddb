"""The facts script: one sh program that runs every read in its domain, bounded, and
prints each result framed by a random nonce and its byte count, so nothing a host
prints can fake a section boundary and files are taken exactly.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..command import Command
from ..domains import HOST, READ_SECONDS, Domain, HostUser, JailUser, Location, enter
from ..layout import LOCK_FILE, LOCK_HOLDER_FILE, REGISTRY_DIR
from ..shell import LIBRARY, RC_NOT_ROOT, checked_path, q

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


def stat_probe(paths: Iterable[str], domain: Domain = HOST) -> Probe:
    """`ls -ldn` of each path, in its domain (an absent one: `- - - - PATH`)."""
    words = " ".join(q(checked_path(p)) for p in paths)
    return Probe(
        f'for p in {words}; do if [ -e "$p" ]; then ls -ldn "$p"; else echo "- - - - $p"; fi; done',
        domain,
    )


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

#!/usr/bin/env python3
"""freebsd-double: a TEST DOUBLE for FreeBSD commands. This is not FreeBSD.

One stdlib-only program stands in for the FreeBSD commands the toolkit runs on a
throwaway Linux test host (design.md, "Testing without FreeBSD").  It is called as
``freebsd_double.py COMMAND ARGS...`` (the sh wrappers written by install.py) or
through a symlink whose basename is the command.

Commands: freebsd-version uname sysctl kldstat pkg lockf bastille sysrc ifconfig
netstat route jls pfctl.  What each one accepts is listed in its handler; the
output formats come from /work/shared/reference/freebsd-outputs.md ("outputs §N")
and freebsd.md ("ref §N"), or from the FreeBSD source file named in the comment.

State lives in $FREEBSD_DOUBLE_STATE (default /var/db/freebsd-double):
``state.json`` (kernel, network, packages, jails ...), ``state.lock`` (flock
serialising every read-modify-write; writes are temp file + os.replace),
``calls.log`` (one JSON line {"argv": [...], "rc": N} per invocation) and
``calls.seq`` (the invocation counter used by the fault hook).  sysrc edits the
real files /etc/rc.conf and /etc/rc.conf.local under $FREEBSD_DOUBLE_ROOT
(default "/").

THE EXIT-64 RULE: any command, subcommand, flag or argument form that is not
modelled here prints "freebsd-double: ..." on stderr and exits 64 (EX_USAGE),
so the toolkit cannot drift into syntax nobody checked against a source.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import fcntl
import getopt
import glob
import hashlib
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any, NoReturn

COMMANDS: tuple[str, ...] = (
    "freebsd-version",
    "uname",
    "sysctl",
    "kldstat",
    "pkg",
    "lockf",
    "bastille",
    "sysrc",
    "ifconfig",
    "netstat",
    "route",
    "jls",
    "pfctl",
    "kldload",
    "service",
    "pw",
    "newsyslog",
)

# sysexits.h
EX_USAGE = 64
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CANTCREAT = 73
EX_TEMPFAIL = 75

State = dict[str, Any]


class Unsupported(Exception):
    """A form the double does not model: exit 64 (the exit-64 rule)."""


class Exit(Exception):
    """Leave the command with this status (output already written)."""

    def __init__(self, rc: int) -> None:
        super().__init__(rc)
        self.rc = rc


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def err(text: str) -> None:
    sys.stderr.write(text + "\n")


def die(text: str, rc: int = 1) -> NoReturn:
    err(text)
    raise Exit(rc)


def parse_opts(
    args: list[str], optstring: str, cmd: str
) -> tuple[list[tuple[str, str]], list[str]]:
    """POSIX getopt (stops at the first operand), as the C tools use; unknown -> 64."""
    try:
        return getopt.getopt(args, optstring)
    except getopt.GetoptError as exc:
        raise Unsupported(f"{cmd}: {exc}") from exc


# --------------------------------------------------------------------------- state


def state_dir() -> str:
    return os.environ.get("FREEBSD_DOUBLE_STATE", "/var/db/freebsd-double")


def root_dir() -> str:
    return os.environ.get("FREEBSD_DOUBLE_ROOT", "/")


def host_path(path: str) -> str:
    """Map an absolute FreeBSD path under FREEBSD_DOUBLE_ROOT."""
    if os.path.isabs(path):
        return os.path.join(root_dir(), path.lstrip("/"))
    return path


def _mac(seed: str, prefix: str = "58:9c:fc") -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    tail = ":".join(digest[i : i + 2] for i in range(0, 6, 2))
    return f"{prefix}:{tail}"


def build_default_state() -> State:
    """A fresh FreeBSD 14.3-RELEASE amd64 host (install.default_state returns this)."""
    return {
        # freebsd-version(1) -k/-r/-u; outputs §8 (14.3 transcript).
        "freebsd_version": {
            "kernel": "14.3-RELEASE",
            "running": "14.3-RELEASE",
            "userland": "14.3-RELEASE",
        },
        # uname -a of the 14.3 transcript, outputs §8.
        "uname": {
            "sysname": "FreeBSD",
            "nodename": "testhost",
            "release": "14.3-RELEASE",
            "version": "FreeBSD 14.3-RELEASE releng/14.3-n271432-8c9ce319fef7 GENERIC",
            "machine": "amd64",
            "processor": "amd64",
        },
        # access: rw | ro | tunable (read-only tunable, outputs §8);
        # module: the oid exists only while that kernel module is loaded.
        "sysctl": {
            "kern.racct.enable": {"value": "0", "access": "tunable", "module": None},
            "net.inet.ip.forwarding": {"value": "0", "access": "rw", "module": None},
            # if_bridge.c defaults (ref §1.6): 1/1/1, present only with if_bridge loaded.
            "net.link.bridge.pfil_member": {"value": "1", "access": "rw", "module": "if_bridge"},
            "net.link.bridge.pfil_bridge": {"value": "1", "access": "rw", "module": "if_bridge"},
            "net.link.bridge.pfil_onlyip": {"value": "1", "access": "rw", "module": "if_bridge"},
        },
        # kldstat(8) rows; "modules" are the module names modfind() knows in that file.
        "kld": [
            {
                "id": 1,
                "name": "kernel",
                "refs": 14,
                "address": "0xffffffff80200000",
                "size": 0x1F3E2D0,
                "modules": ["kernel"],
            },
        ],
        "packages": {"pkg": "2.1.2"},
        "interfaces": [
            {
                "name": "vtnet0",
                "kind": "ether",
                "index": 1,
                "up": True,
                "mtu": 1500,
                "ether": "bc:24:11:6a:e4:09",
                "inet": [{"addr": "192.0.2.10", "prefixlen": 24}],
                "members": [],
                "groups": [],
                "description": None,
            },
            {
                "name": "lo0",
                "kind": "loopback",
                "index": 2,
                "up": True,
                "mtu": 16384,
                "ether": None,
                "inet": [{"addr": "127.0.0.1", "prefixlen": 8}],
                "members": [],
                "groups": ["lo"],
                "description": None,
            },
        ],
        "next_ifindex": 3,
        "routes": [
            {
                "destination": "default",
                "gateway": "192.0.2.1",
                "interface": "vtnet0",
                "flags": "UGS",
            },
        ],
        # pf is "loaded" when a kld provides module "pf".
        "pf": {"enabled": False, "enabled_at": None},
        "bastille": None,  # or {"version": "1.4.4"}
        "jails": [],  # running jails: {"jid", "name", "hostname", "path", "ip4": [..]}
        "fault": None,  # {"at": k, "action": "exit"}
    }


@contextlib.contextmanager
def locked(exclusive: bool) -> Iterator[None]:
    directory = state_dir()
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "state.lock"), "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _load_unlocked() -> State:
    path = os.path.join(state_dir(), "state.json")
    try:
        with open(path, encoding="utf-8") as fh:
            data: State = json.load(fh)
            return data
    except FileNotFoundError:
        return build_default_state()


def atomic_write(path: str, text: str, mode: int | None = None) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _save_unlocked(state: State) -> None:
    atomic_write(os.path.join(state_dir(), "state.json"), json.dumps(state, indent=2) + "\n")


def read_state() -> State:
    with locked(exclusive=False):
        return _load_unlocked()


@contextlib.contextmanager
def mutate_state() -> Iterator[State]:
    """Read-modify-write under the exclusive lock; saved only if the body succeeds."""
    with locked(exclusive=True):
        state = _load_unlocked()
        yield state
        _save_unlocked(state)


def next_call_index() -> int:
    with locked(exclusive=True):
        path = os.path.join(state_dir(), "calls.seq")
        try:
            with open(path, encoding="utf-8") as fh:
                n = int(fh.read().strip() or 0)
        except FileNotFoundError:
            n = 0
        n += 1
        atomic_write(path, f"{n}\n")
        return n


def log_call(argv: list[str], rc: int) -> None:
    os.makedirs(state_dir(), exist_ok=True)
    line = json.dumps({"argv": argv, "rc": rc}) + "\n"
    fd = os.open(
        os.path.join(state_dir(), "calls.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
    )
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _maybe_inject_fault(call_index: int) -> None:
    """Fault hook: state {"fault": {"at": k, "action": "exit"}} exits 70 at call k.

    Nothing happens unless state["fault"] is set.  Only "exit" is implemented.
    """
    fault = read_state().get("fault")
    if not fault or int(fault.get("at", -1)) != call_index:
        return
    if fault.get("action") == "exit":
        err(f"freebsd-double: injected fault at call {call_index}")
        raise Exit(EX_SOFTWARE)
    raise Unsupported(f"fault action {fault.get('action')!r}")


def userland_major(state: State) -> int:
    match = re.match(r"(\d+)", state["freebsd_version"]["userland"])
    return int(match.group(1)) if match else 14


# --------------------------------------------------------------------------- freebsd-version


def cmd_freebsd_version(args: list[str]) -> int:
    # freebsd-version(1): -k installed kernel, -r running kernel, -u userland; several
    # flags print one line each in k, r, u order; none = userland (outputs §8).
    opts, rest = parse_opts(args, "kru", "freebsd-version")
    if rest:
        raise Unsupported(f"freebsd-version: operand {rest[0]!r} (-j not modelled)")
    version = read_state()["freebsd_version"]
    wanted = {flag for flag, _ in opts} or {"-u"}
    for flag, key in (("-k", "kernel"), ("-r", "running"), ("-u", "userland")):
        if flag in wanted:
            out(version[key])
    return 0


# --------------------------------------------------------------------------- uname


def cmd_uname(args: list[str]) -> int:
    # usr.bin/uname/uname.c: -a = -mnrsv; print order s n r v m p; no flag = -s.
    opts, rest = parse_opts(args, "amnoprsv", "uname")
    if rest:
        raise Unsupported(f"uname: operand {rest[0]!r}")
    flags: set[str] = set()
    for flag, _ in opts:
        flags |= set("mnrsv") if flag == "-a" else {"s" if flag == "-o" else flag[1]}
    flags = flags or {"s"}
    u = read_state()["uname"]
    fields = {
        "s": u["sysname"],
        "n": u["nodename"],
        "r": u["release"],
        "v": u["version"],
        "m": u["machine"],
        "p": u["processor"],
    }
    out(" ".join(fields[k] for k in "snrvmp" if k in flags))
    return 0


# --------------------------------------------------------------------------- sysctl


def loaded_modules(state: State) -> set[str]:
    return {m for kld in state["kld"] for m in kld.get("modules", [])}


def sysctl_table(state: State) -> dict[str, dict[str, Any]]:
    """Visible oids: state entries whose module is loaded, plus a few from uname."""
    mods = loaded_modules(state)
    table = {
        name: entry
        for name, entry in state["sysctl"].items()
        if entry.get("module") in (None, *mods)
    }
    u = state["uname"]
    for name, value in (
        ("kern.ostype", u["sysname"]),
        ("kern.osrelease", u["release"]),
        ("hw.machine", u["machine"]),
        ("hw.machine_arch", u["processor"]),
    ):
        table.setdefault(name, {"value": value, "access": "ro", "module": None})
    table.setdefault("kern.hostname", {"value": u["nodename"], "access": "rw", "module": None})
    return table


def cmd_sysctl(args: list[str]) -> int:
    # sbin/sysctl/sysctl.c: "name: value", -n value only, -i ignore unknown oids,
    # -q quiet; main() returns the number of failed operands (warncount).
    opts, rest = parse_opts(args, "inq", "sysctl")
    flags = {flag for flag, _ in opts}
    if not rest:
        raise Unsupported("sysctl: no oid given (-a not modelled)")
    failures = 0
    if any("=" in a for a in rest):
        if flags - {"-i"}:
            raise Unsupported("sysctl: -n/-q with NAME=VALUE not modelled")
        with mutate_state() as state:
            for arg in rest:
                failures += _sysctl_set(state, arg, "-i" in flags)
        return failures
    state = read_state()
    table = sysctl_table(state)
    for name in rest:
        # A node prints all oids below it (e.g. `sysctl net.link.bridge`).
        below = sorted(n for n in table if n.startswith(name + "."))
        rows = [name] if name in table else below
        if not rows:
            if "-i" in flags:
                continue
            if "-q" not in flags:
                err(f"sysctl: unknown oid '{name}'")  # outputs §8
            failures += 1
            continue
        for row in rows:
            value = table[row]["value"]
            out(value if "-n" in flags else f"{row}: {value}")
    return failures


def _sysctl_set(state: State, arg: str, ignore_unknown: bool) -> int:
    name, new = arg.split("=", 1)
    table = sysctl_table(state)
    entry = table.get(name)
    if entry is None:
        if ignore_unknown:
            return 0
        err(f"sysctl: unknown oid '{name}'")
        return 1
    if entry["access"] == "tunable":
        # outputs §8 (cbsd/cbsd #138).
        err(f"sysctl: oid '{name}' is a read only tunable")
        err("sysctl: Tunable values are set in /boot/loader.conf")
        return 1
    if entry["access"] == "ro":
        err(f"sysctl: oid '{name}' is read only")  # sysctl.c parse()
        return 1
    old = entry["value"]
    if re.fullmatch(r"-?\d+", old) and not re.fullmatch(r"-?\d+", new):
        err(f"sysctl: invalid integer '{new}'")  # sysctl.c: "invalid %s '%s'"
        return 1
    if name == "kern.hostname":
        state["uname"]["nodename"] = new
    else:
        state["sysctl"][name]["value"] = new
    out(f"{name}: {old} -> {new}")  # outputs §8
    return 0


# --------------------------------------------------------------------------- kldstat


def cmd_kldstat(args: list[str]) -> int:
    # sbin/kldstat/kldstat.c (main): -q -m MOD / -n FILE probes; table otherwise.
    opts, rest = parse_opts(args, "qm:n:", "kldstat")
    if rest:
        raise Unsupported(f"kldstat: operand {rest[0]!r}")
    flags = dict(opts)
    quiet = "-q" in flags
    state = read_state()
    if "-m" in flags:
        mod = flags["-m"]
        for kld in state["kld"]:
            if mod in kld.get("modules", []):
                if not quiet:
                    out("Id  Refs Name")
                    out(f"{kld['id']:3d} {kld['refs']:4d} {mod}")
                return 0
        if not quiet:
            err(f"kldstat: can't find module {mod}: No such file or directory")
        return 1
    klds = state["kld"]
    if "-n" in flags:
        name = flags["-n"]
        klds = [k for k in klds if k["name"] in (name, name + ".ko")]
        if not klds:
            if not quiet:
                err(f"kldstat: can't find file {name}: No such file or directory")
            return 1
        if quiet:
            return 0
    # Right-aligned %8x size as in the 13-CURRENT sample, outputs §8.
    out("Id Refs Address                Size Name")
    for kld in klds:
        out(f"{kld['id']:2d} {kld['refs']:4d} {kld['address']} {kld['size']:8x} {kld['name']}")
    return 0


def load_module(state: State, filename: str, module: str) -> None:
    """What ifconfig's clone autoload does (sbin/ifconfig/ifconfig.c ifmaybeload)."""
    if module in loaded_modules(state):
        return
    last = max(state["kld"], key=lambda k: k["id"])
    address = int(last["address"], 16) + last["size"] + 0x1000
    state["kld"].append(
        {
            "id": last["id"] + 1,
            "name": filename,
            "refs": 1,
            "address": f"0x{address:016x}",
            "size": 0x9C38,
            "modules": [module],
        }
    )


# --------------------------------------------------------------------------- pkg

PKG_ORIGINS = {
    "pkg": "ports-mgmt/pkg",
    "bastille": "sysutils/bastille",
    "tmux": "sysutils/tmux",
    "git": "devel/git",
    "vm-bhyve": "sysutils/vm-bhyve",
}


def cmd_pkg(args: list[str]) -> int:
    state = read_state()
    packages: dict[str, Any] = state["packages"]
    if args in (["-v"], ["--version"]):
        out(_pkg_version(packages["pkg"]))  # pkg(8) -v: the version of pkg
        return 0
    if not args or args[0] != "info":
        raise Unsupported(f"pkg: {' '.join(args) or '(no subcommand)'}")
    opts, rest = parse_opts(args[1:], "e", "pkg info")
    if len(rest) != 1:
        raise Unsupported("pkg info: exactly one package name is modelled")
    name = rest[0]
    if opts:
        # pkg-info(8) -e: no output, rc 0 installed / 1 not (outputs §7).
        return 0 if name in packages else 1
    if name not in packages:
        err(f"pkg: No package(s) matching {name}")  # outputs §7, pkg >= 1.16
        return 1
    entry = packages[name]
    version = _pkg_version(entry)
    origin = entry.get("origin") if isinstance(entry, dict) else None
    major = userland_major(state)
    # Head of `pkg info NAME`, outputs §7 (wazuh #10713) [trimmed there, so here too].
    out(f"{name}-{version}")
    out(f"Name           : {name}")
    out(f"Version        : {version}")
    out("Installed on   : Thu Jan  1 00:00:00 2026 UTC")
    out(f"Origin         : {origin or PKG_ORIGINS.get(name, 'misc/' + name)}")
    out(f"Architecture   : FreeBSD:{major}:{state['uname']['machine']}")
    return 0


def _pkg_version(entry: Any) -> str:
    return str(entry["version"] if isinstance(entry, dict) else entry)


# --------------------------------------------------------------------------- lockf


def cmd_lockf(args: list[str]) -> int:
    # usr.bin/lockf/lockf.c (FreeBSD 14): lockf [-knsw] [-t seconds] file command [args]
    try:
        opts, rest = getopt.getopt(args, "knst:w")
    except getopt.GetoptError:
        die("usage: lockf [-kns] [-t seconds] file command [arguments]", EX_USAGE)
    keep, create, silent, writable, waitsec = False, True, False, False, -1.0
    for flag, value in opts:
        if flag == "-k":
            keep = True
        elif flag == "-n":
            create = False
        elif flag == "-s":
            silent = True
        elif flag == "-w":
            writable = True
        elif flag == "-t":
            try:
                waitsec = float(int(value, 0))
            except ValueError:
                waitsec = -1.0
            if waitsec < 0:
                die(f'lockf: invalid timeout "{value}"', EX_USAGE)
    if len(rest) < 2:
        die("usage: lockf [-kns] [-t seconds] file command [arguments]", EX_USAGE)
    lockname, command = rest[0], rest[1:]
    path = host_path(lockname)
    deadline = None if waitsec < 0 else time.monotonic() + waitsec
    fd = _lockf_acquire(path, lockname, create, writable, deadline)
    if fd is None:
        # lockf.c: errx(EX_TEMPFAIL, "%s: already locked", lockname); -s: silent.
        if not silent:
            err(f"lockf: {lockname}: already locked")
        return EX_TEMPFAIL

    def cleanup() -> None:
        # lockf.c cleanup(): unlink unless -k; the lock itself goes with the fd.
        if not keep:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def killed(signum: int, _frame: Any) -> None:
        # lockf.c killed(): clean up, then re-raise the signal with default action.
        cleanup()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        # The child does not inherit the lock fd (lockf.c closes it in the child);
        # subprocess closes every fd but 0-2, so stdin/stdout/stderr pass through.
        child = subprocess.Popen(command, close_fds=True)
    except OSError as exc:
        cleanup()
        os.close(fd)
        err(f"lockf: {command[0]}: {os.strerror(exc.errno or errno.ENOENT)}")
        return 1  # lockf.c: the child warn()s and _exit(1)s when execvp fails
    # lockf.c: the parent ignores SIGINT/SIGQUIT and cleans up on SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, killed)
    status = child.wait()
    cleanup()
    os.close(fd)
    return status if status >= 0 else EX_SOFTWARE


def _lockf_acquire(
    path: str, lockname: str, create: bool, writable: bool, deadline: float | None
) -> int | None:
    flags = (os.O_WRONLY if writable else os.O_RDONLY) | (os.O_CREAT if create else 0)
    while True:
        try:
            fd = os.open(path, flags | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:
            if not create:
                die(f"lockf: {lockname}: No such file or directory", EX_UNAVAILABLE)
            die(f"lockf: cannot open {lockname}: No such file or directory", EX_CANTCREAT)
        except OSError as exc:
            die(f"lockf: cannot open {lockname}: {os.strerror(exc.errno or 0)}", EX_CANTCREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.02)
            continue
        # Like lockf.c's wait_for_lock() dance: a lock on a file the previous holder
        # unlinked is worthless, so check the directory entry is still this file.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


# --------------------------------------------------------------------------- bastille


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", version.split("-")[0])
    return tuple(int(p) for p in parts[:3]) if parts else (99,)


def cmd_bastille(args: list[str]) -> int:
    state = read_state()
    if not state.get("bastille"):
        # Not installed: what sh prints for a missing command (rc 127).
        die("bastille: not found", 127)
    version = state["bastille"]["version"]
    if args in (["-v"], ["--version"]):
        # outputs §4: 1.4.x prints the version via info to STDERR; 1.0-1.3 echoed to stdout.
        if _version_tuple(version) >= (1, 4):
            err(version)
        else:
            out(version)
        return 0
    if args == ["list", "jails"]:
        # ref §1.4: one name per line, jails that have a jail.conf, rc 0 even if none.
        pattern = host_path("/usr/local/bastille/jails/*/jail.conf")
        for conf in sorted(glob.glob(pattern)):
            out(os.path.basename(os.path.dirname(conf)))
        return 0
    raise Unsupported(f"bastille: {' '.join(args) or '(no subcommand)'}")


# --------------------------------------------------------------------------- sysrc

# /etc/defaults/rc.conf stand-in: values copied from FreeBSD 14 libexec/rc/rc.conf
# (${_localbase} expanded).  bastille_enable is NOT a default.
RC_DEFAULTS_PATH = "/etc/defaults/rc.conf"
RC_DEFAULTS: dict[str, str] = {
    "rc_conf_files": "/etc/rc.conf /etc/rc.conf.local",
    "local_startup": "/usr/local/etc/rc.d",
    "zfs_enable": "NO",
    "growfs_enable": "NO",
    "powerd_enable": "NO",
    "hostname": "",
    "netif_enable": "YES",
    "cloned_interfaces": "",
    "network_interfaces": "auto",
    "firewall_enable": "NO",
    "pf_enable": "NO",
    "pf_rules": "/etc/pf.conf",
    "pf_program": "/sbin/pfctl",
    "pf_flags": "",
    "pflog_enable": "NO",
    "pflog_logfile": "/var/log/pflog",
    "pflog_flags": "",
    "syslogd_enable": "YES",
    "syslogd_flags": "-s",
    "local_unbound_enable": "NO",
    "sshd_enable": "NO",
    "sshd_flags": "",
    "ntpd_enable": "NO",
    "ntpdate_enable": "NO",
    "defaultrouter": "NO",
    "static_routes": "",
    "gateway_enable": "NO",
    "ipv6_defaultrouter": "NO",
    "ipv6_gateway_enable": "NO",
    "ipv6_activate_all_interfaces": "NO",
    "sendmail_enable": "NO",
    "sendmail_submit_enable": "YES",
    "sendmail_outbound_enable": "YES",
    "sendmail_msp_queue_enable": "YES",
    "cron_enable": "YES",
    "cron_flags": "",
    "dumpdev": "NO",
    "clear_tmp_enable": "NO",
    "linux_enable": "NO",
    "sysvipc_enable": "NO",
    "devfs_rulesets": "/etc/defaults/devfs.rules /etc/devfs.rules",
    "devfs_system_ruleset": "",
    "devfs_load_rulesets": "YES",
    "newsyslog_enable": "YES",
    "newsyslog_flags": "-CN",
    "rctl_enable": "YES",
    "rctl_rules": "/etc/rctl.conf",
    "jail_enable": "NO",
    "jail_conf": "/etc/jail.conf",
    "jail_parallel_start": "NO",
    "jail_list": "",
    "jail_reverse_stop": "NO",
}

_ASSIGN = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*)=")
_VALID_NAME = re.compile(r"[0-9A-Za-z_]*")


def _expand(text: str, i: int, env: dict[str, str]) -> tuple[str, int]:
    """Expand $NAME / ${NAME} at text[i] == '$'; other forms stay literal."""
    braced = re.match(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text[i:])
    plain = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", text[i:])
    match = braced or plain
    if match:
        return env.get(match.group(1), ""), i + match.end()
    return "$", i + 1


def _sh_value(text: str, i: int, env: dict[str, str]) -> tuple[str, int]:
    """Parse one sh word (the right side of NAME=) starting at text[i]."""
    value: list[str] = []
    while i < len(text) and text[i] not in " \t\n;":
        c = text[i]
        if c == "'":
            end = text.find("'", i + 1)
            end = len(text) if end < 0 else end
            value.append(text[i + 1 : end])
            i = end + 1
        elif c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in '$`"\\\n':
                    if text[i + 1] != "\n":
                        value.append(text[i + 1])
                    i += 2
                elif text[i] == "$":
                    expanded, i = _expand(text, i, env)
                    value.append(expanded)
                else:
                    value.append(text[i])
                    i += 1
            i += 1
        elif c == "\\" and i + 1 < len(text):
            value.append(text[i + 1])
            i += 2
        elif c == "$":
            expanded, i = _expand(text, i, env)
            value.append(expanded)
        else:
            value.append(c)
            i += 1
    return "".join(value), i


def source_rc(path: str, env: dict[str, str]) -> list[str]:
    """'Source' an rc.conf-style file: apply NAME=value lines to env; return names set."""
    try:
        with open(host_path(path), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return []
    names: list[str] = []
    i = 0
    while i < len(text):
        match = _ASSIGN.match(text, i)
        if match:
            value, i = _sh_value(text, match.end(), env)
            env[match.group(1)] = value
            names.append(match.group(1))
        newline = text.find("\n", i)
        i = len(text) if newline < 0 else newline + 1
    return names


class RcConf:
    """rc.conf(5) view: defaults, then rc_conf_files (or the -f files)."""

    def __init__(self, files: list[str] | None) -> None:
        self.explicit = files
        env = dict(RC_DEFAULTS)
        self.files = files if files is not None else env["rc_conf_files"].split()
        self.assigned: list[str] = []
        for path in dict.fromkeys(self.files):
            self.assigned += source_rc(path, env)
        self.env = env

    def get(self, name: str) -> str | None:
        return self.env.get(name)

    def find(self, name: str) -> str | None:
        """f_sysrc_find: the file with the last assignment (reverse order, then defaults)."""
        regex = re.compile(rf"^[ \t]*{re.escape(name)}=", re.M)
        for path in reversed(self.files):
            try:
                with open(host_path(path), encoding="utf-8", errors="replace") as fh:
                    if regex.search(fh.read()):
                        return path
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
        return RC_DEFAULTS_PATH if name in RC_DEFAULTS else None

    def first_file(self) -> str:
        if self.explicit is not None:
            return self.explicit[0]
        return self.env.get("rc_conf_files", "/etc/rc.conf").split()[0]


def _sysrc_set_file(path: str, name: str, new: str, found: bool) -> bool:
    """sysrc.subr f_sysrc_set: replace the last assignment keeping its quoting, or append."""
    real = host_path(path)
    if not found:
        try:
            with open(real, "a+", encoding="utf-8") as fh:
                fh.seek(0)
                content = fh.read()
                if content and not content.endswith("\n"):
                    fh.write("\n")
                fh.write(f'{name}="{new}"\n')  # outputs §2: the file holds name="value"
        except OSError as exc:
            # outputs §2 (#712): the sh redirection error of a missing -f directory.
            err(f"/usr/sbin/sysrc: cannot create {path}: {os.strerror(exc.errno or 0)}")
            return False
        return True
    with open(real, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    regex = re.compile(rf"^[ \t]*{re.escape(name)}=")
    append = True
    for idx in range(len(lines) - 1, -1, -1):
        match = regex.match(lines[idx])
        if not match:
            continue
        head, value = lines[idx][: match.end()], lines[idx][match.end() :]
        t1 = value[:1]
        if t1 and t1 in "`$\\":
            break  # an expression sysrc did not write: left alone, new line appended
        if t1 == "'":
            rest = re.sub(r"^'[^']*", "", value)
            t2 = "" if not rest else "'"
            rest = rest[1:] if rest.startswith("'") else rest
        elif t1 == '"':
            rest = re.sub(r'^"(.*\\\\+")*[^"]*', "", value)
            t2 = "" if not rest else '"'
            rest = rest[1:] if rest.startswith('"') else rest
        elif t1 and t1 not in " \t;":
            t1 = t2 = '"'
            rest = re.sub(r"^[^ \t]*", "", value)
        else:
            t1 = t2 = '"'
            rest = value
        lines[idx] = f"{head}{t1}{new}{t2}{rest}"
        append = False
        break
    if append:
        lines.append(f'{name}="{new}"')
    atomic_write(real, "\n".join(lines) + "\n", os.stat(real).st_mode & 0o7777)
    return True


def _sysrc_delete(conf: RcConf, name: str) -> None:
    """sysrc.subr f_sysrc_delete: drop every assignment in every file."""
    regex = re.compile(rf"^[ \t]*{re.escape(name)}=")
    for path in conf.files:
        real = host_path(path)
        if not os.path.exists(real):
            continue
        with open(real, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
        kept = [line for line in lines if not regex.match(line)]
        if len(kept) != len(lines):
            text = "\n".join(kept) + ("\n" if kept else "")
            atomic_write(real, text, os.stat(real).st_mode & 0o7777)


def _list_edit(before: str, arg: str, append: bool) -> str:
    """sysrc `+=` / `-=`: delimiter is the first char of arg unless alnum . / or blank."""
    delim = arg[:1]
    if delim == "" or delim.isspace() or re.match(r"[a-zA-Z0-9./]", delim):
        delim = " "

    def words_of(text: str) -> list[str]:
        # sh field splitting: IFS whitespace for " ", else IFS set to the delimiter.
        return text.split() if delim == " " else [w for w in text.split(delim) if w]

    old, items = words_of(before), words_of(arg)
    if append:
        new = before
        for item in items:
            if item and item not in old:
                new = f"{new}{delim}{item}"
        return new[len(delim) :] if new.startswith(delim) else new
    kept = [w for w in old if w and w not in items]
    return delim.join(kept)


def cmd_sysrc(args: list[str]) -> int:
    # usr.sbin/sysrc/sysrc (FreeBSD 14, SYSRC_VERSION 7.2) and outputs §2 / ref §2.1.
    if not args:
        err("Usage: sysrc [OPTIONS] {name[[+|-]=value] ... | -a | -A | -l | -L [name ...]}")
        err("Try `sysrc --help' for more information.")
        return 1
    opts, names = parse_opts(args, "acef:FiNnqx", "sysrc")
    flags = {flag for flag, _ in opts}
    files = [value for flag, value in opts if flag == "-f"] or None
    show_all, check, delete = "-a" in flags, "-c" in flags, "-x" in flags
    show_file = "-F" in flags
    # sysrc: "Process `-e', `-n', and `-N' command-line options".
    show_name = "-n" not in flags
    show_value = "-N" not in flags
    show_equals = "-e" in flags and not show_file and show_name
    if not show_value:
        show_name, show_equals = True, False
    view = SysrcView(
        show_name, show_value, show_file, '="' if show_equals else ": ", '"' if show_equals else ""
    )
    # sysrc: every operand's name is checked before anything runs.
    for arg in names:
        name = re.sub(r":[+=-].*", "", arg, count=1)
        name = re.sub(r"[%#+=-].*", "", name, count=1)
        if not _VALID_NAME.fullmatch(name):
            die(f"sysrc: {name}: name contains characters not allowed in shell")
    if not names and not show_all:
        raise Unsupported("sysrc: no operands")
    if delete and show_all:
        die("sysrc: `-x' option incompatible with `-a'/`-A' options (use `-X' to override)")
    if check and show_all:
        die("sysrc: `-c' option incompatible with `-a'/`-A' options")
    with locked(exclusive=True):
        conf = RcConf(files)
        if show_all:
            # -a: non-default variables, sorted like sh's `set`.
            for name in sorted(set(conf.assigned)):
                view.show(conf, name)
            return 0
        return _sysrc_operands(conf, names, flags, view)


class SysrcView:
    """How sysrc prints a variable: SHOW_NAME, SHOW_VALUE, SHOW_FILE, SEP, `-e' quote."""

    def __init__(
        self, show_name: bool, show_value: bool, show_file: bool, sep: str, quote: str
    ) -> None:
        self.show_name, self.show_value, self.show_file = show_name, show_value, show_file
        self.sep, self.quote = sep, quote

    def show(self, conf: RcConf, name: str) -> None:
        if self.show_file:
            out((f"{name}: " if self.show_name else "") + (conf.find(name) or ""))
        elif not self.show_value:
            out(name)
        else:
            out(f"{name + self.sep if self.show_name else ''}{conf.get(name)}{self.quote}")


def _sysrc_operands(conf: RcConf, names: list[str], flags: set[str], view: SysrcView) -> int:
    check, delete = "-c" in flags, "-x" in flags
    quiet, ignore = "-q" in flags, "-i" in flags
    show_file, show_value = view.show_file, view.show_value
    status = 0
    major = userland_major(read_state_unlocked())
    for arg in names:
        name = arg.split("=", 1)[0]
        mode = "assign"
        if name.endswith("+"):
            mode, name = "append", name[:-1]
        elif name.endswith("-"):
            mode, name = "remove", name[:-1]
        if "=" in arg:
            rhs = arg.split("=", 1)[1]
            if delete:
                _sysrc_delete(conf, name)
                conf = RcConf(conf.explicit)
                continue
            before = conf.get(name) or ""
            if mode == "append":
                new = _list_edit(before, rhs, append=True)
            elif mode == "remove":
                new = _list_edit(before, rhs, append=False)
            else:
                new = rhs
            if check:
                # -c NAME=VALUE: 0 only if set and already equal (outputs §2).  14.x
                # compares the raw VALUE; 15.x compares the +=/-= result (sysrc in main).
                target = new if major >= 15 else rhs
                if conf.get(name) is None or target != before:
                    status = 1
                continue
            where = conf.find(name)
            found = where is not None and where != RC_DEFAULTS_PATH
            path = where if found and where else conf.first_file()
            if show_file:
                before = where or ""
            if not show_value:
                out(name)
                if not _sysrc_set_file(path, name, new, found):
                    status = 1
                conf = RcConf(conf.explicit)
                continue
            if not _sysrc_set_file(path, name, new, found):
                status = 1
                continue
            conf = RcConf(conf.explicit)
            after = (conf.find(name) or "") if show_file else (conf.get(name) or "")
            head = name + view.sep if view.show_name else ""
            # outputs §2: "test_enable:  -> YES" (two spaces when unset).
            quote = view.quote
            mark = '" #' if quote else ""
            out(f"{head}{before}{mark} -> {quote}{after}{quote}")
            continue
        if name.startswith("-") or conf.get(name) is None:
            # outputs §2: unknown variable on stderr, rc 1 (also rc 1 with -i/-q).
            if not (ignore or quiet):
                err(f"sysrc: unknown variable '{name}'")
            status = 1
            continue
        if check:
            continue
        if delete:
            _sysrc_delete(conf, name)
            conf = RcConf(conf.explicit)
            continue
        view.show(conf, name)
    return status


def read_state_unlocked() -> State:
    return _load_unlocked()


# --------------------------------------------------------------------------- interfaces

IFF_BITS = [
    ("UP", 0x1),
    ("BROADCAST", 0x2),
    ("LOOPBACK", 0x8),
    ("RUNNING", 0x40),
    ("SIMPLEX", 0x800),
    ("MULTICAST", 0x8000),
    ("LOWER_UP", 0x1000000),
]


def _if_flags(iface: dict[str, Any]) -> list[str]:
    kind, up = iface["kind"], iface["up"]
    if kind == "loopback":
        names = ["LOOPBACK", "MULTICAST"] + (["UP", "RUNNING", "LOWER_UP"] if up else [])
    else:
        names = ["BROADCAST", "SIMPLEX", "MULTICAST"]
        if up:
            names += ["UP", "RUNNING"]
            # outputs §1.1: a 14.x bridge with members shows LOWER_UP (inferred: not
            # shown for a bridge without members).
            if kind != "bridge" or iface["members"]:
                names.append("LOWER_UP")
    return [n for n, _ in IFF_BITS if n in names]


def _flags_text(names: list[str], bits: list[tuple[str, int]]) -> str:
    value = sum(bit for name, bit in bits if name in names)
    return f"{value:x}<{','.join(names)}>"


def _inet_line(iface: dict[str, Any], addr: dict[str, Any]) -> str:
    # outputs §1.2/§1.3: "inet A netmask 0xffffff00 broadcast B"; lo0 has no broadcast.
    net = ipaddress.IPv4Interface(f"{addr['addr']}/{addr['prefixlen']}").network
    line = f"\tinet {addr['addr']} netmask 0x{int(net.netmask):08x}"
    if iface["kind"] != "loopback":
        line += f" broadcast {net.broadcast_address}"
    return line


def render_interface(state: State, iface: dict[str, Any], only_inet: bool = False) -> list[str]:
    """One `ifconfig IF` block, line order from outputs §1.3 (ifconfig_netlink.c status_nl)."""
    flags = _if_flags(iface)
    lines = [f"{iface['name']}: flags={_flags_text(flags, IFF_BITS)} metric 0 mtu {iface['mtu']}"]
    if only_inet:
        return lines + [_inet_line(iface, a) for a in iface["inet"]]
    kind = iface["kind"]
    if iface.get("description"):
        lines.append(f"\tdescription: {iface['description']}")
    options = {
        "ether": "4c07bb<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,JUMBO_MTU,VLAN_HWCSUM,TSO4,"
        "TSO6,LRO,VLAN_HWTSO,LINKSTATE,TXCSUM_IPV6>",  # outputs §1.3 vtnet0
        "loopback": "680003<RXCSUM,TXCSUM,LINKSTATE,RXCSUM_IPV6,TXCSUM_IPV6>",
        "bridge": "0",  # outputs §1.1
        "epair": "8<VLAN_MTU>",
    }[kind]
    lines.append(f"\toptions={options}")
    if iface.get("ether"):
        lines.append(f"\tether {iface['ether']}")
    lines += [_inet_line(iface, a) for a in iface["inet"]]
    if kind == "bridge":
        # outputs §1.1/§1.2; member block format from ifbridge.c bridge_status (§1.3).
        lines += [
            "\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15",
            "\tmaxage 20 holdcnt 6 proto rstp maxaddr 2000 timeout 1200",
            "\troot id 00:00:00:00:00:00 priority 32768 ifcost 0 port 0",
        ]
        for member in iface["members"]:
            port = find_iface(state, member)
            index = port["index"] if port else 0
            lines.append(f"\tmember: {member} flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>")
            lines.append(f"\t        ifmaxaddr 0 port {index} priority 128 path cost 2000")
    if iface["groups"]:
        lines.append(f"\tgroups: {' '.join(iface['groups'])}")
    if kind in ("ether", "epair"):
        media = (
            "Ethernet autoselect (10Gbase-T <full-duplex>)"
            if kind == "ether"
            else "Ethernet 10Gbase-T (10Gbase-T <full-duplex>)"
        )
        lines += [f"\tmedia: {media}", "\tstatus: active"]
    nd6 = {"loopback": "21<PERFORMNUD,AUTO_LINKLOCAL>", "bridge": "9<PERFORMNUD,IFDISABLED>"}
    lines.append(f"\tnd6 options={nd6.get(kind, '29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>')}")
    return lines


def find_iface(state: State, name: str) -> dict[str, Any] | None:
    return next((i for i in state["interfaces"] if i["name"] == name), None)


def _no_such(name: str) -> NoReturn:
    die(f"ifconfig: interface {name} does not exist")  # outputs §1.6


def _new_iface(state: State, name: str, kind: str, groups: list[str]) -> dict[str, Any]:
    index = state["next_ifindex"]
    state["next_ifindex"] = index + 1
    ether = _mac(name + str(index)) if kind == "bridge" else _mac(name + str(index), "02:c0:de")
    iface = {
        "name": name,
        "kind": kind,
        "index": index,
        "up": False,
        "mtu": 1500,
        "ether": ether,
        "inet": [],
        "members": [],
        "groups": groups,
        "description": None,
    }
    state["interfaces"].append(iface)
    return iface


def _create(state: State, target: str) -> tuple[dict[str, Any], bool]:
    """Clone an interface; returns (the new interface, whether its name is printed)."""
    match = re.fullmatch(r"(bridge|epair)(\d*)", target)
    if not match:
        raise Unsupported(f"ifconfig: cloning {target!r}")
    cloner, unit = match.groups()
    # ifconfig.c ifmaybeload(): creating a clone loads its driver module.
    load_module(state, f"if_{cloner}.ko", f"if_{cloner}")
    names = {i["name"] for i in state["interfaces"]}
    if unit:
        wanted = target + ("a" if cloner == "epair" else "")
        if wanted in names:
            die(f"ifconfig: interface {target} already exists")  # outputs §1.6 (#712)
        number = int(unit)
    else:
        number = 0
        while f"{cloner}{number}" in names or f"{cloner}{number}a" in names:
            number += 1
    if cloner == "bridge":
        iface = _new_iface(state, f"bridge{number}", "bridge", ["bridge"])
    else:
        # outputs §1.4: `ifconfig epair create` makes epairNa/epairNb, prints only the a end.
        iface = _new_iface(state, f"epair{number}a", "epair", ["epair"])
        peer = _new_iface(state, f"epair{number}b", "epair", ["epair"])
        iface["peer"], peer["peer"] = peer["name"], iface["name"]
    # ifconfig.c clone_create: the name is printed when it differs from the argument.
    return iface, iface["name"] != target


def _parse_inet(words: list[str], i: int, state: State) -> tuple[str, int | None, str, int]:
    addr = words[i]
    prefix: int | None = None
    if "/" in addr:
        addr, plen = addr.split("/", 1)
        prefix = int(plen)
    i += 1
    action = "set"
    while i < len(words) and words[i] in ("netmask", "alias", "-alias", "delete"):
        if words[i] == "netmask":
            mask = words[i + 1]
            value = int(mask, 16) if mask.startswith("0x") else int(ipaddress.IPv4Address(mask))
            prefix = bin(value).count("1")
            i += 2
            continue
        action = {"alias": "alias", "-alias": "remove", "delete": "remove"}[words[i]]
        i += 1
    try:
        ipaddress.IPv4Address(addr)
    except ValueError as exc:
        raise Unsupported(f"ifconfig: inet address {addr!r}") from exc
    if prefix is None and action != "remove":
        if userland_major(state) >= 15:
            # outputs §1.6 (#1361, 15.0): errx(1, ...).
            die("ifconfig: ERROR: setting interface address without mask is no longer supported.")
        prefix = 32  # 14.x: accepted; modelled as /32 (see module report)
    return addr, prefix, action, i


def _apply_ops(state: State, iface: dict[str, Any], words: list[str]) -> bool:
    """Apply `up name X addm Y inet A/P alias ...` in order; True if renamed."""
    renamed = False
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("up", "down"):
            iface["up"] = word == "up"
            i += 1
        elif word == "name" and i + 1 < len(words):
            new = words[i + 1]
            if find_iface(state, new):
                die("ifconfig: ioctl SIOCSIFNAME (set name): File exists")
            for other in state["interfaces"]:
                other["members"] = [new if m == iface["name"] else m for m in other["members"]]
                if other.get("peer") == iface["name"]:
                    other["peer"] = new
            for route in state["routes"]:
                if route["interface"] == iface["name"]:
                    route["interface"] = new
            iface["name"] = new
            renamed = True
            i += 2
        elif word in ("description", "descr") and i + 1 < len(words):
            iface["description"] = words[i + 1]
            i += 2
        elif word in ("addm", "deletem") and i + 1 < len(words) and iface["kind"] == "bridge":
            member = words[i + 1]
            if word == "addm":
                if not find_iface(state, member):
                    die(f"ifconfig: BRDGADD {member}: No such file or directory")
                if member in iface["members"]:
                    die(f"ifconfig: BRDGADD {member}: File exists")
                iface["members"].append(member)
            elif member in iface["members"]:
                iface["members"].remove(member)
            else:
                die(f"ifconfig: BRDGDEL {member}: Invalid argument")
            i += 2
        elif word == "inet" and i + 1 < len(words):
            addr, prefix, action, i = _parse_inet(words, i + 1, state)
            _set_address(iface, addr, prefix, action)
        elif word == "destroy":
            _destroy(state, iface)
            i += 1
        else:
            raise Unsupported(f"ifconfig: {iface['name']} {' '.join(words[i:])}")
    return renamed


def _set_address(iface: dict[str, Any], addr: str, prefix: int | None, action: str) -> None:
    current = [a["addr"] for a in iface["inet"]]
    if action == "remove":
        if addr not in current:
            die("ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address")
        iface["inet"] = [a for a in iface["inet"] if a["addr"] != addr]
        return
    if addr in current:
        # [unconfirmed] re-adding a present address (ref §2.2 says "may error").
        die("ifconfig: ioctl (SIOCAIFADDR): File exists")
    entry = {"addr": addr, "prefixlen": prefix}
    if action == "set" and iface["inet"]:
        iface["inet"][0] = entry  # without `alias` the first address is replaced
    else:
        iface["inet"].append(entry)


def _destroy(state: State, iface: dict[str, Any]) -> None:
    doomed = {iface["name"], iface.get("peer")}
    state["interfaces"] = [i for i in state["interfaces"] if i["name"] not in doomed]
    for other in state["interfaces"]:
        other["members"] = [m for m in other["members"] if m not in doomed]


def cmd_ifconfig(args: list[str]) -> int:
    # sbin/ifconfig (FreeBSD 14); formats per outputs §1, probes per ref §2.2.
    if not args or args == ["-a"]:
        state = read_state()
        for iface in state["interfaces"]:
            for line in render_interface(state, iface):
                out(line)
        return 0
    if args == ["-l"]:
        # outputs §1.5: interface-index order, single spaces.
        out(" ".join(i["name"] for i in read_state()["interfaces"]))
        return 0
    if args[0] == "-g" and len(args) == 2:
        # outputs §1.5: the members of a group, one per line.
        for iface in read_state()["interfaces"]:
            if args[1] in iface["groups"]:
                out(iface["name"])
        return 0
    no_autoload = args[0] == "-n"  # ifconfig(8) 14: -n disables driver autoloading
    words = args[1:] if no_autoload else args
    if not words or words[0].startswith("-"):
        raise Unsupported(f"ifconfig: {' '.join(args)}")
    name, ops = words[0], words[1:]
    if not ops or ops == ["inet"]:
        # `ifconfig [-n] IF` prints it; ref §2.2: -n IF is the existence probe (rc 0/1).
        state = read_state()
        iface = find_iface(state, name)
        if iface is None:
            _no_such(name)
        for line in render_interface(state, iface, only_inet=bool(ops)):
            out(line)
        return 0
    if no_autoload:
        raise Unsupported("ifconfig: -n with changes")
    with mutate_state() as state:
        if ops[0] == "create":
            iface, printed = _create(state, name)
            ops = ops[1:]
        else:
            found = find_iface(state, name)
            if found is None:
                _no_such(name)
            iface, printed = found, False
        printed = _apply_ops(state, iface, ops) or printed
    if printed:
        # ifconfig.c printifname: a clone whose name differs from the argument, or a
        # rename, prints the final name once (outputs §1.4: bridge0, epair0a, new name).
        out(iface["name"])
    return 0


# --------------------------------------------------------------------------- routing


def _routes(state: State) -> list[tuple[str, str, str, str]]:
    """IPv4 routing table: state routes + routes derived from interface addresses."""
    rows: list[tuple[tuple[int, int, int], tuple[str, str, str, str]]] = []
    seen: set[str] = set()
    for iface in state["interfaces"]:
        link = f"link#{iface['index']}"
        for addr in iface["inet"]:
            if iface["kind"] == "loopback":
                rows.append(
                    (
                        (1, int(ipaddress.IPv4Address(addr["addr"])), 32),
                        (addr["addr"], link, "UH", iface["name"]),
                    )
                )
                continue
            net = ipaddress.IPv4Interface(f"{addr['addr']}/{addr['prefixlen']}").network
            if net.prefixlen < 32 and str(net) not in seen:
                seen.add(str(net))
                rows.append(
                    (
                        (1, int(net.network_address), net.prefixlen),
                        (str(net), link, "U", iface["name"]),
                    )
                )
            rows.append(
                (
                    (1, int(ipaddress.IPv4Address(addr["addr"])), 32),
                    (addr["addr"], link, "UHS", "lo0"),
                )
            )
    for route in state["routes"]:
        if route["destination"] == "default":
            key = (0, 0, 0)
        else:
            net = ipaddress.IPv4Network(route["destination"], strict=False)
            key = (1, int(net.network_address), net.prefixlen)
        rows.append(
            (key, (route["destination"], route["gateway"], route["flags"], route["interface"]))
        )
    return [row for _, row in sorted(rows)]


def cmd_netstat(args: list[str]) -> int:
    # netstat -rn [-f inet | -4]: outputs §10 (14.3 transcript).  Only the Internet
    # table is modelled (the state holds no IPv6), so -rn prints just that table.
    opts, rest = parse_opts(args, "rn4f:", "netstat")
    flags = {flag for flag, _ in opts}
    family = [value for flag, value in opts if flag == "-f"]
    if rest or not {"-r", "-n"} <= flags or any(f != "inet" for f in family):
        raise Unsupported(f"netstat: {' '.join(args)}")
    out("Routing tables")
    out("")
    out("Internet:")
    out(f"{'Destination':<18} {'Gateway':<18} {'Flags':<12} {'Netif':>6} Expire")
    for dest, gateway, rflags, netif in _routes(read_state()):
        out(f"{dest:<18} {gateway:<18} {rflags:<12} {netif:>6}")
    return 0


def cmd_route(args: list[str]) -> int:
    # route -n get [-inet] default: outputs §10 (FreeBSD 15.0 sample).
    if args not in (
        ["-n", "get", "default"],
        ["-n", "get", "-inet", "default"],
        ["-n", "get", "0"],
        ["-n", "get", "-4", "default"],
    ):
        raise Unsupported(f"route: {' '.join(args)}")
    state = read_state()
    default = next((r for r in state["routes"] if r["destination"] == "default"), None)
    if default is None:
        die("route: writing to routing socket: not in table")
    iface = find_iface(state, default["interface"])
    mtu = iface["mtu"] if iface else 1500
    out("   route to: default")
    out("destination: default")
    out("       mask: default")
    out(f"    gateway: {default['gateway']}")
    out("        fib: 0")
    out(f"  interface: {default['interface']}")
    out("      flags: <UP,GATEWAY,DONE,STATIC>")
    out(" recvpipe  sendpipe  ssthresh  rtt,msec    mtu        weight    expire")
    out("  ".join(f"{v:8d}" for v in (0, 0, 0, 0, mtu, 1, 0)))
    return 0


# --------------------------------------------------------------------------- jls

JLS_HEADER = "   JID  IP Address      Hostname                      Path"


def _jail_param(jail: dict[str, Any], param: str) -> str:
    if param == "jid":
        return str(jail["jid"])
    if param == "name":
        return str(jail["name"])
    if param == "host.hostname":
        return str(jail.get("hostname", jail["name"]))
    if param == "path":
        return str(jail["path"])
    if param == "ip4.addr":
        return ",".join(jail.get("ip4", [])) or "-"  # outputs §5: the address or "-"
    die(f"jls: unknown parameter: {param}")


def cmd_jls(args: list[str]) -> int:
    # usr.sbin/jls/jls.c; formats in outputs §5.
    opts, params = parse_opts(args, "j:", "jls")
    jails = read_state()["jails"]
    if opts:
        wanted = opts[0][1]
        key = "jid" if wanted.isdigit() else "name"
        jails = [j for j in jails if str(j[key]) == wanted]
        if not jails:
            if not params:
                out(JLS_HEADER)  # the header is printed before the error (outputs §5)
            die(f'jls: jail "{wanted}" not found')
    if params:
        for jail in jails:
            out(" ".join(_jail_param(jail, p) for p in params))
        return 0
    out(JLS_HEADER)
    for jail in jails:
        ip = ",".join(jail.get("ip4", []))
        host = jail.get("hostname", jail["name"])
        out(f"{jail['jid']:6d}  {ip:<15.15} {host:<29.29} {jail['path']}")
    return 0


# --------------------------------------------------------------------------- pfctl

PF_FCOUNTERS = ("searches", "inserts", "removals")
PF_REASONS = (
    "match",
    "bad-offset",
    "fragment",
    "short",
    "normalize",
    "memory",
    "bad-timestamp",
    "congestion",
    "ip-option",
    "proto-cksum",
    "state-mismatch",
    "state-insert",
    "state-limit",
    "src-limit",
    "synproxy",
    "map-failed",
)
PF_SHOW_KNOWN = (
    "queue",
    "rules",
    "Anchors",
    "Sources",
    "states",
    "info",
    "Interfaces",
    "labels",
    "timeouts",
    "memory",
    "Tables",
    "osfp",
    "Running",
    "all",
    "nat",
)


def cmd_pfctl(args: list[str]) -> int:
    # sbin/pfctl/pfctl.c (FreeBSD 14); outputs §3.
    opts, rest = parse_opts(args, "s:edq", "pfctl")
    flags = [flag for flag, _ in opts]
    if rest or not opts or len({f for f in flags if f != "-q"}) != 1:
        raise Unsupported(f"pfctl: {' '.join(args)}")
    if "pf" not in loaded_modules(read_state()):
        die("pfctl: /dev/pf: No such file or directory")  # open(/dev/pf) fails: err(1, ...)
    quiet = "-q" in flags
    if "-e" in flags or "-d" in flags:
        with mutate_state() as state:
            pf = state["pf"]
            if "-e" in flags:
                if pf["enabled"]:
                    die("pfctl: pf already enabled")  # outputs §3.4
                pf["enabled"], pf["enabled_at"] = True, time.time()
                message = "pf enabled"
            else:
                if not pf["enabled"]:
                    die("pfctl: pf not enabled")  # outputs §3.4
                pf["enabled"], pf["enabled_at"] = False, None
                message = "pf disabled"
        if not quiet:
            err(message)  # on stderr (outputs §3.4)
        return 0
    show = dict(opts)["-s"]
    matches = [o for o in PF_SHOW_KNOWN if o.startswith(show)]
    if len(matches) != 1 or matches[0] not in ("info", "Running"):
        raise Unsupported(f"pfctl -s {show}")
    pf = read_state()["pf"]
    if matches[0] == "Running":
        # pfctl.c pfctl_show_running: prints Enabled/Disabled, returns !running.
        out("Enabled" if pf["enabled"] else "Disabled")
        return 0 if pf["enabled"] else 1
    # pfctl_parser.c print_status (outputs §3.1): "%-44s" status, "%15s" debug.
    if pf["enabled"]:
        runtime = int(time.time() - (pf.get("enabled_at") or time.time()))
        days, rem = divmod(runtime, 86400)
        status = (
            f"Status: Enabled for {days} days {rem // 3600:02d}:{rem % 3600 // 60:02d}:"
            f"{rem % 60:02d}"
        )
    else:
        status = "Status: Disabled"
    out(f"{status:<44}{'Debug: Urgent':>15}")
    out("")
    out(f"{'State Table':<27} {'Total':>14} {'Rate':>16}")
    out(f"  {'current entries':<25} {0:14d} {'':14}")
    for name in PF_FCOUNTERS:
        out(f"  {name:<25} {0:14d} {'':14}")
    out("Counters")
    for name in PF_REASONS:
        out(f"  {name:<25} {0:14d} {'':14}")
    return 0


# --------------------------------------------------------------------------- kldload


def cmd_kldload(args: list[str]) -> int:
    raise Unsupported(f"kldload: {' '.join(args)}")


# --------------------------------------------------------------------------- service


def cmd_service(args: list[str]) -> int:
    raise Unsupported(f"service: {' '.join(args)}")


# --------------------------------------------------------------------------- pw


def cmd_pw(args: list[str]) -> int:
    raise Unsupported(f"pw: {' '.join(args)}")


# --------------------------------------------------------------------------- newsyslog


def cmd_newsyslog(args: list[str]) -> int:
    raise Unsupported(f"newsyslog: {' '.join(args)}")


# --------------------------------------------------------------------------- helpers


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# --------------------------------------------------------------------------- main

HANDLERS = {
    "freebsd-version": cmd_freebsd_version,
    "uname": cmd_uname,
    "sysctl": cmd_sysctl,
    "kldstat": cmd_kldstat,
    "pkg": cmd_pkg,
    "lockf": cmd_lockf,
    "bastille": cmd_bastille,
    "sysrc": cmd_sysrc,
    "ifconfig": cmd_ifconfig,
    "netstat": cmd_netstat,
    "route": cmd_route,
    "jls": cmd_jls,
    "pfctl": cmd_pfctl,
    "kldload": cmd_kldload,
    "service": cmd_service,
    "pw": cmd_pw,
    "newsyslog": cmd_newsyslog,
}


def main(argv: list[str]) -> int:
    prog = os.path.basename(argv[0])
    if prog in HANDLERS:
        command, args = prog, argv[1:]
    elif len(argv) >= 2:
        command, args = argv[1], argv[2:]
    else:
        err("freebsd-double: usage: freebsd_double.py COMMAND [ARGS...]")
        return EX_USAGE
    rc = EX_USAGE
    try:
        call_index = next_call_index()
        _maybe_inject_fault(call_index)
        handler = HANDLERS.get(command)
        if handler is None:
            raise Unsupported(f"unknown command {command!r}")
        rc = handler(args)
    except Unsupported as exc:
        err(f"freebsd-double: not modelled (exit 64): {exc}")
        rc = EX_USAGE
    except Exit as exc:
        rc = exc.rc
    except Exception:  # a bug in the double, not a FreeBSD behaviour
        import traceback

        traceback.print_exc()
        rc = EX_SOFTWARE
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        log_call([command, *args], rc)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))

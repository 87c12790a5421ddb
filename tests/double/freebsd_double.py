#!/usr/bin/env python3
"""freebsd-double: a TEST DOUBLE for FreeBSD commands. This is not FreeBSD.

One stdlib-only program stands in for the FreeBSD commands the toolkit runs on a
throwaway Linux test host (design.md, "Testing without FreeBSD").  It is called as
``freebsd_double.py COMMAND ARGS...`` (the sh wrappers written by install.py) or
through a symlink whose basename is the command.

Commands: freebsd-version uname sysctl kldstat pkg lockf bastille sysrc ifconfig
netstat route jls pfctl kldload service pw newsyslog jexec chroot.  Bastille jails, jexec,
`pkg -j` and what runs inside a jail live in jails.py next to this file (loaded on
demand; its docstring says what a jail is here: real inside a test host, with
jail_kernel.py and jail_postgres.py, else jexec runs commands on the HOST's
filesystem).  A host `pkg install postgresqlNN-server` leaves the port's account and
an rc.d script whose `service postgresql` is a real PostgreSQL (host_postgres.py).
What each one accepts is listed in its handler; the
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
import importlib
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
    "jexec",
    "vm",  # vm-bhyve: tests/double/vm.py
    "chroot",  # FreeBSD's -u/-g/-G (Debian's chroot has --userspec instead)
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


def _sibling(name: str) -> Any:
    """A module shipped next to this one (install.MODULES), sharing this module.

    It does `import freebsd_double`, so this module is registered under that name
    first (it runs as __main__): both then share one Exit/Unsupported and one state.
    """
    sys.modules.setdefault("freebsd_double", sys.modules[__name__])
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    return importlib.import_module(name)


def _jails() -> Any:
    """jails.py: Bastille jails, jexec, commands inside a jail."""
    return _sibling("jails")


def _vm() -> Any:
    """vm.py: vm-bhyve's `vm`."""
    return _sibling("vm")


def in_jail() -> bool:
    """Set by jexec (jails.py): this command runs inside that jail."""
    return bool(os.environ.get("FREEBSD_DOUBLE_JAIL"))


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
    """Fault hook, off unless state["fault"] is set; it runs before the command acts.

    state["fault"] is one spec or a list of specs. Which call a spec picks:

    * "at": k: the k-th call (calls.seq);
    * "at": k with "under": "lockf": the k-th call that runs under the double's
      lockf (an ancestor process is `lockf`): the commands of scripts run under a
      lock (warden's step scripts), not those of a script that only probes the
      lock (its facts). While such a spec is set, calls.lockf.seq counts them and
      calls.lockf.log gets one JSON line per call, in start order:
      {"call": calls.seq, "lockf": pid of that lockf or null, "n": k or null,
      "argv": [...]}, so a test can tell which script ran which call;
    * "argv": ["pfctl", "-nf"]: a call whose argv (command name, then its
      arguments, as in calls.log) starts with that prefix, word for word ("-nf"
      does not match "-n -f"); "times" (default: unlimited) counts down in
      state.json, at 0 the spec no longer fires. The argv is read from sys.argv,
      as main() sees it.

    What it does ("action"):

    * "exit": prints stdout/stderr (a newline is added to non-empty text) and
      exits rc (default 1); an "at" spec without them prints
      "freebsd-double: injected fault at call k" and exits 70 (EX_SOFTWARE).
    * "disconnect": a network cut under this command. The sshd processes serving
      this call's SSH connection (every sshd ancestor below the topmost one, the
      listener: OpenSSH 9.2's "[priv]" monitor and its "user@notty" child) are
      SIGKILLed and awaited, so the client sees the connection die and this
      command's stdout/stderr lead nowhere. The command then runs as it would,
      with SIGPIPE at its default action: like a C program on FreeBSD, it dies
      when it writes to the dead session (sshd does not signal an exec session's
      command when the connection drops: it just closes the pipes). Outside an
      SSH session it exits 64.
    * "sleep": waits "seconds", then the command runs as it would (a slow
      command, to cut the client while it runs).

    Any other action or key exits 64.
    """
    fault = read_state().get("fault")
    if not fault:
        return
    prog = os.path.basename(sys.argv[0])
    argv = [prog, *sys.argv[1:]] if prog in HANDLERS else sys.argv[1:]
    specs = fault if isinstance(fault, list) else [fault]
    keys = {"at", "under", "argv", "action", "rc", "stderr", "stdout", "times", "seconds"}
    for spec in specs:
        if (
            not isinstance(spec, dict)
            or set(spec) - keys
            or spec.get("action") not in ("exit", "disconnect", "sleep")
            or ("at" in spec) == ("argv" in spec)
            or ("argv" in spec and not isinstance(spec["argv"], list))
            or ("under" in spec and (spec["under"] != "lockf" or "at" not in spec))
            or (("seconds" in spec) != (spec["action"] == "sleep"))
            or (spec["action"] != "exit" and {"rc", "stderr", "stdout"} & set(spec))
        ):
            raise Unsupported(f"fault spec {spec!r}")
    locked_index = (
        _fault_lockf_index(call_index, argv) if any("under" in s for s in specs) else None
    )
    for index, spec in enumerate(specs):
        if "at" in spec:
            wanted = locked_index if "under" in spec else call_index
            if wanted is None or int(spec["at"]) != wanted:
                continue
        else:
            prefix = [str(word) for word in spec["argv"]]
            if argv[: len(prefix)] != prefix or spec.get("times", 1) <= 0:
                continue
            if "times" in spec:
                with mutate_state() as state:
                    current = state["fault"]
                    stored = current[index] if isinstance(current, list) else current
                    if stored.get("times", 0) <= 0:
                        continue
                    stored["times"] -= 1
        if spec["action"] == "sleep":
            time.sleep(float(spec["seconds"]))
            return
        if spec["action"] == "disconnect":
            _fault_cut_ssh_session()
            return
        if "at" in spec and not ({"rc", "stderr", "stdout"} & set(spec)):
            err(f"freebsd-double: injected fault at call {call_index}")
            raise Exit(EX_SOFTWARE)
        if spec.get("stdout"):
            out(spec["stdout"])
        if spec.get("stderr"):
            err(spec["stderr"])
        raise Exit(int(spec.get("rc", 1)))


#: The process that called this command: this process, or a client of the double's
#: server (server.py), which sets it from the socket's peer credentials.
CALLER_PID: int | None = None


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def _fault_ancestors() -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of the caller's ancestors, nearest first (Linux /proc: the
    double runs on a Linux test host)."""
    try:
        pid = os.getppid() if CALLER_PID is None else _parent_of(CALLER_PID)
    except (OSError, ValueError, IndexError):
        return
    while pid > 0:
        try:
            ppid = _parent_of(pid)
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = [w.decode(errors="replace") for w in fh.read().split(b"\0") if w]
        except (OSError, ValueError, IndexError):
            return
        yield pid, cmdline
        pid = ppid


def _fault_lockf_index(call_index: int, argv: list[str]) -> int | None:
    """This call's number among the calls run under the double's lockf, or None;
    logged with the lockf's pid in calls.lockf.log."""

    def is_lockf(cmdline: list[str]) -> bool:
        words = [os.path.basename(w) for w in cmdline[:3]]
        return words[:1] == ["lockf"] or words[1:3] == [os.path.basename(__file__), "lockf"]

    lockf = next((pid for pid, cmdline in _fault_ancestors() if is_lockf(cmdline)), None)
    with locked(exclusive=True):
        n = None
        if lockf is not None:
            path = os.path.join(state_dir(), "calls.lockf.seq")
            try:
                with open(path, encoding="utf-8") as fh:
                    n = int(fh.read().strip() or 0) + 1
            except FileNotFoundError:
                n = 1
            atomic_write(path, f"{n}\n")
        line = {"call": call_index, "lockf": lockf, "n": n, "argv": argv}
        with open(os.path.join(state_dir(), "calls.lockf.log"), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
        return n


def _fault_cut_ssh_session() -> None:
    """SIGKILL the sshd processes of this call's connection (not the listener), wait
    until they are gone, and let SIGPIPE kill this command on its next write."""
    sshd = [
        pid
        for pid, cmdline in _fault_ancestors()
        if cmdline and os.path.basename(cmdline[0].split()[0].rstrip(":")) == "sshd"
    ]
    session = sshd[:-1]  # the farthest sshd ancestor is the listener
    if not session:
        raise Unsupported("fault action 'disconnect' outside an SSH session")
    for pid in session:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    for pid in session:
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                        break  # a zombie holds no descriptors: the socket is closed
            except OSError:
                break
            time.sleep(0.01)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


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
    # ollama, llama-cpp, gitea: ref §2.8; the rest are port paths [unconfirmed].
    "postgresql16-client": "databases/postgresql16-client",
    "postgresql17-client": "databases/postgresql17-client",
    "postgresql18-client": "databases/postgresql18-client",
    "postgresql15-server": "databases/postgresql15-server",
    "postgresql16-server": "databases/postgresql16-server",
    "postgresql17-server": "databases/postgresql17-server",
    "postgresql18-server": "databases/postgresql18-server",
    "postgresql17-contrib": "databases/postgresql17-contrib",
    "nginx": "www/nginx",
    "bhyve-firmware": "sysutils/bhyve-firmware",
    "qemu-tools": "emulators/qemu",
    "ollama": "misc/ollama",
    "llama-cpp": "misc/llama-cpp",
    "gitea": "www/gitea",
}


def cmd_pkg(args: list[str]) -> int:
    if args and args[0].startswith("-j"):
        return int(_jails().pkg_j(args))  # pkg -j JAIL ...: the jail's packages
    state = read_state()
    packages: dict[str, Any] = _jails().package_set(state) if in_jail() else state["packages"]
    if args in (["-v"], ["--version"]):
        out(_pkg_version(packages["pkg"]))  # pkg(8) -v: the version of pkg
        return 0
    if args and args[0] == "install":
        return _pkg_install(args[1:])
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


# pkg install (pkg-install(8), freebsd/pkg src/install.c).  Installable packages and
# their versions; state["pkg_catalog"] (name -> version) replaces this when set.
# bastille, tmux, git and vm-bhyve versions: ref §0/§1; the others are placeholders
# [unconfirmed], seed pkg_catalog when a test depends on a version.
PKG_CATALOG: dict[str, str] = {
    "bastille": "1.4.4",
    "tmux": "3.5a",
    "git": "2.51.0",
    "postgresql15-client": "15.14",
    "postgresql16-client": "16.10",
    "postgresql17-client": "17.6",
    "postgresql18-client": "18.0",
    "postgresql15-server": "15.14",
    "postgresql16-server": "16.10",
    "postgresql17-server": "17.6",
    "postgresql18-server": "18.0",
    "postgresql17-contrib": "17.6",
    "nginx": "1.28.0",
    "vm-bhyve": "1.7.5",
    "bhyve-firmware": "1.0_2",
    "qemu-tools": "10.0.3",
    "ollama": "0.11.4",
    "llama-cpp": "6210",
    "gitea": "1.24.5",
}
# bastille.conf.sample values of ref §1.1 (BastilleBSD/bastille
# usr/local/etc/bastille/bastille.conf.sample); the port's pkg-plist has
# "@sample etc/bastille/bastille.conf.sample", which copies it to bastille.conf
# when that file is missing.
BASTILLE_CONF_SAMPLE = """\
## default paths
bastille_prefix="/usr/local/bastille"
bastille_jailsdir="${bastille_prefix}/jails"
bastille_releasesdir="${bastille_prefix}/releases"
bastille_templatesdir="${bastille_prefix}/templates"
bastille_logsdir="/var/log/bastille"

## pf configuration path
bastille_pf_conf="/etc/pf.conf"

## default jail resolv.conf
bastille_resolv_conf="/etc/resolv.conf"

## ZFS options
bastille_zfs_enable="NO"
bastille_zfs_zpool=""

## Networking
bastille_network_vnet_type="if_bridge"
bastille_network_loopback="bastille0"
bastille_network_pf_ext_if="ext_if"
bastille_network_pf_table="jails"
bastille_network_gateway=""

## Default Templates
bastille_template_vnet="default/vnet"
"""
# Packages whose /usr/local/bin programs later commands run: the double links the
# Linux programs of the same names (found on the real PATH) there.  Required ones
# fail the install loudly when missing; psql only when present.  devel/git's
# pkg-plist installs git-shell, git-upload-pack and git-receive-pack in bin/ too (the
# git jail's user has git-shell as its shell; git-shell runs the other two).
PKG_LINKED_PROGRAMS: dict[str, tuple[tuple[str, ...], bool]] = {
    "tmux": (("tmux",), True),
    "git": (("git", "git-shell", "git-upload-pack", "git-receive-pack"), True),
    "postgresql15-client": (("psql",), False),
    "postgresql16-client": (("psql",), False),
    "postgresql17-client": (("psql",), False),
    "postgresql18-client": (("psql",), False),
}


def _host_program(name: str) -> str | None:
    """The Linux program NAME on the real PATH, skipping the double's /usr/local/bin."""
    skip = os.path.realpath(host_path("/usr/local/bin"))
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if not directory or os.path.realpath(directory) == skip:
            continue
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            # the program itself, not a link the double made for a package on the host
            # (`pkg -j` runs from the host, where /usr/local/bin holds such links)
            return os.path.realpath(candidate)
    return None


def _pkg_yes_env() -> bool:
    # pkg.conf(5): any option can be set from the environment; ASSUME_ALWAYS_YES
    # is a boolean (yes/true/on/1, case-insensitive).
    value = os.environ.get("ASSUME_ALWAYS_YES", "")
    return value.strip().lower() in ("yes", "true", "on", "1")


def _pkg_query(prompt: str) -> bool:
    # src/utils.c vquery_yesno(): y/Y/yes -> yes, n/N/no -> no, empty line -> the
    # default (no), EOF -> no, anything else asks again.
    sys.stdout.write(prompt)
    sys.stdout.flush()
    while True:
        line = sys.stdin.readline() if sys.stdin is not None else ""
        if line in ("", "\n"):
            return False
        if line in ("y\n", "Y\n") or line.lower() == "yes\n":
            return True
        if line in ("n\n", "N\n") or line.lower() == "no\n":
            return False
        out("Please type 'Y[es]' or 'N[o]' to make a selection")
        sys.stdout.write(prompt)
        sys.stdout.flush()


def _pkg_install(args: list[str]) -> int:
    # src/install.c exec_install(); modelled: -y -q and exact package names.
    try:
        opts, names = getopt.getopt(args, "qy")
    except getopt.GetoptError as exc:
        raise Unsupported(f"pkg install: {exc}") from exc
    flags = {flag for flag, _ in opts}
    quiet = "-q" in flags
    yes = "-y" in flags or _pkg_yes_env()
    if not names:
        err("Usage: pkg install [-AfInFMqRUy] [-r reponame] [-Cgix] <pkg-name> ...\n")
        err("For more information see 'pkg help install'.")
        return 1
    if any(not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", n) for n in names):
        raise Unsupported(f"pkg install: only exact package names are modelled: {names}")
    if os.geteuid() != 0:
        die("pkg: Insufficient privileges to install packages", 1)  # install.c
    state = read_state()
    catalog: dict[str, str] = state.get("pkg_catalog") or PKG_CATALOG
    if not quiet:
        # src/update.c pkgcli_update() (repository "FreeBSD", already fresh).
        out("Updating FreeBSD repository catalogue...")
        out("FreeBSD repository is up to date.")
        out("All repositories are up to date.")
    missing = [n for n in names if n not in catalog]
    for name in missing:
        # libpkg pkg_jobs.c, seen pasted verbatim; pkg_jobs_add() fails -> rc 1.
        err(
            f"pkg: No packages available to install matching '{name}' have been found "
            "in the repositories"
        )
    if missing:
        return 1
    installed = _jails().package_set(state) if in_jail() else state["packages"]
    todo = sorted({n for n in names if n not in installed})
    if not todo:
        # outputs §7 (pkg #2698; #2625: the last line also with -q), rc 0.
        if not quiet:
            out("Checking integrity... done (0 conflicting)")
        out("The most recent versions of packages are already installed")
        return 0
    links = _pkg_links(todo)  # fail loudly before anything changes
    if not quiet:
        # src/utils.c print_jobs_summary(); sizes/download lines are not modelled
        # (the catalog has no sizes), nor are dependencies.
        out(f"The following {len(todo)} package(s) will be affected (of {len(todo)} checked):")
        out()
        out("New packages to be INSTALLED:")
        for name in todo:
            out(f"\t{name}: {catalog[name]}")
        out()
        out(f"Number of packages to be installed: {len(todo)}")
    # install.c: with -q the question is not asked and the answer is `yes`
    # (-y / ASSUME_ALWAYS_YES); declining leaves everything as it was, rc 1.
    proceed = yes if (quiet or yes) else _pkg_query("\nProceed with this action? [y/N]: ")
    if not proceed:
        return 1
    with mutate_state() as st:
        for name in todo:
            version = catalog[name]
            db = _jails().package_set(st) if in_jail() else st["packages"]
            db[name] = {"version": version, "origin": PKG_ORIGINS.get(name)}
            if name == "bastille" and not in_jail():
                st["bastille"] = {"version": version}  # `bastille --version` works
                _pkg_bastille_conf()
        for link, target in links:
            if not os.path.lexists(link):
                os.makedirs(os.path.dirname(link), exist_ok=True)
                os.symlink(target, link)
        if in_jail():
            _jails().after_install(todo)  # the jail's rc.d scripts, the postgres account
        elif servers := [n for n in todo if re.fullmatch(r"postgresql[0-9]+-server", n)]:
            # the port's account and its rc.d script, run by the host's `service`
            _sibling("host_postgres").after_install(servers)
    if not quiet:
        # outputs §7 (FreeBSD Journal 2023 transcript, fetch lines left out).
        out("Checking integrity... done (0 conflicting)")
        for i, name in enumerate(todo, 1):
            out(f"[{i}/{len(todo)}] Installing {name}-{catalog[name]}...")
            out(f"[{i}/{len(todo)}] Extracting {name}-{catalog[name]}: 100%")
    return 0


def _pkg_links(todo: list[str]) -> list[tuple[str, str]]:
    links = []
    for name in todo:
        if name not in PKG_LINKED_PROGRAMS:
            continue
        programs, required = PKG_LINKED_PROGRAMS[name]
        for program in programs:
            target = _host_program(program)
            if target is None:
                if required:
                    die(
                        f"freebsd-double: pkg install {name}: no Linux `{program}' on PATH to "
                        f"stand in for /usr/local/bin/{program}",
                        EX_SOFTWARE,
                    )
                continue
            links.append((host_path(f"/usr/local/bin/{program}"), target))
    return links


def _pkg_bastille_conf() -> None:
    directory = host_path("/usr/local/etc/bastille")
    os.makedirs(directory, exist_ok=True)
    atomic_write(os.path.join(directory, "bastille.conf.sample"), BASTILLE_CONF_SAMPLE, 0o644)
    conf = os.path.join(directory, "bastille.conf")
    if not os.path.exists(conf):  # @sample: an existing bastille.conf is kept
        atomic_write(conf, BASTILLE_CONF_SAMPLE, 0o644)


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
    if len(args) == 2 and args[0] == "bootstrap":
        return _bastille_bootstrap(state, args[1])
    if not args:
        raise Unsupported("bastille: (no subcommand)")
    return int(_jails().cmd_bastille(args))  # create, start, template, cmd ... (jails.py)


# Releases the double's "download mirror" has (bootstrap.sh fetches MANIFEST from it).
BASTILLE_RELEASES = ("13.5-RELEASE", "14.2-RELEASE", "14.3-RELEASE", "15.0-RELEASE")


def _bastille_bootstrap(state: State, release: str) -> int:
    """bootstrap.sh (1.4.x): make the prefix dirs, fetch and extract base.txz.

    bastille.conf is sourced first (a missing one fails like sh's `.`); a release whose
    MANIFEST cannot be fetched is "Unable to fetch MANIFEST"; a complete release (its
    COPYRIGHT exists) is "Bootstrap appears complete." via error_notify, which in
    1.4.x prints and exits 1. Messages go to stderr (info/error_notify, ref §1.1).
    """
    conf = host_path("/usr/local/etc/bastille/bastille.conf")
    if not os.path.isfile(conf):
        die(
            "/usr/local/share/bastille/bootstrap.sh: cannot open "
            "/usr/local/etc/bastille/bastille.conf: No such file or directory",
            2,
        )
    # bootstrap.sh validates the name: X.Y-RELEASE/-BETAn/-RCn, upper-cased; -pN is not
    # a release that can be fetched (the mirror has no such directory).
    match = re.fullmatch(r"(\d+\.\d+)-(release|beta\d+|rc\d+)", release, re.IGNORECASE)
    if match is None:
        die("Usage: bastille bootstrap [RELEASE|TEMPLATE] [update|arch]")
    name = f"{match.group(1)}-{match.group(2).upper()}"
    if name not in BASTILLE_RELEASES:
        err("")
        die("[ERROR]: Unable to fetch MANIFEST. See 'bootstrap urls'.")
    prefix = host_path("/usr/local/bastille")
    target = os.path.join(prefix, "releases", name)
    if os.path.isfile(os.path.join(target, "COPYRIGHT")):
        die("[ERROR]: Bootstrap appears complete.")
    err("Bootstrapping FreeBSD distfiles...")
    for sub in ("backups", "cache/" + name, "jails", "logs", "templates"):
        os.makedirs(os.path.join(prefix, sub), exist_ok=True)
    os.makedirs(os.path.join(target, "bin"), exist_ok=True)
    err(f"Validated checksum for {name}: base.txz")
    err(f"Extracting FreeBSD {name} base.txz.")
    # The extracted tree, reduced to what tests look at.
    with open(os.path.join(target, "bin", "freebsd-version"), "w", encoding="utf-8") as fh:
        fh.write(f"#!/bin/sh\necho {name}\n")
    with open(os.path.join(target, "COPYRIGHT"), "w", encoding="utf-8") as fh:
        fh.write("FreeBSD base system (test double stand-in)\n")
    err("")
    err("Bootstrap successful.")
    err("See 'bastille --help' for available commands.")
    return 0


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
    if not in_jail():
        _jails().mirror_bridges()  # in a test host: the real bridge follows (jails.py)
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


# ---- pf.conf: a documented SUBSET of pf.conf(5), read the way sbin/pfctl/parse.y reads it.
#
# Sources (freebsd-src, FreeBSD 14 era): sbin/pfctl/parse.y (yylex/lgetc/findeol, the
# grammar, check_rulestate, expand_rule, *_consistent, process_tabledef, pushfile),
# sbin/pfctl/pfctl_parser.c (host, host_if, ifa_lookup, print_rule, print_fromto,
# print_addr, print_pool, print_tabledef, check_netmask), sbin/pfctl/pfctl.c (main,
# pfctl_rules, pfctl_load_ruleset), sbin/pfctl/pfctl_table.c (pfctl_table,
# print_addrx, radix_perror), sbin/pfctl/pfctl_radix.c (pfr_next_token).
#
# Modelled statements (parse.y rule in brackets):
#   name = value                             [varset]   value: words/numbers/"quoted"
#   include "file"                           [include]
#   table <t> [persist] [const] [counters] [file "f"] [{ host, ... }]   [tabledef]
#   set skip on IF|{ IF ... } | set block-policy drop|return | set require-order yes|no |
#   set loginterface IF|none | set optimization NAME                    [option]
#   scrub [in|out] [log] [on IF] [inet|inet6] [proto P] FROMTO [fragment reassemble]
#   [no] nat|rdr [pass] [log] [on IF] [inet|inet6] [proto P] FROMTO
#       [-> HOST|{ HOST ... } [port N[:M]]] [round-robin|random|bitmask] [sticky-address]
#       [static-port]                                                   [natrule]
#   nat-anchor|rdr-anchor "n" [on IF] [af] [proto P] [FROMTO] | binat-anchor "n"
#   anchor "n" [in|out] [quick] [on IF] [af] [proto P] [FROMTO]        [anchorrule]
#   load anchor "n" from "file"                                        [loadrule]
#   antispoof [log] [quick] for IF|(IF)|{ ... } [inet|inet6]           [antispoof]
#   pass|block [drop|return] [in|out] [log] [quick] [on [!]IF|{ ... }] [inet|inet6]
#       [proto P|{ P ... }] FROMTO [flags F/F|flags /F|flags any]
#       [keep state|modulate state|synproxy state|no state]            [pfrule]
#   FROMTO: all | [from SRC [port PORTS]] [to DST [port PORTS]] (also "from port P")
#   SRC/DST: any | [!] host | { list } ; host: ADDR, ADDR/N, N/N, IF[:network|:broadcast|
#       :peer|:0], self, (IF[:mod]), <table>; PORTS: N, name, N:M, = != < <= > >= N,
#       N <> M, N >< M, { list }.
# A pf keyword pf.conf(5) has but this subset does not model (label, route-to, max-mss,
# user, icmp-type, binat, match, ether, queue, timeouts, ...) exits 64 (the exit-64
# rule); a token parse.y itself rejects is "FILE:LINE: syntax error".
#
# Approximate (documented, not copied from a paste): the -s rules/-s nat normal form is
# print_rule() applied to what this parser builds (outputs §3.2 shows the shape); port
# names come from the small FreeBSD /etc/services excerpt in PF_SERVICES; "-T show" sorts
# entries by address (the kernel walks its radix tree); DNS names are not resolved (a
# word that is neither an address nor an interface name of state.json is "no IP address
# found"); IPv6 link-local scoping and interface groups other than state's "groups" are
# not modelled.

PF_RULES_ORDER_MSG = (
    # parse.y check_rulestate(), FreeBSD 14 text.
    "Rules must be in order: options, ethernet, normalization, queueing, translation, filtering"
)
# parse.y enum PFCTL_STATE_*: the statement classes, in the order pf.conf(5) requires.
PF_STATE_OPTION, PF_STATE_SCRUB, PF_STATE_NAT, PF_STATE_FILTER = 1, 3, 5, 6
PF_NAT_PROXY_PORT_LOW, PF_NAT_PROXY_PORT_HIGH = 50001, 65535  # sys/net/pfvar.h
PF_IFNAMSIZ, PF_TABLE_NAME_SIZE = 16, 32
PF_TCPFLAGS = "FSRPAUEW"  # pfctl_parser.c tcpflags
# parse.y lookup(): every pf.conf keyword (a word in this list is never a STRING).
PF_KEYWORDS = frozenset(
    (
        "all",
        "allow-opts",
        "altq",
        "anchor",
        "antispoof",
        "any",
        "bandwidth",
        "binat",
        "binat-anchor",
        "bitmask",
        "block",
        "block-policy",
        "bridge-to",
        "buckets",
        "cbq",
        "code",
        "codelq",
        "debug",
        "divert-reply",
        "divert-to",
        "dnpipe",
        "dnqueue",
        "drop",
        "dup-to",
        "ether",
        "fail-policy",
        "fairq",
        "fastroute",
        "file",
        "fingerprints",
        "flags",
        "floating",
        "flush",
        "for",
        "fragment",
        "from",
        "global",
        "group",
        "hfsc",
        "hogs",
        "hostid",
        "icmp-type",
        "icmp6-type",
        "if-bound",
        "in",
        "include",
        "inet",
        "inet6",
        "interval",
        "keep",
        "keepcounters",
        "l3",
        "label",
        "limit",
        "linkshare",
        "load",
        "log",
        "loginterface",
        "map-e-portset",
        "match",
        "max",
        "max-mss",
        "max-src-conn",
        "max-src-conn-rate",
        "max-src-nodes",
        "max-src-states",
        "min-ttl",
        "modulate",
        "nat",
        "nat-anchor",
        "no",
        "no-df",
        "no-route",
        "no-sync",
        "on",
        "optimization",
        "os",
        "out",
        "overload",
        "pass",
        "port",
        "prio",
        "priority",
        "priq",
        "probability",
        "proto",
        "qlimit",
        "queue",
        "quick",
        "random",
        "random-id",
        "rdr",
        "rdr-anchor",
        "realtime",
        "reassemble",
        "reply-to",
        "require-order",
        "return",
        "return-icmp",
        "return-icmp6",
        "return-rst",
        "ridentifier",
        "round-robin",
        "route",
        "route-to",
        "rtable",
        "rule",
        "ruleset-optimization",
        "scrub",
        "set",
        "set-tos",
        "skip",
        "sloppy",
        "source-hash",
        "source-track",
        "state",
        "state-defaults",
        "state-policy",
        "static-port",
        "sticky-address",
        "syncookies",
        "synproxy",
        "table",
        "tag",
        "tagged",
        "target",
        "tbrsize",
        "timeout",
        "to",
        "tos",
        "ttl",
        "upperlimit",
        "urpf-failed",
        "user",
    )
)
# Keywords this subset uses; any other keyword where the subset fails is pf syntax the
# double does not model -> exit 64 instead of a made-up "syntax error".
PF_MODELLED_KEYWORDS = frozenset(
    (
        "all",
        "any",
        "anchor",
        "antispoof",
        "binat-anchor",
        "bitmask",
        "block",
        "block-policy",
        "drop",
        "file",
        "flags",
        "for",
        "fragment",
        "from",
        "in",
        "include",
        "inet",
        "inet6",
        "keep",
        "load",
        "log",
        "loginterface",
        "modulate",
        "nat",
        "nat-anchor",
        "no",
        "on",
        "optimization",
        "out",
        "pass",
        "port",
        "proto",
        "quick",
        "random",
        "rdr",
        "rdr-anchor",
        "reassemble",
        "require-order",
        "return",
        "round-robin",
        "scrub",
        "set",
        "skip",
        "state",
        "static-port",
        "sticky-address",
        "synproxy",
        "table",
        "to",
    )
)
# FreeBSD /etc/services (getservbyname/getservbyport), an excerpt: name -> (port, protos).
PF_SERVICES: dict[str, tuple[int, tuple[str, ...]]] = {
    "ftp": (21, ("tcp", "udp")),
    "ssh": (22, ("tcp", "udp")),
    "telnet": (23, ("tcp", "udp")),
    "smtp": (25, ("tcp", "udp")),
    "domain": (53, ("tcp", "udp")),
    "bootps": (67, ("tcp", "udp")),
    "bootpc": (68, ("tcp", "udp")),
    "tftp": (69, ("udp",)),
    "http": (80, ("tcp", "udp")),
    "pop3": (110, ("tcp", "udp")),
    "ntp": (123, ("tcp", "udp")),
    "imap": (143, ("tcp", "udp")),
    "https": (443, ("tcp", "udp")),
    "submission": (587, ("tcp", "udp")),
    "imaps": (993, ("tcp", "udp")),
    "pop3s": (995, ("tcp", "udp")),
    "mysql": (3306, ("tcp", "udp")),
    "postgresql": (5432, ("tcp", "udp")),
}
# FreeBSD /etc/protocols excerpt (getprotobyname/getprotobynumber): name -> number.
PF_PROTOCOLS = {
    "icmp": 1,
    "igmp": 2,
    "tcp": 6,
    "udp": 17,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "icmp6": 58,
    "ipv6-icmp": 58,
    "carp": 112,
    "sctp": 132,
    "pfsync": 240,
}
PF_PROTO_NAMES = {
    num: name for name, num in PF_PROTOCOLS.items() if name != "icmp6"
}  # p_name printed by pfctl_proto2name
_PF_DIGITS = frozenset("0123456789")
_PF_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_PF_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_PF_EMPTY_RULESET: dict[str, Any] = {"source": None, "nat": [], "rules": [], "tables": {}}


class _PfSyntax(Exception):
    """yacc found a token it cannot shift: "syntax error" (unless yyerrflag hides it)."""


class _PfYYError(Exception):
    """An action did yyerror() + YYERROR: error recovery without "syntax error"."""


class _PfTok:
    __slots__ = ("kind", "line", "value")

    def __init__(self, kind: str, value: Any = None, line: int = 0) -> None:
        # kind: kw str num ch nl arrow pbin error end
        self.kind, self.value, self.line = kind, value, line


class _PfFile:
    def __init__(self, name: str, text: str) -> None:
        self.name, self.text, self.pos, self.lineno = name, text, 0, 1

    def getc(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        self.pos += 1
        return self.text[self.pos - 1]


class _PfLexer:
    """parse.y yylex()/lgetc()/lungetc()/findeol()/pushfile()/popfile(), char for char."""

    def __init__(self, conf: _PfConf) -> None:
        self.conf = conf
        self.files: list[_PfFile] = []
        self.parsebuf: str | None = None
        self.parseindex = 0
        self.pushback: list[str] = []
        self.yyline = 1  # yylval.lineno

    @property
    def file(self) -> _PfFile:
        return self.files[-1]

    def pushfile(self, name: str) -> str | None:
        """Open NAME (stdin for the first "-"); None or the strerror of the failure."""
        if not self.files and name == "-":
            self.files.append(_PfFile("stdin", sys.stdin.read()))
            return None
        try:
            with open(host_path(name), encoding="latin-1", newline="") as fh:
                text = fh.read()
        except OSError as exc:
            reason = os.strerror(exc.errno or errno.ENOENT)
            err(f"pfctl: {name}: {reason}")  # pushfile(): warn("%s", nfile->name)
            return reason
        self.files.append(_PfFile(name, text))
        return None

    def popfile(self) -> bool:
        if len(self.files) > 1:
            self.files.pop()
            return True
        return False

    def lgetc(self, quotec: str = "") -> str | None:
        if self.parsebuf is not None:
            if self.parseindex >= 0:
                index = self.parseindex
                self.parseindex += 1
                if index < len(self.parsebuf):
                    return self.parsebuf[index]
                self.parsebuf = None
            else:
                self.parseindex += 1
        if self.pushback:
            return self.pushback.pop()
        if quotec:
            c = self.file.getc()
            if c is None:
                self.conf.yyerror("reached end of file while parsing quoted string")
                return quotec if self.popfile() else None
            return c
        c = self.file.getc()
        while c == "\\":
            nxt = self.file.getc()
            if nxt != "\n":
                c = nxt
                break
            self.yyline = self.file.lineno
            self.file.lineno += 1
            c = self.file.getc()
        while c is None:
            if not self.popfile():
                return None
            c = self.file.getc()
        return c

    def lungetc(self, c: str | None) -> None:
        if c is None:
            return
        if self.parsebuf is not None:
            self.parseindex -= 1
            if self.parseindex >= 0:
                return
        self.pushback.append(c)

    def findeol(self) -> _PfTok:
        self.parsebuf = None
        while True:
            c = self.pushback.pop() if self.pushback else self.lgetc()
            if c == "\n":
                self.file.lineno += 1
                break
            if c is None:
                break
        return _PfTok("error", None, self.yyline)

    def yylex(self) -> _PfTok:
        while True:
            c = self.lgetc()
            while c in (" ", "\t"):
                c = self.lgetc()
            self.yyline = self.file.lineno
            if c == "#":
                c = self.lgetc()
                while c not in ("\n", None):
                    c = self.lgetc()
            if c == "$" and self.parsebuf is None:
                name = ""
                while True:
                    c = self.lgetc()
                    if c is None:
                        return _PfTok("end", None, self.yyline)
                    if c in _PF_ALNUM or c == "_":
                        name += c
                        continue
                    self.lungetc(c)
                    break
                value = self.conf.symbols.get(name)
                if value is None:
                    self.conf.yyerror(f"macro '{name}' not defined")
                    return self.findeol()
                self.parsebuf, self.parseindex = value, 0
                continue
            return self._token(c)

    def _token(self, c: str | None) -> _PfTok:
        if c in ("'", '"'):
            quotec, text = c, ""
            while True:
                c = self.lgetc(quotec)
                if c is None:
                    return _PfTok("end", None, self.yyline)
                if c == "\n":
                    self.file.lineno += 1
                    continue
                if c == "\\":
                    nxt = self.lgetc(quotec)
                    if nxt is None:
                        return _PfTok("end", None, self.yyline)
                    if nxt == quotec:
                        c = nxt
                    elif nxt == "\n":
                        self.file.lineno += 1
                        continue
                    else:
                        self.lungetc(nxt)
                elif c == quotec:
                    return _PfTok("str", text, self.yyline)
                text += c
        for first, second, kind in (("<", ">", "pbin"), (">", "<", "pbin"), ("-", ">", "arrow")):
            if c == first:
                nxt = self.lgetc()
                if nxt == second:
                    return _PfTok(kind, first + second, self.yyline)
                self.lungetc(nxt)
        if c is not None and (c == "-" or c in _PF_DIGITS):
            text = c
            c = self.lgetc()
            while c is not None and c in "0123456789":
                text += c
                c = self.lgetc()
            self.lungetc(c)
            if text != "-" and (c is None or c in " \t\n\v\f\r),/}="):
                return _PfTok("num", int(text), self.yyline)
            for ch in reversed(text[1:]):
                self.lungetc(ch)
            c = text[0]
            if c == "-":
                return _PfTok("ch", "-", self.yyline)
        if c is not None and (c in _PF_ALNUM or c in ":_"):
            text = c
            c = self.lgetc()
            while c is not None and (c in _PF_ALNUM or (c in _PF_PUNCT and c not in "(){}<>!=/#,")):
                text += c
                c = self.lgetc()
            self.lungetc(c)
            if text in PF_KEYWORDS:
                return _PfTok("kw", text, self.yyline)
            return _PfTok("str", text, self.yyline)
        if c == "\n":
            self.yyline = self.file.lineno
            self.file.lineno += 1
            return _PfTok("nl", "\n", self.yyline)
        if c is None:
            return _PfTok("end", None, self.yyline)
        return _PfTok("ch", c, self.yyline)


def _pf_host_text(h: dict[str, Any]) -> str:
    """pfctl_parser.c print_addr() (not verbose)."""
    kind = h["kind"]
    if kind == "any":
        return "any"
    if kind == "table":
        return f"<{h['name']}>"
    if kind == "dynif":
        mods = "".join(f":{m}" for m in ("network", "broadcast", "peer", "0") if m in h["mods"])
        return f"({h['name']}{mods})"
    if int(ipaddress.ip_address(h["addr"])) == 0 and h["prefix"] == 0:
        return "any"
    full = 32 if h["af"] == 4 else 128
    return h["addr"] if h["prefix"] >= full else f"{h['addr']}/{h['prefix']}"


def _pf_entry_text(h: dict[str, Any]) -> str:
    """A table entry as pfctl_table.c print_addrx() shows it: the address, "/N" if not a host."""
    full = 32 if h["af"] == 4 else 128
    return h["addr"] if h["prefix"] >= full else f"{h['addr']}/{h['prefix']}"


def _pf_mk_addr(address: str, prefix: int, af: int) -> dict[str, Any]:
    """An ADDRMASK host; set_ipmask() masks off the host bits (prefix <= address width)."""
    width = 32 if af == 4 else 128
    if prefix <= width:
        address = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
    return {"kind": "addr", "af": af, "addr": address, "prefix": prefix, "neg": False}


def _pf_strtoul(text: str) -> int | None:
    """strtoul(s, &ep, 0) over the whole string (parse.y atoul())."""
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
        return int(text, 16)
    if re.fullmatch(r"0[0-7]*", text):
        return int(text, 8)
    if re.fullmatch(r"[1-9][0-9]*", text):
        return int(text)
    return None


def _pf_inet_net_pton4(text: str) -> tuple[str, int] | None:
    """inet_net_pton(AF_INET, "a[.b[.c[.d]]]/bits"): address and bits, None on error."""
    match = re.fullmatch(r"(\d+(?:\.\d+){0,3})/(\d+)", text)
    if not match:
        return None
    octets = [int(o) for o in match.group(1).split(".")]
    bits = int(match.group(2))
    if any(o > 255 for o in octets) or bits > 32:
        return None
    return ".".join(str(o) for o in octets + [0] * (4 - len(octets))), bits


class _PfConf:
    """parse_config(): one pf.conf (and its includes) -> rules, tables, load anchors."""

    def __init__(self, state: State, verbose: bool, numeric: bool) -> None:
        self.state, self.verbose, self.numeric = state, verbose, numeric
        self.lex = _PfLexer(self)
        self.look: _PfTok | None = None
        self.errors = 0
        self.errflag = 0  # byacc yyerrflag
        self.symbols: dict[str, str] = {}
        self.rulestate = 0
        self.require_order = True
        self.blockpolicy = "drop"
        self.sets: dict[str, list[dict[str, str]]] = {
            k: [] for k in ("scrub", "nat", "rdr", "binat", "filter")
        }
        self.tables: dict[str, dict[str, Any]] = {}
        self.refs: set[str] = set()
        self.load_anchors: list[tuple[str, str]] = []
        self.options: dict[str, Any] = {}

    # ------------------------------------------------------------ yacc plumbing

    def yyerror(self, message: str) -> None:
        # parse.y yyerror(): "%s:%d: " file->name, yylval.lineno.
        self.errors += 1
        err(f"{self.lex.file.name}:{self.lex.yyline}: {message}")

    def peek(self) -> _PfTok:
        if self.look is None:
            self.look = self.lex.yylex()
        return self.look

    def advance(self) -> _PfTok:
        tok = self.peek()
        self.look = None
        if self.errflag:
            self.errflag -= 1  # byacc: every shift counts yyerrflag down
        return tok

    def is_(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        return tok.kind == kind and (value is None or tok.value == value)

    def accept(self, kind: str, value: Any = None) -> _PfTok | None:
        return self.advance() if self.is_(kind, value) else None

    def expect(self, kind: str, value: Any = None) -> _PfTok:
        if not self.is_(kind, value):
            self.fail()
        return self.advance()

    def fail(self, unmodelled: frozenset[str] = frozenset()) -> NoReturn:
        tok = self.peek()
        if tok.kind == "kw" and (tok.value not in PF_MODELLED_KEYWORDS or tok.value in unmodelled):
            raise Unsupported(
                f"pfctl: {self.lex.file.name}:{tok.line}: pf.conf keyword {tok.value!r}"
            )
        raise _PfSyntax

    def at_end(self, unmodelled: frozenset[str] = frozenset()) -> None:
        if not self.is_("nl"):
            self.fail(unmodelled)

    def optnl(self) -> None:
        while self.accept("nl"):
            pass

    def sem(self, message: str) -> NoReturn:
        """yyerror(message); YYERROR."""
        self.yyerror(message)
        raise _PfYYError

    def recover(self) -> bool:
        """byacc error recovery to `ruleset error '\\n' { file->errors++; }`.

        byacc skeleton (FreeBSD's yacc): after an error yyerrflag is 3, tokens up to the
        newline are dropped, every shift counts it down, and "syntax error" is printed
        only while it is 0 -- so an error in the first tokens after a bad line is silent.
        """
        self.errflag = 3
        while True:
            tok = self.peek()
            if tok.kind == "end":
                return False  # yyabort
            self.look = None
            if tok.kind == "nl":
                self.errflag = 2
                self.errors += 1
                return True

    def parse(self, path: str) -> bool:
        reason = self.lex.pushfile(path)
        if reason is not None:
            err(f"pfctl: cannot open the main config file!: {reason}")  # parse_config()
            self.errors += 1
            return False
        while not self.is_("end"):
            try:
                self.statement()
            except _PfSyntax:
                if self.errflag == 0:
                    self.yyerror("syntax error")
                if not self.recover():
                    break
            except _PfYYError:
                if not self.recover():
                    break
        return self.errors == 0

    def check_rulestate(self, desired: int) -> None:
        if self.require_order and self.rulestate > desired:
            self.sem(PF_RULES_ORDER_MSG)
        self.rulestate = desired

    def say(self, text: str) -> None:
        if self.verbose:
            out(text)

    # ------------------------------------------------------------ statements

    def statement(self) -> None:
        tok = self.peek()
        if tok.kind == "nl":
            self.advance()
            return
        if tok.kind == "str":
            self.varset()
            return
        if tok.kind == "ch" and tok.value == "{":
            raise Unsupported(f"pfctl: {self.lex.file.name}:{tok.line}: brace anchors")
        handlers = {
            "include": self.include,
            "set": self.option,
            "table": self.tabledef,
            "scrub": self.scrubrule,
            "nat": self.natrule,
            "rdr": self.natrule,
            "no": self.natrule,
            "pass": self.pfrule,
            "block": self.pfrule,
            "anchor": self.anchorrule,
            "nat-anchor": self.transanchor,
            "rdr-anchor": self.transanchor,
            "binat-anchor": self.transanchor,
            "load": self.loadrule,
            "antispoof": self.antispoof,
        }
        handler = handlers.get(tok.value) if tok.kind == "kw" else None
        if handler is None:
            self.fail()
        handler()

    def varset(self) -> None:
        name = self.advance().value
        self.expect("ch", "=")
        words = []
        while self.is_("str") or self.is_("num"):
            words.append(str(self.advance().value))
        if not words:
            self.fail()
        self.at_end()
        value = " ".join(words)
        self.say(f'{name} = "{value}"')
        self.symbols[name] = value
        self.advance()

    def include(self) -> None:
        self.advance()
        name = self.expect("str").value
        if self.lex.pushfile(name) is not None:
            self.sem(f"failed to include file {name}")
        # parse.y: file = nfile; lungetc('\n') -- the included text follows this line
        # (FreeBSD's pushfile() starts it at line 1, so the pushed-back newline makes
        # its first line count as 2).
        self.lex.lungetc("\n")
        self.expect("nl")

    def option(self) -> None:
        self.advance()
        tok = self.peek()
        if tok.kind != "kw" or tok.value not in (
            "block-policy",
            "require-order",
            "loginterface",
            "optimization",
            "skip",
        ):
            self.fail()
        key = self.advance().value
        if key == "block-policy":
            value = self.peek()
            if not (value.kind == "kw" and value.value in ("drop", "return")):
                self.fail()
            self.advance()
            self.say(f"set block-policy {value.value}")
            self.check_rulestate(PF_STATE_OPTION)
            self.blockpolicy = value.value
        elif key == "require-order":
            if self.accept("kw", "no"):
                yes = False
            else:
                word = self.expect("str").value
                if word != "yes":
                    self.sem(f"invalid value '{word}', expected 'yes' or 'no'")
                yes = True
            self.say(f"set require-order {'yes' if yes else 'no'}")
            self.require_order = yes
        elif key == "loginterface":
            name = "all" if self.accept("kw", "all") else self.expect("str").value
            self.check_rulestate(PF_STATE_OPTION)
            self.options["loginterface"] = name
            self.say(f"set loginterface {name}")
        elif key == "optimization":
            name = self.expect("str").value
            self.check_rulestate(PF_STATE_OPTION)
            hints = ("normal", "satellite", "high-latency", "conservative", "aggressive")
            if name.lower() not in hints:
                err("pfctl: invalid state timeouts optimization")  # pfctl_set_optimization
                self.sem(f"unknown optimization {name}")
            self.options["optimization"] = name
            self.say(f"set optimization {name}")
        else:
            ifaces = self.interface()
            # parse.y expand_skip_interface()
            if not ifaces or (len(ifaces) == 1 and ifaces[0] == ("none", False)):
                self.say("set skip on none")
                self.options["skip"] = []
            else:
                if any(negated for _, negated in ifaces):
                    self.yyerror("skip on ! <interface> is not supported")
                    self.sem("error setting skip interface(s)")
                self.say("set skip on {" + "".join(f" {n}" for n, _ in ifaces) + " }")
                self.options["skip"] = [n for n, _ in ifaces]
        self.at_end()
        self.advance()

    def tabledef(self) -> None:
        self.advance()
        self.expect("ch", "<")
        name = self.expect("str").value
        self.expect("ch", ">")
        flags: set[str] = set()
        inits: list[tuple[str, Any]] = []
        init_addr = False
        while True:
            if self.is_("str"):
                word = self.advance().value
                if word not in ("const", "persist", "counters"):
                    self.sem(f"invalid table option '{word}'")
                flags.add(word)
            elif self.accept("ch", "{"):
                self.optnl()
                init_addr = True
                if self.accept("ch", "}"):
                    continue
                hosts = self.host_list("}")
                for h in hosts or []:
                    if h["kind"] == "table":
                        self.sem("tables cannot contain tables")
                    if h["kind"] == "dynif":
                        self.sem("dynamic addresses are not permitted inside tables")
                inits.append(("hosts", hosts or []))
            elif self.accept("kw", "file"):
                inits.append(("file", self.expect("str").value))
                init_addr = True
            else:
                break
        self.at_end()
        if len(name) >= PF_TABLE_NAME_SIZE:
            self.sem(f"table name too long, max {PF_TABLE_NAME_SIZE - 1} chars")
        entries = self.process_tabledef(inits)
        if self.verbose:
            self.say(self.tabledef_text(name, flags, inits, init_addr))
        if name in self.tables:
            raise Unsupported(f"pfctl: table <{name}> defined twice in one ruleset")
        self.tables[name] = {"flags": sorted(flags), "entries": entries if init_addr else None}
        self.advance()

    def process_tabledef(self, inits: list[tuple[str, Any]]) -> list[str]:
        entries: list[str] = []
        for kind, value in inits:
            if kind == "hosts":
                for h in value:
                    if h["prefix"] > (32 if h["af"] == 4 else 128):
                        self.sem("cannot create address buffer: Invalid argument")
                    entries.append(("!" if h["neg"] else "") + _pf_entry_text(h))
                continue
            try:
                with open(host_path(value), encoding="latin-1") as fh:
                    text = fh.read()
            except OSError as exc:
                self.sem(f'cannot load "{value}": {os.strerror(exc.errno or errno.ENOENT)}')
            for line in text.splitlines():  # pfctl_radix.c pfr_next_token()
                for word in line.split():
                    if word.startswith("#"):
                        break
                    negated = False
                    while word.startswith("!"):
                        negated, word = not negated, word[1:]
                    hosts = _pf_host(self.state, word)
                    if hosts is None:
                        self.sem(f'file "{value}" contains bad data')
                    for h in hosts:
                        if h["kind"] != "addr" or h["prefix"] > (32 if h["af"] == 4 else 128):
                            self.sem(f'cannot load "{value}": Invalid argument')
                        entries.append(("!" if negated else "") + _pf_entry_text(h))
        return entries

    def tabledef_text(
        self, name: str, flags: set[str], inits: list[tuple[str, Any]], init_addr: bool
    ) -> str:
        # pfctl_parser.c print_tabledef()
        text = f"table <{name}>" + "".join(
            f" {f}" for f in ("const", "persist", "counters") if f in flags
        )
        merged: list[tuple[str, Any]] = []
        for kind, value in inits:
            if kind == "hosts" and merged and merged[-1][0] == "hosts":
                merged[-1] = ("hosts", merged[-1][1] + value)  # "merge lists"
            else:
                merged.append((kind, value))
        for kind, value in merged:
            if kind == "file":
                text += f' file "{value}"'
            else:
                hosts = "".join((" !" if h["neg"] else " ") + _pf_host_text(h) for h in value)
                text += " {" + hosts + " }"
        if init_addr and not inits:
            text += " { }"
        return text

    def loadrule(self) -> None:
        self.advance()
        self.expect("kw", "anchor")
        name = self.string()
        self.expect("kw", "from")
        path = self.string()
        self.at_end()
        self.load_anchors.append((name, path))
        self.advance()

    def string(self) -> str:
        words = [self.expect("str").value]
        while self.is_("str"):
            words.append(self.advance().value)
        return " ".join(words)

    # ------------------------------------------------------------ rule pieces

    def interface(self) -> list[tuple[str, bool]]:
        if not self.accept("kw", "on"):
            return []
        if self.accept("ch", "{"):
            self.optnl()
            items = [self.if_item_not()]
            self.optnl()
            while not self.accept("ch", "}"):
                self.accept("ch", ",")
                items.append(self.if_item_not())
                self.optnl()
            return items
        return [self.if_item_not()]

    def if_item_not(self) -> tuple[str, bool]:
        negated = bool(self.accept("ch", "!"))
        return self.if_item(), negated

    def if_item(self) -> str:
        name = self.expect("str").value
        if len(name) >= PF_IFNAMSIZ:
            self.sem("interface name too long")
        return str(name)

    def af(self) -> int:
        if self.accept("kw", "inet"):
            return 4
        if self.accept("kw", "inet6"):
            return 6
        return 0

    def logquick(self) -> tuple[bool, bool]:
        log = quick = False
        for _ in range(2):
            if not log and self.is_("kw", "log"):
                self.advance()
                if self.is_("ch", "("):
                    raise Unsupported("pfctl: pf.conf log (...) options")
                log = True
            elif not quick and self.accept("kw", "quick"):
                quick = True
        return log, quick

    def protos(self) -> list[int]:
        if not self.accept("kw", "proto"):
            return []
        if self.accept("ch", "{"):
            self.optnl()
            items = [self.proto_item()]
            self.optnl()
            while not self.accept("ch", "}"):
                self.accept("ch", ",")
                items.append(self.proto_item())
                self.optnl()
            return items
        return [self.proto_item()]

    def proto_item(self) -> int:
        tok = self.peek()
        if tok.kind not in ("str", "num"):
            self.fail()
        self.advance()
        if tok.kind == "str":
            if tok.value not in PF_PROTOCOLS:
                raise Unsupported(f"pfctl: pf.conf protocol {tok.value!r} (not in the excerpt)")
            number = PF_PROTOCOLS[tok.value]
        else:
            number = tok.value
            if number < 0 or number > 255:
                self.sem("protocol outside range")
        if number == 0:
            self.sem("proto 0 cannot be used")
        return int(number)

    def fromto(self) -> tuple[Any, list[Any], Any, list[Any]]:
        if self.accept("kw", "all"):
            return None, [], None, []
        src: Any = None
        dst: Any = None
        sport: list[Any] = []
        dport: list[Any] = []
        if self.accept("kw", "from"):
            src, sport = self.ipportspec()
        if self.is_("kw", "os"):
            self.fail()
        if self.accept("kw", "to"):
            dst, dport = self.ipportspec()
        return src, sport, dst, dport

    def ipportspec(self) -> tuple[Any, list[Any]]:
        if self.accept("kw", "port"):
            return None, self.portspec()
        hosts = self.ipspec()
        return hosts, (self.portspec() if self.accept("kw", "port") else [])

    def ipspec(self) -> list[dict[str, Any]] | None:
        """None is "any" (a NULL node_host list)."""
        if self.accept("kw", "any"):
            return None
        if self.accept("ch", "{"):
            self.optnl()
            return self.host_list("}")
        negated = bool(self.accept("ch", "!"))
        hosts = self.host()
        if hosts is None:
            self.sem("could not parse host specification")
        for h in hosts:
            h["neg"] = negated
        return hosts

    def host_list(self, close: str) -> list[dict[str, Any]] | None:
        merged: list[dict[str, Any]] | None = None
        first = True
        while True:
            if not first and self.accept("ch", close):
                return merged
            if not first:
                self.accept("ch", ",")
            first = False
            item = self.ipspec()
            self.optnl()
            if item is not None:
                merged = (merged or []) + item

    def host(self) -> list[dict[str, Any]] | None:
        tok = self.peek()
        if tok.kind == "ch" and tok.value == "<":
            self.advance()
            name = self.expect("str").value
            self.expect("ch", ">")
            if len(name) >= PF_TABLE_NAME_SIZE:
                self.sem(f"table name '{name}' too long")
            return [{"kind": "table", "af": 0, "name": name, "neg": False}]
        if tok.kind == "ch" and tok.value == "(":
            self.advance()
            spec = self.expect("str").value
            self.expect("ch", ")")
            host = self.dynaddr(spec)
            if self.is_("ch", "/"):
                raise Unsupported("pfctl: pf.conf (interface)/bits")
            return [host]
        if tok.kind == "num":
            self.advance()
            self.expect("ch", "/")
            bits = self.expect("num").value
            return _pf_host(self.state, f"{tok.value}/{bits}")
        if tok.kind != "str":
            self.fail()
        self.advance()
        if self.is_("ch", "-"):
            raise Unsupported("pfctl: pf.conf address ranges (a - b)")
        if self.accept("ch", "/"):
            bits = self.expect("num").value
            return _pf_host(self.state, f"{tok.value}/{bits}")
        return _pf_host(self.state, tok.value)

    def dynaddr(self, spec: str) -> dict[str, Any]:
        if not spec[:1] or spec[0] not in _PF_ALNUM or spec[0] in _PF_DIGITS:
            self.sem(f"invalid interface name '{spec}'")
        name, mods = spec, set()
        while ":" in name:
            name, mod = name.rsplit(":", 1)
            if mod not in ("network", "broadcast", "peer", "0"):
                self.sem(f"interface {spec} has bad modifier")
            mods.add(mod)
        if len(mods & {"network", "broadcast", "peer"}) > 1:
            self.sem("illegal combination of interface modifiers")
        if len(name) >= PF_IFNAMSIZ:
            self.sem("interface name too long")
        return {"kind": "dynif", "af": 0, "name": name, "mods": sorted(mods), "neg": False}

    def portspec(self) -> list[tuple[str, int, int]]:
        if self.accept("ch", "{"):
            self.optnl()
            items = [self.port_item()]
            self.optnl()
            while not self.accept("ch", "}"):
                self.accept("ch", ",")
                items.append(self.port_item())
                self.optnl()
            return items
        return [self.port_item()]

    def port_item(self) -> tuple[str, int, int]:
        op = None
        if self.accept("ch", "="):
            op = "="
        elif self.accept("ch", "!"):
            self.expect("ch", "=")
            op = "!="
        elif self.is_("ch", "<") or self.is_("ch", ">"):
            op = self.advance().value + ("=" if self.accept("ch", "=") else "")
        low, high, ranged = self.portrange()
        if op is not None:
            if ranged:
                self.sem("':' cannot be used with an other port operator")
            return op, low, high
        if self.is_("pbin"):
            op = self.advance().value
            low2, _high2, ranged2 = self.portrange()
            if ranged or ranged2:
                self.sem("':' cannot be used with an other port operator")
            return op, low, low2
        return (":" if ranged else "="), low, high

    def portrange(self) -> tuple[int, int, bool]:
        tok = self.peek()
        if tok.kind not in ("num", "str"):
            self.fail()
        self.advance()
        text = str(tok.value)
        if ":" not in text:  # parse.y parseport(PPORT_RANGE)
            return self.getservice(text), 0, False
        first, second = text.split(":", 1)
        low, high = self.getservice(first), self.getservice(second)
        return (low, 0, False) if low == high else (low, high, True)

    def getservice(self, text: str) -> int:
        number = _pf_strtoul(text)
        if number is not None:
            if number > 65535:
                self.sem(f"illegal port value {number}")
            return number
        if text in PF_SERVICES:
            return PF_SERVICES[text][0]
        if re.fullmatch(r"[A-Za-z][-A-Za-z0-9]*", text):
            raise Unsupported(f"pfctl: port name {text!r} is not in the /etc/services excerpt")
        self.sem(f"unknown port {text}")

    def flags_opt(self) -> tuple[int, int]:
        self.advance()
        if self.accept("kw", "any"):
            return 0, 0
        first = 0 if self.is_("ch", "/") else self.flag()
        self.expect("ch", "/")
        return first, self.flag()

    def flag(self) -> int:
        word = self.expect("str").value
        if any(ch not in PF_TCPFLAGS for ch in word):
            self.sem(f"bad flags {word}")
        return sum(1 << PF_TCPFLAGS.index(ch) for ch in set(word))

    def keep(self) -> str | None:
        word = self.advance().value
        self.expect("kw", "state")
        if self.is_("ch", "("):
            raise Unsupported("pfctl: pf.conf state options (...)")
        return {"no": None, "keep": "keep", "modulate": "modulate", "synproxy": "synproxy"}[word]

    def filter_opts(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        while True:
            if self.is_("kw", "flags"):
                flags = self.flags_opt()
                if "flags" in opts:
                    self.sem("flags cannot be redefined")
                opts["flags"] = flags
            elif self.peek().kind == "kw" and self.peek().value in (
                "no",
                "keep",
                "modulate",
                "synproxy",
            ):
                state = self.keep()
                if "keep" in opts:
                    self.sem("modulate or keep cannot be redefined")
                opts["keep"] = state
            else:
                return opts

    # ------------------------------------------------------------ rules

    def pfrule(self) -> None:
        action = self.advance().value
        rflag = None
        if action == "block":
            rflag = self.blockpolicy
            if self.accept("kw", "drop"):
                rflag = "drop"
            elif self.accept("kw", "return"):
                rflag = "return"
        direction = self.direction()
        log, quick = self.logquick()
        ifaces = self.interface()
        af = self.af()
        protos = self.protos()
        src, sport, dst, dport = self.fromto()
        opts = self.filter_opts()
        self.at_end(frozenset({"fragment", "scrub", "set"}))
        self.check_rulestate(PF_STATE_FILTER)
        flags = opts.get("flags")
        self.check_flags(flags, protos)
        keep = opts.get("keep", "keep" if action == "pass" else None)
        if flags is None and action == "pass" and keep:
            flags = (1 << 1, (1 << 1) | (1 << 4))  # 'flags S/SA' by default on stateful rules
        rule = {
            "type": action,
            "rflag": rflag,
            "dir": direction,
            "log": log,
            "quick": quick,
            "af": af,
            "flags": flags,
            "keep": keep,
        }
        af = self.decide_af(src, af)
        rule["af"] = self.decide_af(dst, af)
        self.expand_rule(rule, "filter", ifaces, protos, src, sport, dst, dport)
        self.advance()

    def direction(self) -> str | None:
        if self.accept("kw", "in"):
            return "in"
        if self.accept("kw", "out"):
            return "out"
        return None

    def check_flags(self, flags: tuple[int, int] | None, protos: list[int]) -> None:
        if flags is None:
            return
        if flags[0] & flags[1] != flags[0]:
            self.sem("flags always false")
        if (flags[0] or flags[1]) and protos and 6 not in protos:
            self.sem("flags only apply to tcp")

    @staticmethod
    def decide_af(hosts: list[dict[str, Any]] | None, af: int) -> int:
        """parse.y decide_address_family()."""
        if af or not hosts:
            return af
        first = hosts[0]["af"]
        return first if all(h["af"] == first for h in hosts) else 0

    def scrubrule(self) -> None:
        self.advance()
        direction = self.direction()
        log, quick = self.logquick()
        ifaces = self.interface()
        af = self.af()
        protos = self.protos()
        src, sport, dst, dport = self.fromto()
        reassemble = False
        while self.is_("kw", "fragment"):
            self.advance()
            if self.is_("kw", "no"):
                self.fail(frozenset({"no"}))
            self.expect("kw", "reassemble")
            if reassemble:
                self.sem("fragcache cannot be respecified")
            reassemble = True
            self.accept("ch", ",")
        self.at_end(frozenset({"reassemble"}))
        self.check_rulestate(PF_STATE_SCRUB)
        if quick:
            self.sem("scrub rules do not support 'quick'")
        rule = {"type": "scrub", "dir": direction, "log": log, "quick": False, "af": af}
        self.expand_rule(rule, "scrub", ifaces, protos, src, sport, dst, dport)
        self.advance()

    def natrule(self) -> None:
        negated = bool(self.accept("kw", "no"))
        tok = self.peek()
        if not (tok.kind == "kw" and tok.value in ("nat", "rdr")):
            self.fail(frozenset({"scrub"}))
        kind = self.advance().value
        natpass = bool(self.accept("kw", "pass"))
        log = bool(self.accept("kw", "log"))
        if log and self.is_("ch", "("):
            raise Unsupported("pfctl: pf.conf log (...) options")
        if negated and natpass:
            self.sem('"pass" not valid with "no"')
        ifaces = self.interface()
        af = self.af()
        protos = self.protos()
        src, sport, dst, dport = self.fromto()
        redir: list[dict[str, Any]] | None = None
        rport = None
        if self.accept("arrow"):
            if self.accept("ch", "{"):
                self.optnl()
                pooled: list[dict[str, Any]] = []
                while not pooled or not self.accept("ch", "}"):
                    if pooled:
                        self.accept("ch", ",")
                    hosts = self.host()
                    if hosts is None:
                        self.sem("could not parse host specification")
                    pooled += hosts
                    self.optnl()
                redir = pooled
            else:
                redir = self.host()
                if redir is None:
                    self.sem("could not parse host specification")
            if self.accept("kw", "port"):
                tok = self.peek()
                if tok.kind == "str" and str(tok.value).endswith(":*"):
                    raise Unsupported("pfctl: pf.conf rdr port N:*")
                rport = self.portrange()
        pool: dict[str, Any] = {}
        while self.peek().kind == "kw" and self.peek().value in (
            "round-robin",
            "random",
            "bitmask",
            "static-port",
            "sticky-address",
        ):
            opt = self.advance().value
            if opt in ("round-robin", "random", "bitmask"):
                if "type" in pool:
                    self.sem("pool type cannot be redefined")
                pool["type"] = opt
            elif opt in pool:
                self.sem(f"{opt} cannot be redefined")
            else:
                pool[opt] = True
        self.at_end()
        self.check_rulestate(PF_STATE_NAT)
        if not af:
            if src and src[0]["af"]:
                af = src[0]["af"]
            elif dst and dst[0]["af"]:
                af = dst[0]["af"]
        rule: dict[str, Any] = {
            "type": ("no " if negated else "") + kind,
            "natpass": natpass,
            "log": log,
            "af": af,
        }
        if negated:
            if redir is not None:
                self.sem("translation rule with 'no' does not need '->'")
        else:
            if not redir:
                self.sem("translation rule requires '-> address'")
            self.nat_pool(rule, kind, redir, rport, dport, pool)
        self.expand_rule(rule, kind, ifaces, protos, src, sport, dst, dport)
        self.advance()

    def nat_pool(
        self,
        rule: dict[str, Any],
        kind: str,
        redir: list[dict[str, Any]],
        rport: tuple[int, int, bool] | None,
        dport: list[tuple[str, int, int]],
        pool: dict[str, Any],
    ) -> None:
        af = rule["af"] or redir[0]["af"]
        kept = []
        for h in redir:  # parse.y remove_invalid_hosts()
            if af and h["af"] and h["af"] != af:
                continue
            if h["af"] and not af:
                af = h["af"]
            kept.append(h)
        rule["af"] = af
        if not af and any(h["kind"] not in ("table", "dynif") for h in kept):
            self.sem(
                "address family not given and translation address expands to multiple "
                "address families"
            )
        if not kept:
            self.sem("no translation address with matching address family found.")
        for h in kept:
            if af == 4 and h["kind"] == "addr" and h["prefix"] > 32:
                err(f"netmask {h['prefix']} invalid for IPv4 address")  # check_netmask()
                raise _PfYYError
        low = rport[0] if rport else 0
        high = rport[1] if rport else 0
        if kind == "nat" and not low and not high:
            low, high = PF_NAT_PROXY_PORT_LOW, PF_NAT_PROXY_PORT_HIGH
        elif kind == "nat" and not high:
            high = low
        ptype = pool.get("type")
        multi = [h for h in kept if h["kind"] == "dynif" and _pf_dynif_multi(h)]
        if ptype is None and (len(kept) > 1 or kept[0]["kind"] == "table" or multi):
            ptype = "round-robin"
        if ptype != "round-robin":
            if any(h["kind"] == "table" for h in kept):
                self.sem("tables are only supported in round-robin redirection pools")
            if multi:
                self.sem(
                    f"interface ({multi[0]['name']}) is only supported in round-robin "
                    "redirection pools"
                )
            if len(kept) > 1:
                self.sem("only round-robin valid for multiple redirection addresses")
        if pool.get("static-port"):
            if kind != "nat":
                self.sem("the 'static-port' option is only valid with nat rules")
            if low != PF_NAT_PROXY_PORT_LOW and high != PF_NAT_PROXY_PORT_HIGH:
                self.sem("the 'static-port' option can't be used when specifying a port range")
            low = high = 0
        rule.update(
            pool=kept, ports=(low, high), ptype=ptype, sticky=bool(pool.get("sticky-address"))
        )
        self.refs.update(h["name"] for h in kept if h["kind"] == "table")

    def anchorrule(self) -> None:
        self.advance()
        name = self.advance().value if self.is_("str") else None
        direction = self.direction()
        quick = bool(self.accept("kw", "quick"))
        ifaces = self.interface()
        af = self.af()
        protos = self.protos()
        src, sport, dst, dport = self.fromto()
        opts = self.filter_opts()
        if self.is_("ch", "{"):
            raise Unsupported("pfctl: pf.conf inline anchor { ... }")
        self.at_end(frozenset({"fragment", "scrub", "set"}))
        self.check_rulestate(PF_STATE_FILTER)
        if name and (name.startswith("_") or "/_" in name):
            self.sem("anchor names beginning with '_' are reserved for internal use")
        if not name:
            self.sem("anchors without explicit rules must specify a name")
        self.check_flags(opts.get("flags"), protos)
        if opts.get("keep"):
            self.sem("cannot specify state handling on anchors")
        rule = {
            "type": "anchor",
            "anchor": name,
            "dir": direction,
            "quick": quick,
            "af": af,
            "flags": opts.get("flags"),
        }
        rule["af"] = self.decide_af(dst, self.decide_af(src, af))
        self.expand_rule(rule, "filter", ifaces, protos, src, sport, dst, dport)
        self.advance()

    def transanchor(self) -> None:
        kind = self.advance().value
        name = self.string()
        ifaces = self.interface()
        af = self.af()
        protos = self.protos()
        src, sport, dst, dport = self.fromto()
        self.at_end()
        self.check_rulestate(PF_STATE_NAT)
        if kind == "binat-anchor":
            if ifaces or af or protos or src or sport or dst or dport:
                raise Unsupported("pfctl: binat-anchor with an interface/af/proto/from/to")
            self.sets["binat"].append(
                {"text": f'binat-anchor "{name}" all', "numeric": f'binat-anchor "{name}" all'}
            )
            self.advance()
            return
        if kind == "rdr-anchor":
            if sport:
                self.sem("source port parameter not supported in rdr-anchor")
            if len(dport) > 1:
                self.sem("destination port list expansion not supported in rdr-anchor")
            if dport and dport[0][0] != "=":
                self.sem("destination port operators not supported in rdr-anchor")
        rule = {"type": kind[:3], "anchor": name, "af": af}
        rule["af"] = self.decide_af(dst, self.decide_af(src, af))
        self.expand_rule(rule, kind[:3], ifaces, protos, src, sport, dst, dport)
        self.advance()

    def antispoof(self) -> None:
        self.advance()
        log, quick = self.logquick()
        self.expect("kw", "for")
        items: list[tuple[str, bool]] = []
        if self.accept("ch", "{"):
            self.optnl()
            while not items or not self.accept("ch", "}"):
                if items:
                    self.accept("ch", ",")
                items.append(self.antispoof_if())
                self.optnl()
        else:
            items.append(self.antispoof_if())
        af = self.af()
        self.at_end()
        self.check_rulestate(PF_STATE_FILTER)
        for name, dynamic in items:
            iface = next((i for i in self.state["interfaces"] if i["name"] == name), None)
            base = {
                "type": "block",
                "rflag": "drop",
                "dir": "in",
                "log": log,
                "quick": quick,
                "af": af,
                "flags": None,
                "keep": None,
            }
            if dynamic:
                net: list[dict[str, Any]] | None = [_pf_dynif(name, ["network"])]
                own: list[dict[str, Any]] | None = [_pf_dynif(name, [])]
            else:
                net = _pf_ifa_lookup(self.state, name, {"network"}) or None
                own = _pf_ifa_lookup(self.state, name, set()) or None
            if net:
                self.expand_rule(dict(base), "filter", [(name, True)], [], net, [], None, [])
            loopback = iface is not None and "LOOPBACK" in _if_flags(iface)
            if not loopback and own:
                self.expand_rule(dict(base), "filter", [], [], own, [], None, [])
        self.advance()

    def antispoof_if(self) -> tuple[str, bool]:
        if self.accept("ch", "("):
            name = self.if_item()
            self.expect("ch", ")")
            return name, True
        return self.if_item(), False

    # ------------------------------------------------------------ expand_rule

    def expand_rule(
        self,
        rule: dict[str, Any],
        kind: str,
        ifaces: list[tuple[str, bool]],
        protos: list[int],
        src: list[dict[str, Any]] | None,
        sport: list[tuple[str, int, int]],
        dst: list[dict[str, Any]] | None,
        dport: list[tuple[str, int, int]],
    ) -> None:
        """parse.y expand_rule(): one kernel rule per combination, consistency checked."""
        anyhost = {"kind": "any", "af": 0, "neg": False}
        added = 0
        for ifname, ifnot in ifaces or [("", False)]:
            for proto in protos or [0]:
                for sh in src or [anyhost]:
                    for sp in sport or [None]:  # type: ignore[list-item]
                        for dh in dst or [anyhost]:
                            for dp in dport or [None]:  # type: ignore[list-item]
                                af = rule["af"]
                                if (
                                    (af and sh["af"] and af != sh["af"])
                                    or (af and dh["af"] and af != dh["af"])
                                    or (sh["af"] and dh["af"] and sh["af"] != dh["af"])
                                ):
                                    continue
                                af = af or sh["af"] or dh["af"]
                                r = dict(
                                    rule,
                                    ifname=ifname,
                                    ifnot=ifnot,
                                    af=af,
                                    proto=proto,
                                    src=sh,
                                    sport=sp,
                                    dst=dh,
                                    dport=dp,
                                )
                                bad = 0
                                for h in (sh, dh):  # check_netmask()
                                    if af == 4 and h["kind"] == "addr" and h["prefix"] > 32:
                                        err(f"netmask {h['prefix']} invalid for IPv4 address")
                                        bad += 1
                                if r.get("keep") in ("modulate", "synproxy") and proto not in (
                                    0,
                                    6,
                                ):
                                    r["keep"] = "keep"
                                if proto and proto != 6 and r.get("flags") is not None:
                                    r["flags"] = None
                                bad += self.consistent(kind, r)
                                if bad:
                                    self.yyerror("skipping rule due to errors")
                                    continue
                                added += 1
                                self.sets[kind].append(
                                    {
                                        "text": _pf_rule_text(r, False),
                                        "numeric": _pf_rule_text(r, True),
                                    }
                                )
                                for h in (sh, dh):
                                    if h["kind"] == "table":
                                        self.refs.add(h["name"])
        if not added:
            self.yyerror("rule expands to no valid combination")

    def consistent(self, kind: str, r: dict[str, Any]) -> int:
        """parse.y filter_consistent()/rdr_consistent() (nat_consistent: none)."""
        problems: list[str] = []
        has_ports = r["sport"] is not None or r["dport"] is not None
        if kind in ("filter", "scrub"):
            if r["proto"] not in (6, 17) and has_ports:
                problems.append("port only applies to tcp/udp")
            if (r["proto"] == 1 and r["af"] == 6) or (r["proto"] == 58 and r["af"] == 4):
                problems.append(
                    f"proto {'icmp' if r['proto'] == 1 else 'icmp6'} doesn't match address "
                    f"family {'inet' if r['af'] == 4 else 'inet6'}"
                )
            if r["type"] == "block" and r.get("keep"):
                problems.append("keep state is great, but only for pass rules")
        elif kind == "rdr":
            if r["proto"] not in (6, 17):
                if r["sport"] is not None:
                    problems.append("src port only applies to tcp/udp")
                if r["dport"] is not None:
                    problems.append("dst port only applies to tcp/udp")
                if r.get("ports", (0, 0))[0]:
                    problems.append("rpool port only applies to tcp/udp")
            if r["dport"] is not None and r["dport"][0] not in ("=", ":"):
                problems.append("invalid port operator for rdr destination port")
        for problem in problems:
            self.yyerror(problem)
        return len(problems)


def _pf_dynif(name: str, mods: list[str]) -> dict[str, Any]:
    return {"kind": "dynif", "af": 0, "name": name, "mods": mods, "neg": False}


def _pf_dynif_multi(h: dict[str, Any]) -> bool:
    """pfctl_parser.h DYNIF_MULTIADDR(): no :0, or a name not ending in a digit."""
    return "0" not in h["mods"] or not h["name"][-1:].isdigit()


def _pf_ifa_lookup(state: State, name: str, mods: set[str]) -> list[dict[str, Any]]:
    """pfctl_parser.c ifa_lookup(): addresses of an interface, group or "self"."""
    interfaces = state["interfaces"]
    members = [i for i in interfaces if name in i.get("groups", [])]
    if not members:
        if name == "self":
            members = list(interfaces)
        else:
            # ifa_skip_if(): exact name, or a driver prefix ("vtnet") matching vtnetN.
            members = [
                i
                for i in interfaces
                if i["name"] == name
                or (
                    not name[-1:].isdigit()
                    and i["name"].startswith(name)
                    and i["name"][len(name) : len(name) + 1].isdigit()
                )
            ]
    hosts = []
    for iface in members:
        flags = _if_flags(iface)
        for family, key in ((4, "inet"), (6, "inet6")):
            for n, entry in enumerate(iface.get(key, [])):
                if "0" in mods and n > 0:
                    continue  # PFI_AFLAG_NOALIAS: the first address of each family
                if "peer" in mods:
                    continue  # no IFF_POINTOPOINT interface is modelled
                network = ipaddress.ip_network(
                    f"{entry['addr']}/{entry['prefixlen']}", strict=False
                )
                if "broadcast" in mods:
                    if family != 4 or "BROADCAST" not in flags:
                        continue
                    hosts.append(_pf_mk_addr(str(network.broadcast_address), 32, 4))
                elif "network" in mods:
                    hosts.append(_pf_mk_addr(entry["addr"], entry["prefixlen"], family))
                else:
                    hosts.append(_pf_mk_addr(entry["addr"], 32 if family == 4 else 128, family))
    return hosts


def _pf_host(state: State, text: str) -> list[dict[str, Any]] | None:
    """pfctl_parser.c host(): v4, v6, interface (host_if), then DNS (not modelled)."""
    mask = -1
    base = text
    if "/" in text:
        base, bits = text.rsplit("/", 1)
        parsed = _pf_strtoul(bits) if bits else None
        if parsed is None or parsed > 128:
            err(f"invalid netmask '/{bits}'")
            return None
        mask = parsed
    if mask >= 0:
        v4 = _pf_inet_net_pton4(text)
        if v4 is not None:
            return [_pf_mk_addr(v4[0], v4[1], 4)]
    else:
        with contextlib.suppress(ValueError):
            return [_pf_mk_addr(str(ipaddress.IPv4Address(text)), 32, 4)]
    with contextlib.suppress(ValueError):
        address = ipaddress.IPv6Address(base)
        return [_pf_mk_addr(str(address), 128 if mask < 0 else mask, 6)]
    hosts = _pf_host_if(state, base, mask)
    if hosts:
        return hosts
    with contextlib.suppress(ValueError):
        # host_dns(): getaddrinfo() takes a numeric v4 address whose /bits inet_net_pton
        # refused (e.g. /33); check_netmask() rejects it later.
        address4 = ipaddress.IPv4Address(base)
        return [
            {"kind": "addr", "af": 4, "addr": str(address4), "prefix": max(mask, 0), "neg": False}
        ]
    if re.fullmatch(r"[A-Za-z][-A-Za-z0-9.]*", base) and not re.fullmatch(
        r"[a-z]+[0-9]+[ab]?", base
    ):
        # Not an interface-like name: getaddrinfo() might resolve it (hosts, DNS).
        raise Unsupported(f"pfctl: name lookup of {base!r} (host_dns) is not modelled")
    err(f"no IP address found for {text}")
    return None


def _pf_host_if(state: State, text: str, mask: int) -> list[dict[str, Any]]:
    """pfctl_parser.c host_if()."""
    name, mods = text, set()
    while ":" in name:
        name, mod = name.rsplit(":", 1)
        if mod not in ("network", "broadcast", "peer", "0"):
            return []
        mods.add(mod)
    if len(mods & {"network", "broadcast", "peer"}) > 1:
        err("illegal combination of interface modifiers")
        return []
    if mods & {"network", "broadcast"} and mask > -1:
        err("network or broadcast lookup, but extra netmask given")
        return []
    known = {i["name"] for i in state["interfaces"]}
    groups = {g for i in state["interfaces"] for g in i.get("groups", [])}
    if name not in known and name not in groups and name != "self":
        return []
    hosts = _pf_ifa_lookup(state, name, mods)
    if mask > -1:
        hosts = [_pf_mk_addr(h["addr"], mask, h["af"]) for h in hosts]
    return hosts


def _pf_port_text(port: tuple[str, int, int], proto: int, numeric: bool) -> str:
    """pfctl_parser.c print_port()/print_op()."""
    op, low, high = port
    name = None
    if not numeric and op in ("=", "!="):
        protoname = "tcp" if proto == 6 else "udp"
        name = next(
            (n for n, (p, protos) in PF_SERVICES.items() if p == low and protoname in protos),
            None,
        )
    first = name or str(low)
    if op == ":":
        return f" port {low}:{high}"
    if op in ("<>", "><"):
        return f" port {low} {op} {high}"
    return f" port {op} {first}"


def _pf_rule_text(r: dict[str, Any], numeric: bool) -> str:
    """pfctl_parser.c print_rule() for the rule kinds this subset builds."""
    kind = r["type"]
    if "anchor" in r:
        text = {"anchor": "anchor", "nat": "nat-anchor", "rdr": "rdr-anchor"}[kind]
        text += f' "{r["anchor"]}"'
    else:
        text = kind + (" pass" if r.get("natpass") else "")
    if kind == "block":
        text += " return" if r["rflag"] == "return" else " drop"
    if r.get("dir"):
        text += f" {r['dir']}"
    if r.get("log"):
        text += " log"
    if r.get("quick"):
        text += " quick"
    if r["ifname"]:
        text += f" on {'! ' if r['ifnot'] else ''}{r['ifname']}"
    if r["af"]:
        text += " inet" if r["af"] == 4 else " inet6"
    if r["proto"]:
        text += f" proto {PF_PROTO_NAMES.get(r['proto'], r['proto'])}"
    src, dst = r["src"], r["dst"]
    if (
        src["kind"] in ("any", "addr")
        and dst["kind"] in ("any", "addr")
        and _pf_host_text(src) == "any"
        and _pf_host_text(dst) == "any"
        and not src["neg"]
        and not dst["neg"]
        and r["sport"] is None
        and r["dport"] is None
    ):
        text += " all"
    else:
        text += " from " + ("! " if src["neg"] else "") + _pf_host_text(src)
        if r["sport"] is not None:
            text += _pf_port_text(r["sport"], r["proto"], numeric)
        text += " to " + ("! " if dst["neg"] else "") + _pf_host_text(dst)
        if r["dport"] is not None:
            text += _pf_port_text(r["dport"], r["proto"], numeric)
    flags = r.get("flags")
    if flags and (flags[0] or flags[1]):
        shown = ["".join(ch for i, ch in enumerate(PF_TCPFLAGS) if f & (1 << i)) for f in flags]
        text += f" flags {shown[0]}/{shown[1]}"
    elif kind == "pass" and r["proto"] in (0, 6) and r.get("keep"):
        text += " flags any"
    keep = r.get("keep")
    if kind == "pass" and not keep:
        text += " no state"
    elif keep == "keep":
        text += " keep state"
    elif keep:
        text += f" {keep} state"
    if kind == "scrub":
        text += " fragment reassemble"
    if kind in ("nat", "rdr") and "anchor" not in r:
        pool = r["pool"]
        hosts = ", ".join(_pf_host_text(h) for h in pool)
        text += " -> " + (f"{{ {hosts} }}" if len(pool) > 1 else hosts)
        low, high = r["ports"]
        if (
            kind == "nat"
            and (low, high)
            != (
                PF_NAT_PROXY_PORT_LOW,
                PF_NAT_PROXY_PORT_HIGH,
            )
            and (low or high)
        ):
            text += f" port {low}" if low == high else f" port {low}:{high}"
        if kind == "rdr" and low:
            text += f" port {low}" + (f":{high}" if high and high != low else "")
        if r["ptype"]:
            text += f" {r['ptype']}"
        if r["sticky"]:
            text += " sticky-address"
        if kind == "nat" and low == 0 and high == 0:
            text += " static-port"
    return text


def _pf_parse_ruleset(
    state: State, path: str, verbose: bool, numeric: bool, previous: dict[str, list[str]]
) -> dict[str, Any] | None:
    """parse_config() + the ruleset the kernel would hold; None on errors (already shown)."""
    conf = _PfConf(state, verbose, numeric)
    if not conf.parse(path):
        return None
    sets = conf.sets
    nat = sets["nat"] + sets["rdr"] + sets["binat"]  # pfctl_show_nat(): nat, rdr, binat
    rules = sets["scrub"] + sets["filter"]  # pfctl_show_rules(): scrub, then filter
    if verbose:
        # pfctl_rules(): scrub, (ether), nat, rdr, binat, filter are loaded in this order.
        for entry in sets["scrub"] + sets["nat"] + sets["rdr"] + sets["binat"] + sets["filter"]:
            out(entry["numeric" if numeric else "text"])
    tables: dict[str, list[str]] = {}
    for name in sorted(set(conf.tables) | conf.refs):
        table = conf.tables.get(name, {"flags": [], "entries": None})
        # pf_table.c pfr_setflags_ktable(): a table neither persistent nor referenced by
        # a rule is not active ("Table does not exist."); a definition without a list
        # keeps the entries the table already had (ref §2.5).
        if "persist" not in table["flags"] and name not in conf.refs:
            continue
        entries = table["entries"]
        tables[name] = list(previous.get(name, [])) if entries is None else entries
    return {
        "source": path,
        "nat": [e["text"] for e in nat],
        "rules": [e["text"] for e in rules],
        "numeric": {"nat": [e["numeric"] for e in nat], "rules": [e["numeric"] for e in rules]},
        "tables": {k: sorted(set(v), key=_pf_entry_key) for k, v in tables.items()},
        "options": conf.options,
        "load_anchors": conf.load_anchors,
    }


def _pf_entry_key(entry: str) -> tuple[int, int, int, bool]:
    network = ipaddress.ip_network(entry.lstrip("!"), strict=False)
    return network.version, int(network.network_address), network.prefixlen, entry[:1] == "!"


def _pfctl_rules(path: str, noaction: bool, verbose: bool, numeric: bool) -> dict[str, Any] | None:
    """pfctl.c pfctl_rules() for the main ruleset, "load anchor" files included."""
    state = read_state()
    loaded = state["pf"].get("ruleset") or _PF_EMPTY_RULESET
    ruleset = _pf_parse_ruleset(state, path, verbose, numeric, loaded["tables"])
    if ruleset is None:
        if not noaction:
            err("pfctl: Syntax error in config file: pf rules not loaded")
        return None
    anchors = {}
    for name, file in ruleset.pop("load_anchors"):
        # pfctl_load_anchors(): each file is a fresh parse_config() for that anchor.
        if verbose:
            err("")
            err(f"Loading anchor {name} from {file}")
        old = loaded.get("anchors", {}).get(name, _PF_EMPTY_RULESET)["tables"]
        sub = _pf_parse_ruleset(state, file, verbose, numeric, old)
        if sub is None:
            if not noaction:
                err("pfctl: Syntax error in config file: pf rules not loaded")
            err("pfctl: load anchors")
            return None
        sub.pop("load_anchors")
        anchors[name] = sub
    ruleset["anchors"] = anchors
    return ruleset


def _pfctl_enable_disable(enable: bool, quiet: bool) -> int:
    with mutate_state() as state:
        pf = state["pf"]
        if enable:
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


def _pfctl_show(show: str, numeric: bool) -> int:
    # pfctl.c pfctl_lookup_option(): a prefix of a show modifier.
    matches = [o for o in PF_SHOW_KNOWN if o.startswith(show)]
    if len(matches) != 1 or matches[0] not in ("info", "Running", "nat", "rules", "Tables"):
        raise Unsupported(f"pfctl -s {show}")
    pf = read_state()["pf"]
    ruleset = pf.get("ruleset") or _PF_EMPTY_RULESET
    if matches[0] in ("nat", "rules"):
        # pfctl_show_nat()/pfctl_show_rules(): one print_rule() line per kernel rule.
        lines = ruleset.get("numeric", ruleset) if numeric else ruleset
        for line in lines[matches[0]]:
            out(line)
        return 0
    if matches[0] == "Tables":
        for name in sorted(ruleset["tables"]):  # pfctl_table.c print_table(): puts(name)
            out(name)
        return 0
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


def _pfctl_table_show(table: str, command: str, rest: list[str]) -> int:
    # pfctl.c main(): -t and -T go together; pfctl_table.c pfctl_table() "show".
    commands = (
        "kill",
        "flush",
        "add",
        "delete",
        "load",
        "replace",
        "show",
        "test",
        "zero",
        "expire",
        "reset",
    )
    found = next((c for c in commands if command and c.startswith(command)), None)
    if found != "show" or rest or len(table) >= PF_TABLE_NAME_SIZE:
        raise Unsupported(f"pfctl -t {table} -T {command} {' '.join(rest)}".rstrip())
    ruleset = read_state()["pf"].get("ruleset") or _PF_EMPTY_RULESET
    if table not in ruleset["tables"]:
        # radix_perror(): "%s: %s.\n" with pf_strerror(ESRCH); pfctl_table() returns -1
        # and main() exit(exit_val) -> status 255.
        err("pfctl: Table does not exist.")
        return 255
    for entry in ruleset["tables"][table]:
        # print_addrx(): "%c %c%s" -- feedback char, space, '!' or ' ', address.
        out(f"  !{entry[1:]}" if entry.startswith("!") else f"   {entry}")
    return 0


def cmd_pfctl(args: list[str]) -> int:
    # sbin/pfctl/pfctl.c main() (FreeBSD 14); outputs §3. Modelled flags: -d -e -f -n -P
    # -q -s -t -T -v; the rest of "a:AdD:eqf:F:ghi:k:K:mMnNOo:Pp:rRs:St:T:vx:z" exits 64.
    opts, rest = parse_opts(args, "def:nPqs:t:T:v", "pfctl")
    given = dict(opts)  # a repeated flag: the last one wins, as in the getopt loop
    modes = {f for f in given if f in ("-d", "-e", "-f", "-s", "-t", "-T")}
    noaction, verbose = "-n" in given, "-v" in given
    quiet, numeric = "-q" in given, "-P" in given
    if "-t" in given or "-T" in given:
        if modes != {"-t", "-T"} or noaction or verbose:
            raise Unsupported(f"pfctl: {' '.join(args)}")
        if "pf" not in loaded_modules(read_state()):
            die("pfctl: /dev/pf: No such file or directory")
        return _pfctl_table_show(given["-t"], given["-T"], rest)
    if rest or not modes:
        raise Unsupported(f"pfctl: {' '.join(args)}")
    if "-f" in given:
        if modes - {"-f", "-e"}:
            raise Unsupported(f"pfctl: {' '.join(args)}")
        state = read_state()
        if not noaction:
            if "pf" not in loaded_modules(state):
                die("pfctl: /dev/pf: No such file or directory")  # open(/dev/pf): err(1)
            if verbose:
                # pfctl_test_altqsupport(): GENERIC has no ALTQ (outputs §3.1).
                err("No ALTQ support in kernel")
                err("ALTQ related functions disabled")
        # Under -n pfctl.c opens /dev/pf only if it can (PF_OPT_DUMMYACTION), so a parse
        # check works without pf.ko in FreeBSD <= 14.0's pfctl.c.  [unverified for 14.3:
        # later pfctl.c also calls pfctl_open(), which fails without /dev/pf]
        ruleset = _pfctl_rules(given["-f"], noaction, verbose, numeric)
        if ruleset is None:
            return 1  # pfctl_rules() _error: exit(1) -- -e is not reached
        if not noaction:
            # Loading replaces the ruleset and never enables pf (pfctl.8).
            with mutate_state() as fresh:
                fresh["pf"]["ruleset"] = ruleset
            if "-e" in given:
                return _pfctl_enable_disable(True, quiet)  # -e runs after -f in main()
        return 0
    if noaction or verbose or (numeric and "-s" not in given):
        raise Unsupported(f"pfctl: {' '.join(args)}")
    if len(modes) != 1:
        raise Unsupported(f"pfctl: {' '.join(args)}")
    if "pf" not in loaded_modules(read_state()):
        die("pfctl: /dev/pf: No such file or directory")  # open(/dev/pf) fails: err(1, ...)
    if "-e" in given or "-d" in given:
        return _pfctl_enable_disable("-e" in given, quiet)
    return _pfctl_show(given["-s"], numeric)


# --------------------------------------------------------------------------- kldload


# kld file -> module it provides, for the modules the double knows (sys/modules/*).
KLD_KNOWN = {
    "pf": "pf.ko",
    "pflog": "pflog.ko",
    "if_bridge": "if_bridge.ko",
    "if_epair": "if_epair.ko",
    "vmm": "vmm.ko",
    "nmdm": "nmdm.ko",
}


def cmd_kldload(args: list[str]) -> int:
    # sbin/kldload/kldload.c main(): getopt "nqv"; one kldload(2) per operand, rc 1 if any
    # failed.  A bare NAME or NAME.ko is looked up in kern.module_path; paths and the
    # path_check() "loaded from ..., not the current directory" warning are not modelled.
    opts, rest = parse_opts(args, "nqv", "kldload")
    quiet = verbose = check_loaded = False
    for flag, _ in opts:
        if flag == "-q":
            quiet, verbose = True, False  # kldload.c: -q and -v cancel each other
        elif flag == "-v":
            verbose, quiet = True, False
        else:
            check_loaded = True
    if not rest:
        die("usage: kldload [-nqv] file ...")  # kldload.c usage(): exit(1)
    errors = 0
    for name in rest:
        if "/" in name:
            raise Unsupported(f"kldload: a path ({name})")
        module = name[: -len(".ko")] if name.endswith(".ko") else name
        with mutate_state() as state:
            loaded = module in loaded_modules(state) or any(
                kld["name"] in (name, module + ".ko") for kld in state["kld"]
            )
            if not loaded and module in KLD_KNOWN:
                load_module(state, KLD_KNOWN[module], module)
                fileid = max(kld["id"] for kld in state["kld"])
        if loaded:
            # kern_linker.c: EEXIST for a loaded file or a module already in the kernel.
            if check_loaded:
                if verbose:
                    out(f"{name} is already loaded")
                continue
            if not quiet:
                err(f"kldload: can't load {name}: module already loaded or in kernel")
            errors += 1
        elif module not in KLD_KNOWN:
            # No such file in kern.module_path: ENOENT, warn("can't load %s").
            if not quiet:
                err(f"kldload: can't load {name}: No such file or directory")
            errors += 1
        elif verbose:
            out(f"Loaded {name}, id={fileid}")
    return 1 if errors else 0


# --------------------------------------------------------------------------- service


# usr.sbin/service/service.sh.  The rc.d scripts it runs source /etc/rc.subr, on a
# test host the stub tests/double/rc.subr (install.install_base_system), which
# prints what rc.subr prints ("Cannot 'start' x. ...", "x is not running.").

# service.sh usage(): echoed on stdout; ${0##*/} is "service".
SERVICE_USAGE = (
    "",
    "Usage:",
    "service [-j <jail name or id>] -e",
    "service [-j <jail name or id>] -R",
    "service [-j <jail name or id>] [-v] -l | -r",
    "service [-j <jail name or id>] [-v] <rc.d script> start|stop|etc.",
    "service -h",
    "",
    "-j\tPerform actions within the named jail",
    "-e\tShow services that are enabled",
    "-R\tStop and start enabled {local_startup} services",
    "-l\tList all scripts in /etc/rc.d and {local_startup}",
    "-r\tShow the results of boot time rcorder",
    "-v\tVerbose",
    "",
)
# service.sh: exec env -i [-L -/daemon] HOME=/ PATH=/sbin:/bin:/usr/sbin:/usr/bin
# "$dir/$script" "$@" (no /usr/local on that PATH; the -L login-class variables,
# LANG and BLOCKSIZE, are not modelled).
SERVICE_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"
# What the script keeps of the double's own settings: the double's bin dir goes
# first on PATH so the FreeBSD commands a script runs still reach the double.
SERVICE_KEEP = ("FREEBSD_DOUBLE_BIN", "FREEBSD_DOUBLE_STATE", "FREEBSD_DOUBLE_ROOT")
_SERVICE_YES = re.compile(r"(?i)yes|true|on|1")
_SERVICE_SET_RCVAR = re.compile(r'"?(?:\$\(|`)set_rcvar(?:[ \t]+([A-Za-z0-9_]+))?[ \t]*(?:\)|`)"?')


def cmd_service(args: list[str]) -> int:
    if in_jail():
        return int(_jails().service(args))  # inside a jail: modelled services (jails.py)
    opts, rest = parse_opts(args, "j:ehlrRv", "service")
    flags = {flag for flag, _ in opts}
    # service.sh: `. /etc/rc.subr; load_rc_config 'XXX'` gives it local_startup.
    local_startup = RcConf(None).get("local_startup") or ""
    dirs = ["/etc/rc.d", *local_startup.split()]
    verbose = "-v" in flags
    if "-h" in flags:
        for line in SERVICE_USAGE:
            out(line.replace("{local_startup}", local_startup))
        return 0
    if "-j" in flags:
        raise Unsupported("service -j (jexec -l JAIL /usr/sbin/service ...)")
    if "-R" in flags:
        raise Unsupported("service -R (restart of enabled local_startup services)")
    if "-e" in flags:
        _service_enabled(local_startup.split())
        return 0
    if "-l" in flags:
        # service.sh: for dir in /etc/rc.d $local_startup; ls -1 (sorted, no dotfiles).
        for d in dirs:
            if verbose:
                out(f"From {d}:")
            real = host_path(d)
            if os.path.isdir(real):
                for entry in sorted(os.listdir(real)):
                    if not entry.startswith("."):
                        out(entry)
        return 0
    if "-r" in flags:
        raise Unsupported("service -r (rcorder)")
    if len(rest) < 2:
        # service.sh: `service NAME` alone, or nothing, is a usage error.
        for line in SERVICE_USAGE:
            out(line.replace("{local_startup}", local_startup))
        return 1
    script, verb_args = rest[0], rest[1:]
    for d in dirs:
        path = f"{d}/{script}"
        if os.access(host_path(path), os.X_OK):  # service.sh: [ -x "$dir/$script" ]
            if verbose:
                out(f"{script} is located in {d}")
            return _service_exec(path, verb_args)
    # service.sh, not found or not executable: two lines on stdout, exit 1.
    out(f"{script} does not exist in /etc/rc.d or the local startup")
    out(f"directories ({local_startup}), or is not executable")
    return 1


def _service_exec(path: str, args: list[str]) -> int:
    """service.sh: cd /; exec env -i HOME=/ PATH=... "$dir/$script" "$@"; its status."""
    env = {"HOME": "/", "PATH": SERVICE_PATH}
    for key in SERVICE_KEEP:
        if key in os.environ:
            env[key] = os.environ[key]
    if env.get("FREEBSD_DOUBLE_BIN"):
        env["PATH"] = f"{env['FREEBSD_DOUBLE_BIN']}:{SERVICE_PATH}"
    real = host_path(path)
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [real, *args]
    try:
        try:
            done = subprocess.run(argv, env=env, cwd=host_path("/"), check=False)
        except OSError as exc:
            if exc.errno != errno.ENOEXEC:
                raise
            # env(1) uses execvp(3): a file without #! runs under /bin/sh.
            done = subprocess.run(["/bin/sh", *argv], env=env, cwd=host_path("/"), check=False)
    except OSError as exc:
        # env(1): err(errno == ENOENT ? 127 : 126, "%s", *argv)
        err(f"env: {path}: {os.strerror(exc.errno or 0)}")
        return 127 if exc.errno == errno.ENOENT else 126
    # a script killed by a signal: the status sh reports, 128 + signal number
    return 128 - done.returncode if done.returncode < 0 else done.returncode


def _service_enabled(local_startup: list[str]) -> None:
    """service -e: the scripts whose rcvar is YES in the rc.conf view (service.sh).

    service.sh runs `rcorder -s nostart /etc/rc.d/* $local_rc` and, for each file
    with a line starting "rcvar", evals its `name=` and `rcvar` lines, loads that
    rc.conf variable (load_rc_config_var) and prints the path when checkyesno says
    yes.  The double does the same in Python, but in name order (/etc/rc.d first,
    then local_startup), not rcorder's dependency order.
    """
    files: list[str] = []
    rc_d = host_path("/etc/rc.d")
    if os.path.isdir(rc_d):
        files += [
            f"/etc/rc.d/{entry}"
            for entry in sorted(os.listdir(rc_d))
            if os.path.isfile(os.path.join(rc_d, entry))
        ]
    for d in local_startup:  # rc.subr find_local_scripts_new
        real = host_path(d)
        if not os.path.isdir(real):
            continue
        for entry in sorted(os.listdir(real)):
            full = os.path.join(real, entry)
            if entry.endswith((".sample", ".pkgsave")) or not os.path.isfile(full):
                continue
            if os.access(full, os.X_OK) and re.search(r"^# PROVIDE:", _service_read(full), re.M):
                files.append(f"{d}/{entry}")
    shell: dict[str, str] = {}  # service.sh's variables: name and rcvar carry over
    for path in files:
        text = _service_read(host_path(path))
        keywords = re.findall(r"^#[ \t]*KEYWORD:(.*)$", text, re.M)
        if any("nostart" in line.split() for line in keywords):
            continue  # rcorder -s nostart
        if not re.search(r"^rcvar", text, re.M):
            continue
        for prefix in ("name=", "rcvar"):
            for line in text.splitlines():
                if line.startswith(prefix):
                    _service_eval_assignment(line, shell, path)
        rcvar = shell.get("rcvar", "")
        if not rcvar:
            continue
        value = _service_rc_conf(shell.get("name", ""), local_startup).get(rcvar, "")
        if _SERVICE_YES.fullmatch(value):
            out(path)


def _service_eval_assignment(line: str, shell: dict[str, str], path: str) -> None:
    """`eval` one `name=...` / `rcvar=...` line of an rc.d script, in the simple forms."""
    match = _ASSIGN.match(line)
    if not match:
        raise Unsupported(f"service -e: {path}: {line!r}")
    raw = line[match.end() :].strip()
    set_rcvar = _SERVICE_SET_RCVAR.fullmatch(raw.split("#", 1)[0].strip())
    if set_rcvar:
        # rc.subr set_rcvar [var]: "${var:-$name}_enable"
        shell[match.group(1)] = f"{set_rcvar.group(1) or shell.get('name', '')}_enable"
        return
    if "$(" in raw or "`" in raw:
        raise Unsupported(f"service -e: {path}: command substitution in {line!r}")
    shell[match.group(1)], _ = _sh_value(line, match.end(), shell)


def _service_rc_conf(name: str, local_startup: list[str]) -> dict[str, str]:
    """rc.subr load_rc_config NAME: rc.conf files, then rc.conf.d/NAME (file or dir)."""
    env = dict(RcConf(None).env)
    if name:
        for d in ["/etc", *local_startup]:
            base = f"{d.removesuffix('/rc.d')}/rc.conf.d/{name}"
            real = host_path(base)
            if os.path.isfile(real):
                source_rc(base, env)
            elif os.path.isdir(real):
                for entry in sorted(os.listdir(real)):
                    if os.path.isfile(os.path.join(real, entry)):
                        source_rc(f"{base}/{entry}", env)
    return env


def _service_read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


# --------------------------------------------------------------------------- pw


# FreeBSD pw(8) edits /etc/master.passwd and rebuilds the databases with pwd_mkdb.
# The test host is Linux, whose su(1), id(1) and ls -l read /etc/passwd, /etc/group
# and /etc/shadow (and /etc/gshadow when present), and cannot use master.passwd.  So
# the double writes those Linux files under FREEBSD_DOUBLE_ROOT: passwd
# "name:x:uid:gid:gecos:home:shell", shadow "name:*:::::::" (locked, like pw's "*"),
# group "name:x:gid:members".  Not modelled: pw.conf(5) (the compiled-in defaults
# below are used), skeleton dotfiles (/usr/share/skel), /var/log/userlog (pw_log),
# crontab/at-job removal on userdel, NIS, -V/-R, and every flag not listed.

EX_DATAERR = 65
EX_NOUSER = 67
EX_OSFILE = 72
EX_IOERR = 74
EX_NOPERM = 77
EX_CONFIG = 78

PW_FILES = {
    "passwd": "/etc/passwd",
    "shadow": "/etc/shadow",
    "group": "/etc/group",
    "gshadow": "/etc/gshadow",
}
# pw_conf.c compiled-in defaults: uid/gid range 1000-32000, home root /home,
# shellpath /bin, default shell sh.
PW_MIN_ID, PW_MAX_ID = 1000, 32000
PW_LOGNAMESIZE = 32  # MAXLOGNAME - 1 (sys/param.h, MAXLOGNAME 33)


class AccountDb:
    """The host's account files under FREEBSD_DOUBLE_ROOT, kept as lines.

    Lines that are not entries (comments, NIS "+"/"-" lines) are kept as they are.
    Call with the state lock held (cmd_pw does) so concurrent pw runs serialise,
    as pw's own lock on master.passwd does.
    """

    def __init__(self) -> None:
        self.lines: dict[str, list[str] | None] = {}
        for kind, path in PW_FILES.items():
            try:
                with open(host_path(path), encoding="utf-8") as fh:
                    self.lines[kind] = fh.read().splitlines()
            except FileNotFoundError:
                self.lines[kind] = None
        self.dirty: set[str] = set()

    def rows(self, kind: str) -> list[list[str]]:
        return [
            line.split(":")
            for line in self.lines[kind] or []
            if line and line[0] not in "#+-" and line.count(":") >= 2
        ]

    def find(
        self, kind: str, name: str | None = None, ident: int | None = None
    ) -> list[str] | None:
        for row in self.rows(kind):
            if name is not None and row[0] == name:
                return row
            if ident is not None and len(row) > 2 and row[2] == str(ident):
                return row
        return None

    def user(self, name: str | None = None, uid: int | None = None) -> list[str] | None:
        return self.find("passwd", name, uid)

    def group(self, name: str | None = None, gid: int | None = None) -> list[str] | None:
        return self.find("group", name, gid)

    def put(self, kind: str, fields: list[str]) -> None:
        """Replace the entry with this name, or append it."""
        if kind == "gshadow" and self.lines[kind] is None:
            return  # only kept in step when the host has one
        lines = self.lines[kind] if self.lines[kind] is not None else []
        new = ":".join(fields)
        for i, line in enumerate(lines):
            if line.split(":", 1)[0] == fields[0] and line[:1] not in ("#", "+", "-"):
                lines[i] = new
                break
        else:
            lines.append(new)
        self.lines[kind] = lines
        self.dirty.add(kind)

    def drop(self, kind: str, name: str) -> None:
        lines = self.lines[kind]
        if lines is None:
            return
        kept = [line for line in lines if line.split(":", 1)[0] != name or line[:1] == "#"]
        if kept != lines:
            self.lines[kind] = kept
            self.dirty.add(kind)

    def put_group(self, name: str, gid: str, members: list[str]) -> None:
        row = self.group(name)
        password = row[1] if row else "x"
        self.put("group", [name, password, gid, ",".join(members)])
        shadow = self.find("gshadow", name)
        self.put("gshadow", [*(shadow or [name, "!", ""])[:3], ",".join(members)])

    def save(self) -> None:
        for kind in sorted(self.dirty):
            path = host_path(PW_FILES[kind])
            text = "\n".join(self.lines[kind] or []) + "\n"
            try:
                st = os.stat(path)
                mode, owner = st.st_mode & 0o7777, (st.st_uid, st.st_gid)
            except FileNotFoundError:
                mode, owner = (0o640 if "shadow" in kind else 0o644), None
                os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, text, mode)
            if owner is not None and owner != (os.geteuid(), os.getegid()):
                os.chown(path, *owner)


def _gr_members(row: list[str]) -> list[str]:
    return [m for m in (row[3] if len(row) > 3 else "").split(",") if m]


def _pw_checkname(name: str, gecos: bool) -> str:
    # pw_user.c pw_checkname(): the bad characters, the leading '-', a final '$'.
    bad = ":" if gecos else ' ,\t:+&#%$^()!@~*?<>=|\\/"'
    showtype = "gecos field" if gecos else "userid/group name"
    at: int | None = 0 if (not gecos and name.startswith("-")) else None
    if at is None:
        for i, ch in enumerate(name):
            if ch in bad or ch == "\x7f" or (not gecos and (ch < " " or ord(ch) > 127)):
                at = i
                break
    if at is not None and not gecos and name[at] == "$" and at == len(name) - 1:
        at = None
    if at is not None:
        ch = name[at]
        show = f"`{ch}'" if " " <= ch < "\x7f" else f"0x{ord(ch):02x}"
        die(f"pw: invalid character {show} at position {at} in {showtype}", EX_DATAERR)
    if not gecos and len(name) > PW_LOGNAMESIZE:
        die(f"pw: name too long `{name}' (max is {PW_LOGNAMESIZE})", EX_USAGE)
    return name


def _pw_checkid(text: str) -> int:
    # pw_utils.c pw_checkid(): strtounum() failure is errx(EX_USAGE, "Bad id ...").
    if not text.isdigit():
        die(f"pw: Bad id '{text}': invalid", EX_USAGE)
    value = int(text)
    if value > 0xFFFFFFFE:
        die(f"pw: Bad id '{text}': too large", EX_USAGE)
    return value


def _pw_need_root() -> None:
    # pw_user.c pw_user_add()/pw_user_mod(): errx(EX_NOPERM, "you must be root").
    if os.geteuid() != 0:
        die("pw: you must be root", EX_NOPERM)


def _pw_group_arg(db: AccountDb, text: str) -> list[str]:
    # pw_user.c group_from_name_or_id(): by name, else by numeric id.
    row = db.group(text)
    if row is None and text.isdigit():
        row = db.group(gid=int(text))
    if row is None:
        die(f"pw: group `{text}' does not exist", EX_NOUSER)
    return row


def _pw_group_list(db: AccountDb, text: str) -> list[str]:
    # pw_user.c split_groups(): separators ", \t".
    return [_pw_group_arg(db, part)[0] for part in re.split(r"[, \t]+", text) if part]


def _pw_next_id(used: set[int]) -> int | None:
    # pw_uidpolicy()/gr_gidpolicy(): one past the highest id in use in the range;
    # bitmap.c bm_lastset() is 0 for an empty map, so a fresh host gets 1001.
    last = max((i - PW_MIN_ID for i in used if PW_MIN_ID <= i <= PW_MAX_ID), default=0)
    nxt = PW_MIN_ID + last + 1
    return nxt if nxt <= PW_MAX_ID else None


def _pw_next_uid(db: AccountDb) -> int:
    used = {int(r[2]) for r in db.rows("passwd") if r[2].isdigit()}
    nxt = _pw_next_id(used)
    if nxt is None:  # pw_uidpolicy() falls back to the first unused uid
        nxt = next((i for i in range(PW_MIN_ID, PW_MAX_ID + 1) if i not in used), None)
    if nxt is None:
        die("pw: unable to allocate a new uid - range fully used", EX_SOFTWARE)
    return nxt


def _pw_next_gid(db: AccountDb) -> int:
    nxt = _pw_next_id({int(r[2]) for r in db.rows("group") if r[2].isdigit()})
    if nxt is None:  # gr_gidpolicy() has no fallback when reuse is off
        die("pw: unable to allocate a new gid - range fully used", EX_SOFTWARE)
    return nxt


def _pw_shell(shell: str) -> str:
    # pw_user.c shell_path(): a full path (or "") is used as given; a bare name is
    # looked for in shellpath /bin.  Every FreeBSD has /bin/sh, so the default "sh"
    # needs no check (a test root may have no bin/).  No /etc/shells check (pw has none).
    if shell == "" or shell.startswith("/"):
        return shell
    if shell == "sh":
        return "/bin/sh"
    if os.access(host_path(f"/bin/{shell}"), os.X_OK):
        return f"/bin/{shell}"
    die("pw: no default shell available or defined", EX_CONFIG)  # shell_path()'s text


def _pw_mode(text: str) -> int:
    # pw_user.c validate_mode(): setmode(3); only octal modes are modelled.
    if not text[:1].isdigit():
        raise Unsupported(f"pw: symbolic -M mode {text!r}")
    if not re.fullmatch(r"[0-7]+", text) or int(text, 8) > 0o7777:
        die(f"pw: invalid directory creation mode '{text}'", EX_DATAERR)
    return int(text, 8)


def _pw_operand(arg1: str | None) -> tuple[str | None, int | None]:
    # pw.c main() passes the first non-option word; all digits means an id.
    if arg1 is None:
        return None, None
    if arg1.isdigit():
        return None, _pw_checkid(arg1)
    return arg1, None


def _pw_lookup_user(db: AccountDb, name: str | None, uid: int | None) -> list[str]:
    if uid is None and name is None:
        die("pw: username or id required", EX_DATAERR)
    row = db.user(_pw_checkname(name, False)) if name is not None else db.user(uid=uid)
    if row is None:
        if name is None:
            die(f"pw: no such uid `{uid}'", EX_NOUSER)
        die(f"pw: no such user `{name}'", EX_NOUSER)
    return row


def _pw_mkhome(home: str, mode: int, uid: int, gid: int) -> None:
    # pw_user.c create_and_populate_homedir() -> mkdir_home_parents() + copymkdir().
    path = host_path(home)
    if os.path.exists(path) and not os.path.isdir(path):
        die(f"pw: root home `{home}' is not a directory", EX_OSFILE)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        # Real pw makes a missing top-level parent as /usr/<dir> plus a symlink
        # /<dir> -> usr/<dir>.  Not modelled (/usr is not in the test-host overlay):
        # the parents are plain directories, 0777 & ~umask (_DEF_DIRMODE), root's.
        os.makedirs(parent, 0o777, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, mode)  # mkdirat(): the umask applies, as in copymkdir()
    os.chown(path, uid, gid)


def _pw_mailbox(name: str, uid: int, gid: int, create: bool) -> None:
    # pw_user.c: useradd touches /var/mail/NAME 0600 (silently skipped when the
    # directory is missing); userdel removes it.
    path = host_path(f"/var/mail/{name}")
    if not create:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    if os.path.isdir(os.path.dirname(path)):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chown(path, uid, gid)


def _pw_rm_r(path: str, uid: int) -> None:
    # rm_r.c: remove what the user owns (and symlinks); directories last.
    for entry in os.scandir(path):
        st = entry.stat(follow_symlinks=False)
        if entry.is_dir(follow_symlinks=False):
            _pw_rm_r(entry.path, uid)
        elif entry.is_symlink() or st.st_uid == uid:
            os.unlink(entry.path)
    st = os.lstat(path)
    if os.path.islink(path):
        os.unlink(path)
    elif st.st_uid == uid:
        with contextlib.suppress(OSError):
            os.rmdir(path)


def _pw_useradd(arg1: str | None, rest: list[str]) -> int:
    # pw_user.c pw_user_add(); modelled: -n -u -c -d -g -G -m -M -s -w no -o.
    name, uid = _pw_operand(arg1)
    if name is not None:
        name = _pw_checkname(name, False)
    opts, extra = parse_opts(rest, "n:u:c:d:g:G:mM:s:w:o", "pw useradd")
    if extra:
        raise Unsupported(f"pw useradd: operands {extra}")
    db = AccountDb()
    gecos = home = shell = grname = uid_text = None
    groups: list[str] = []
    createhome = dup_ok = False
    homemode = 0o777  # _DEF_DIRMODE; mkdir() applies the umask (pw(8) -M)
    for flag, value in opts:
        if flag == "-n":
            name = _pw_checkname(value, False)
        elif flag == "-u":
            uid_text = value
        elif flag == "-c":
            gecos = _pw_checkname(value, True)
        elif flag == "-d":
            home = value
        elif flag == "-g":
            if value == "":
                raise Unsupported("pw useradd: -g ''")
            grname = _pw_group_arg(db, value)[0]
        elif flag == "-G":
            groups += _pw_group_list(db, value)
        elif flag == "-m":
            createhome = True
        elif flag == "-M":
            homemode = _pw_mode(value)
        elif flag == "-s":
            shell = value
        elif flag == "-w":
            if value != "no":  # pw_password(): "no" is the locked "*"
                raise Unsupported(f"pw useradd: -w {value}")
        elif flag == "-o":
            dup_ok = True
    _pw_need_root()
    if uid_text is not None:
        uid = _pw_checkid(uid_text)
    if uid is None and name is None:
        die("pw: user name or id required", EX_DATAERR)
    if name is None:
        die("pw: login name required", EX_DATAERR)
    if db.user(name) is not None:
        die(f"pw: login name `{name}' already exists", EX_DATAERR)
    # pw_uidpolicy(): a given uid must be free unless -o.
    if uid is not None and not dup_ok and db.user(uid=uid) is not None:
        die(f"pw: uid `{uid}' has already been allocated", EX_DATAERR)
    if uid is None:
        uid = _pw_next_uid(db)
    gid = _pw_useradd_gid(db, grname, name, uid)
    home = home if home is not None else f"/home/{name}"  # pw_homepolicy()
    shell = _pw_shell(shell if shell is not None else "sh")
    gecos = gecos if gecos is not None else "User &"  # pw_user.c fakeuser gecos
    db.put("passwd", [name, "x", str(uid), str(gid), gecos, home, shell])
    db.put("shadow", [name, "*", "", "", "", "", "", "", ""])
    for group in groups:  # gr_add() skips a user who is already a member
        row = db.group(group)
        if row is not None and name not in _gr_members(row):
            db.put_group(group, row[2], [*_gr_members(row), name])
    db.save()
    _pw_mailbox(name, uid, gid, create=True)
    if createhome and home.startswith("/") and len(home) > 1:
        _pw_mkhome(home, homemode, uid, gid)
    return 0


def _pw_useradd_gid(db: AccountDb, grname: str | None, name: str, uid: int) -> int:
    # pw_user.c pw_gidpolicy(): -g's group; else an existing member-less group named
    # like the user; else a new group NAME with gid == uid when that gid is free.
    if grname is not None:
        row = db.group(grname)
        assert row is not None
        return int(row[2])
    row = db.group(name)
    if row is not None and not _gr_members(row):
        return int(row[2])
    gid = uid if db.group(gid=uid) is None else _pw_next_gid(db)
    if row is not None:  # groupadd() -> addgrent() refuses the existing name
        die(f"pw: group '{name}' already exists", EX_IOERR)
    db.put_group(_pw_checkname(name, False), str(gid), [])
    return gid


def _pw_usershow(arg1: str | None, rest: list[str]) -> int:
    # pw_user.c pw_user_show() -> print_user() -> pw_make(): the master.passwd line
    # name:passwd:uid:gid:class:change:expire:gecos:home:shell.  The password comes
    # from /etc/shadow; class is empty and change/expire 0 (never set here).
    name, uid = _pw_operand(arg1)
    opts, extra = parse_opts(rest, "n:u:", "pw usershow")
    if extra:
        raise Unsupported(f"pw usershow: operands {extra}")
    for flag, value in opts:
        if flag == "-n":
            name = value
        else:
            uid = _pw_checkid(value)
    db = AccountDb()
    row = _pw_lookup_user(db, name, uid)
    shadow = db.find("shadow", row[0])
    password = shadow[1] if shadow else row[1]
    out(":".join([row[0], password, row[2], row[3], "", "0", "0", *row[4:7]]))
    return 0


def _pw_usermod(arg1: str | None, rest: list[str]) -> int:
    # pw_user.c pw_user_mod(); modelled: -n -c -d -g -G -s.
    name, uid = _pw_operand(arg1)
    opts, extra = parse_opts(rest, "n:c:d:g:G:s:", "pw usermod")
    if extra:
        raise Unsupported(f"pw usermod: operands {extra}")
    db = AccountDb()
    changes: dict[int, str] = {}
    groups: list[str] | None = None
    for flag, value in opts:
        if flag == "-n":
            name = value
        elif flag == "-c":
            changes[4] = _pw_checkname(value, True)
        elif flag == "-d":
            changes[5] = value
        elif flag == "-g":
            changes[3] = _pw_group_arg(db, value)[2]
        elif flag == "-G":
            groups = _pw_group_list(db, value)
        elif flag == "-s":
            changes[6] = value
    _pw_need_root()
    row = _pw_lookup_user(db, name, uid)
    if 6 in changes:
        changes[6] = _pw_shell(changes[6])
    if row[2] == "0":
        changes.pop(3, None)  # "if (grname && pwd->pw_uid != 0)"
    if 5 in changes:
        path = host_path(changes[5])
        if not os.path.exists(path):
            err(f"pw: WARNING: home `{changes[5]}' does not exist")
        elif not os.path.isdir(path):
            err(f"pw: WARNING: home `{changes[5]}' is not a directory")
    new = list(row)
    for index, value in changes.items():
        new[index] = value
    if new != row:  # perform_chgpwent() only when edited
        db.put("passwd", new)
    if groups is not None:  # drop from every group, then add to the -G ones
        for group in db.rows("group"):
            if row[0] in _gr_members(group) and group[0] not in groups:
                db.put_group(group[0], group[2], [m for m in _gr_members(group) if m != row[0]])
        for group_name in groups:
            group = db.group(group_name)
            if group is not None and row[0] not in _gr_members(group):
                db.put_group(group_name, group[2], [*_gr_members(group), row[0]])
    db.save()
    return 0


def _pw_userdel(arg1: str | None, rest: list[str]) -> int:
    # pw_user.c pw_user_del(); modelled: -n -u -r.
    name, uid = _pw_operand(arg1)
    opts, extra = parse_opts(rest, "n:u:r", "pw userdel")
    if extra:
        raise Unsupported(f"pw userdel: operands {extra}")
    deletehome = False
    for flag, value in opts:
        if flag == "-n":
            name = value
        elif flag == "-u":
            uid = _pw_checkid(value)
        else:
            deletehome = True
    db = AccountDb()
    row = _pw_lookup_user(db, name, uid)
    login, user_id, home = row[0], int(row[2]), row[5]
    if login == "root":
        die("pw: cannot remove user 'root'", EX_DATAERR)
    primary = db.group(gid=int(row[3])) if row[3].isdigit() else None
    db.drop("passwd", login)
    db.drop("shadow", login)
    # The user's own group goes too when it has no members and is the primary one.
    own = db.group(login)
    if own is not None and not _gr_members(own) and primary is not None and primary[0] == login:
        db.drop("group", login)
        db.drop("gshadow", login)
    for group in db.rows("group"):
        if login in _gr_members(group):
            db.put_group(group[0], group[2], [m for m in _gr_members(group) if m != login])
    db.save()
    _pw_mailbox(login, user_id, 0, create=False)
    if deletehome and home.startswith("/") and db.user(uid=user_id) is None:
        path = host_path(home)
        if os.path.lexists(path):
            _pw_rm_r(path, user_id)
    return 0


def _pw_groupadd(arg1: str | None, rest: list[str]) -> int:
    # pw_group.c pw_group_add(); modelled: -n -g -M -o.
    name, gid = _pw_operand(arg1)
    opts, extra = parse_opts(rest, "n:g:M:o", "pw groupadd")
    if extra:
        raise Unsupported(f"pw groupadd: operands {extra}")
    db = AccountDb()
    member_list: list[str] = []
    dup_ok = False
    for flag, value in opts:
        if flag == "-n":
            name = value
        elif flag == "-g":
            gid = _pw_checkid(value)
        elif flag == "-M":
            member_list = [m for m in re.split(r"[, \t]+", value) if m]
        else:
            dup_ok = True
    if name is None:
        die("pw: group name required", EX_DATAERR)
    if db.group(name) is not None:
        die(f"pw: group name `{name}' already exists", EX_DATAERR)
    if gid and not dup_ok and db.group(gid=gid) is not None:  # gr_gidpolicy(): id > 0
        die(f"pw: gid `{gid}' has already been allocated", EX_DATAERR)
    if not gid:
        gid = _pw_next_gid(db)
    _pw_checkname(name, False)
    names: list[str] = []
    for member in member_list:  # grp_add_members() -> lookup_pwent()
        row = db.user(member) or (db.user(uid=int(member)) if member.isdigit() else None)
        if row is None:
            die(f"pw: user `{member}' does not exist", EX_NOUSER)
        if row[0] not in names:
            names.append(row[0])
    db.put_group(name, str(gid), names)
    db.save()
    return 0


def _pw_getgroup(db: AccountDb, name: str | None, gid: int | None) -> list[str]:
    # pw_group.c getgroup(): note EX_DATAERR here, not EX_NOUSER.
    if gid is None and name is None:
        die("pw: groupname or id required", EX_DATAERR)
    row = db.group(name) if name is not None else db.group(gid=gid)
    if row is None:
        if name is None:
            die(f"pw: unknown gid `{gid}'", EX_DATAERR)
        die(f"pw: unknown group `{name}'", EX_DATAERR)
    return row


def _pw_group_target(arg1: str | None, rest: list[str], cmd: str) -> list[str]:
    name, gid = _pw_operand(arg1)
    opts, extra = parse_opts(rest, "n:g:", cmd)
    if extra:
        raise Unsupported(f"{cmd}: operands {extra}")
    for flag, value in opts:
        if flag == "-n":
            name = value
        else:
            gid = _pw_checkid(value)
    return _pw_getgroup(AccountDb(), name, gid)


def _pw_groupshow(arg1: str | None, rest: list[str]) -> int:
    # pw_group.c print_group() -> gr_make(): name:passwd:gid:members.  pw writes
    # "*" as the group password; the Linux group file says "x" (gshadow), shown as "*".
    row = _pw_group_target(arg1, rest, "pw groupshow")
    password = "*" if row[1] == "x" else row[1]
    out(":".join([row[0], password, row[2], ",".join(_gr_members(row))]))
    return 0


def _pw_groupdel(arg1: str | None, rest: list[str]) -> int:
    # pw_group.c pw_group_del(): no check that the group is someone's primary group.
    row = _pw_group_target(arg1, rest, "pw groupdel")
    db = AccountDb()
    db.drop("group", row[0])
    db.drop("gshadow", row[0])
    db.save()
    return 0


PW_COMMANDS = {
    "useradd": _pw_useradd,
    "usershow": _pw_usershow,
    "usermod": _pw_usermod,
    "userdel": _pw_userdel,
    "groupadd": _pw_groupadd,
    "groupshow": _pw_groupshow,
    "groupdel": _pw_groupdel,
}


def cmd_pw(args: list[str]) -> int:
    # pw.c main(): `pw COMMAND [name|id] [switches]`; errors are errx() -> "pw: ...".
    if not args or args[0] not in PW_COMMANDS:
        raise Unsupported(f"pw: {' '.join(args) or '(no command)'}")
    rest = args[1:]
    arg1 = None
    if rest and not rest[0].startswith("-"):
        arg1, rest = rest[0], rest[1:]
    with locked(exclusive=True):
        return PW_COMMANDS[args[0]](arg1, rest)


# --------------------------------------------------------------------------- newsyslog


# newsyslog(8), newsyslog.conf(5); behaviour and texts from usr.sbin/newsyslog/
# newsyslog.c (FreeBSD 14).  Modelled: -C -F -N -n -r -v, -f CONFIG, LOGFILE operands,
# <include>, entry flags B C G J N P X Y Z - W, pid files and signals, classic
# log.N names.  Not modelled (exit 64): -a -d -D -P -R -s -S -t, -vvv, flags D R T U,
# <debug>, lines starting with blanks, and deciding an `@`/`$` time that is not
# "daily at hour hh" (T<hh...> / D<hh>) unless -F or the size forces rotation.
# newsyslog sleeps 10 s after signalling so daemons close the rotated files before
# they are compressed; the double sleeps only when it really signalled a process
# and has files to compress (the pause changes nothing else), and never between
# signals.

NEWSYSLOG_CONF = "/etc/newsyslog.conf"  # pathnames.h _PATH_CONF
# FreeBSD 14's /etc/newsyslog.conf ends with these includes (ref §2.7).  When the
# host has no /etc/newsyslog.conf the double reads just these two lines: the base
# entries (/var/log/messages ...) would rotate the Linux test host's own logs.
NEWSYSLOG_DEFAULT_CONF = (
    "<include> /etc/newsyslog.conf.d/[!.]*.conf\n"
    "<include> /usr/local/etc/newsyslog.conf.d/[!.]*.conf\n"
)
SYSLOGD_PIDFILE = "/var/run/syslog.pid"  # pathnames.h _PATH_SYSLOGPID
# compress_type[]: flag -> (suffix, FreeBSD program path, arguments).
NEWSYSLOG_COMPRESS = {
    "Z": (".gz", "/usr/bin/gzip", ["-f"]),
    "J": (".bz2", "/usr/bin/bzip2", ["-f"]),
    "X": (".xz", "/usr/bin/xz", ["-f"]),
    "Y": (".zst", "/usr/bin/zstd", ["-q", "--rm"]),
}
NEWSYSLOG_SUFFIXES = ("", ".gz", ".bz2", ".xz", ".zst")  # compress_type[] order
# FreeBSD sys_signame[1..31] (FreeBSD numbers differ from Linux's: USR1 is 30).
FREEBSD_SIGNALS = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "EMT", "FPE", "KILL", "BUS", "SEGV",
    "SYS", "PIPE", "ALRM", "TERM", "URG", "STOP", "TSTP", "CONT", "CHLD", "TTIN", "TTOU",
    "IO", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "INFO", "USR1", "USR2",
]  # fmt: skip
# newsyslog.c MIN_PID/MAX_PID is 5..99999 on FreeBSD; Linux pids go up to 2^22.
NEWSYSLOG_PID_RANGE = (5, 4194304)


class NsEntry:
    """A newsyslog.conf line (newsyslog.c struct conf_entry)."""

    def __init__(self, log: str) -> None:
        self.log = log
        self.uid = -1
        self.gid = -1
        self.mode = 0
        self.count = 1
        self.size = -1  # KB; -1 for '*'
        self.hours = -1
        self.trim_at: str | None = None
        self.flags = ""  # upper-case flag letters (B C G N P)
        self.compress = ""  # J X Y Z or ""
        self.pidfile: str | None = None
        self.sig = 1  # SIGHUP
        self.def_cfg = False
        self.reason: str | None = None
        self.firstcreate = False
        self.fsize = -1

    def copy(self, log: str) -> NsEntry:
        new = copy.copy(self)
        new.log = log
        return new


class NsRun:
    def __init__(self) -> None:
        self.verbose = 0
        self.noaction = False
        self.needroot = True
        self.force = False
        self.norotate = False
        self.createlogs = 0
        self.conf: str | None = None
        self.now = time.time()
        self.sigwork: list[dict[str, Any]] = []
        self.zipwork: list[tuple[int, str, NsEntry, dict[str, Any] | None]] = []
        self.real_signal = False
        self.db: AccountDb | None = None
        self.host: str | None = None

    def accounts(self) -> AccountDb:
        if self.db is None:
            self.db = AccountDb()
        return self.db

    def hostname(self) -> str:
        # gethostname(3), short form (hostname_shortlen): the double's uname -n.
        if self.host is None:
            self.host = str(read_state()["uname"]["nodename"]).split(".")[0]
        return self.host


def _w(text: str) -> None:
    sys.stdout.write(text)


def _ns_guest(path: str) -> str:
    """A host path back as the FreeBSD path (the inverse of host_path)."""
    root = root_dir()
    if root in ("", "/"):
        return path
    rel = os.path.relpath(path, root)
    return "/" if rel == "." else "/" + rel


def _ns_glob(pattern: str) -> list[str]:
    # glob(3) sorts; with GLOB_NOCHECK an unmatched pattern is not in gl_matchc,
    # the count newsyslog loops over, so no match means nothing.
    return [_ns_guest(p) for p in sorted(glob.glob(host_path(pattern)))]


def _ns_fnmatch_path(pattern: str, name: str) -> bool:
    # fnmatch(3) with FNM_PATHNAME: a wildcard never matches '/'.
    import fnmatch  # stdlib; only this function needs it

    parts, names = pattern.split("/"), name.split("/")
    return len(parts) == len(names) and all(
        fnmatch.fnmatchcase(n, p) for p, n in zip(parts, names, strict=True)
    )


def _ns_bad(text: str, errline: str) -> NoReturn:
    # errx(1, "...:\n%s", errline): errline keeps its newline and errx adds one.
    die(f"newsyslog: {text}:\n{errline}", 1)


class NsCursor:
    """parse_file()'s sob()/son() walk over one line ("parse" is the terminator)."""

    def __init__(self, line: str, errline: str) -> None:
        self.line, self.errline, self.parse, self.eol = line, errline, -1, False

    def _sob(self, i: int) -> int:
        while i < len(self.line) and self.line[i].isspace():
            i += 1
        return i

    def _son(self, i: int) -> int:
        while i < len(self.line) and not self.line[i].isspace():
            i += 1
        return i

    def field(self) -> str:
        """missing_field(sob(parse + 1)); parse = son(parse)."""
        start = self._sob(self.parse + 1)
        if start >= len(self.line):
            _ns_bad("missing field in config file", self.errline)
        return self._take(start)

    def required(self) -> str:
        """A field another must follow: "malformed line (missing fields)" at the end."""
        value = self.field()
        if self.eol:
            _ns_bad("malformed line (missing fields)", self.errline)
        return value

    def optional(self) -> str:
        """q = parse = sob(parse + 1) without missing_field(): may be empty."""
        return self._take(self._sob(self.parse + 1))

    def _take(self, start: int) -> str:
        end = self._son(start)
        self.parse, self.eol = end, end >= len(self.line)
        return self.line[start:end]


def _ns_valid_at(spec: str) -> bool:
    # ptimes.c parse8601() / parseDWM(), checked for shape and ranges only.
    body = spec[1:]
    if spec[0] == "@":
        m = re.fullmatch(r"(\d{2}|\d{4}|\d{6}|\d{8})?(?:T(\d{2})?(\d{2})?(\d{2})?)?", body)
        if not m or not body:
            return False
        hh, mm, ss = (int(g) if g else 0 for g in m.groups()[1:])
        return hh <= 23 and mm <= 59 and ss <= 59
    tokens = re.findall(r"([MWD])(\d+|L)", body)
    if not tokens or "".join(a + b for a, b in tokens) != body:
        return False
    limits = {"M": (1, 31), "W": (0, 6), "D": (0, 23)}
    for letter, value in tokens:
        if value == "L":
            if letter != "M":
                return False
        elif not limits[letter][0] <= int(value) <= limits[letter][1]:
            return False
    return True


def _ns_daily(spec: str) -> tuple[int, int, int] | None:
    """(hh, mm, ss) of the "every day at" forms @T<hh[mm[ss]]> and $D<hh>."""
    m = re.fullmatch(r"@T(\d{2})(\d{2})?(\d{2})?", spec)
    if m:
        return int(m[1]), int(m[2] or 0), int(m[3] or 0)
    m = re.fullmatch(r"\$D(\d{1,2})", spec)
    return (int(m[1]), 0, 0) if m else None


def _ns_signal(text: str) -> int:
    # newsyslog.c parse_signal(): a number 1..NSIG-1, or a name with optional "SIG".
    if text.isdigit():
        number = int(text)
        return number if 1 <= number <= len(FREEBSD_SIGNALS) else -1
    name = (text[3:] if text[:3].upper() == "SIG" else text).upper()
    return FREEBSD_SIGNALS.index(name) + 1 if name in FREEBSD_SIGNALS else -1


def _ns_parse(
    text: str, run: NsRun, entries: list[NsEntry], globs: list[NsEntry], inclist: list[str]
) -> None:
    """newsyslog.c parse_file() for one config file."""
    default_seen = False
    for raw in text.splitlines(keepends=True):
        if raw[0] in "\n#":
            continue
        errline = raw
        # '#' starts a comment (not in column 0) unless written "\#".
        line, i = raw, 1
        while i < len(line):
            if line[i] == "#":
                if line[i - 1] == "\\":
                    line = line[: i - 1] + line[i:]
                    continue
                line = line[:i]
                break
            i += 1
        if line[0].isspace():
            # parse_file() applies son() to the line, not to the first field, so a
            # leading blank shifts every field; not modelled.
            raise Unsupported(f"newsyslog: config line starting with a blank: {raw!r}")
        cur = NsCursor(line, errline)
        q = cur.required()
        if q.lower() == "<debug>":
            raise Unsupported("newsyslog: <debug> lines")
        if q.lower() == "<include>":
            if run.verbose:
                _w(f"Found: {errline}")
            target = cur.field()
            if cur.eol:
                err(f"newsyslog: include line missing argument:\n{errline}")
                continue
            names = _ns_glob(target) if any(c in target for c in "*?[") else [target]
            for name in names:  # add_to_queue()
                if name in inclist:
                    err(f"newsyslog: duplicate include detected: {name}")
                else:
                    inclist.append(name)
            continue
        if q.lower() == "<default>":
            if default_seen:
                err(f"newsyslog: Ignoring duplicate entry for {q}!")
                continue
            default_seen = True
        ent = _ns_entry(q, cur, run)
        # parse_file() gets defconf_p by value, so a <default> line is checked and
        # then has no effect: operands with no entry get get_worklist()'s default.
        if q.lower() != "<default>":
            (globs if "G" in ent.flags else entries).append(ent)


def _ns_entry(q: str, cur: NsCursor, run: NsRun) -> NsEntry:
    ent = NsEntry(q)
    errline = cur.errline
    field = cur.required()
    if ":" in field or "." in field:
        # owner:group (or owner.group); names from the host's /etc/passwd, /etc/group.
        user, _, group = field.partition(":") if ":" in field else field.rpartition(".")
        db = run.accounts()
        if user:
            row = None if user.isdigit() else db.user(user)
            if row is None and not user.isdigit():
                _ns_bad("error in config file; unknown user", errline)
            ent.uid = int(row[2]) if row else int(user)
        if group:
            grow = None if group.isdigit() else db.group(group)
            if grow is None and not group.isdigit():
                _ns_bad("error in config file; unknown group", errline)
            ent.gid = int(grow[2]) if grow else int(group)
        field = cur.required()
    m = re.match(r"[0-7]+", field)  # sscanf("%o")
    if not m:
        _ns_bad("error in config file; bad permissions", errline)
    ent.mode = int(m[0], 8)
    m = re.match(r"[+-]?\d+", cur.required())  # sscanf("%d")
    if not m or int(m[0]) < 0:
        _ns_bad("error in config file; bad value for count of logs to save", errline)
    ent.count = int(m[0])
    field = cur.required()
    m = re.match(r"\d+", field)
    if m:
        ent.size = int(m[0])
    elif field != "*":
        err(f"newsyslog: Invalid value of '{field}' for 'size' in line:\n{errline}")
    _ns_when(ent, cur.field(), errline)
    eol = cur.eol
    flags = "" if eol else cur.optional()
    eol = eol or cur.eol
    for ch in flags:
        c = ch.lower()
        if c in "bcgnp":
            ent.flags += c.upper()
        elif c in "jxyz":
            ent.compress = c.upper()
        elif c in "-w":  # '-' is a placeholder, 'w' is deprecated
            continue
        elif c in "drtu":
            raise Unsupported(f"newsyslog: flag {ch} in {errline.strip()!r}")
        else:
            die(f"newsyslog: illegal flag in config file -- {ch}", 1)
    word = "" if eol else cur.optional()
    eol = eol or cur.eol
    sig_text = ""
    if word.startswith("/"):
        ent.pidfile = word
        sig_text = "" if eol else cur.optional()
    elif word and word[0].isalnum():
        sig_text = word  # "goto got_sig"
    elif word:
        _ns_bad("illegal pid file or signal in config file", errline)
    if sig_text:
        ent.sig = _ns_signal(sig_text)
        if ent.sig < 1:
            _ns_bad("illegal signal in config file", errline)
        if not hasattr(signal, "SIG" + FREEBSD_SIGNALS[ent.sig - 1]):
            raise Unsupported(f"newsyslog: SIG{FREEBSD_SIGNALS[ent.sig - 1]} (not on Linux)")
    if "N" in ent.flags:
        if ent.pidfile is not None:
            err(
                f"newsyslog: Ignoring '{ent.pidfile}' because flag 'n' was specified "
                f"in line:\n{errline}"
            )
            ent.pidfile = None
    elif ent.pidfile is None and run.needroot:
        ent.pidfile = SYSLOGD_PIDFILE  # no pid file, no N: signal syslogd (as root)
    if ent.compress and not run.noaction:
        program = os.path.basename(NEWSYSLOG_COMPRESS[ent.compress][1])
        if _host_program(program) is None:
            raise Unsupported(f"newsyslog: no {program} on this host for flag {ent.compress}")
    return ent


def _ns_when(ent: NsEntry, field: str, errline: str) -> None:
    # parse_file(): strtoul() for hours, then '@' (ISO 8601) or '$' (day/week/month).
    m = re.match(r"\d+", field)
    ep = m.end() if m else 0
    if not m:
        ent.hours = 0
    elif field[ep : ep + 1] == "*":
        ent.hours = -1
    elif int(m[0]) > 0x7FFFFFFF:
        _ns_bad("interval is too large", errline)
    else:
        ent.hours = int(m[0])
    rest = field[ep:]
    if rest in ("", "*"):
        return
    if rest[0] not in "@$":
        _ns_bad("malformed interval/at", errline)
    if not _ns_valid_at(rest):
        _ns_bad("malformed 'at' value", errline)
    ent.trim_at = rest


def _ns_worklist(files: list[str], run: NsRun) -> list[NsEntry]:
    """newsyslog.c get_worklist() and expand_globs()."""
    entries: list[NsEntry] = []
    globs: list[NsEntry] = []
    inclist = [run.conf or NEWSYSLOG_CONF]
    i = 0
    while i < len(inclist):
        name = inclist[i]
        i += 1
        if name == "-":
            shown, text = "<stdin>", sys.stdin.read()
        elif run.conf is None and name == NEWSYSLOG_CONF and not os.path.exists(host_path(name)):
            shown, text = name, NEWSYSLOG_DEFAULT_CONF
        else:
            shown = name
            try:
                with open(host_path(name), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                die(f"newsyslog: {name}: {os.strerror(exc.errno or errno.ENOENT)}", 1)
        if run.verbose:
            _w(f"Processing {shown}\n")
        _ns_parse(text, run, entries, globs, inclist)
    if not files:
        for pattern in globs:  # expand_globs(): existing regular files only
            for name in _ns_glob(pattern.log):
                if any(e.log == name for e in entries):
                    continue
                if not os.path.isfile(host_path(name)) or os.path.islink(host_path(name)):
                    continue
                new = pattern.copy(name)
                new.flags = new.flags.replace("G", "")
                entries.append(new)
        return entries
    work: list[NsEntry] = []
    for given in files:
        exact = [e.copy(given) for e in entries if e.log == given]
        if exact:
            work += exact
            continue
        matched = next((g for g in globs if _ns_fnmatch_path(g.log, given)), None)
        if matched is not None:
            new = matched.copy(given)
            new.flags = new.flags.replace("G", "")
            work.append(new)
            continue
        # The built-in default rule: 3 logs, 50 KB, mode 0600, no pid file.
        new = NsEntry(given)
        new.count, new.size, new.mode, new.def_cfg = 3, 50, 0o600, True
        work.append(new)
    return work


def _ns_sizefile(path: str) -> int:
    # sizefile(): kbytes(st_size) = (size + 1023) >> 10, -1 when missing.
    try:
        return (os.stat(path).st_size + 1023) >> 10
    except OSError:
        return -1


def _ns_suffix(name: str) -> str | None:
    # get_logfile_suffix(): the first of "" .gz .bz2 .xz .zst that exists (lstat).
    return next((s for s in NEWSYSLOG_SUFFIXES if os.path.lexists(host_path(name + s))), None)


def _ns_age(ent: NsEntry, run: NsRun) -> int:
    # age_old_log(): hours since log.0's mtime, rounded; -1 without log.0.
    suffix = _ns_suffix(ent.log + ".0")
    if suffix is None:
        return -1
    try:
        mtime = os.stat(host_path(ent.log + ".0" + suffix)).st_mtime
    except OSError:
        return -1
    return int(run.now - mtime + 1800) // 3600


def _ns_trim_due(ent: NsEntry, run: NsRun) -> bool:
    # do_entry(): with an `at` time, rotate only within the hour after it; else
    # (verbose) "--> will trim at" the next one.
    assert ent.trim_at is not None
    daily = _ns_daily(ent.trim_at)
    if daily is None:
        raise Unsupported(f"newsyslog: deciding the time {ent.trim_at!r} of {ent.log}")
    now = time.localtime(run.now)
    at = time.mktime((now.tm_year, now.tm_mon, now.tm_mday, *daily, 0, 0, -1))
    diff = run.now - at
    if 0 <= diff < 3600:
        return True
    if run.verbose:
        nxt = at if diff < 0 else at + 86400
        _w(f"--> will trim at {time.ctime(nxt)}\n")
    return False


def _ns_do_entry(ent: NsEntry, run: NsRun) -> None:
    """newsyslog.c do_entry()."""
    tag = f"{ent.log} <{ent.count}{ent.compress}>: "
    if run.verbose:
        _w(tag)
    ent.fsize = _ns_sizefile(host_path(ent.log))
    oversized = ent.size > 0 and ent.fsize >= ent.size
    modtime = _ns_age(ent, run)
    if ent.fsize < 0:
        reason = ""
        if run.createlogs > 1 or ("C" in ent.flags and run.createlogs):
            ent.firstcreate = True
        elif "C" in ent.flags:
            reason = " (no -C option)"
        elif run.createlogs:
            reason = " (no C flag)"
        if ent.firstcreate:
            if run.verbose:
                _w("does not exist -> will create.\n")
            _ns_createlog(ent, run)
        elif run.verbose:
            _w(f"does not exist, skipped{reason}.\n")
        return
    if ent.trim_at and not run.force and not oversized:
        if not _ns_trim_due(ent, run):
            return
        if run.verbose and ent.hours <= 0:
            _w("--> time is up\n")
    if run.verbose and ent.size > 0:
        _w(f"size (Kb): {ent.fsize} [{ent.size}] ")
    if run.verbose and ent.hours > 0:
        _w(f" age (hr): {modtime} [{ent.hours}] ")
    rotate, reason = False, None
    if run.force:
        rotate, reason = True, " due to -F request"
    elif oversized:
        rotate, reason = True, f" due to size>{ent.size}K"
    else:  # an `at` time that is up, or an interval since log.0 (or no log.0)
        due_at = ent.hours <= 0 and ent.trim_at is not None
        rotate = due_at or (ent.hours > 0 and (modtime >= ent.hours or modtime < 0))
    if rotate and not run.norotate:
        ent.reason = reason
        if run.verbose:
            _w("--> trimming log....\n")
        if run.noaction and not run.verbose:
            _w(f"{tag}trimming\n")
        _ns_rotate(ent, run)
    elif run.verbose:
        _w("--> skipping\n")


def _ns_rotate(ent: NsEntry, run: NsRun) -> None:
    """newsyslog.c do_rotate(), classic log.N names."""
    log = ent.log
    # delete_classiclog() for N and N-1 (cleanup after old newsyslogs kept N+1).
    for n in [ent.count, ent.count - 1] if ent.count > 0 else [ent.count]:
        for suffix in NEWSYSLOG_SUFFIXES:
            if run.noaction:
                _w(f"\trm -f {log}.{n}{suffix}\n")
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(host_path(f"{log}.{n}{suffix}"))
    file1 = f"{log}.{ent.count - 1}"
    for n in range(ent.count - 2, -1, -1):  # move down log.N-2 .. log.0
        file2, file1 = file1, f"{log}.{n}"
        suffix = _ns_suffix(file1)
        if suffix is None:
            continue
        z1, z2 = file1 + suffix, file2 + suffix
        if run.noaction:
            _w(f"\tmv {z1} {z2}\n")
            continue
        with contextlib.suppress(OSError):  # "XXX - Ought to be checking for failure!"
            os.rename(host_path(z1), host_path(z2))
        _ns_change_attrs(z2, ent, run)
        if ent.compress and suffix == "":
            _ns_zip(z2, ent, None, run)  # "compress old rotation"
    if ent.count > 0:
        if run.noaction:
            _w(f"\tln {log} {file1}\n")
            _w(f"\ttouch {file1}\t\t# Update mtime for 'when'-interval processing\n")
        else:
            if "B" not in ent.flags:
                _ns_log_trim(log, ent, run)
            _ns_savelog(host_path(log), host_path(file1))
            os.utime(host_path(file1))
        _ns_change_attrs(file1, ent, run)
    if run.noaction:
        _w("Start new log...\n")
    _ns_createlog(ent, run)
    swork = _ns_save_sigwork(ent, run) if ent.pidfile else None
    plain0 = "P" in ent.flags and file1.endswith(".0")  # flag p: leave log.0 as it is
    if ent.count > 0 and ent.compress and not plain0 and file1 not in [z[1] for z in run.zipwork]:
        run.zipwork.append((ent.fsize, file1, ent, swork))


def _ns_savelog(src: str, dst: str) -> None:
    # savelog(): link(2), or copy when that fails.
    try:
        os.link(src, dst)
    except OSError:
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            fout.write(fin.read())


def _ns_log_trim(name: str, ent: NsEntry, run: NsRun, path: str | None = None) -> bool:
    # log_trim(): "<Mmm dd hh:mm:ss> <host> newsyslog[<pid>]: logfile turned over..."
    daytime = time.ctime(run.now)[4:19]
    host = run.hostname()
    xtra = " using <default> rule" if ent.def_cfg else ""
    if ent.firstcreate:
        what = "logfile first created"
    else:
        what = "logfile turned over" + (ent.reason or "")
    try:
        with open(path or host_path(name), "a", encoding="utf-8") as fh:
            fh.write(f"{daytime} {host} newsyslog[{os.getpid()}]: {what}{xtra}\n")
    except OSError:
        return False
    return True


def _ns_u32(ident: int) -> int:
    return ident & 0xFFFFFFFF  # printed with %u, so -1 is 4294967295


def _ns_createlog(ent: NsEntry, run: NsRun) -> None:
    """newsyslog.c createlog(): a temp file, chown, chmod, then rename over the log."""
    log = ent.log
    if ent.firstcreate:
        parent = os.path.dirname(log)
        if parent:
            if not os.path.exists(host_path(parent)):
                _ns_createdir(ent, parent, run)
            elif not os.path.isdir(host_path(parent)):
                die(f"newsyslog: {parent} exists but is not a directory", 1)
    temp = f"{log}.zXXXXXX"
    owned = ent.uid != -1 or ent.gid != -1
    if run.noaction:
        _w(f"\tmktemp {temp}\n")
        if owned:
            _w(f"\tchown {_ns_u32(ent.uid)}:{_ns_u32(ent.gid)} {temp}\n")
        _w(f"\tchmod {ent.mode:o} {temp}\n")
        _w(f"\tmv {temp} {log}\n")
        return
    fd, tmp_path = tempfile.mkstemp(
        prefix=os.path.basename(log) + ".z", dir=os.path.dirname(host_path(log))
    )
    try:
        if "B" not in ent.flags and not _ns_log_trim(log, ent, run, tmp_path):
            die(f"newsyslog: can't add status message to log: {tmp_path}", 1)
        if owned:
            os.fchown(fd, ent.uid, ent.gid)
        os.fchmod(fd, ent.mode)
        os.rename(tmp_path, host_path(log))
    finally:
        os.close(fd)


def _ns_createdir(ent: NsEntry, dirpart: str, run: NsRun) -> None:
    # createdir(): each missing component, mode 0755.
    parts = dirpart.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        path = "/" + "/".join(parts[:i])
        if os.path.lexists(host_path(path)):
            continue
        if run.noaction:
            _w(f"\tmkdir {path}\n")
        else:
            os.mkdir(host_path(path), 0o755)
    if run.verbose:
        _w(f"Created directory '{dirpart}' for new {ent.log}\n")


def _ns_change_attrs(name: str, ent: NsEntry, run: NsRun) -> None:
    """newsyslog.c change_attrs()."""
    owned = ent.uid != -1 or ent.gid != -1
    if run.noaction:
        _w(f"\tchmod {ent.mode:o} {name}\n")
        if owned:
            _w(f"\tchown {_ns_u32(ent.uid)}:{_ns_u32(ent.gid)} {name}\n")
        return
    try:
        os.chmod(host_path(name), ent.mode)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            die(f"newsyslog: chmod({name}) in change_attrs: {os.strerror(exc.errno or 0)}", 1)
        err(f"newsyslog: change_attrs couldn't chmod({name}): {os.strerror(exc.errno)}")
    if owned:
        try:
            os.chown(host_path(name), ent.uid, ent.gid)
        except OSError as exc:
            err(f"newsyslog: can't chown {name}: {os.strerror(exc.errno or 0)}")


def _ns_save_sigwork(ent: NsEntry, run: NsRun) -> dict[str, Any]:
    # save_sigwork(): one entry per (pid file, signal).
    for work in run.sigwork:
        if work["file"] == ent.pidfile and work["sig"] == ent.sig:
            return work
    work: dict[str, Any] = {"file": ent.pidfile, "sig": ent.sig, "pid": 0, "pidok": 0}
    if ent.pidfile == SYSLOGD_PIDFILE:
        # There is no syslogd on the test host: the signal is recorded in calls.log
        # (do_sigwork) and treated as delivered.
        work["syslogd"], work["pidok"] = True, 1
    else:
        _ns_set_swpid(work)
    run.sigwork.append(work)
    run.sigwork.sort(key=lambda w: (w["file"], w["sig"]), reverse=True)  # list order
    return work


def _ns_set_swpid(work: dict[str, Any]) -> None:
    # set_swpid(): read the pid from the pid file.
    name = work["file"]
    try:
        with open(host_path(name), encoding="utf-8", errors="replace") as fh:
            line = fh.readline()
    except FileNotFoundError:
        work["pidok"] = 1  # the daemon is gone: rotating and compressing is safe
        err(f"newsyslog: pid file doesn't exist: {name}")
        return
    except OSError as exc:
        err(f"newsyslog: can't open pid file: {name}: {os.strerror(exc.errno or 0)}")
        return
    if line == "":
        work["pidok"] = 1
        err(f"newsyslog: pid/cmd file is empty: {name}")
        return
    text = line.lstrip(" ")
    m = re.match(r"[+-]?\d+", text)
    value = int(m[0]) if m else 0
    rest = text[m.end() :] if m else text
    if rest and not rest[0].isspace():
        err(f"newsyslog: pid file does not start with a valid number: {name}")
    elif not NEWSYSLOG_PID_RANGE[0] <= value <= NEWSYSLOG_PID_RANGE[1]:
        err(f"newsyslog: bad value '{value}' for process number in {name}")
    else:
        work["pidok"], work["pid"] = 1, value


def _ns_record_signal(work: dict[str, Any]) -> None:
    """A signal the double cannot deliver (syslogd), as a line in calls.log."""
    line = {
        "argv": ["kill", f"-{FREEBSD_SIGNALS[work['sig'] - 1]}", "syslogd"],
        "rc": 0,
        "by": "newsyslog",
        "pidfile": work["file"],
        "record_only": True,
    }
    os.makedirs(state_dir(), exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    fd = os.open(os.path.join(state_dir(), "calls.log"), flags, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


def _ns_do_sigwork(work: dict[str, Any], nxt: dict[str, Any] | None, run: NsRun) -> None:
    """newsyslog.c do_sigwork()."""
    if work.get("syslogd"):
        if not run.noaction:
            _ns_record_signal(work)
        return
    if not work["pidok"] or work["pid"] == 0:
        return
    secs = 0 if nxt is None else (10 if nxt["pid"] == work["pid"] else 1)
    if run.noaction:
        _w(f"\tkill -{work['sig']} {work['pid']} \t\t# {work['file']}\n")
        if secs:
            _w(f"\tsleep {secs}\n")
        return
    try:
        os.kill(work["pid"], getattr(signal, "SIG" + FREEBSD_SIGNALS[work["sig"] - 1]))
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            work["pidok"] = 0
        err(
            f"newsyslog: can't notify daemon, pid {work['pid']} = {work['file']}: "
            f"{os.strerror(exc.errno or 0)}"
        )
        return
    run.real_signal = True
    if run.verbose:
        _w(f"Notified daemon pid {work['pid']} = {work['file']}\n")
    if secs and run.verbose:  # the pause itself is not modelled (see above)
        _w(f"Pause {secs} second(s) between signals\n")


def _ns_zip(name: str, ent: NsEntry, swork: dict[str, Any] | None, run: NsRun) -> None:
    """newsyslog.c do_zipwork()."""
    suffix, program, args = NEWSYSLOG_COMPRESS[ent.compress]
    if swork is not None and swork["pidok"] <= 0:
        err(f"newsyslog: log {name} not compressed because daemon(s) not notified")
        _ns_change_attrs(name, ent, run)
        return
    base = os.path.basename(program)
    command = " ".join([program, *args, name])
    if run.noaction:
        _w(f"\t{base} {name}\n")
        _ns_change_attrs(name + suffix, ent, run)
        return
    if run.verbose:
        _w(f"Executing: {command}\n")
    real = _host_program(base)
    if real is None:  # checked while parsing; the PATH changed since
        raise Unsupported(f"newsyslog: no {base} on this host")
    sys.stdout.flush()
    status = subprocess.run([real, *args, host_path(name)], check=False).returncode
    if status < 0:
        err(f"newsyslog: `{command}' did not terminate normally")
        return
    if status:
        err(f"newsyslog: `{command}' terminated with a non-zero status ({status})")
        return
    _ns_change_attrs(name + suffix, ent, run)


def cmd_newsyslog(args: list[str]) -> int:
    # newsyslog.c parse_args() + main(); getopt "a:d:f:nrst:vCD:FNPR:S:".
    opts, files = parse_opts(args, "CFNnrvf:", "newsyslog")
    run = NsRun()
    for flag, value in opts:
        if flag == "-C":
            run.createlogs += 1
        elif flag == "-F":
            run.force = True
        elif flag == "-N":
            run.norotate = True
        elif flag == "-n":
            run.noaction, run.needroot = True, False
        elif flag == "-r":
            run.needroot = False
        elif flag == "-v":
            run.verbose += 1
        elif flag == "-f":
            run.conf = value
    if run.verbose > 2:
        raise Unsupported("newsyslog: -vvv")
    if run.force and run.norotate:
        err("newsyslog: Only one of -F and -N may be specified.")
        err(
            "usage: newsyslog [-CFNPnrsv] [-a directory] [-d directory] [-f config_file]\n"
            "                 [-S pidfile] [-t timefmt] [[-R tagname] file ...]"
        )
        return 1
    if run.needroot and os.getuid() != 0 and os.geteuid() != 0:
        die("newsyslog: must have root privs", 1)
    worklist = _ns_worklist(files, run)
    for ent in worklist:  # decide the unmodelled `at` times before changing anything
        if ent.trim_at and not run.force and _ns_daily(ent.trim_at) is None:
            size = _ns_sizefile(host_path(ent.log))
            if size >= 0 and not (ent.size > 0 and size >= ent.size):
                raise Unsupported(f"newsyslog: deciding the time {ent.trim_at!r} of {ent.log}")
    for ent in worklist:
        _ns_do_entry(ent, run)
    if run.sigwork:
        if run.noaction or run.verbose:
            _w("Signal all daemon process(es)...\n")
        for i, work in enumerate(run.sigwork):
            nxt = run.sigwork[i + 1] if i + 1 < len(run.sigwork) else None
            _ns_do_sigwork(work, nxt, run)
        if run.noaction:
            _w("\tsleep 10\n")
        else:
            if run.verbose:
                _w("Pause 10 seconds to allow daemon(s) to close log file(s)\n")
            if run.real_signal and run.zipwork:  # only where it matters: see above
                sys.stdout.flush()
                time.sleep(10)
    if run.zipwork:
        if run.noaction or run.verbose:
            _w("Compress all rotated log file(s)...\n")
        for _size, name, ent, swork in sorted(run.zipwork, key=lambda z: z[0]):
            _ns_zip(name, ent, swork, run)
    return 0


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

# --------------------------------------------------------------------------- chroot
# usr.sbin/chroot/chroot.c (FreeBSD 14; docs/freebsd/sources.md §1): getopt "G:g:u:n";
# names are resolved before chroot(2) (a number is taken when no name matches), then
# chdir(newroot), chroot("."), setgroups (only with -G), setgid (only with -g), setuid
# (only with -u), and the command is exec'd: no login class, no user file, the
# environment untouched. -n (no new privileges) is not modelled (exit 64).
CHROOT_USAGE = "usage: chroot [-g group] [-G group,group,...] [-u user] [-n] newroot [command]"


def _chroot_id(name: str, kind: str) -> int:
    import grp
    import pwd

    try:
        return (grp.getgrnam(name).gr_gid if kind == "group" else pwd.getpwnam(name).pw_uid)
    except KeyError:
        if name.isdigit():
            return int(name)
        die(f"chroot: no such {kind} '{name}'")


def cmd_chroot(args: list[str]) -> int:
    opts, rest = parse_opts(args, "G:g:u:n", "chroot")
    given = dict(opts)
    if "-n" in given:
        raise Unsupported("chroot -n (PROC_NO_NEW_PRIVS_CTL)")
    if not rest or any(value == "" for value in given.values()):
        die(CHROOT_USAGE)
    gid = _chroot_id(given["-g"], "group") if "-g" in given else None
    groups = [_chroot_id(g, "group") for g in given.get("-G", "").split(",") if g]
    uid = _chroot_id(given["-u"], "user") if "-u" in given else None
    log_call(["chroot", *args], 0)  # before the credentials change: the log is root's
    try:
        os.chdir(host_path(rest[0]))
        os.chroot(".")
    except OSError as exc:
        die(f"chroot: {rest[0]}: {exc.strerror}")
    if "-G" in given:
        os.setgroups(groups)
    if gid is not None:
        os.setgid(gid)
    if uid is not None:
        os.setuid(uid)
    command = rest[1:] or [os.environ.get("SHELL", "/bin/sh"), "-i"]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        die(f"chroot: {command[0]}: {exc.strerror}")
    return 0  # not reached


HANDLERS = {
    "chroot": cmd_chroot,
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
    "jexec": lambda args: int(_jails().cmd_jexec(args)),
    "vm": lambda args: int(_vm().cmd_vm(args)),
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

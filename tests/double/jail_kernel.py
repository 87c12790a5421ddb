"""freebsd-double, kernel part of a jail: a real root, network and PostgreSQL in a test host.

TEST DOUBLE, not FreeBSD.  jails.py calls this module; it acts on the Linux kernel
(mounts, network namespaces, veths, a bridge, processes), so it runs ONLY inside a
throwaway test host, which says so in MARKER (tests/testhost.py writes it into the
host's private /run).  On the machine itself (the unit tests) `mode()` is "" and
jails.py keeps its file-only model.

  "chroot"  a TestHost that shares the machine's network namespace: thin jail roots
            and jexec entering them; no network namespace, PostgreSQL stays modelled.
  "vnet"    a TestNetwork host (its own network namespace): also, per running VNET
            jail, a network namespace on a real bridge, and the db jail's real
            PostgreSQL.

Everything made here lives in the test host's own mount and network namespaces, so
it ends with the host: the mounts with its mount namespace, the jail namespaces
(bound under its private /run/netns) and the veths with its network namespace, the
jail processes with its PID namespace.  Jail stop/destroy also undo it at once.

The thin root (reference/freebsd.md §1.2: a thin jail nullfs-mounts the release at
root/.bastille and its base directories are symlinks into it; reference/freebsd.md §2.1:
/bin/sh is a symlink into the unmounted base of a stopped thin jail): here the
"release" is the test host's own userland, /usr mounted read-only at
root/.bastille/usr, root/usr/X -> ../.bastille/usr/X for every X but `local` (the
jail's own /usr/local, where packages go, as on FreeBSD), and /bin /sbin /lib /lib64
as on the host (symlinks into usr on a merged-/usr Debian).
/dev is the host's (mount.devfs).  Two test-only mounts make the double itself work
inside: its program directory (read-only, at the same path) and its state directory
(read-write), so `pkg`, `service`, `sysrc` and `pw` in the jail are the double and
share the one state.json.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shlex
import signal
import subprocess
import time

MARKER = "/run/freebsd-double/kernel"
NETNS_DIR = "/run/netns"
TOP_DIRS = ("bin", "sbin", "lib", "lib64")
CLONE_NEWNET = 0x40000000
MNT_DETACH = 2
# Debian's PostgreSQL server (postgresql-15): the one the test machine has, whatever
# postgresqlNN-server the jail installed (the data directory keeps FreeBSD's dataNN).
PG_BIN = "/usr/lib/postgresql/15/bin"
PG_SOCKET_DIR = "/var/run/postgresql"  # where Debian's libpq (psql) looks
PG_LOG = "/var/db/postgres/server.log"  # FreeBSD logs to syslog; here pg_ctl -l

_libc = ctypes.CDLL(None, use_errno=True)


class KernelError(Exception):
    """A kernel step failed: the jail does not come up (jails.py reports it)."""


def mode() -> str:
    """The kind of test host: "vnet", "chroot", or "" (none: leave the kernel alone)."""
    try:
        with open(MARKER, encoding="utf-8") as fh:
            value = fh.read().strip()
    except OSError:
        return ""
    return value if value in ("chroot", "vnet") else ""


def netns_name(jail: str) -> str:
    return f"jail-{jail}"


def _run(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise KernelError(f"{shlex.join(argv)}: {done.stderr.strip()}")
    return done


# --------------------------------------------------------------------------- mounts


def _mountpoints_under(path: str) -> list[str]:
    """Mount points at or below path, innermost (last mounted) first."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[4])
            if point == path or point.startswith(path.rstrip("/") + "/"):
                found.append(point)
    return list(reversed(found))


def mounted_under(path: str) -> bool:
    return bool(_mountpoints_under(os.path.realpath(path)))


def _bind(source: str, target: str, read_only: bool, recursive: bool = False) -> None:
    os.makedirs(target, exist_ok=True)
    _run(["mount", "--rbind" if recursive else "--bind", source, target])
    if read_only:
        _run(["mount", "-o", "remount,bind,ro", target])


def _link(path: str, target: str) -> None:
    if os.path.islink(path):
        if os.readlink(path) == target:
            return
        os.unlink(path)
    elif os.path.lexists(path):
        return  # the jail made its own file or directory there: keep it
    os.symlink(target, path)


def mount_root(root: str, fstab: list[tuple[str, str, bool]], double_dir: str, state: str) -> None:
    """Make the thin root (see the module docstring) and mount the jail's fstab lines
    (nullfs: (host dir, jail dir, read-only)); on a failure nothing stays mounted."""
    root = os.path.realpath(root)
    base = os.path.join(root, ".bastille")
    try:
        _bind("/usr", os.path.join(base, "usr"), read_only=True)
        os.makedirs(os.path.join(root, "usr"), exist_ok=True)
        for entry in sorted(os.listdir("/usr")):
            if entry != "local":
                _link(os.path.join(root, "usr", entry), f"../.bastille/usr/{entry}")
        for top in TOP_DIRS:
            host = f"/{top}"
            if os.path.islink(host):
                _link(os.path.join(root, top), os.readlink(host))
            elif os.path.isdir(host):
                _bind(host, os.path.join(base, top), read_only=True)
                _link(os.path.join(root, top), f".bastille/{top}")
        _bind("/dev", os.path.join(root, "dev"), read_only=False, recursive=True)
        if double_dir:
            _bind(double_dir, root + double_dir, read_only=True)
        _bind(state, root + state, read_only=False)
        for source, target, read_only in fstab:
            _bind(source, target, read_only)
    except BaseException:
        unmount_root(root)
        raise


def bind_into(source: str, target: str, read_only: bool) -> None:
    """`bastille mount` on a running jail: mount now as well (reference/freebsd.md §1.4)."""
    _bind(source, target, read_only)


def unmount_root(root: str) -> None:
    """Detach every mount under the jail root (lazily: a busy one goes when released)."""
    for point in _mountpoints_under(os.path.realpath(root)):
        if _libc.umount2(point.encode(), MNT_DETACH) != 0:
            errno = ctypes.get_errno()
            raise KernelError(f"umount {point}: {os.strerror(errno)}")


# --------------------------------------------------------------------------- network


def _links(netns: str | None = None) -> set[str]:
    argv = ["ip", *(["-n", netns] if netns else []), "-o", "link", "show"]
    return {m[1] for m in re.finditer(r"^\d+: ([^:@]+)[:@]", _run(argv).stdout, re.M)}


def sync_bridge(name: str, inet: list[dict[str, object]], create: bool) -> None:
    """The real Linux bridge NAME carries the double's addresses of NAME (and is up)."""
    if name not in _links():
        if not create:
            return
        _run(["ip", "link", "add", name, "type", "bridge"])
    _run(["ip", "link", "set", name, "up"])
    wanted = {f"{a['addr']}/{a['prefixlen']}" for a in inet}
    shown = _run(["ip", "-4", "-o", "addr", "show", "dev", name]).stdout
    have = set(re.findall(r"inet (\S+)", shown))
    for cidr in sorted(have - wanted):
        _run(["ip", "addr", "del", cidr, "dev", name])
    for cidr in sorted(wanted - have):
        _run(["ip", "addr", "add", cidr, "dev", name])


def net_up(
    jail: str, host_side: str, jail_side: str, bridge: str, ifname: str, inet: str, router: str
) -> None:
    """The jail's own network namespace, linked to BRIDGE by the veth host_side/jail_side;
    then what the jail's rc.conf does: the rename to ifname, its address, the default
    route (a route that cannot be set is left out, as netif would, with a message)."""
    ns = netns_name(jail)
    net_down(jail, host_side)
    _run(["ip", "netns", "add", ns])
    try:
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        _run(["ip", "link", "add", host_side, "type", "veth", "peer", "name", jail_side,
              "netns", ns])  # fmt: skip
        _run(["ip", "link", "set", host_side, "master", bridge, "up"])
        if ifname and ifname != jail_side:
            _run(["ip", "-n", ns, "link", "set", jail_side, "name", ifname])
        else:
            ifname = jail_side
        if inet:
            _run(["ip", "-n", ns, "addr", "add", inet, "dev", ifname])
        _run(["ip", "-n", ns, "link", "set", ifname, "up"])
        if router:
            _run(["ip", "-n", ns, "route", "add", "default", "via", router], check=False)
    except BaseException:
        net_down(jail, host_side)
        raise


def net_down(jail: str, host_side: str) -> None:
    ns = netns_name(jail)
    if os.path.exists(os.path.join(NETNS_DIR, ns)):
        _run(["ip", "netns", "del", ns], check=False)
    if host_side in _links():
        _run(["ip", "link", "del", host_side], check=False)


# --------------------------------------------------------------------------- processes


class Entry:
    """preexec_fn of a process that jexec puts into the jail: its network namespace,
    chroot to its root, then the user (setgroups/setgid/setuid, as setpriv(1)
    --init-groups would with the jail's /etc/group).  subprocess tries the PATH
    candidates after this ran, so the command is found inside the root."""

    def __init__(self, root: str, netns: str | None, uid: int, gid: int, groups: list[int]):
        self.root, self.uid, self.gid, self.groups = root, uid, gid, groups
        self.ns_fd = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY) if netns else -1

    def __call__(self) -> None:
        if self.ns_fd >= 0 and _libc.setns(self.ns_fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        os.chroot(self.root)
        os.chdir("/")
        os.setgroups(self.groups)
        os.setgid(self.gid)
        os.setuid(self.uid)

    def close(self) -> None:
        if self.ns_fd >= 0:
            os.close(self.ns_fd)
            self.ns_fd = -1


def jail_pids(root: str) -> list[int]:
    """Processes whose root directory is the jail's (/proc/PID/root)."""
    root = os.path.realpath(root)
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/root") == root:
                    found.append(int(entry))
    return found


def kill_jail_processes(root: str) -> None:
    """jail -r: what still runs in the jail is killed (SIGTERM, then SIGKILL)."""
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
        pids = jail_pids(root)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline:
            time.sleep(0.02)
            pids = [p for p in pids if _alive(p)]
        if not pids:
            return


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

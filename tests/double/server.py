#!/usr/bin/env python3
"""freebsd-double server: answers the double's commands on a test host. Not FreeBSD.

Starting Python and importing the double costs about 100 ms; a facts read makes
dozens of calls. One server per test host (tests/testhost.py starts it before
sshd, in the host's namespaces) imports the double once and forks a worker per
call, so a call costs a fork instead.

Who calls is the kernel's word, not the client's: the worker takes the caller's
uid, gid and groups from the socket (SO_PEERCRED, SO_PEERGROUPS), its working
directory, umask and file-size limit from /proc/PID, and drops to those
credentials before it does anything. The client (client.c) sends only the
command's words and environment, with its stdin, stdout and stderr (SCM_RIGHTS).

A command that must happen in the caller's own session is sent back ("L") and
runs there as before: `lockf` holds its lock while its child runs, `jexec`,
`chroot` and `service` run programs, `bastille` and `vm` start jails and guests
whose processes belong to the caller's tree, `newsyslog` runs a compressor. So
is every call from inside a jail or another root or namespace.

Usage: server.py SOCKET (the double's package, fbsd/, and its modules next to this file).
"""

from __future__ import annotations

import array
import contextlib
import importlib
import io
import os
import pkgutil
import resource
import selectors
import signal
import socket
import struct
import sys
import traceback
from typing import Any

#: Commands that run in the caller's own session (see the module's docstring).
LOCAL = frozenset({"lockf", "jexec", "chroot", "service", "bastille", "vm", "newsyslog"})
#: The forms of those commands that only read the double's state: the server answers
#: them (the facts script asks both on every run; fbsd/bastille.py answers them itself).
SERVED = frozenset({("bastille", "--version"), ("bastille", "-v"), ("bastille", "list", "jails")})
SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # Linux 4.13
MAX_REQUEST = 1 << 22
REQUEST_SECONDS = 5.0


class Caller:
    """The calling process as the kernel sees it, and what its client sent."""

    def __init__(self, conn: socket.socket) -> None:
        self.pid, self.uid, self.gid = struct.unpack(
            "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        )
        raw = conn.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 1024)  # Python's most
        self.groups = list(array.array("I", raw[: len(raw) // 4 * 4]))
        self.fds: list[int] = []
        conn.settimeout(REQUEST_SECONDS)
        data, ancdata, _flags, _addr = conn.recvmsg(1, socket.CMSG_SPACE(3 * 4))
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                self.fds += list(array.array("i", payload[: len(payload) // 4 * 4]))
        header = data + _receive(conn, 3)
        (length,) = struct.unpack("!I", header)
        if len(self.fds) != 3 or length > MAX_REQUEST:
            raise ValueError("bad request")
        words = _receive(conn, length).split(b"\0")[:-1]
        count = int(words[0])
        self.argv = [os.fsdecode(w) for w in words[1 : 1 + count]]
        self.env: dict[str, str] = {}
        for entry in words[1 + count :]:
            name, sep, value = os.fsdecode(entry).partition("=")
            if sep:
                self.env[name] = value

    def close_fds(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    def runs_here(self) -> bool:
        """True unless the call must run in the caller's own session or root."""
        if not self.argv or self.env.get("FREEBSD_DOUBLE_JAIL"):
            return False
        if self.argv[0] in LOCAL and tuple(self.argv) not in SERVED:
            return False
        try:
            if os.readlink(f"/proc/{self.pid}/root") != "/":
                return False
            return all(
                os.stat(f"/proc/{self.pid}/ns/{ns}").st_ino == os.stat(f"/proc/self/ns/{ns}").st_ino
                for ns in ("mnt", "net", "pid", "user")
            )
        except OSError:
            return False


def _receive(conn: socket.socket, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = conn.recv(min(size, 1 << 16))
        if not chunk:
            raise ValueError("short request")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _status_line(pid: int, field: str) -> str:
    with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return line.split(":", 1)[1].strip()
    raise OSError(f"no {field} for {pid}")


def _file_size_limit(pid: int) -> tuple[int, int]:
    with open(f"/proc/{pid}/limits", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("Max file size"):
                soft, hard = line[26:].split()[:2]
                return tuple(  # type: ignore[return-value]
                    resource.RLIM_INFINITY if v == "unlimited" else int(v) for v in (soft, hard)
                )
    return resource.RLIM_INFINITY, resource.RLIM_INFINITY


def work(caller: Caller, double: Any) -> int:
    """In the forked worker: become the caller, run the command, return its code."""
    cwd = os.open(f"/proc/{caller.pid}/cwd", os.O_PATH | os.O_DIRECTORY)
    umask = int(_status_line(caller.pid, "Umask"), 8)
    fsize = _file_size_limit(caller.pid)
    for target, fd in enumerate(caller.fds):
        os.dup2(fd, target)
    caller.close_fds()
    os.fchdir(cwd)
    os.close(cwd)
    os.umask(umask)
    resource.setrlimit(resource.RLIMIT_FSIZE, fsize)
    os.setgroups(caller.groups)
    os.setresgid(caller.gid, caller.gid, caller.gid)
    os.setresuid(caller.uid, caller.uid, caller.uid)
    os.environ.clear()
    os.environ.update(caller.env)
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), errors="surrogateescape")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), errors="surrogateescape")
    sys.stderr = io.TextIOWrapper(
        io.FileIO(2, "w", closefd=False), errors="backslashreplace", line_buffering=True
    )
    sys.argv = [double.common.ENTRY, *caller.argv]
    double.faults.CALLER_PID = caller.pid  # the attribute the fault hook reads
    rc: int = double.dispatch.main(sys.argv)
    sys.stdout.flush()
    sys.stderr.flush()
    return rc


def preload() -> Any:
    """Import the double once: the package (every command module), then the sibling
    modules the commands import on demand.  Returns the package."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    fbsd = importlib.import_module("fbsd")  # the double's own directory, not the project's
    for module in pkgutil.iter_modules(fbsd.__path__):  # every command module
        importlib.import_module(f"fbsd.{module.name}")
    for sibling in ("jails", "vm"):  # imported on demand by the commands; once here
        fbsd.common.sibling(sibling)
    return fbsd


def serve(path: str) -> None:
    double = preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = f"{path}.{os.getpid()}"
    listener.bind(staging)
    os.chmod(staging, 0o666)  # every user of the host calls the double
    listener.listen(128)
    os.rename(staging, path)  # the socket appears ready, never half made
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    waiting: dict[int, socket.socket] = {}
    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                conn, _addr = listener.accept()
                _dispatch(conn, listener, wake_r, wake_w, waiting, double)
            else:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
        _reap(waiting)


def _dispatch(
    conn: socket.socket,
    listener: socket.socket,
    wake_r: int,
    wake_w: int,
    waiting: dict[int, socket.socket],
    double: Any,
) -> None:
    caller = None
    try:
        caller = Caller(conn)
        if not caller.runs_here():
            caller.close_fds()  # the server must hold no copy of the caller's pipes
            conn.sendall(b"L" + struct.pack("!i", 0))
            conn.close()
            return
        pid = os.fork()
    except (OSError, ValueError):
        conn.close()
        if caller is not None:
            caller.close_fds()
        return
    if pid == 0:
        rc = 70
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in (wake_r, wake_w):
                os.close(fd)
            listener.close()
            conn.close()
            rc = work(caller, double)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            with contextlib.suppress(Exception):
                traceback.print_exc()
                sys.stderr.flush()
        os._exit(rc & 0xFF)
    caller.close_fds()
    waiting[pid] = conn


def _reap(waiting: dict[int, socket.socket]) -> None:
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = waiting.pop(pid, None)
        if conn is None:
            continue
        if os.WIFSIGNALED(status):
            reply = b"S" + struct.pack("!i", os.WTERMSIG(status))
        else:
            reply = b"X" + struct.pack("!i", os.waitstatus_to_exitcode(status))
        with contextlib.suppress(OSError):
            conn.sendall(reply)
        conn.close()


if __name__ == "__main__":
    serve(sys.argv[1])

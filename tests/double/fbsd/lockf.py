"""lockf(1), which really locks (usr.bin/lockf/lockf.c, FreeBSD 14).

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getopt
import os
import signal
import subprocess
import sys
import time
from typing import Any

from .common import (
    EX_CANTCREAT,
    EX_SOFTWARE,
    EX_TEMPFAIL,
    EX_UNAVAILABLE,
    EX_USAGE,
    die,
    err,
    host_path,
)


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

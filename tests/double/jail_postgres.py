"""freebsd-double: the db jail's `service postgresql` running a REAL PostgreSQL.

TEST DOUBLE, not FreeBSD.  jails.py calls `rc_command` for `service postgresql ...`
run inside a jail that jail_kernel.py made real in "vnet" mode (chroot + the jail's
network namespace): this process is already inside the jail, as root.

What it stands in for: databases/postgresqlNN-server files/postgresql.in, which runs
  su -l postgres -c "exec /usr/local/bin/pg_ctl -D DATA ${postgresql_flags} ACTION"
with postgresql_flags="-w -s -m fast", and for initdb
  su -l postgres -c "exec /usr/local/bin/initdb ${postgresql_initdb_flags} -D DATA -U postgres"
with postgresql_initdb_flags="--encoding=utf-8 --lc-collate=C".  Here the programs
are Debian's PostgreSQL 15 (jail_kernel.PG_BIN), WHATEVER NN the jail's package says
(the data directory keeps FreeBSD's name, /var/db/postgres/dataNN, and PG_VERSION
says 15).  For speed initdb also gets --no-sync and the server -c fsync=off.  The
server's output goes to pg_ctl -l /var/db/postgres/server.log (FreeBSD's goes to
syslog) so that no session keeps its pipes.  Its socket is in /var/run/postgresql,
where Debian's psql looks.  Exit codes and messages are pg_ctl's and initdb's own.
"""

from __future__ import annotations

import os
import shlex
import subprocess

import jail_kernel as jk  # type: ignore[import-not-found]  # a sibling, on sys.path at run time

DEFAULT_FLAGS = "-w -s -m fast"
DEFAULT_INITDB_FLAGS = "--encoding=utf-8 --lc-collate=C"
LOGIN_PATH = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"


def _account(user: str) -> tuple[int, int, str, list[int]]:
    """(uid, gid, home, groups) of USER in the jail's /etc/passwd and /etc/group."""
    with open("/etc/passwd", encoding="utf-8") as fh:
        row = next((ln.split(":") for ln in fh if ln.split(":")[0] == user), None)
    if row is None or len(row) < 7:
        raise jk.KernelError(f"su: unknown login: {user}")
    uid, gid, home = int(row[2]), int(row[3]), row[5]
    groups = {gid}
    with open("/etc/group", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split(":")
            if len(parts) >= 4 and user in parts[3].split(","):
                groups.add(int(parts[2]))
    return uid, gid, home, sorted(groups)


def _su(user: str, argv: list[str]) -> int:
    """su -l USER -c "exec ARGV": a login environment, the user's home as cwd."""
    uid, gid, home, groups = _account(user)
    env = {"HOME": home, "USER": user, "LOGNAME": user, "SHELL": "/bin/sh", "PATH": LOGIN_PATH}
    if "TERM" in os.environ:
        env["TERM"] = os.environ["TERM"]
    done = subprocess.run(
        argv,
        env=env,
        cwd=home if os.path.isdir(home) else "/",
        user=uid,
        group=gid,
        extra_groups=groups,
        check=False,
    )
    return done.returncode


def _socket_dir(user: str) -> None:
    uid, gid, _home, _groups = _account(user)
    os.makedirs(jk.PG_SOCKET_DIR, exist_ok=True)
    os.chown(jk.PG_SOCKET_DIR, uid, gid)
    os.chmod(jk.PG_SOCKET_DIR, 0o2775)


def rc_command(action: str, data: str, conf: dict[str, str]) -> int:
    """initdb | start | stop | restart | reload | status, as the port's rc script."""
    user = conf.get("postgresql_user") or "postgres"
    if action == "initdb":
        flags = shlex.split(conf.get("postgresql_initdb_flags", DEFAULT_INITDB_FLAGS))
        argv = [f"{jk.PG_BIN}/initdb", *flags, "--no-sync", "-D", data, "-U", user]
        return _su(user, argv)
    flags = shlex.split(conf.get("postgresql_flags", DEFAULT_FLAGS))
    argv = [f"{jk.PG_BIN}/pg_ctl", "-D", data, *flags]
    if action in ("start", "restart"):
        _socket_dir(user)
        argv += ["-l", jk.PG_LOG, "-o", "-c fsync=off"]
    return _su(user, [*argv, action])


def server_pid(data: str) -> int | None:
    """The postmaster's PID from DATA/postmaster.pid, when that process lives."""
    try:
        with open(os.path.join(data, "postmaster.pid"), encoding="utf-8") as fh:
            pid = int(fh.readline().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)  # no /proc in a jail
    except ProcessLookupError:
        return None
    return pid

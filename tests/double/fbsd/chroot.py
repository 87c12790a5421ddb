"""chroot(8), FreeBSD's -u/-g/-G (Debian's chroot has --userspec instead).

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

import os
import sys

from .common import Unsupported, die, host_path, parse_opts
from .state import log_call

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
        return grp.getgrnam(name).gr_gid if kind == "group" else pwd.getpwnam(name).pw_uid
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

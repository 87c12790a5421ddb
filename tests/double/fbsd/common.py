"""Shared helpers of the double: exit codes, Exit/Unsupported, out/err/die, getopt, paths.

TEST DOUBLE, not FreeBSD.  Every command module imports these; nothing here reads the
state (state.py does).  `sibling` loads the modules shipped next to the package
(jails.py, vm.py, host_postgres.py): they import the package back by its top-level
name, so the double runs with this package's parent directory on sys.path (the entry
script freebsd_double.py and server.py put it there).
"""

from __future__ import annotations

import getopt
import hashlib
import importlib
import os
import re
import sys
from typing import Any, NoReturn

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


#: The directory that holds this package, the entry script and the sibling modules:
#: tests/double, or its copy next to a test host's bin dir (install.install_double).
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The entry script, `python freebsd_double.py COMMAND ARGS...` (jails.py runs it in a jail).
ENTRY = os.path.join(HERE, "freebsd_double.py")


def sibling(name: str) -> Any:
    """A module shipped next to this package (install.install_double copies them all).

    jails.py, vm.py and host_postgres.py import what they use from this package by its
    top-level name, so HERE is put on sys.path first (it is there when the double runs
    from the entry script or server.py).
    """
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
    return importlib.import_module(name)


def jails_module() -> Any:
    """jails.py: Bastille jails, jexec, commands inside a jail."""
    return sibling("jails")


def vm_module() -> Any:
    """vm.py: vm-bhyve's `vm`."""
    return sibling("vm")


def in_jail() -> bool:
    """Set by jexec (jails.py): this command runs inside that jail."""
    return bool(os.environ.get("FREEBSD_DOUBLE_JAIL"))


def root_dir() -> str:
    return os.environ.get("FREEBSD_DOUBLE_ROOT", "/")


def host_path(path: str) -> str:
    """Map an absolute FreeBSD path under FREEBSD_DOUBLE_ROOT."""
    if os.path.isabs(path):
        return os.path.join(root_dir(), path.lstrip("/"))
    return path


def make_mac(seed: str, prefix: str = "58:9c:fc") -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    tail = ":".join(digest[i : i + 2] for i in range(0, 6, 2))
    return f"{prefix}:{tail}"


def userland_major(state: State) -> int:
    match = re.match(r"(\d+)", state["freebsd_version"]["userland"])
    return int(match.group(1)) if match else 14


def host_program(name: str) -> str | None:
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

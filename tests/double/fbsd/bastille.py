"""bastille(8): --version, list jails and bootstrap here; every other subcommand in jails.py.

TEST DOUBLE, not FreeBSD (BastilleBSD/bastille 1.4.x).
"""

from __future__ import annotations

import glob
import os
import re

from .common import State, Unsupported, die, err, host_path, jails_module, out
from .state import read_state


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
        # reference/outputs.md §4: 1.4.x prints the version via info to STDERR; 1.0-1.3
        # echoed it to stdout.
        if _version_tuple(version) >= (1, 4):
            err(version)
        else:
            out(version)
        return 0
    if args == ["list", "jails"]:
        # reference/freebsd.md §1.4: one name per line, jails that have a jail.conf, rc 0
        # even if none.
        pattern = host_path("/usr/local/bastille/jails/*/jail.conf")
        for conf in sorted(glob.glob(pattern)):
            out(os.path.basename(os.path.dirname(conf)))
        return 0
    if len(args) == 2 and args[0] == "bootstrap":
        return _bastille_bootstrap(state, args[1])
    if not args:
        raise Unsupported("bastille: (no subcommand)")
    return int(jails_module().cmd_bastille(args))  # create, start, template, cmd ... (jails.py)


# Releases the double's "download mirror" has (bootstrap.sh fetches MANIFEST from it).
BASTILLE_RELEASES = ("13.5-RELEASE", "14.2-RELEASE", "14.3-RELEASE", "15.0-RELEASE")


def _bastille_bootstrap(state: State, release: str) -> int:
    """bootstrap.sh (1.4.x): make the prefix dirs, fetch and extract base.txz.

    bastille.conf is sourced first (a missing one fails like sh's `.`); a release whose
    MANIFEST cannot be fetched is "Unable to fetch MANIFEST"; a complete release (its
    COPYRIGHT exists) is "Bootstrap appears complete." via error_notify, which in
    1.4.x prints and exits 1. Messages go to stderr (info/error_notify, reference/freebsd.md §1.1).
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

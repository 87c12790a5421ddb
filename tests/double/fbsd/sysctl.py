"""sysctl(8) read and write of the oids in the state (sbin/sysctl/sysctl.c).

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

import re
from typing import Any

from .common import State, Unsupported, err, out, parse_opts
from .kldstat import loaded_modules
from .state import mutate_state, read_state


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
                err(f"sysctl: unknown oid '{name}'")  # reference/outputs.md §8
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
        # reference/outputs.md §8 (cbsd/cbsd #138).
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
    out(f"{name}: {old} -> {new}")  # reference/outputs.md §8
    return 0

"""freebsd-version(1) -k/-r/-u.

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

from .common import Unsupported, out, parse_opts
from .state import read_state


def cmd_freebsd_version(args: list[str]) -> int:
    # freebsd-version(1): -k installed kernel, -r running kernel, -u userland; several
    # flags print one line each in k, r, u order; none = userland (reference/outputs.md §8).
    opts, rest = parse_opts(args, "kru", "freebsd-version")
    if rest:
        raise Unsupported(f"freebsd-version: operand {rest[0]!r} (-j not modelled)")
    version = read_state()["freebsd_version"]
    wanted = {flag for flag, _ in opts} or {"-u"}
    for flag, key in (("-k", "kernel"), ("-r", "running"), ("-u", "userland")):
        if flag in wanted:
            out(version[key])
    return 0

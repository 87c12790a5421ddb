"""route(8) -n get default.

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

from .common import Unsupported, die, out
from .ifconfig import find_iface
from .state import read_state


def cmd_route(args: list[str]) -> int:
    # route -n get [-inet] default: reference/outputs.md §10 (FreeBSD 15.0 sample).
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

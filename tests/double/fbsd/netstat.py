"""netstat(1) -rn: the IPv4 routing table.

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

import ipaddress

from .common import State, Unsupported, out, parse_opts
from .state import read_state


def _routes(state: State) -> list[tuple[str, str, str, str]]:
    """IPv4 routing table: state routes + routes derived from interface addresses."""
    rows: list[tuple[tuple[int, int, int], tuple[str, str, str, str]]] = []
    seen: set[str] = set()
    for iface in state["interfaces"]:
        link = f"link#{iface['index']}"
        for addr in iface["inet"]:
            if iface["kind"] == "loopback":
                rows.append(
                    (
                        (1, int(ipaddress.IPv4Address(addr["addr"])), 32),
                        (addr["addr"], link, "UH", iface["name"]),
                    )
                )
                continue
            net = ipaddress.IPv4Interface(f"{addr['addr']}/{addr['prefixlen']}").network
            if net.prefixlen < 32 and str(net) not in seen:
                seen.add(str(net))
                rows.append(
                    (
                        (1, int(net.network_address), net.prefixlen),
                        (str(net), link, "U", iface["name"]),
                    )
                )
            rows.append(
                (
                    (1, int(ipaddress.IPv4Address(addr["addr"])), 32),
                    (addr["addr"], link, "UHS", "lo0"),
                )
            )
    for route in state["routes"]:
        if route["destination"] == "default":
            key = (0, 0, 0)
        else:
            net = ipaddress.IPv4Network(route["destination"], strict=False)
            key = (1, int(net.network_address), net.prefixlen)
        rows.append(
            (key, (route["destination"], route["gateway"], route["flags"], route["interface"]))
        )
    return [row for _, row in sorted(rows)]


def cmd_netstat(args: list[str]) -> int:
    # netstat -rn [-f inet | -4]: reference/outputs.md §10 (14.3 transcript).  Only the Internet
    # table is modelled (the state holds no IPv6), so -rn prints just that table.
    opts, rest = parse_opts(args, "rn4f:", "netstat")
    flags = {flag for flag, _ in opts}
    family = [value for flag, value in opts if flag == "-f"]
    if rest or not {"-r", "-n"} <= flags or any(f != "inet" for f in family):
        raise Unsupported(f"netstat: {' '.join(args)}")
    out("Routing tables")
    out("")
    out("Internet:")
    out(f"{'Destination':<18} {'Gateway':<18} {'Flags':<12} {'Netif':>6} Expire")
    for dest, gateway, rflags, netif in _routes(read_state()):
        out(f"{dest:<18} {gateway:<18} {rflags:<12} {netif:>6}")
    return 0

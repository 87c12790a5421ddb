"""What pfctl prints: print_rule() and friends, -s info/Running/nat/rules/Tables, -T show.

TEST DOUBLE, not FreeBSD (sbin/pfctl/pfctl_parser.c, pfctl.c, pfctl_table.c, FreeBSD
14).  The parser (pfctl_parser.py) stores each rule's print_rule() text in the
ruleset it loads; -s prints the stored lines.  Also the /etc/services and
/etc/protocols excerpts both sides use.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from .common import Unsupported, err, out
from .state import read_state

PF_FCOUNTERS = ("searches", "inserts", "removals")
PF_REASONS = (
    "match",
    "bad-offset",
    "fragment",
    "short",
    "normalize",
    "memory",
    "bad-timestamp",
    "congestion",
    "ip-option",
    "proto-cksum",
    "state-mismatch",
    "state-insert",
    "state-limit",
    "src-limit",
    "synproxy",
    "map-failed",
)
PF_SHOW_KNOWN = (
    "queue",
    "rules",
    "Anchors",
    "Sources",
    "states",
    "info",
    "Interfaces",
    "labels",
    "timeouts",
    "memory",
    "Tables",
    "osfp",
    "Running",
    "all",
    "nat",
)


PF_NAT_PROXY_PORT_LOW, PF_NAT_PROXY_PORT_HIGH = 50001, 65535  # sys/net/pfvar.h
PF_IFNAMSIZ, PF_TABLE_NAME_SIZE = 16, 32
PF_TCPFLAGS = "FSRPAUEW"  # pfctl_parser.c tcpflags


# FreeBSD /etc/services (getservbyname/getservbyport), an excerpt: name -> (port, protos).
PF_SERVICES: dict[str, tuple[int, tuple[str, ...]]] = {
    "ftp": (21, ("tcp", "udp")),
    "ssh": (22, ("tcp", "udp")),
    "telnet": (23, ("tcp", "udp")),
    "smtp": (25, ("tcp", "udp")),
    "domain": (53, ("tcp", "udp")),
    "bootps": (67, ("tcp", "udp")),
    "bootpc": (68, ("tcp", "udp")),
    "tftp": (69, ("udp",)),
    "http": (80, ("tcp", "udp")),
    "pop3": (110, ("tcp", "udp")),
    "ntp": (123, ("tcp", "udp")),
    "imap": (143, ("tcp", "udp")),
    "https": (443, ("tcp", "udp")),
    "submission": (587, ("tcp", "udp")),
    "imaps": (993, ("tcp", "udp")),
    "pop3s": (995, ("tcp", "udp")),
    "mysql": (3306, ("tcp", "udp")),
    "postgresql": (5432, ("tcp", "udp")),
}
# FreeBSD /etc/protocols excerpt (getprotobyname/getprotobynumber): name -> number.
PF_PROTOCOLS = {
    "icmp": 1,
    "igmp": 2,
    "tcp": 6,
    "udp": 17,
    "gre": 47,
    "esp": 50,
    "ah": 51,
    "icmp6": 58,
    "ipv6-icmp": 58,
    "carp": 112,
    "sctp": 132,
    "pfsync": 240,
}
PF_PROTO_NAMES = {
    num: name for name, num in PF_PROTOCOLS.items() if name != "icmp6"
}  # p_name printed by pfctl_proto2name


PF_EMPTY_RULESET: dict[str, Any] = {"source": None, "nat": [], "rules": [], "tables": {}}


def pf_host_text(h: dict[str, Any]) -> str:
    """pfctl_parser.c print_addr() (not verbose)."""
    kind = h["kind"]
    if kind == "any":
        return "any"
    if kind == "table":
        return f"<{h['name']}>"
    if kind == "dynif":
        mods = "".join(f":{m}" for m in ("network", "broadcast", "peer", "0") if m in h["mods"])
        return f"({h['name']}{mods})"
    if int(ipaddress.ip_address(h["addr"])) == 0 and h["prefix"] == 0:
        return "any"
    full = 32 if h["af"] == 4 else 128
    return h["addr"] if h["prefix"] >= full else f"{h['addr']}/{h['prefix']}"


def pf_entry_text(h: dict[str, Any]) -> str:
    """A table entry as pfctl_table.c print_addrx() shows it: the address, "/N" if not a host."""
    full = 32 if h["af"] == 4 else 128
    return h["addr"] if h["prefix"] >= full else f"{h['addr']}/{h['prefix']}"


def _pf_port_text(port: tuple[str, int, int], proto: int, numeric: bool) -> str:
    """pfctl_parser.c print_port()/print_op()."""
    op, low, high = port
    name = None
    if not numeric and op in ("=", "!="):
        protoname = "tcp" if proto == 6 else "udp"
        name = next(
            (n for n, (p, protos) in PF_SERVICES.items() if p == low and protoname in protos),
            None,
        )
    first = name or str(low)
    if op == ":":
        return f" port {low}:{high}"
    if op in ("<>", "><"):
        return f" port {low} {op} {high}"
    return f" port {op} {first}"


def pf_rule_text(r: dict[str, Any], numeric: bool) -> str:
    """pfctl_parser.c print_rule() for the rule kinds this subset builds."""
    kind = r["type"]
    if "anchor" in r:
        text = {"anchor": "anchor", "nat": "nat-anchor", "rdr": "rdr-anchor"}[kind]
        text += f' "{r["anchor"]}"'
    else:
        text = kind + (" pass" if r.get("natpass") else "")
    if kind == "block":
        text += " return" if r["rflag"] == "return" else " drop"
    if r.get("dir"):
        text += f" {r['dir']}"
    if r.get("log"):
        text += " log"
    if r.get("quick"):
        text += " quick"
    if r["ifname"]:
        text += f" on {'! ' if r['ifnot'] else ''}{r['ifname']}"
    if r["af"]:
        text += " inet" if r["af"] == 4 else " inet6"
    if r["proto"]:
        text += f" proto {PF_PROTO_NAMES.get(r['proto'], r['proto'])}"
    src, dst = r["src"], r["dst"]
    if (
        src["kind"] in ("any", "addr")
        and dst["kind"] in ("any", "addr")
        and pf_host_text(src) == "any"
        and pf_host_text(dst) == "any"
        and not src["neg"]
        and not dst["neg"]
        and r["sport"] is None
        and r["dport"] is None
    ):
        text += " all"
    else:
        text += " from " + ("! " if src["neg"] else "") + pf_host_text(src)
        if r["sport"] is not None:
            text += _pf_port_text(r["sport"], r["proto"], numeric)
        text += " to " + ("! " if dst["neg"] else "") + pf_host_text(dst)
        if r["dport"] is not None:
            text += _pf_port_text(r["dport"], r["proto"], numeric)
    flags = r.get("flags")
    if flags and (flags[0] or flags[1]):
        shown = ["".join(ch for i, ch in enumerate(PF_TCPFLAGS) if f & (1 << i)) for f in flags]
        text += f" flags {shown[0]}/{shown[1]}"
    elif kind == "pass" and r["proto"] in (0, 6) and r.get("keep"):
        text += " flags any"
    keep = r.get("keep")
    if kind == "pass" and not keep:
        text += " no state"
    elif keep == "keep":
        text += " keep state"
    elif keep:
        text += f" {keep} state"
    if kind == "scrub":
        text += " fragment reassemble"
    if kind in ("nat", "rdr") and "anchor" not in r:
        pool = r["pool"]
        hosts = ", ".join(pf_host_text(h) for h in pool)
        text += " -> " + (f"{{ {hosts} }}" if len(pool) > 1 else hosts)
        low, high = r["ports"]
        if (
            kind == "nat"
            and (low, high)
            != (
                PF_NAT_PROXY_PORT_LOW,
                PF_NAT_PROXY_PORT_HIGH,
            )
            and (low or high)
        ):
            text += f" port {low}" if low == high else f" port {low}:{high}"
        if kind == "rdr" and low:
            text += f" port {low}" + (f":{high}" if high and high != low else "")
        if r["ptype"]:
            text += f" {r['ptype']}"
        if r["sticky"]:
            text += " sticky-address"
        if kind == "nat" and low == 0 and high == 0:
            text += " static-port"
    return text


def show(show: str, numeric: bool) -> int:
    # pfctl.c pfctl_lookup_option(): a prefix of a show modifier.
    matches = [o for o in PF_SHOW_KNOWN if o.startswith(show)]
    if len(matches) != 1 or matches[0] not in ("info", "Running", "nat", "rules", "Tables"):
        raise Unsupported(f"pfctl -s {show}")
    pf = read_state()["pf"]
    ruleset = pf.get("ruleset") or PF_EMPTY_RULESET
    if matches[0] in ("nat", "rules"):
        # pfctl_show_nat()/pfctl_show_rules(): one print_rule() line per kernel rule.
        lines = ruleset.get("numeric", ruleset) if numeric else ruleset
        for line in lines[matches[0]]:
            out(line)
        return 0
    if matches[0] == "Tables":
        for name in sorted(ruleset["tables"]):  # pfctl_table.c print_table(): puts(name)
            out(name)
        return 0
    if matches[0] == "Running":
        # pfctl.c pfctl_show_running: prints Enabled/Disabled, returns !running.
        out("Enabled" if pf["enabled"] else "Disabled")
        return 0 if pf["enabled"] else 1
    # pfctl_parser.c print_status (reference/outputs.md §3.1): "%-44s" status, "%15s" debug.
    if pf["enabled"]:
        runtime = int(time.time() - (pf.get("enabled_at") or time.time()))
        days, rem = divmod(runtime, 86400)
        status = (
            f"Status: Enabled for {days} days {rem // 3600:02d}:{rem % 3600 // 60:02d}:"
            f"{rem % 60:02d}"
        )
    else:
        status = "Status: Disabled"
    out(f"{status:<44}{'Debug: Urgent':>15}")
    out("")
    out(f"{'State Table':<27} {'Total':>14} {'Rate':>16}")
    out(f"  {'current entries':<25} {0:14d} {'':14}")
    for name in PF_FCOUNTERS:
        out(f"  {name:<25} {0:14d} {'':14}")
    out("Counters")
    for name in PF_REASONS:
        out(f"  {name:<25} {0:14d} {'':14}")
    return 0


def table_show(table: str, command: str, rest: list[str]) -> int:
    # pfctl.c main(): -t and -T go together; pfctl_table.c pfctl_table() "show".
    commands = (
        "kill",
        "flush",
        "add",
        "delete",
        "load",
        "replace",
        "show",
        "test",
        "zero",
        "expire",
        "reset",
    )
    found = next((c for c in commands if command and c.startswith(command)), None)
    if found != "show" or rest or len(table) >= PF_TABLE_NAME_SIZE:
        raise Unsupported(f"pfctl -t {table} -T {command} {' '.join(rest)}".rstrip())
    ruleset = read_state()["pf"].get("ruleset") or PF_EMPTY_RULESET
    if table not in ruleset["tables"]:
        # radix_perror(): "%s: %s.\n" with pf_strerror(ESRCH); pfctl_table() returns -1
        # and main() exit(exit_val) -> status 255.
        err("pfctl: Table does not exist.")
        return 255
    for entry in ruleset["tables"][table]:
        # print_addrx(): "%c %c%s" -- feedback char, space, '!' or ' ', address.
        out(f"  !{entry[1:]}" if entry.startswith("!") else f"   {entry}")
    return 0

"""ifconfig(8): listing, -l, -g, -n, create/destroy of bridges and epairs, addresses.

TEST DOUBLE, not FreeBSD (sbin/ifconfig, FreeBSD 14).  Interfaces live in
state["interfaces"]; in a test host the real bridge follows (jails.mirror_bridges).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, NoReturn

from .common import State, Unsupported, die, in_jail, jails_module, make_mac, out, userland_major
from .kldstat import load_module
from .state import mutate_state, read_state

IFF_BITS = [
    ("UP", 0x1),
    ("BROADCAST", 0x2),
    ("LOOPBACK", 0x8),
    ("RUNNING", 0x40),
    ("SIMPLEX", 0x800),
    ("MULTICAST", 0x8000),
    ("LOWER_UP", 0x1000000),
]


def if_flags(iface: dict[str, Any]) -> list[str]:
    kind, up = iface["kind"], iface["up"]
    if kind == "loopback":
        names = ["LOOPBACK", "MULTICAST"] + (["UP", "RUNNING", "LOWER_UP"] if up else [])
    else:
        names = ["BROADCAST", "SIMPLEX", "MULTICAST"]
        if up:
            names += ["UP", "RUNNING"]
            # reference/outputs.md §1.1: a 14.x bridge with members shows LOWER_UP (inferred: not
            # shown for a bridge without members).
            if kind != "bridge" or iface["members"]:
                names.append("LOWER_UP")
    return [n for n, _ in IFF_BITS if n in names]


def _flags_text(names: list[str], bits: list[tuple[str, int]]) -> str:
    value = sum(bit for name, bit in bits if name in names)
    return f"{value:x}<{','.join(names)}>"


def _inet_line(iface: dict[str, Any], addr: dict[str, Any]) -> str:
    # reference/outputs.md §1.2/§1.3: "inet A netmask 0xffffff00 broadcast B"; lo0 has no broadcast.
    net = ipaddress.IPv4Interface(f"{addr['addr']}/{addr['prefixlen']}").network
    line = f"\tinet {addr['addr']} netmask 0x{int(net.netmask):08x}"
    if iface["kind"] != "loopback":
        line += f" broadcast {net.broadcast_address}"
    return line


def render_interface(state: State, iface: dict[str, Any], only_inet: bool = False) -> list[str]:
    """One `ifconfig IF` block, line order from reference/outputs.md §1.3 (ifconfig_netlink.c
    status_nl)."""
    flags = if_flags(iface)
    lines = [f"{iface['name']}: flags={_flags_text(flags, IFF_BITS)} metric 0 mtu {iface['mtu']}"]
    if only_inet:
        return lines + [_inet_line(iface, a) for a in iface["inet"]]
    kind = iface["kind"]
    if iface.get("description"):
        lines.append(f"\tdescription: {iface['description']}")
    options = {
        "ether": "4c07bb<RXCSUM,TXCSUM,VLAN_MTU,VLAN_HWTAGGING,JUMBO_MTU,VLAN_HWCSUM,TSO4,"
        "TSO6,LRO,VLAN_HWTSO,LINKSTATE,TXCSUM_IPV6>",  # reference/outputs.md §1.3 vtnet0
        "loopback": "680003<RXCSUM,TXCSUM,LINKSTATE,RXCSUM_IPV6,TXCSUM_IPV6>",
        "bridge": "0",  # reference/outputs.md §1.1
        "epair": "8<VLAN_MTU>",
    }[kind]
    lines.append(f"\toptions={options}")
    if iface.get("ether"):
        lines.append(f"\tether {iface['ether']}")
    lines += [_inet_line(iface, a) for a in iface["inet"]]
    if kind == "bridge":
        # reference/outputs.md §1.1/§1.2; member block format from ifbridge.c bridge_status (§1.3).
        lines += [
            "\tid 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15",
            "\tmaxage 20 holdcnt 6 proto rstp maxaddr 2000 timeout 1200",
            "\troot id 00:00:00:00:00:00 priority 32768 ifcost 0 port 0",
        ]
        for member in iface["members"]:
            port = find_iface(state, member)
            index = port["index"] if port else 0
            lines.append(f"\tmember: {member} flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>")
            lines.append(f"\t        ifmaxaddr 0 port {index} priority 128 path cost 2000")
    if iface["groups"]:
        lines.append(f"\tgroups: {' '.join(iface['groups'])}")
    if kind in ("ether", "epair"):
        media = (
            "Ethernet autoselect (10Gbase-T <full-duplex>)"
            if kind == "ether"
            else "Ethernet 10Gbase-T (10Gbase-T <full-duplex>)"
        )
        lines += [f"\tmedia: {media}", "\tstatus: active"]
    nd6 = {"loopback": "21<PERFORMNUD,AUTO_LINKLOCAL>", "bridge": "9<PERFORMNUD,IFDISABLED>"}
    lines.append(f"\tnd6 options={nd6.get(kind, '29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>')}")
    return lines


def find_iface(state: State, name: str) -> dict[str, Any] | None:
    return next((i for i in state["interfaces"] if i["name"] == name), None)


def _no_such(name: str) -> NoReturn:
    die(f"ifconfig: interface {name} does not exist")  # reference/outputs.md §1.6


def new_iface(state: State, name: str, kind: str, groups: list[str]) -> dict[str, Any]:
    index = state["next_ifindex"]
    state["next_ifindex"] = index + 1
    ether = (
        make_mac(name + str(index)) if kind == "bridge" else make_mac(name + str(index), "02:c0:de")
    )
    iface = {
        "name": name,
        "kind": kind,
        "index": index,
        "up": False,
        "mtu": 1500,
        "ether": ether,
        "inet": [],
        "members": [],
        "groups": groups,
        "description": None,
    }
    state["interfaces"].append(iface)
    return iface


def _create(state: State, target: str) -> tuple[dict[str, Any], bool]:
    """Clone an interface; returns (the new interface, whether its name is printed)."""
    match = re.fullmatch(r"(bridge|epair)(\d*)", target)
    if not match:
        raise Unsupported(f"ifconfig: cloning {target!r}")
    cloner, unit = match.groups()
    # ifconfig.c ifmaybeload(): creating a clone loads its driver module.
    load_module(state, f"if_{cloner}.ko", f"if_{cloner}")
    names = {i["name"] for i in state["interfaces"]}
    if unit:
        wanted = target + ("a" if cloner == "epair" else "")
        if wanted in names:
            die(f"ifconfig: interface {target} already exists")  # reference/outputs.md §1.6 (#712)
        number = int(unit)
    else:
        number = 0
        while f"{cloner}{number}" in names or f"{cloner}{number}a" in names:
            number += 1
    if cloner == "bridge":
        iface = new_iface(state, f"bridge{number}", "bridge", ["bridge"])
    else:
        # reference/outputs.md §1.4: `ifconfig epair create` makes epairNa/epairNb, prints
        # only the a end.
        iface = new_iface(state, f"epair{number}a", "epair", ["epair"])
        peer = new_iface(state, f"epair{number}b", "epair", ["epair"])
        iface["peer"], peer["peer"] = peer["name"], iface["name"]
    # ifconfig.c clone_create: the name is printed when it differs from the argument.
    return iface, iface["name"] != target


def _parse_inet(words: list[str], i: int, state: State) -> tuple[str, int | None, str, int]:
    addr = words[i]
    prefix: int | None = None
    if "/" in addr:
        addr, plen = addr.split("/", 1)
        prefix = int(plen)
    i += 1
    action = "set"
    while i < len(words) and words[i] in ("netmask", "alias", "-alias", "delete"):
        if words[i] == "netmask":
            mask = words[i + 1]
            value = int(mask, 16) if mask.startswith("0x") else int(ipaddress.IPv4Address(mask))
            prefix = bin(value).count("1")
            i += 2
            continue
        action = {"alias": "alias", "-alias": "remove", "delete": "remove"}[words[i]]
        i += 1
    try:
        ipaddress.IPv4Address(addr)
    except ValueError as exc:
        raise Unsupported(f"ifconfig: inet address {addr!r}") from exc
    if prefix is None and action != "remove":
        if userland_major(state) >= 15:
            # reference/outputs.md §1.6 (#1361, 15.0): errx(1, ...).
            die("ifconfig: ERROR: setting interface address without mask is no longer supported.")
        prefix = 32  # 14.x: accepted; modelled as /32 (see module report)
    return addr, prefix, action, i


def _apply_ops(state: State, iface: dict[str, Any], words: list[str]) -> bool:
    """Apply `up name X addm Y inet A/P alias ...` in order; True if renamed."""
    renamed = False
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("up", "down"):
            iface["up"] = word == "up"
            i += 1
        elif word == "name" and i + 1 < len(words):
            new = words[i + 1]
            if find_iface(state, new):
                die("ifconfig: ioctl SIOCSIFNAME (set name): File exists")
            for other in state["interfaces"]:
                other["members"] = [new if m == iface["name"] else m for m in other["members"]]
                if other.get("peer") == iface["name"]:
                    other["peer"] = new
            for route in state["routes"]:
                if route["interface"] == iface["name"]:
                    route["interface"] = new
            iface["name"] = new
            renamed = True
            i += 2
        elif word in ("description", "descr") and i + 1 < len(words):
            iface["description"] = words[i + 1]
            i += 2
        elif word in ("addm", "deletem") and i + 1 < len(words) and iface["kind"] == "bridge":
            member = words[i + 1]
            if word == "addm":
                if not find_iface(state, member):
                    die(f"ifconfig: BRDGADD {member}: No such file or directory")
                if member in iface["members"]:
                    die(f"ifconfig: BRDGADD {member}: File exists")
                iface["members"].append(member)
            elif member in iface["members"]:
                iface["members"].remove(member)
            else:
                die(f"ifconfig: BRDGDEL {member}: Invalid argument")
            i += 2
        elif word == "inet" and i + 1 < len(words):
            addr, prefix, action, i = _parse_inet(words, i + 1, state)
            _set_address(iface, addr, prefix, action)
        elif word == "destroy":
            _destroy(state, iface)
            i += 1
        else:
            raise Unsupported(f"ifconfig: {iface['name']} {' '.join(words[i:])}")
    return renamed


def _set_address(iface: dict[str, Any], addr: str, prefix: int | None, action: str) -> None:
    current = [a["addr"] for a in iface["inet"]]
    if action == "remove":
        if addr not in current:
            die("ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address")
        iface["inet"] = [a for a in iface["inet"] if a["addr"] != addr]
        return
    if addr in current:
        # [unconfirmed] re-adding a present address (reference/freebsd.md §2.2 says "may error").
        die("ifconfig: ioctl (SIOCAIFADDR): File exists")
    entry = {"addr": addr, "prefixlen": prefix}
    if action == "set" and iface["inet"]:
        iface["inet"][0] = entry  # without `alias` the first address is replaced
    else:
        iface["inet"].append(entry)


def _destroy(state: State, iface: dict[str, Any]) -> None:
    doomed = {iface["name"], iface.get("peer")}
    state["interfaces"] = [i for i in state["interfaces"] if i["name"] not in doomed]
    for other in state["interfaces"]:
        other["members"] = [m for m in other["members"] if m not in doomed]


def cmd_ifconfig(args: list[str]) -> int:
    # sbin/ifconfig (FreeBSD 14); formats per reference/outputs.md §1, probes per
    # reference/freebsd.md §2.2.
    if not args or args == ["-a"]:
        state = read_state()
        for iface in state["interfaces"]:
            for line in render_interface(state, iface):
                out(line)
        return 0
    if args == ["-l"]:
        # reference/outputs.md §1.5: interface-index order, single spaces.
        out(" ".join(i["name"] for i in read_state()["interfaces"]))
        return 0
    if args[0] == "-g" and len(args) == 2:
        # reference/outputs.md §1.5: the members of a group, one per line.
        for iface in read_state()["interfaces"]:
            if args[1] in iface["groups"]:
                out(iface["name"])
        return 0
    no_autoload = args[0] == "-n"  # ifconfig(8) 14: -n disables driver autoloading
    words = args[1:] if no_autoload else args
    if not words or words[0].startswith("-"):
        raise Unsupported(f"ifconfig: {' '.join(args)}")
    name, ops = words[0], words[1:]
    if not ops or ops == ["inet"]:
        # `ifconfig [-n] IF` prints it; reference/freebsd.md §2.2: -n IF is the existence
        # probe (rc 0/1).
        state = read_state()
        iface = find_iface(state, name)
        if iface is None:
            _no_such(name)
        for line in render_interface(state, iface, only_inet=bool(ops)):
            out(line)
        return 0
    if no_autoload:
        raise Unsupported("ifconfig: -n with changes")
    with mutate_state() as state:
        if ops[0] == "create":
            iface, printed = _create(state, name)
            ops = ops[1:]
        else:
            found = find_iface(state, name)
            if found is None:
                _no_such(name)
            iface, printed = found, False
        printed = _apply_ops(state, iface, ops) or printed
    if not in_jail():
        jails_module().mirror_bridges()  # in a test host: the real bridge follows (jails.py)
    if printed:
        # ifconfig.c printifname: a clone whose name differs from the argument, or a
        # rename, prints the final name once (reference/outputs.md §1.4: bridge0, epair0a,
        # new name).
        out(iface["name"])
    return 0

"""The facts parsers read what FreeBSD really prints (tests/double/reference/outputs.md)."""

from __future__ import annotations

import ipaddress

import pytest

from setup.domains import at
from setup.facts import (
    build_script,
    parse_colon_pairs,
    parse_facts,
    parse_ifconfig,
    parse_registry,
    parse_routes,
    split_output,
)

# tests/double/reference/outputs.md §1.2 (indentation as pasted) and the 14.3 vtnet0 lines of §1.3
IFCONFIG = """\
vtnet0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500
\toptions=4c07bb<RXCSUM,TXCSUM>
\tether bc:24:11:6a:e4:09
\tinet 10.1.6.1 netmask 0xffffff00 broadcast 10.1.6.255
\tmedia: Ethernet autoselect (10Gbase-T <full-duplex>)
\tstatus: active
\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>
warden0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
        ether 56:e5:cd:fa:96:d6
        inet 10.0.1.1 netmask 0xffffff00 broadcast 10.0.1.255
        inet 192.168.72.1 netmask 0xffffff00 broadcast 192.168.72.255
        id 00:00:00:00:00:00 priority 32768 hellotime 2 fwddelay 15
        member: e0a_atlasdb flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>
                ifmaxaddr 0 port 14 priority 128 path cost 2000
        groups: bridge
lo0: flags=1008049<UP,LOOPBACK,RUNNING,MULTICAST,LOWER_UP> metric 0 mtu 16384
\tinet 127.0.0.1 netmask 0xff000000
"""

# tests/double/reference/outputs.md §10
NETSTAT = """\
Routing tables

Internet:
Destination        Gateway            Flags         Netif Expire
default            10.1.6.254         UGS          vtnet0
10.1.6.0/24        link#1             U            vtnet0
127.0.0.1          link#2             UH              lo0
"""


def test_ifconfig_yields_every_address_with_its_prefix_length() -> None:
    interfaces = parse_ifconfig(IFCONFIG)
    assert set(interfaces) == {"vtnet0", "warden0", "lo0"}
    assert interfaces["warden0"].inet == (
        ipaddress.IPv4Interface("10.0.1.1/24"),
        ipaddress.IPv4Interface("192.168.72.1/24"),
    )
    assert interfaces["lo0"].inet == (ipaddress.IPv4Interface("127.0.0.1/8"),)


def test_ifconfig_yields_bridge_members_and_groups() -> None:
    warden0 = parse_ifconfig(IFCONFIG)["warden0"]
    assert warden0.members == ("e0a_atlasdb",)
    assert warden0.groups == ("bridge",)
    assert "UP" in warden0.flags


def test_netstat_yields_routes_and_the_default_interface() -> None:
    routes = parse_routes(NETSTAT)
    assert [r.destination for r in routes] == ["default", "10.1.6.0/24", "127.0.0.1"]
    assert routes[0].netif == "vtnet0"
    assert routes[1].network() == ipaddress.IPv4Network("10.1.6.0/24")


def test_sysrc_all_yields_names_and_values_including_empty_ones() -> None:
    pairs = parse_colon_pairs(
        "hostname: bravo\ncloned_interfaces: \nifconfig_warden0_alias0: inet 10.0.1.1/24\n"
    )
    assert pairs == {
        "hostname": "bravo",
        "cloned_interfaces": "",
        "ifconfig_warden0_alias0": "inet 10.0.1.1/24",
    }


def frame(nonce: str, kind: str, name: str, body: str | bytes, rc: int = 0) -> bytes:
    """One section or file as the facts script frames it: its byte count, then the bytes."""
    data = body.encode() if isinstance(body, str) else body
    return f"@@{nonce} {kind} {name} {rc} {len(data)}\n".encode() + data


def test_sections_are_taken_by_byte_count_so_output_cannot_fake_a_frame() -> None:
    raw = (
        frame("abc", "sec", "uid", "0\n")
        + frame("abc", "sec", "uname", "@@abc sec uid 0 2\n9\nFreeBSD 14.3-RELEASE amd64\n")
        + b"@@abc done\n"
    )
    sections, _, _ = split_output(raw, "abc")
    assert sections["uid"].output == "0\n"
    assert sections["uname"].output == "@@abc sec uid 0 2\n9\nFreeBSD 14.3-RELEASE amd64\n"


def test_files_are_taken_by_byte_count_even_when_they_contain_markers() -> None:
    content = "line\n@@abc done\nno newline at end"
    raw = (
        frame("abc", "file", "0", content)
        + frame("abc", "file", "1", "", rc=3)
        + frame("abc", "file", "2", "cat: /home/atlas/x: Permission denied\n", rc=1)
        + b"@@abc done\n"
    )
    asked = ["/etc/pf.conf", "/etc/absent", "/etc/unreadable"]
    _, files, unreadable = split_output(raw, "abc", asked)
    assert files == {
        at("/etc/pf.conf"): content,
        at("/etc/absent"): None,
        at("/etc/unreadable"): None,
    }
    assert list(unreadable) == [at("/etc/unreadable")]
    assert "Permission denied" in unreadable[at("/etc/unreadable")]


def test_output_cut_before_the_end_marker_is_an_error_not_half_facts() -> None:
    with pytest.raises(ValueError, match="did not finish"):
        split_output(frame("abc", "sec", "uid", "0\n"), "abc")


def test_registry_snapshot_splits_into_entries_exactly() -> None:
    snapshot = (
        '== /var/db/warden/agents/atlas.json\n{"a": 1}\n\n'
        '== /var/db/warden/agents/nova.json\n{"b": 2}\n'
    )
    assert parse_registry(snapshot) == {"atlas": '{"a": 1}\n', "nova": '{"b": 2}'}


def test_a_whole_facts_run_is_parsed_into_typed_facts() -> None:
    def section(name: str, body: str, rc: int = 0) -> bytes:
        return frame("n", "sec", name, body, rc)

    raw = b"".join(
        [
            section("uid", "0\n"),
            section("uname", "FreeBSD 14.3-RELEASE amd64\n"),
            section("hostname", "bravo\n"),
            section("freebsd_version", "14.3-RELEASE\n14.3-RELEASE-p2\n"),
            section("sysctl", "kern.racct.enable: 0\nnet.inet.ip.forwarding: 1\n"),
            section("kldstat", "if_bridge yes\nvmm no\n"),
            section("bastille_version", "1.4.4\n"),
            section("bastille_jails", "atlasdb\n"),
            section("jls", "atlasdb\n"),
            section("ifconfig", IFCONFIG),
            section("routes", NETSTAT),
            section("rc_conf", "gateway_enable: YES\n"),
            section("pf", "Status: Enabled for 5 days 13:09:50           Debug: Urgent\n"),
            section("rc_scripts", "sshd\npf\natlas\n"),
            section("users", "root:0\natlas:1001\n"),
            section("groups", "wheel:0\n"),
            section(
                "resolv_conf", "search example.org\nnameserver 127.0.0.1\nnameserver 10.1.6.254\n"
            ),
            section("packages", "bastille yes\ntmux no\n"),
            section("registry", ""),
            section("lock", "held\nroot@ws, warden run 1, step register (pid 7) since now\n"),
            b"@@n done\n",
        ]
    )
    facts = parse_facts("bravo", raw, "n")
    assert (facts.os_name, facts.userland, facts.version) == ("FreeBSD", "14.3-RELEASE-p2", (14, 3))
    assert facts.bastille_version == "1.4.4"
    assert facts.jails_defined == ("atlasdb",) and facts.jails_running == ("atlasdb",)
    assert facts.default_interface() == "vtnet0"
    assert facts.pf == "enabled"
    assert facts.packages == {"bastille": True, "tmux": False}
    assert facts.nameservers == ("127.0.0.1", "10.1.6.254")
    assert facts.users["atlas"] == 1001
    assert facts.lock_holder is not None and "step register" in facts.lock_holder
    assert facts.sysctl["net.inet.ip.forwarding"] == "1"


def test_a_dotted_netmask_is_read_too_and_a_garbled_one_is_skipped() -> None:
    text = (
        "eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500\n"
        "        inet 10.9.0.2  netmask 255.255.255.0  broadcast 10.9.0.255\n"
        "        inet 10.9.1.2  netmask nonsense\n"
    )
    assert parse_ifconfig(text)["eth0"].inet == (ipaddress.IPv4Interface("10.9.0.2/24"),)


def test_output_without_a_final_newline_does_not_swallow_the_next_section() -> None:
    script, nonce = build_script()
    assert 'echo "@@$W $_ws_k $_ws_n $_ws_r $_ws_c"' in script
    raw = (
        frame(nonce, "sec", "resolv_conf", "nameserver 192.0.2.1")
        + frame(nonce, "sec", "lock", "held\nops@ws\n")
        + f"@@{nonce} done\n".encode()
    )
    sections, _, _ = split_output(raw, nonce)
    assert sections["resolv_conf"].output == "nameserver 192.0.2.1"
    assert sections["lock"].output == "held\nops@ws\n"


def test_a_file_with_bytes_that_are_not_utf8_does_not_shift_the_next_one() -> None:
    raw = frame("n", "file", "0", b"caf\xe9\n") + frame("n", "file", "1", "ok\n") + b"@@n done\n"
    _, files, _ = split_output(raw, "n", ["/etc/a", "/etc/b"])
    assert files[at("/etc/b")] == "ok\n"
    text = files[at("/etc/a")]
    assert text is not None and text.startswith("caf")

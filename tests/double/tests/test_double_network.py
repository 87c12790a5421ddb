"""The double's ifconfig/netstat/route speak FreeBSD 14 formats (reference/outputs.md §1, §10)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.double.install import Run, runner, seed_state

DOUBLE = Path(__file__).resolve().parents[1] / "freebsd_double.py"


IFF = {
    "UP": 0x1,
    "BROADCAST": 0x2,
    "LOOPBACK": 0x8,
    "RUNNING": 0x40,
    "SIMPLEX": 0x800,
    "MULTICAST": 0x8000,
    "LOWER_UP": 0x1000000,
}
HEAD = re.compile(
    r"(?P<name>[\w.-]+): flags=(?P<hex>[0-9a-f]+)<(?P<names>[A-Z_,]*)> "
    r"metric 0 mtu \d+"
)
INET = re.compile(
    r"\tinet (?P<addr>[\d.]+) netmask 0x(?P<mask>[0-9a-f]{8})"
    r"(?: broadcast (?P<bcast>[\d.]+))?"
)


@pytest.fixture
def run(tmp_path: Path) -> Run:
    seed_state(tmp_path / "state")
    return runner(tmp_path / "state", tmp_path / "root")


def parse_ifconfig(text: str) -> dict[str, dict[str, list[str]]]:
    """A strict reader of `ifconfig -a`: fails on anything not in FreeBSD's shape."""
    blocks: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        head = HEAD.fullmatch(line)
        if head:
            names = head["names"].split(",")
            assert int(head["hex"], 16) == sum(IFF[n] for n in names), line
            current = {"flags": names, "inet": [], "member": [], "groups": []}
            blocks[head["name"]] = current
            continue
        assert line.startswith("\t"), f"detail lines start with one TAB: {line!r}"
        if line.startswith("\tinet "):
            inet = INET.fullmatch(line)
            assert inet, line
            current["inet"].append(inet["addr"])
        elif line.startswith("\tmember: "):
            assert re.fullmatch(
                r"\tmember: \S+ flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>", line
            )
            assert re.fullmatch(
                r"\t {8}ifmaxaddr 0 port \d+ priority 128 path cost \d+", lines[i + 1]
            )
            current["member"].append(line.split()[1])
        elif line.startswith("\tgroups: "):
            current["groups"] = line.split()[1:]
        else:
            continuation = lines[i - 1].startswith("\tmember: ")
            assert continuation or not line.startswith("\t "), line
    return blocks


def build_warden0(run: Run) -> None:
    """The reference/freebsd.md §2.2 runtime recipe plus one Bastille-style epair member."""
    assert run("ifconfig", "-n", "warden0").returncode == 1
    assert run("ifconfig", "bridge", "create").stdout == "bridge0\n"
    assert run("ifconfig", "bridge0", "name", "warden0").stdout == "warden0\n"
    assert run("ifconfig", "warden0", "up").returncode == 0
    assert run("ifconfig", "warden0", "inet", "10.77.3.1/24", "alias").returncode == 0
    assert run("ifconfig", "epair", "create").stdout == "epair0a\n"
    assert run("ifconfig", "epair0a", "up", "name", "e0a_a3db").stdout == "e0a_a3db\n"
    assert run("ifconfig", "warden0", "addm", "e0a_a3db").returncode == 0


def test_ifconfig_a_parses_as_freebsd_14_format(run: Run) -> None:
    build_warden0(run)
    blocks = parse_ifconfig(run("ifconfig", "-a").stdout)
    assert list(blocks) == ["vtnet0", "lo0", "warden0", "e0a_a3db", "epair0b"]
    assert blocks["vtnet0"]["inet"] == ["192.0.2.10"]
    assert blocks["warden0"]["inet"] == ["10.77.3.1"]
    assert blocks["warden0"]["member"] == ["e0a_a3db"]
    assert blocks["warden0"]["groups"] == ["bridge"]
    assert "LOOPBACK" in blocks["lo0"]["flags"]


def test_ifconfig_prints_the_exact_inet_and_bridge_lines(run: Run) -> None:
    build_warden0(run)
    lines = run("ifconfig", "warden0").stdout.splitlines()
    assert lines[0] == (
        "warden0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> metric 0 mtu 1500"
    )
    assert "\tinet 10.77.3.1 netmask 0xffffff00 broadcast 10.77.3.255" in lines
    assert lines.index("\tgroups: bridge") > lines.index(
        "\tmember: e0a_a3db flags=143<LEARNING,DISCOVER,AUTOEDGE,AUTOPTP>"
    )


def test_ifconfig_lists_names_and_group_members(run: Run) -> None:
    build_warden0(run)
    assert run("ifconfig", "-l").stdout == "vtnet0 lo0 warden0 e0a_a3db epair0b\n"
    assert run("ifconfig", "-g", "bridge").stdout == "warden0\n"
    assert run("ifconfig", "-n", "warden0").returncode == 0


def test_ifconfig_reports_a_missing_interface(run: Run) -> None:
    result = run("ifconfig", "warden0")
    assert (result.stdout, result.stderr, result.returncode) == (
        "",
        "ifconfig: interface warden0 does not exist\n",
        1,
    )


def test_ifconfig_removes_an_alias_and_fails_on_an_absent_one(run: Run) -> None:
    build_warden0(run)
    assert run("ifconfig", "warden0", "inet", "10.77.3.1", "-alias").returncode == 0
    assert parse_ifconfig(run("ifconfig", "warden0").stdout)["warden0"]["inet"] == []
    again = run("ifconfig", "warden0", "inet", "10.77.3.1", "-alias")
    assert again.returncode == 1
    assert again.stderr.startswith("ifconfig: ioctl (SIOCDIFADDR)")


def test_ifconfig_refuses_an_address_without_mask_on_15(run: Run, tmp_path: Path) -> None:
    seed_state(tmp_path / "state", {"freebsd_version": {"userland": "15.0-RELEASE"}})
    result = run("ifconfig", "vtnet0", "inet", "10.0.0.5", "alias")
    assert (result.stderr, result.returncode) == (
        "ifconfig: ERROR: setting interface address without mask is no longer supported.\n",
        1,
    )


def test_a_failed_ifconfig_change_leaves_the_state_untouched(run: Run) -> None:
    build_warden0(run)
    assert run("ifconfig", "warden0", "name", "vtnet0").returncode == 1
    assert run("ifconfig", "-l").stdout == "vtnet0 lo0 warden0 e0a_a3db epair0b\n"


def test_netstat_rn_prints_the_internet_table(run: Run) -> None:
    build_warden0(run)
    lines = run("netstat", "-rn", "-f", "inet").stdout.splitlines()
    assert lines[:4] == [
        "Routing tables",
        "",
        "Internet:",
        "Destination        Gateway            Flags         Netif Expire",
    ]
    assert lines[4] == "default            192.0.2.1          UGS          vtnet0"
    rows = {line.split()[0]: line.split() for line in lines[4:]}
    assert rows["10.77.3.0/24"][1:] == ["link#3", "U", "warden0"]
    assert rows["192.0.2.0/24"][1:] == ["link#1", "U", "vtnet0"]
    assert run("netstat", "-4rn").stdout == run("netstat", "-rn").stdout


def test_route_get_default_names_the_interface_or_fails_without_one(
    run: Run, tmp_path: Path
) -> None:
    lines = run("route", "-n", "get", "default").stdout.splitlines()
    assert "    gateway: 192.0.2.1" in lines
    assert "  interface: vtnet0" in lines
    seed_state(tmp_path / "state", {"routes": []})
    result = run("route", "-n", "get", "default")
    assert (result.stderr, result.returncode) == (
        "route: writing to routing socket: not in table\n",
        1,
    )

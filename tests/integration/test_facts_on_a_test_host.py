"""The facts script, run for real over SSH, reads what the host (its double) holds."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from setup.facts import gather
from setup.transport import SSHExecutor
from tests.operator import Operator
from tests.testhost import TestHost, write_ssh_config


def executor_for(host: TestHost, tmp_path: Path) -> SSHExecutor:
    config = write_ssh_config(tmp_path / "ssh_config", [("t", host, None)])
    return SSHExecutor("t", ssh_config=config)


def test_facts_read_versions_addresses_routes_and_packages_in_one_exec(
    make_test_host: Callable[..., TestHost], tmp_path: Path
) -> None:
    host = make_test_host(
        "f1",
        bastille={"version": "1.4.4"},
        packages={"pkg": "2.1.2", "bastille": "1.4.4", "tmux": "3.5a"},
    )
    host.write_file(
        "/etc/rc.conf", 'hostname="testhost"\nifconfig_warden0_alias3="inet 10.9.9.1/24"\n'
    )
    executor = executor_for(host, tmp_path)
    try:
        calls_before = len(host.calls())
        facts = gather(executor, packages=["bastille", "tmux", "git"], files=["/etc/rc.conf"])
    finally:
        executor.close()
    assert (facts.os_name, facts.userland, facts.uid) == ("FreeBSD", "14.3-RELEASE", 0)
    assert facts.bastille_version == "1.4.4"
    assert facts.packages == {"bastille": True, "tmux": True, "git": False}
    assert ipaddress.IPv4Interface("192.0.2.10/24") in facts.interfaces["vtnet0"].inet
    assert facts.default_interface() == "vtnet0"
    assert facts.rc_conf["ifconfig_warden0_alias3"] == "inet 10.9.9.1/24"
    rc_conf = facts.file("/etc/rc.conf")
    assert rc_conf is not None and "alias3" in rc_conf
    assert facts.pf == "unavailable"
    assert facts.sysctl["kern.racct.enable"] == "0"
    assert facts.lock_holder is None and facts.registry == {}
    assert host.accepted_logins() == 1
    assert len(host.calls()) > calls_before, "the facts did not come from the double"


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        (
            {
                "freebsd_version": {
                    "kernel": "13.2-RELEASE",
                    "running": "13.2-RELEASE",
                    "userland": "13.2-RELEASE-p4",
                },
                "uname": {"release": "13.2-RELEASE"},
            },
            "FreeBSD version",
        ),
        ({"bastille": {"version": "1.3.2.250101"}}, "Bastille"),
    ],
)
def test_preflight_refuses_an_unfit_host_with_exit_2_and_changes_nothing(
    make_test_host: Callable[..., TestHost],
    tmp_path: Path,
    overrides: dict[str, object],
    check: str,
) -> None:
    host = make_test_host("f2", **overrides)
    operator = Operator(tmp_path / "home", [("h1", host, None)])
    result = operator.warden("setup", "--env", str(operator.env_file()), "--yes", "--json")
    assert result.returncode == 2, result.stderr
    plan = json.loads(result.stdout)
    errors = [f for f in plan["steps"][0]["findings"] if f["level"] == "error"]
    assert [f["check"] for f in errors] == [check]
    assert not host.exists("/var/db/warden/agents/atlas.json")
    # A single step is refused on the same host too: preflight's errors gate every run.
    one = operator.warden("setup", "--env", str(operator.env_file()), "--step", "network", "--yes")
    assert one.returncode == 2 and f"preflight: {check}" in one.stdout + one.stderr
    assert not host.exists("/var/db/warden/agents/atlas.json")


def test_a_whole_setup_uses_one_ssh_connection(
    make_test_host: Callable[..., TestHost], tmp_path: Path
) -> None:
    host = make_test_host("f3")
    operator = Operator(tmp_path / "home", [("h1", host, None)])
    result = operator.warden(
        "setup", "--env", str(operator.env_file()), "--step", "network", "--yes"
    )
    assert result.returncode == 0, result.stderr
    assert host.accepted_logins() == 1

"""Several hosts at once: planned and applied in parallel, one host's failure or absence
never stops the others, and the exit code is the highest of any host."""

from __future__ import annotations

import json
from pathlib import Path

from tests.operator import Operator
from tests.testhost import TestNetwork


def test_three_hosts_in_parallel_one_unreachable_two_provisioned_exit_3(
    test_network: TestNetwork, tmp_path: Path
) -> None:
    h1, h2, h3 = (test_network.host(name) for name in ("h1", "h2", "h3"))
    operator = Operator(tmp_path / "home", [(h.name, h, None) for h in (h1, h2, h3)])
    operator.known_hosts.write_text("".join(h.host_key_line() + "\n" for h in (h1, h2, h3)))
    h3.stop()  # gone: its address answers nothing
    env = str(operator.env_file())
    steps = ("--step", "network", "--step", "user")
    first = operator.warden("setup", "--env", env, *steps, "--host", "h1,h2,h3", "--yes", "--json")
    assert first.returncode == 3, first.stderr
    hosts = {h["target"]: h for h in json.loads(first.stdout)["hosts"]}
    assert hosts["h1"]["exit_code"] == 0 and hosts["h2"]["exit_code"] == 0
    assert hosts["h1"]["applied"] and hosts["h2"]["applied"]
    assert hosts["h3"]["exit_code"] == 3 and "cannot connect" in hosts["h3"]["error"]
    for host in (h1, h2):
        assert host.exists("/var/db/warden/agents/atlas.json")
        assert b"ifconfig_warden0_alias0" in host.read_file("/etc/rc.conf")
    again = operator.warden("setup", "--env", env, *steps, "--host", "h1,h2", "--yes", "--json")
    assert again.returncode == 0, again.stderr
    for host in json.loads(again.stdout)["hosts"]:
        assert host["plan"]["change_count"] == 0 and host["applied"] == [], host
    table = operator.warden("plan", "--env", env, *steps, "--host", "h1,h2,h3")
    assert table.returncode == 3
    rows = [" ".join(line.replace("│", " ").split()) for line in table.stdout.splitlines()]
    assert "h1 0 nothing to do" in rows and "h2 0 nothing to do" in rows
    assert any(row.startswith("h3 3 h3: cannot connect") for row in rows), rows

"""Two agents on one host, end to end: host, network, pf, user and service over SSH.

Real sshd, paramiko, sh, su and tmux on a throwaway host; the FreeBSD commands are
the double. Every setup runs twice and the second run must change nothing.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from setup.apply import apply_steps
from setup.config import load_config
from setup.errors import HostError
from setup.facts import gather
from setup.job import SetupJob
from setup.planner import facts_request, make_plan
from setup.steps import pf
from setup.transport import SSHExecutor
from tests.harness.site import (
    OPERATOR_PF,
    env,
    operator_for,
    prepared,
    require_test_hosts,
    setup_json,
    sh,
)
from tests.operator import Operator
from tests.testhost import DOUBLE_STATE, TestHost

pytestmark = pytest.mark.slow


def double_state(host: TestHost) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(host.read_file(f"{DOUBLE_STATE}/state.json"))
    return state


def set_fault(host: TestHost, fault: object) -> None:
    state = double_state(host)
    state["fault"] = fault
    host.write_file(f"{DOUBLE_STATE}/state.json", json.dumps(state, indent=2) + "\n")


def words(result: subprocess.CompletedProcess[str]) -> str:
    """stdout and stderr with rich's line wrapping undone."""
    return " ".join((result.stdout + result.stderr).split())


def mutations(calls: list[dict[str, Any]]) -> list[list[str]]:
    """The double calls that change a host (everything else only reads)."""
    changing = []
    for call in calls:
        argv: list[str] = call["argv"]  # type: ignore[assignment]
        words = " ".join(argv)
        if (
            argv[0] in ("pw", "kldload", "newsyslog")
            or (argv[0] == "bastille" and "bootstrap" in argv)
            or (argv[0] == "service" and any(v in argv for v in ("start", "stop", "restart")))
            or (argv[0] == "sysrc" and "=" in words)
            or (argv[0] == "sysctl" and "=" in words)
            or (
                argv[0] == "ifconfig"
                and any(w in argv for w in ("create", "alias", "-alias", "name", "destroy"))
            )
            or (argv[0] == "pfctl" and any(w in argv for w in ("-f", "-e", "-d")))
            or (argv[0] == "pkg" and "install" in argv)
        ):
            changing.append(argv)
    return changing


def wait_for(check: Any, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.3)


def set_up_twice(operator: Operator, *agents: Path) -> None:
    for agent in agents:
        first = setup_json(operator, agent)
        assert first["change_count"] > 0 and first["applied"]
        again = setup_json(operator, agent)
        assert again["change_count"] == 0 and again["applied"] == [], again


class Site:
    """One host with atlas and orion set up (each twice): shared by the tests that only
    look, so the four setups run once for them."""

    def __init__(self, host: TestHost, operator: Operator) -> None:
        self.host, self.operator = host, operator
        self.atlas = env(operator, "atlas", "10.0.1")
        self.orion = env(operator, "orion", "10.0.2", "de-DE")
        set_up_twice(operator, self.atlas, self.orion)


@pytest.fixture(scope="module")
def site(client_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_test_hosts()
    host = prepared(TestHost("h1", client_key=client_key).start())
    try:
        yield Site(host, operator_for(tmp_path_factory.mktemp("site") / "home", host))
    finally:
        host.stop()


@pytest.fixture
def fresh_site(make_test_host, tmp_path: Path) -> Site:  # type: ignore[no-untyped-def]
    """A site of its own, for a test that changes what the others look at."""
    host = prepared(make_test_host("h1"))
    return Site(host, operator_for(tmp_path / "home", host))


def test_two_agents_get_their_own_alias_index_and_one_nat_include(site: Site) -> None:
    h1 = site.host
    registry = {
        name: json.loads(h1.read_file(f"/var/db/warden/agents/{name}.json"))
        for name in ("atlas", "orion")
    }
    assert registry["atlas"]["alias_index"] == 0 and registry["orion"]["alias_index"] == 1
    assert registry["atlas"]["uid"] != registry["orion"]["uid"]
    rc_conf = sh(h1, "sysrc -a")
    assert "ifconfig_warden0_alias0: inet 10.0.1.1/24" in rc_conf
    assert "ifconfig_warden0_alias1: inet 10.0.2.1/24" in rc_conf
    assert "ifconfig_bridge0_name: warden0" in rc_conf
    bridge = sh(h1, "ifconfig warden0")
    assert "inet 10.0.1.1 netmask 0xffffff00" in bridge
    assert "inet 10.0.2.1 netmask 0xffffff00" in bridge
    include = h1.read_file("/etc/pf.warden.conf").decode()
    assert "table <warden_agents> const { 10.0.1.0/24, 10.0.2.0/24 }" in include
    assert sh(h1, "pfctl -t warden_agents -T show").split() == ["10.0.1.0/24", "10.0.2.0/24"]
    assert "Enabled" in sh(h1, "pfctl -s Running")


def test_the_operators_pf_conf_lines_are_byte_identical(site: Site) -> None:
    text = site.host.read_file("/etc/pf.conf").decode()
    assert text.count('include "/etc/pf.warden.conf"') == 1
    ours = text.split("# BEGIN warden")[1].split("# END warden\n")[0]
    assert text.replace("# BEGIN warden" + ours + "# END warden\n", "") == OPERATOR_PF


def test_both_services_run_in_their_own_tmux_session_with_their_locales(site: Site) -> None:
    h1 = site.host
    for name, lang in (("atlas", "sl_SI.UTF-8"), ("orion", "de_DE.UTF-8")):
        assert f"{name} is running as pid" in sh(h1, f"service {name} onestatus")
        tmux = f"/usr/local/bin/tmux -S /var/run/warden/{name}/tmux.sock"
        pane = sh(h1, f"su -l {name} -c '{tmux} capture-pane -p -S - -t ={name}:'")
        assert f"agent {name} LANG={lang}" in pane, pane
        log = f"/var/log/warden/{name}/agent.log"
        wait_for(lambda log=log: h1.exists(log) and b"tick" in h1.read_file(log))
        assert f"tick {name}\n".encode() in h1.read_file(log), "no CR, one line per line"
        owner = sh(h1, f"ls -ln {log}").split()[2]
        assert owner == str(json.loads(h1.read_file(f"/var/db/warden/agents/{name}.json"))["uid"])


def test_the_installed_rc_d_script_parses_and_passes_shellcheck_against_rc_subr(
    site: Site,
) -> None:
    # On the test host /etc/rc.subr is the stub, so -x follows it for real.
    for name in ("atlas", "orion"):
        sh(site.host, f"sh -n /usr/local/etc/rc.d/{name}")
        sh(site.host, f"shellcheck -s sh -x /usr/local/etc/rc.d/{name}")


def test_the_rc_d_script_keeps_rc_subrs_exit_codes_with_real_tmux(site: Site) -> None:
    h1 = site.host

    def service(verb: str) -> tuple[int, str]:
        result = h1.exec(f"service atlas {verb}", check=False)
        return result.returncode, (result.stdout + result.stderr).decode()

    def pid() -> str:
        return service("onestatus")[1].split("pid ")[1].rstrip(".\n")

    assert service("status")[0] == 0
    rc, text = service("start")
    assert rc == 1 and "atlas already running?  (pid=" in text
    first = pid()
    assert service("stop") == (0, "Stopping atlas.\n")
    rc, text = service("stop")
    assert rc == 1 and "atlas not running?" in text
    assert service("onestatus") == (1, "atlas is not running.\n")
    assert service("start") == (0, "Starting atlas.\n")
    second = pid()
    rc, _ = service("restart")
    assert rc == 0 and pid() not in (first, second)
    assert service("onestatus")[0] == 0


def test_after_a_rotation_new_output_lands_in_the_new_log(site: Site) -> None:
    h1 = site.host
    log = "/var/log/warden/atlas/agent.log"
    wait_for(lambda: h1.exists(log) and b"tick" in h1.read_file(log))
    sh(h1, f"newsyslog -F {log}")
    assert h1.exists(log + ".0.bz2")
    assert b"tick" not in h1.read_file(log)
    wait_for(lambda: b"tick atlas" in h1.read_file(log))


def test_an_overlapping_third_agent_is_refused_naming_what_it_collides_with(site: Site) -> None:
    h1, operator = site.host, site.operator
    before = h1.calls()
    nova = env(operator, "nova", "10.0.2")
    result = operator.warden("setup", "--env", str(nova), "--yes")
    assert result.returncode == 2, result.stderr
    assert "subnet 10.0.2.0/24 is already taken by agent 'orion'" in words(result)
    assert mutations(h1.calls()[len(before) :]) == []
    sh(h1, "ifconfig vtnet0 inet 192.168.60.10/24 alias")  # a second address of the host's
    try:
        before = h1.calls()
        on_host = env(operator, "vega", "192.168.60")
        result = operator.warden("setup", "--env", str(on_host), "--yes")
    finally:
        sh(h1, "ifconfig vtnet0 inet 192.168.60.10 -alias")
    assert result.returncode == 2
    assert "overlaps address 192.168.60.10/24 on vtnet0" in words(result)
    assert mutations(h1.calls()[len(before) :]) == [
        ["ifconfig", "vtnet0", "inet", "192.168.60.10", "-alias"]
    ]
    assert not h1.exists("/var/db/warden/agents/nova.json")
    assert not h1.exists("/var/db/warden/agents/vega.json")


def test_a_failing_pfctl_check_keeps_the_old_include_and_rules(fresh_site: Site) -> None:
    h1, operator = fresh_site.host, fresh_site.operator
    include = h1.read_file("/etc/pf.warden.conf")
    pf_conf = h1.read_file("/etc/pf.conf")
    message = "/var/db/warden/pf/stage/pf.conf:7: syntax error"
    set_fault(h1, {"argv": ["pfctl", "-nf"], "action": "exit", "rc": 1, "stderr": message})
    vega = env(operator, "vega", "10.0.3")
    result = operator.warden("setup", "--env", str(vega), "--step", "pf", "--yes")
    assert result.returncode == 1, result.stderr
    assert message in words(result)
    assert h1.read_file("/etc/pf.warden.conf") == include
    assert h1.read_file("/etc/pf.conf") == pf_conf
    assert sh(h1, "pfctl -t warden_agents -T show").split() == ["10.0.1.0/24", "10.0.2.0/24"]


def apply_pf_step(site: Site, name: str, base: str) -> None:
    """The pf step of a new agent through the Python API, as `setup --step pf` runs it."""
    config = load_config(env(site.operator, name, base))
    executor = SSHExecutor("h1", ssh_config=site.operator.ssh_config)
    try:
        steps = ["pf"]
        request = facts_request(config, steps)
        facts = gather(executor, request.packages, request.files, request.probes)
        plan = make_plan(config, facts, steps, register=True)
        assert not plan.refusals, plan.refusals
        job = SetupJob(config, steps, register=True)
        apply_steps(executor, job, facts, [s.name for s in plan.steps])
    finally:
        executor.close()


def test_the_dead_man_restores_the_previous_rules_when_no_confirmation_comes(
    fresh_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    h1 = fresh_site.host
    include, pf_conf = h1.read_file("/etc/pf.warden.conf"), h1.read_file("/etc/pf.conf")
    monkeypatch.setattr(pf, "DEADMAN_SECONDS", 3)

    def cut_off(self: SSHExecutor) -> SSHExecutor:
        raise HostError("h1: connection refused")  # the new rules refuse new connections

    monkeypatch.setattr(SSHExecutor, "reconnect", cut_off)
    with pytest.raises(HostError, match="restores its previous state by itself"):
        apply_pf_step(fresh_site, "vega", "10.0.3")
    # The new rules ran; the files boot would load are still the previous ones.
    assert "10.0.3.0/24" in sh(h1, "pfctl -t warden_agents -T show")
    assert h1.read_file("/etc/pf.warden.conf") == include
    assert h1.read_file("/etc/pf.conf") == pf_conf
    wait_for(lambda: "10.0.3.0/24" not in sh(h1, "pfctl -t warden_agents -T show"), seconds=20)
    assert sh(h1, "pfctl -t warden_agents -T show").split() == ["10.0.1.0/24", "10.0.2.0/24"]
    assert "Enabled" in sh(h1, "pfctl -s Running")
    journal = "/var/db/warden/journal/warden.jsonl"
    wait_for(lambda: b"dead-man: no confirmation" in h1.read_file(journal))
    assert b"restored the previous pf rules" in h1.read_file(journal)


def test_a_confirmed_load_disarms_the_dead_man_and_keeps_the_new_rules(
    fresh_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    h1 = fresh_site.host
    monkeypatch.setattr(pf, "DEADMAN_SECONDS", 3)
    apply_pf_step(fresh_site, "vega", "10.0.3")
    assert b"10.0.3.0/24" in h1.read_file("/etc/pf.warden.conf")
    time.sleep(5)  # past the dead-man's time
    assert "10.0.3.0/24" in sh(h1, "pfctl -t warden_agents -T show")
    assert b"10.0.3.0/24" in h1.read_file("/etc/pf.warden.conf")
    assert b"dead-man" not in h1.read_file("/var/db/warden/journal/warden.jsonl")
    assert sh(h1, "ls /var/db/warden/pf").split() == ["deadman.sh", "stage"]


def test_status_all_reports_a_stopped_service_and_exits_1(site: Site) -> None:
    h1, operator = site.host, site.operator
    healthy = operator.warden("status", "--all", "--host", "h1", "--json")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    before = json.loads(healthy.stdout)
    (host,) = before["hosts"]
    assert [a["agent"] for a in host["agents"]] == ["atlas", "orion"]
    assert all(a["healthy"] for a in host["agents"])
    atlas = host["agents"][0]
    assert "service" in (atlas["last_apply"] or ""), "the journal names the agent's last change"
    sh(h1, "service atlas stop")
    try:
        broken = operator.warden("status", "--all", "--host", "h1", "--json")
    finally:
        sh(h1, "service atlas start")
    assert broken.returncode == 1, broken.stderr
    agents = {a["agent"]: a for a in json.loads(broken.stdout)["hosts"][0]["agents"]}
    assert agents["orion"]["healthy"] and not agents["atlas"]["healthy"]
    failed = {c["check"]: c["detail"] for c in agents["atlas"]["checks"] if not c["ok"]}
    assert set(failed) == {"service", "tmux session"}, failed
    assert failed["service"] == "atlas is not running."
    table = operator.warden("status", "--env", str(site.atlas))
    assert table.returncode == 0, table.stdout + table.stderr
    assert "atlas on h1: healthy" in words(table)


def test_logs_shows_the_agents_session_and_follow_streams_new_lines(site: Site) -> None:
    operator = site.operator
    shown = operator.warden("logs", "--env", str(site.atlas))
    assert shown.returncode == 0, shown.stderr
    assert "tick atlas" in shown.stdout and "orion" not in shown.stdout
    follow = operator.popen("logs", "--env", str(site.orion), "--follow")
    try:
        assert follow.stdout is not None
        seen = [follow.stdout.readline() for _ in range(3)]
    finally:
        follow.terminate()
        follow.wait(timeout=10)
    assert all(line == "tick orion\n" or "agent orion" in line for line in seen), seen
    missing = operator.warden("logs", "--env", str(site.atlas), "--role", "db")
    assert missing.returncode == 2
    assert "has no db jail of its own" in words(missing)


def test_teardown_of_orion_stops_at_a_home_it_cannot_empty_then_leaves_atlas_as_it_was(
    fresh_site: Site,
) -> None:
    h1, operator = fresh_site.host, fresh_site.operator

    def atlas_status() -> list[dict[str, Any]]:
        result = operator.warden("status", "--env", str(fresh_site.atlas), "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        (host,) = json.loads(result.stdout)["hosts"]
        checks: list[dict[str, Any]] = host["agents"][0]["checks"]
        return checks

    before = atlas_status()
    # a file of root's in the home: pw userdel -r removes only what the user owned
    sh(h1, "echo operator > /home/orion/notes && chown root:wheel /home/orion/notes")
    cut = operator.warden("teardown", "--env", str(fresh_site.orion), "--yes", timeout=300)
    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert "/home/orion is still there" in words(cut)
    assert "orion" not in sh(h1, "cut -d: -f1 /etc/passwd").split()
    # the entry stays until nothing else is left, so a rerun sees the leftover again
    assert h1.exists("/var/db/warden/agents/orion.json")
    stuck = operator.warden("teardown", "--env", str(fresh_site.orion), "--yes", timeout=300)
    assert stuck.returncode == 2, stuck.stdout + stuck.stderr
    assert "/home/orion is still there" in words(stuck)
    sh(h1, "rm -r /home/orion")
    result = operator.warden("teardown", "--env", str(fresh_site.orion), "--yes", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not h1.exists("/var/db/warden/agents/orion.json")
    assert not h1.exists("/usr/local/etc/rc.d/orion")
    assert not h1.exists("/usr/local/etc/warden/agents/orion")
    assert not h1.exists("/home/orion")
    assert "orion" not in sh(h1, "cut -d: -f1 /etc/passwd").split()
    rc_conf = sh(h1, "sysrc -a")
    assert "ifconfig_warden0_alias1" not in rc_conf and "orion_enable" not in rc_conf
    assert "inet 10.0.2.1 " not in sh(h1, "ifconfig warden0")
    assert "10.0.2.0/24" not in h1.read_file("/etc/pf.warden.conf").decode()
    assert sh(h1, "pfctl -t warden_agents -T show").split() == ["10.0.1.0/24"]
    assert "orion" not in h1.read_file("/etc/hosts").decode()
    assert atlas_status() == before
    again = operator.warden("teardown", "--env", str(fresh_site.orion), "--yes")
    assert again.returncode == 0 and "nothing to tear down" in words(again)
    atlas_again = setup_json(operator, fresh_site.atlas)
    assert atlas_again["change_count"] == 0, atlas_again

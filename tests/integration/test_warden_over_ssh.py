"""warden against throwaway hosts: real sshd, real paramiko, the FreeBSD double.

Each end-to-end case runs twice; the second run must plan and report no changes.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from setup.transport import SSHExecutor
from tests.operator import Operator
from tests.testhost import TestHost, generate_key, write_known_hosts

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def h1(make_test_host) -> TestHost:  # type: ignore[no-untyped-def]
    return make_test_host("h1")


@pytest.fixture
def operator(tmp_path: Path, h1: TestHost) -> Operator:
    return Operator(tmp_path / "home", [("h1", h1, None)])


def warden_calls(host: TestHost) -> list[dict[str, object]]:
    return host.calls()


# ------------------------------------------------------------------ host keys


def test_an_unknown_host_key_is_refused_and_nothing_runs(operator: Operator, h1: TestHost) -> None:
    operator.known_hosts.write_text("")
    result = operator.warden("plan", "--env", str(operator.env_file()))
    assert result.returncode == 3, result.stderr
    assert "unknown SSH host key" in result.stderr and "--accept-new" in result.stderr
    assert h1.accepted_logins() == 0
    assert warden_calls(h1) == []


def test_accept_new_records_the_key_and_later_runs_need_no_flag(
    operator: Operator, h1: TestHost
) -> None:
    operator.known_hosts.write_text("")
    env = str(operator.env_file())
    first = operator.warden("plan", "--env", env, "--accept-new")
    assert first.returncode == 0, first.stderr
    recorded = operator.known_hosts.read_text()
    assert h1.host_key_line().split()[2] in recorded
    second = operator.warden("plan", "--env", env)
    assert second.returncode == 0, second.stderr


def test_a_changed_host_key_is_refused_even_with_accept_new(
    operator: Operator, h1: TestHost, tmp_path: Path
) -> None:
    other = generate_key(tmp_path / "impostor")
    where = h1.host_key_line().split()[0]
    operator.known_hosts.write_text(f"{where} {other}\n")
    result = operator.warden("plan", "--env", str(operator.env_file()), "--accept-new")
    assert result.returncode == 3
    assert "CHANGED" in result.stderr
    assert h1.accepted_logins() == 0


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("AGENT_NAME=Atlas-1", "AGENT_NAME"),
        ("AGENT_SUBNET_BASE=127.0.0", "AGENT_SUBNET_BASE"),
        ("CMS_JAIL_NAME=atlas-cms", "CMS_JAIL_NAME"),
        ("SYSTEM_LOCALE=sl_SI.ISO8859-2", "SYSTEM_LOCALE"),
        ("WARDEN_DB_IPP=10.0.1.5", "WARDEN_DB_IPP"),
    ],
)
def test_a_bad_env_exits_2_naming_the_key_and_reaches_no_host(
    operator: Operator, h1: TestHost, line: str, key: str
) -> None:
    env = operator.env_file()
    text = env.read_text()
    name = line.split("=")[0]
    kept = [x for x in text.splitlines() if not x.startswith(name + "=")]
    env.write_text("\n".join([*kept, line]) + "\n")
    result = operator.warden("setup", "--env", str(env), "--yes")
    assert result.returncode == 2
    assert key in result.stderr and str(env) in result.stderr
    assert h1.accepted_logins() == 0, "a connection was made for bad input"
    assert warden_calls(h1) == []


# ------------------------------------------------------------------ preflight and setup


def test_preflight_reports_what_it_found_on_the_test_host(operator: Operator, h1: TestHost) -> None:
    result = operator.warden(
        "setup", "--env", str(operator.env_file()), "--step", "preflight", "--json", "--yes"
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    findings = {f["check"]: f for f in plan["steps"][0]["findings"]}
    assert findings["FreeBSD version"]["level"] == "ok"
    assert "14.3-RELEASE" in findings["FreeBSD version"]["detail"]
    assert findings["Bastille"]["level"] == "warning"
    assert findings["rctl"]["level"] == "warning"
    assert plan["change_count"] == 0
    assert not h1.exists("/var/db/warden/agents/atlas.json"), "preflight changed the host"


def test_setup_registers_the_agent_and_the_second_run_changes_nothing(
    operator: Operator, h1: TestHost
) -> None:
    env = str(operator.env_file())
    first = operator.warden("setup", "--env", env, "--step", "network", "--yes")
    assert first.returncode == 0, first.stderr
    assert "applied 9 change(s)" in first.stdout
    entry = json.loads(h1.read_file("/var/db/warden/agents/atlas.json"))
    assert (entry["subnet"], entry["alias_index"]) == ("10.0.1.0/24", 0)
    journal = h1.read_file("/var/db/warden/journal/warden.jsonl").decode().splitlines()
    records = [json.loads(line) for line in journal]
    assert [r["step"] for r in records] == ["register"] + ["network"] * 8
    assert all(r["result"] == "ok" and r["rc"] == 0 for r in records)

    second = operator.warden("setup", "--env", env, "--step", "network", "--yes", "--json")
    assert second.returncode == 0, second.stderr
    data = json.loads(second.stdout)
    assert data["change_count"] == 0 and data["applied"] == []
    assert len(h1.read_file("/var/db/warden/journal/warden.jsonl").decode().splitlines()) == len(
        journal
    )


def test_agents_lists_what_the_host_registry_holds(operator: Operator, h1: TestHost) -> None:
    for name, base in (("atlas", "10.0.1"), ("nova", "10.0.2")):
        assert (
            operator.warden(
                "setup", "--env", str(operator.env_file(name, base)), "--step", "network", "--yes"
            ).returncode
            == 0
        )
    result = operator.warden("agents", "--host", "h1", "--json")
    assert result.returncode == 0, result.stderr
    agents = json.loads(result.stdout)["agents"]
    assert [(a["agent"], a["subnet"], a["alias_index"]) for a in agents] == [
        ("atlas", "10.0.1.0/24", 0),
        ("nova", "10.0.2.0/24", 1),
    ]


def test_a_second_agent_on_the_same_subnet_is_refused_naming_the_first(
    operator: Operator, h1: TestHost
) -> None:
    assert (
        operator.warden(
            "setup", "--env", str(operator.env_file()), "--step", "network", "--yes"
        ).returncode
        == 0
    )
    result = operator.warden(
        "setup", "--env", str(operator.env_file("nova", "10.0.1")), "--step", "network", "--yes"
    )
    assert result.returncode == 2
    assert "already taken by agent 'atlas'" in " ".join((result.stdout + result.stderr).split())
    assert not h1.exists("/var/db/warden/agents/nova.json")


# ------------------------------------------------------------------ files


def test_a_file_is_placed_with_the_asked_mode_and_owner_atomically(
    operator: Operator, h1: TestHost
) -> None:
    path = "/usr/local/etc/warden/placed.conf"
    old = "old\n" * 20000
    new = "new\n" * 20000
    executor = SSHExecutor("h1", ssh_config=operator.ssh_config)
    try:
        executor.put(path, old, mode=0o640, owner="www", group="wheel")
        inode_before = h1.exec(["stat", "-c", "%i", path]).stdout
        # a second name keeps the first file's inode taken: its number cannot come back
        # for a later file, and a write in place would show through it
        h1.exec(["ln", path, f"{path}.witness"])
        seen: set[bytes] = set()
        stop = threading.Event()

        def read_continuously() -> None:
            while not stop.is_set():
                result = h1.exec(["cksum", path], check=False)
                seen.add(result.stdout.split(b" ")[0])

        reader = threading.Thread(target=read_continuously)
        reader.start()
        for content in (new, old, new):
            executor.put(path, content, mode=0o640, owner="www", group="www")
        stop.set()
        reader.join()
    finally:
        executor.close()
    assert h1.read_file(path).decode() == new
    assert h1.exec(["stat", "-c", "%a %U %G", path]).stdout.decode().split() == [
        "640",
        "www",
        "www",
    ]
    assert h1.exec(["stat", "-c", "%i", path]).stdout != inode_before, "not replaced by rename"
    assert h1.read_file(f"{path}.witness").decode() == old, "written in place"
    h1.exec(["rm", f"{path}.witness"])
    old_sum = subprocess.run(["cksum"], input=old.encode(), capture_output=True).stdout.split()[0]
    new_sum = subprocess.run(["cksum"], input=new.encode(), capture_output=True).stdout.split()[0]
    assert seen <= {old_sum, new_sum}, "a reader saw a half-written file"
    leftovers = h1.exec(["ls", "-A", "/usr/local/etc/warden"]).stdout.decode().split()
    assert leftovers == ["placed.conf"]


# ------------------------------------------------------------------ the host lock


def hold_lock(host: TestHost, seconds: int) -> subprocess.Popen[bytes]:
    """Another apply, as far as the host can tell: lockf holding the warden lock."""
    script = (
        "mkdir -p /var/db/warden && exec lockf -k /var/db/warden/lock sh -c "
        '\'echo "ops@elsewhere, warden run test, step network" > /var/db/warden/lock.holder; '
        f"echo held; sleep {seconds}'"
    )
    proc = subprocess.Popen(
        ["nsenter", "-t", str(host.pid), "-m", "--", "sh", "-c", script],
        stdout=subprocess.PIPE,
        env={"PATH": "/usr/local/libexec/freebsd-double/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"held\n"
    return proc


def test_an_apply_that_cannot_get_the_lock_exits_3_naming_the_holder(
    operator: Operator, h1: TestHost
) -> None:
    holder = hold_lock(h1, 20)
    try:
        started = time.monotonic()
        result = operator.warden(
            "setup", "--env", str(operator.env_file()), "--step", "network", "--yes", lock_wait=1
        )
        assert result.returncode == 3, result.stderr
        assert "ops@elsewhere" in result.stderr and "step network" in result.stderr
        assert time.monotonic() - started < 15
        assert not h1.exists("/var/db/warden/agents/atlas.json")
    finally:
        holder.kill()
        holder.wait()
    # The holder died: the kernel dropped its lock, and the next apply goes through.
    again = operator.warden(
        "setup", "--env", str(operator.env_file()), "--step", "network", "--yes", lock_wait=5
    )
    assert again.returncode == 0, again.stderr


def test_an_apply_waits_for_a_short_holder_then_proceeds(operator: Operator, h1: TestHost) -> None:
    holder = hold_lock(h1, 2)
    try:
        result = operator.warden(
            "setup", "--env", str(operator.env_file()), "--step", "network", "--yes", lock_wait=20
        )
    finally:
        holder.wait()
    assert result.returncode == 0, result.stderr
    assert h1.exists("/var/db/warden/agents/atlas.json")


def test_two_concurrent_applies_never_interleave(operator: Operator, h1: TestHost) -> None:
    runs = [
        operator.popen(
            "setup", "--env", str(operator.env_file(name, base)), "--step", "network", "--yes"
        )
        for name, base in (("atlas", "10.0.1"), ("nova", "10.0.2"))
    ]
    outcomes = [(p.wait(timeout=120), p.communicate()) for p in runs]
    codes = sorted(code for code, _ in outcomes)
    assert codes in ([0, 0], [0, 3]), outcomes
    for code, (_, err) in outcomes:
        if code == 3:
            assert "changed since the plan" in err or "holds the host lock" in err
    entries = [
        json.loads(h1.read_file(f"/var/db/warden/agents/{n}.json"))
        for n in ("atlas", "nova")
        if h1.exists(f"/var/db/warden/agents/{n}.json")
    ]
    assert len({e["alias_index"] for e in entries}) == len(entries), "an alias index was reused"


# ------------------------------------------------------------------ jump hosts


def test_a_host_reachable_only_through_a_jump_host_is_planned_and_set_up(
    tmp_path: Path, jump_hosts: tuple[TestHost, TestHost]
) -> None:
    jump, guest = jump_hosts
    operator = Operator(tmp_path / "home", [("jump", jump, None), ("guest", guest, "jump")])
    env = str(operator.env_file(host="guest"))
    for run in (1, 2):
        result = operator.warden("setup", "--env", env, "--step", "network", "--yes", "--json")
        assert result.returncode == 0, result.stderr
        count = json.loads(result.stdout)["change_count"]
        assert count > 0 if run == 1 else count == 0
    assert guest.exists("/var/db/warden/agents/atlas.json")
    assert not jump.exists("/var/db/warden/agents/atlas.json")
    write_known_hosts(operator.known_hosts, [jump])  # the guest's key forgotten
    refused = operator.warden("plan", "--env", env)
    assert refused.returncode == 3 and "unknown SSH host key" in refused.stderr


def test_setup_without_yes_and_without_a_terminal_changes_nothing(
    operator: Operator, h1: TestHost
) -> None:
    result = operator.warden("setup", "--env", str(operator.env_file()))
    assert result.returncode == 2
    assert "pass --yes" in result.stderr
    assert not h1.exists("/var/db/warden/agents/atlas.json")


def test_dry_run_shows_the_plan_and_changes_nothing(operator: Operator, h1: TestHost) -> None:
    result = operator.warden("setup", "--env", str(operator.env_file()), "--dry-run", "--yes")
    assert result.returncode == 0, result.stderr
    assert "record agent atlas" in result.stdout
    assert not h1.exists("/var/db/warden/agents/atlas.json")

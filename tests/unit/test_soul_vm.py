"""The soul of a bhyve agent: planned only inside its guest, and soul.sync reaching it there.

The end-to-end run (a guest test host behind its host, real sshd, real git) is
tests/integration/test_bhyve.py; these are the plan's and the connector's pieces.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from setup import guest
from setup.config import AgentConfig
from setup.errors import HostError
from setup.planner import facts_request, make_plan
from setup.soul import reach
from setup.soul.sync import sync_hosts
from setup.steps import select, soul
from setup.transport import Executor, Result
from tests.harness.agents import agent
from tests.harness.facts import bravo
from tests.harness.souls import soul_host, with_state

ROOT = Path(__file__).resolve().parents[2]
BHYVE = "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_RUNTIME=bhyve\nWARDEN_ROLES=none\n"


@pytest.fixture
def config(tmp_path: Path, hub: tuple[Path, Path]) -> AgentConfig:
    return agent(tmp_path, BHYVE + f"WARDEN_SOUL_REPO={hub[0]}\n")


def test_a_bhyve_agents_guest_gets_the_clone_and_harness_file_but_no_mirror_or_seed(
    config: AgentConfig,
) -> None:
    assert set(soul.probes(config)) == {"soul.clone", "soul.home"}  # no mirror to read
    facts = with_state(config, soul_host(config, **{"soul.clone": "state=absent\n"}))
    step = soul.plan(config, facts)
    assert step.refusals == []
    assert [c.summary.split(" (")[0] for c in step.changes] == [
        f"clone the soul {config.soul_repo} at main",
        "/home/atlas/CLAUDE.md: CLAUDE.md for claude-code from the soul's adapters/claude-code.md",
    ]
    assert not any(c.deferred or c.sql is not None for c in step.changes)


def test_a_guest_without_the_agents_user_or_git_names_the_steps_to_run_first(
    config: AgentConfig,
) -> None:
    facts = bravo()
    assert soul.requires(config, facts) == [
        ("user", "the agent's user atlas does not exist"),
        ("host", "git is not installed in the VM"),
    ]
    refused = make_plan(config, facts, ["soul"], register=False).refusals
    assert any("run --step user first" in r for r in refused)


def test_the_soul_step_runs_in_the_guest_and_nothing_of_it_is_read_or_planned_on_the_host(
    config: AgentConfig,
) -> None:
    host_steps, guest_steps = guest.split(select(None))
    assert "soul" not in host_steps
    assert "soul" in guest_steps and guest_steps.index("soul") > guest_steps.index("user")
    assert not [p for p in facts_request(config, host_steps).probes if p.startswith("soul.")]
    plan = make_plan(config, bravo(), host_steps, register=True)
    assert "soul" not in [s.name for s in plan.steps]
    assert not [c for c in plan.changes if c.step == "soul"]
    # --step soul alone: nothing for the host but its registry entry, the soul for the guest
    assert guest.split(select(["soul"])) == ([], ["soul"])


def test_an_offline_plan_of_a_bhyve_agent_with_a_soul_defers_its_clone_to_the_guest(
    tmp_path: Path,
) -> None:
    env = tmp_path / "atlas.env"
    env.write_text(
        BHYVE
        + "WARDEN_AGENT_COMMAND=claude\nWARDEN_SOUL_REPO=https://git.example.org/atlas/soul.git\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "plan", "--env", str(env),
         "--offline", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["refused"] is False
    (step,) = [s for s in plan["steps"] if s["step"] == "soul"]
    assert step["refusals"] == []
    assert [c["summary"] for c in step["changes"]] == [
        "clone https://git.example.org/atlas/soul.git at main on this machine and run soul.check"
        " on it; then clone it into /home/atlas/soul inside the guest at 10.0.1.10 and render"
        " the harness files (planned when the guest is read)"
    ]


# ------------------------------------------------------------------ soul.sync


class Recorder(Executor):
    """An executor that only records being closed (no script may run on it)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.closed = False

    def execute(self, command: str, stdin: bytes, on_line: object) -> Result:
        raise AssertionError(f"{self.target}: nothing may run here")

    def close(self) -> None:
        self.closed = True

    def reconnect(self) -> Executor:
        raise AssertionError("no reconnect")


def test_soul_sync_of_a_jail_agent_connects_to_the_host_itself(tmp_path: Path) -> None:
    config = agent(tmp_path, "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_SOUL_REPO=/x\n")
    assert reach.connector_for(config, ["a", "b"]) is reach.host_connector


def test_invoke_soul_sync_of_a_bhyve_agent_on_several_hosts_is_refused_naming_the_runtime(
    config: AgentConfig,
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), "soul.sync", "--env",
         str(config.source), "--host", "h1.invalid,h2.invalid"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "WARDEN_RUNTIME=bhyve" in done.stderr and "one --host target" in done.stderr
    assert "cannot connect" not in done.stderr + done.stdout


def test_soul_sync_goes_to_the_guest_through_the_host_and_closes_both(
    config: AgentConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts: list[Recorder] = []
    guests: list[tuple[Executor, str, Recorder]] = []

    def to_host(target: str) -> Executor:
        hosts.append(Recorder(target))
        return hosts[-1]

    def connect_guest(host: Executor, address: str) -> Executor:
        guests.append((host, address, Recorder(f"{address} (guest, via {host.target})")))
        return guests[-1][2]

    monkeypatch.setattr(reach, "connect_guest", connect_guest)
    executor = reach.guest_connector("10.0.1.10", to_host)("h1")
    assert executor.target == "10.0.1.10 (guest, via h1)"
    assert guests[0][:2] == (hosts[0], "10.0.1.10")
    executor.close()
    assert hosts[0].closed and guests[0][2].closed


def test_a_guest_that_cannot_be_reached_is_unreachable_and_its_hosts_connection_closed(
    config: AgentConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts: list[Recorder] = []

    def to_host(target: str) -> Executor:
        hosts.append(Recorder(target))
        return hosts[-1]

    def connect_guest(host: Executor, address: str) -> Executor:
        raise HostError(f"{address} (guest, via {host.target}): no SSH host key is pinned")

    monkeypatch.setattr(reach, "connect_guest", connect_guest)
    rows = sync_hosts(config, ["h1"], reach.guest_connector("10.0.1.10", to_host))
    assert [(r.target, r.state, r.exit_code) for r in rows] == [("h1", "unreachable", 3)]
    assert "no SSH host key is pinned" in rows[0].advice
    assert hosts[0].closed

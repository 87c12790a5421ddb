"""What an adversarial review of the one-engine teardown found, each fixed and kept
here: a home left after its user is gone is refused whatever --keep-data says, a job's
captured entry belongs to its own host, a step refused when planned again sends
nothing, a dump may take as long as a slow change, a refusal copies and pickles."""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from setup import apply as apply_module
from setup.errors import ChangeFailed, Refusal
from setup.facts import Section
from setup.job import Wording
from setup.ops import run
from setup.plan import Change, Plan, StepPlan
from setup.teardown import TeardownJob, plan_teardown
from tests.harness.agents import BASE, agent, with_registered
from tests.harness.facts import bravo, registered_with_jails

NO_ROLES = "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=none\n"


def test_keep_data_rerun_does_not_unregister_past_a_home_left(tmp_path: Path) -> None:
    """A teardown cut after `pw userdel` (passwd entry gone, home still full: pw removes
    the entry before rm_r), or one whose home pw could not empty, refuses with
    teardown.home-left. Rerun with --keep-data the same host is unregistered: the home
    stays, owned by a UID that free_uid will give to the next agent."""
    config = agent(tmp_path, NO_ROLES)
    registered = with_registered(bravo(), config)  # the entry still there; user gone
    after = replace(
        registered,
        probes={**registered.probes, "teardown.paths": Section("/home/atlas\n", 0)},
    )
    plain = plan_teardown(config, after, keep_data=False, force=False)
    assert [r.code for r in plain.refusals] == ["teardown.home-left"]
    kept = plan_teardown(config, after, keep_data=True, force=False)
    assert [r.code for r in kept.refusals] == ["teardown.home-left"], [
        c.summary for c in kept.changes
    ]


def test_a_teardown_job_does_not_carry_one_hosts_entry_to_another(tmp_path: Path) -> None:
    """TeardownJob keeps the first entry it sees. The Job protocol lets the engine run
    one job on several hosts (on_many); a host where atlas is NOT warden's agent (a user
    atlas of someone else's) then gets a teardown planned from the other host's entry."""
    config = agent(tmp_path, NO_ROLES)
    job = TeardownJob(config, keep_data=False, force=True)
    host1 = with_registered(bravo(), config)
    job.plan(host1)
    host2 = replace(bravo(users={"atlas": 2001}, groups={"atlas": 2001}), target="other")
    plan2 = job.plan(host2)
    assert plan2.changes == [], [c.summary for c in plan2.changes]


def test_refusal_survives_copy_and_pickle() -> None:
    """Refusal is a str subclass whose __new__ takes (code, text): copy.copy, deepcopy,
    pickle (and dataclasses.asdict of anything holding one) raise TypeError."""
    refusal = Refusal("teardown.home-left", "text")
    assert copy.deepcopy(refusal).code == "teardown.home-left"
    assert pickle.loads(pickle.dumps(refusal)).code == "teardown.home-left"


@dataclass
class _Job:
    """Step a is clean; step b, planned against the facts a left, refuses AND has a
    change (git.py:228 continues after a refusal, as does teardown's soul check)."""

    config: Any
    planned: list[str] = field(default_factory=list)

    def read(self, executor: Any) -> Any:
        return self.config  # facts are unused by this job

    def plan(self, facts: Any) -> Plan:  # pragma: no cover - not used
        raise AssertionError

    def plan_step(self, name: str, facts: Any) -> StepPlan:
        if name == "a":
            return StepPlan("a")
        step = StepPlan("b", changes=[Change("b", "write something", ops=(run("true"),))])
        step.refuse("b.refused", "b: refused")
        return step

    def rounds(self, name: str) -> int:
        return 1

    def wording(self) -> Wording:
        return Wording()


class _Host:
    target = "bravo"


def test_apply_steps_does_not_send_a_refused_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[str] = []
    monkeypatch.setattr(
        apply_module, "run_step", lambda executor, step, changes, facts, **kw: sent.append(step)
    )
    job = _Job(agent(tmp_path, NO_ROLES))
    with pytest.raises(ChangeFailed):
        apply_module.apply_steps(_Host(), job, object(), ["a", "b"])  # type: ignore[arg-type]
    assert sent == [], "a step whose re-plan refuses was sent to the host anyway"


def test_a_dump_longer_than_ten_minutes_is_not_cut(tmp_path: Path) -> None:
    """The dump change is slow (SLOW_SECONDS, 6 h), but pg_dump itself runs through
    Server.as_postgres, a Run with the default CHANGE_SECONDS: warden_run_to 600. A
    brain whose dump takes more than ten minutes can never be dumped, and since
    teardown.brain still answers, --force does not skip the dump either."""
    from setup.domains import SLOW_SECONDS
    from setup.ops import Run

    config = agent(tmp_path, BASE)
    facts = registered_with_jails(config, running=True, brain=True)
    plan = plan_teardown(config, facts, keep_data=False, force=True)
    (dump,) = [c for c in plan.changes if c.summary.startswith("dump database")]
    (pg_dump,) = [op for op in dump.ops if isinstance(op, Run) and op.stdout is not None]
    assert pg_dump.seconds >= SLOW_SECONDS, pg_dump.sh()

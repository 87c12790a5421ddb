"""Teardown plans from the registry entry only: nothing of an unregistered name is
touched, a VM agent is refused as not built, and a database that cannot be dumped
first stops the teardown unless --force."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from setup.facts import Section
from setup.registry import entry_for, load_entries
from setup.teardown import plan_teardown
from tests.harness.agents import BASE, agent, with_registered
from tests.harness.facts import bravo, registered_with_jails


def test_an_unregistered_agent_plans_nothing_even_if_its_names_exist(tmp_path: Path) -> None:
    config = agent(tmp_path)
    facts = bravo(users={"atlas": 2001}, jails_defined=("atlasdb",))
    plan = plan_teardown(config, facts, keep_data=False, force=False)
    assert plan.changes == [] and plan.refusals == []


def test_a_vm_agent_is_refused_as_not_built(tmp_path: Path) -> None:
    config = agent(
        tmp_path,
        "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_RUNTIME=bhyve\nWARDEN_ROLES=none\n",
    )
    plan = plan_teardown(config, with_registered(bravo(), config), keep_data=False, force=False)
    assert plan.changes == []
    assert [r.code for r in plan.refusals] == ["teardown.bhyve-not-built"]


def test_a_db_jail_without_a_running_server_refuses_unless_forced(tmp_path: Path) -> None:
    config = agent(tmp_path, BASE)
    facts = registered_with_jails(config, running=False, brain=False)
    assert entry_for(config, facts).jails["db"] == "atlasdb"
    refused = plan_teardown(config, facts, keep_data=False, force=False)
    assert [r.code for r in refused.refusals] == ["teardown.no-dump"]
    forced = plan_teardown(config, facts, keep_data=False, force=True)
    assert forced.refusals == []
    summaries = [c.summary for c in forced.changes]
    assert not any(s.startswith("dump") for s in summaries)
    assert "destroy jail atlasdb (db)" in summaries and "destroy jail atlasgit (git)" in summaries


def test_every_process_of_the_agent_is_killed_as_it_before_and_with_its_removal(
    tmp_path: Path,
) -> None:
    config = agent(tmp_path, "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=none\n")
    facts = with_registered(bravo(), config)
    facts = replace(
        facts,
        users={**facts.users, "atlas": 2001},
        probes={**facts.probes, "teardown.processes": Section("  4242\n", 0)},
    )
    plan = plan_teardown(config, facts, keep_data=True, force=True)
    (stop,) = [c for c in plan.changes if c.summary.startswith("stop every process")]
    assert "chroot -u atlas -g atlas -G atlas / " in stop.sh() and "'kill -9 -1'" in stop.sh()
    assert "ps -U atlas -o pid=" in stop.sh()
    assert not any("remove user" in c.summary for c in plan.changes)  # --keep-data
    removal = next(
        c
        for c in plan_teardown(config, facts, keep_data=False, force=True).changes
        if c.summary.startswith("remove user atlas")
    )
    first, second = removal.ops
    assert "'kill -9 -1'" in first.sh() and second.sh() == "pw userdel atlas -r"


NO_ROLES = "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=none\n"


def test_a_home_left_after_its_user_is_gone_is_refused_by_the_check_with_the_entry_captured(
    tmp_path: Path,
) -> None:
    config = agent(tmp_path, NO_ROLES)
    entry = load_entries(with_registered(bravo(), config))[0]["atlas"]
    # the check after the run: the user is gone, its home is not (files it did not own)
    after = bravo(probes={"teardown.paths": Section("/home/atlas\n", 0)})
    checked = plan_teardown(config, after, keep_data=False, force=False, entry=entry)
    assert [r.code for r in checked.refusals] == ["teardown.home-left"]
    assert "/home/atlas" in checked.refusals[0]
    # without the entry taken at the start, the same host looks like nothing to do
    assert plan_teardown(config, after, keep_data=False, force=False).refusals == []


def test_the_dump_of_this_run_is_taken_once(tmp_path: Path) -> None:
    config = agent(tmp_path, BASE)
    now = datetime(2026, 12, 8, 1, 2, 3, tzinfo=UTC)
    facts = registered_with_jails(config, running=True, brain=True)
    first = plan_teardown(config, facts, keep_data=False, force=False, now=now)
    assert any(c.summary.startswith("dump database") for c in first.changes)
    dumped = replace(
        facts,
        probes={
            **facts.probes,
            "teardown.dumps": Section("atlas_brain-20261208T010203Z.dump\n", 0),
        },
    )
    again = plan_teardown(config, dumped, keep_data=False, force=False, now=now)
    assert not any(c.summary.startswith("dump database") for c in again.changes)


def test_a_db_jail_stopped_by_keep_data_keeps_its_data_without_a_dump(tmp_path: Path) -> None:
    config = agent(tmp_path, BASE)
    facts = registered_with_jails(config, running=False, brain=False)
    kept = plan_teardown(config, facts, keep_data=True, force=False)
    assert kept.refusals == []
    assert not any(c.summary.startswith("dump database") for c in kept.changes)

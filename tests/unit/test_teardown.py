"""Teardown plans from the registry entry only: nothing of an unregistered name is
touched, a VM agent is refused as not built, and a database that cannot be dumped
first stops the teardown unless --force."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from setup.facts import Section
from setup.registry import entry_for
from setup.teardown import plan_teardown
from tests.harness.agents import BASE, agent, with_registered
from tests.harness.facts import bravo


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
    assert plan.changes == [] and "bhyve VM" in plan.refusals[0]


def test_a_db_jail_without_a_running_server_refuses_unless_forced(tmp_path: Path) -> None:
    config = agent(tmp_path, BASE)
    facts = with_registered(bravo(), config)
    facts = replace(
        facts,
        jails_defined=("atlasdb", "atlasgit"),
        probes={**facts.probes, "teardown.brain": Section("", 1)},
    )
    assert entry_for(config, facts).jails["db"] == "atlasdb"
    refused = plan_teardown(config, facts, keep_data=False, force=False)
    assert any("cannot be dumped first" in r for r in refused.refusals)
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

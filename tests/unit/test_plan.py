"""Plans are pure: facts in, changes out. Each case also checks the second run is empty."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace
from pathlib import Path

import pytest

from setup.collisions import find_collisions
from setup.config import AgentConfig, load_config
from setup.errors import Refusal, Refused
from setup.facts import Facts, Interface, Route, fresh_host
from setup.plan import StepPlan
from setup.planner import make_plan, registration
from setup.registry import entry_for
from setup.steps import preflight, select


@pytest.fixture
def config(tmp_path: Path) -> AgentConfig:
    env = tmp_path / ".env"
    env.write_text("AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=db,git,cms\n")
    return load_config(env)


def host(**changes: object) -> Facts:
    return replace(fresh_host("bravo"), assumed=False, **changes)  # type: ignore[arg-type]


def registered(config: AgentConfig, facts: Facts) -> Facts:
    """The facts after the registration change was applied."""
    text = entry_for(config, facts).to_json()
    snapshot = (
        facts.registry_snapshot + f"== /var/db/warden/agents/{config.agent_name}.json\n{text}\n"
    )
    return replace(
        facts, registry={**facts.registry, config.agent_name: text}, registry_snapshot=snapshot
    )


def levels(step: StepPlan) -> dict[str, str]:
    return {f.check: f.level for f in step.findings}


def test_preflight_on_a_fresh_freebsd_14_host_has_warnings_but_no_errors(
    config: AgentConfig,
) -> None:
    step = preflight.plan(config, host())
    assert step.errors == []
    assert levels(step)["Bastille"] == "warning"
    assert levels(step)["rctl"] == "warning"
    assert step.changes == []


def test_preflight_refuses_freebsd_13(config: AgentConfig) -> None:
    step = preflight.plan(config, host(userland="13.2-RELEASE-p4", kernel="13.2-RELEASE"))
    assert levels(step)["FreeBSD version"] == "error"


def test_preflight_refuses_a_host_that_is_not_freebsd(config: AgentConfig) -> None:
    step = preflight.plan(config, host(os_name="Linux"))
    assert [f.check for f in step.errors] == ["system"]


@pytest.mark.parametrize(
    ("version", "level"), [("1.3.2.250101", "error"), ("1.4.4", "ok"), ("0.14.20250126", "error")]
)
def test_preflight_needs_bastille_1_4_or_newer(
    config: AgentConfig, version: str, level: str
) -> None:
    assert levels(preflight.plan(config, host(bastille_version=version)))["Bastille"] == level


def test_preflight_says_racct_needs_loader_conf_and_a_reboot(config: AgentConfig) -> None:
    rctl = next(f for f in preflight.plan(config, host()).findings if f.check == "rctl")
    assert "/boot/loader.conf" in rctl.detail and "reboot" in rctl.detail


def test_a_fresh_host_gets_one_registration_change_and_then_none(config: AgentConfig) -> None:
    facts = host()
    first = make_plan(config, facts, ["preflight"], register=True)
    assert [c.step for c in first.changes] == ["register"]
    again = make_plan(config, registered(config, facts), ["preflight"], register=True)
    assert again.changes == [] and again.refusals == []


def test_preflight_alone_registers_nothing(config: AgentConfig) -> None:
    assert make_plan(config, host(), ["preflight"], register=False).changes == []


def test_the_alias_index_skips_indexes_used_in_rc_conf_and_by_other_agents(
    config: AgentConfig,
) -> None:
    other = json.loads(entry_for(config, host()).to_json())
    other.update(agent="nova", subnet="10.0.2.0/24", gateway="10.0.2.1", alias_index=1, jails={})
    facts = host(
        rc_conf={"ifconfig_warden0_alias0": "inet 192.168.9.1/24"},
        registry={"nova": json.dumps(other)},
    )
    assert entry_for(config, facts).alias_index == 2


def test_an_agent_keeps_its_recorded_alias_index(config: AgentConfig) -> None:
    # Registered while alias0 belonged to a manual install: the agent got index 1 ...
    facts = registered(config, host(rc_conf={"ifconfig_warden0_alias0": "inet 192.168.9.1/24"}))
    assert entry_for(config, facts).alias_index == 1
    # ... and keeps it after alias0 is gone: indexes are never reshuffled.
    assert entry_for(config, replace(facts, rc_conf={})).alias_index == 1
    assert registration(config, replace(facts, rc_conf={})).changes == []


def test_a_subnet_another_agent_owns_is_refused_naming_that_agent(config: AgentConfig) -> None:
    other = json.loads(entry_for(config, host()).to_json())
    other.update(agent="nova", jails={})
    facts = host(registry={"nova": json.dumps(other)})
    (problem,) = find_collisions(config, facts)
    assert problem.code == "collision.subnet-taken" and "agent 'nova'" in problem


def test_an_address_already_on_the_host_inside_the_subnet_is_refused(config: AgentConfig) -> None:
    em1 = Interface("em1", ("UP",), (ipaddress.IPv4Interface("10.0.1.77/24"),))
    facts = host(interfaces={**host().interfaces, "em1": em1})
    problems = find_collisions(config, facts)
    assert [p.code for p in problems] == ["collision.address"]
    assert "10.0.1.77/24 on em1" in problems[0]


def test_a_route_overlapping_the_subnet_is_refused(config: AgentConfig) -> None:
    facts = host(routes=(*host().routes, Route("10.0.0.0/16", "192.0.2.254", "UGS", "vtnet0")))
    (problem,) = find_collisions(config, facts)
    assert problem.code == "collision.route" and "route 10.0.0.0/16" in problem


def test_the_agents_own_gateway_on_warden0_is_not_a_collision(config: AgentConfig) -> None:
    warden0 = Interface(
        "warden0", ("UP",), (ipaddress.IPv4Interface("10.0.1.1/24"),), groups=("bridge",)
    )
    facts = registered(
        config,
        host(
            interfaces={**host().interfaces, "warden0": warden0},
            routes=(*host().routes, Route("10.0.1.0/24", "link#3", "U", "warden0")),
        ),
    )
    assert find_collisions(config, facts) == []


def test_the_same_gateway_without_a_registry_entry_is_someone_elses(config: AgentConfig) -> None:
    warden0 = Interface("warden0", ("UP",), (ipaddress.IPv4Interface("10.0.1.1/24"),))
    facts = host(interfaces={**host().interfaces, "warden0": warden0})
    assert "collision.address" in [p.code for p in find_collisions(config, facts)]


def test_an_existing_rc_d_script_or_user_of_the_agents_name_is_never_taken_over(
    config: AgentConfig,
) -> None:
    facts = host(rc_scripts=frozenset({"atlas"}), users={"root": 0, "atlas": 1001})
    problems = find_collisions(config, facts)
    assert [p.code for p in problems] == ["collision.rc-script", "collision.user"]


def test_a_jail_of_the_same_name_made_by_someone_else_is_refused(config: AgentConfig) -> None:
    problems = find_collisions(config, host(jails_defined=("atlasdb",)))
    assert [p.code for p in problems] == ["collision.jail-exists"]
    assert "DB_JAIL_NAME" in problems[0]


def test_a_plan_with_collisions_is_refused(config: AgentConfig) -> None:
    plan = make_plan(config, host(jails_defined=("atlasgit",)), ["preflight"], register=True)
    assert plan.to_json()["refused"] is True
    assert plan.to_json()["refusal_codes"] == ["collision.jail-exists"]


def test_step_selection_names_the_available_steps() -> None:
    built = ["preflight", "host", "network", "pf", "user", "db", "git", "cms", "ollama"]
    built.append("llama-cpp")
    assert select(None) == [*built, "soul", "service", "bhyve"]
    assert select(["service,network"]) == ["network", "service"]
    with pytest.raises(Refused, match=r"no such step; available steps: preflight, host, network"):
        select(["teardown"])
    with pytest.raises(Refused, match="no such step"):
        select(["netwrok"])


def test_a_registry_entry_with_a_garbled_subnet_is_reported_not_a_crash(
    config: AgentConfig,
) -> None:
    other = json.loads(entry_for(config, host()).to_json())
    other.update(agent="nova", subnet="nova-net")
    problems = find_collisions(config, host(registry={"nova": json.dumps(other)}))
    assert problems == ["/var/db/warden/agents/nova.json is not a valid registry entry"]
    assert problems[0].code == "collision.registry-unreadable"


@pytest.mark.parametrize("code", ["", "Bad", "db.", ".db", "db..x", "db x", "db/x"])
def test_a_refusal_code_that_is_not_dotted_lowercase_words_is_a_bug(code: str) -> None:
    with pytest.raises(ValueError):
        Refusal(code, "text")


def test_a_refusal_reads_as_its_text_and_carries_its_code() -> None:
    refusal = Refusal("pf.would-block", "pf: pf is off")
    assert refusal == "pf: pf is off" and refusal.code == "pf.would-block"
    assert "; ".join([refusal, refusal]) == "pf: pf is off; pf: pf is off"

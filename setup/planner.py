"""From a config and a host's facts to a Plan.

The plan is computed before anything is done, shown, and only then applied; the same
functions re-plan each step after it ran, so "the step is right" has one definition.
"""

from __future__ import annotations

from .collisions import find_collisions
from .config import AgentConfig
from .facts import Facts
from .plan import Change, FileWrite, Plan, StepPlan
from .registry import entry_for, path_for
from .steps import BUILT

REGISTER = "register"


def wants_registration(requested: list[str] | None, steps: list[str]) -> bool:
    """A full run, or any step beyond the read-only preflight, claims the agent first.

    The claim (the registry entry) is what stops a second operator from handing out the
    same /24, alias index or jail names, so it is written before anything else.
    """
    return not requested or any(name != "preflight" for name in steps)


def facts_request(config: AgentConfig, steps: list[str]) -> tuple[list[str], list[str]]:
    """The packages and managed files the steps' plans need to see."""
    packages: list[str] = []
    files: list[str] = []
    for name in steps:
        module = BUILT[name]
        packages += [p for p in module.packages(config) if p not in packages]
        files += [f for f in module.files(config) if f not in files]
    return packages, files


def registration(config: AgentConfig, facts: Facts) -> StepPlan:
    """Record the agent in the host registry when its entry is missing or differs."""
    entry = entry_for(config, facts)
    wanted = entry.to_json()
    current = facts.registry.get(config.agent_name)
    step = StepPlan(REGISTER)
    if current != wanted:
        verb = "record" if current is None else "update"
        step.changes.append(
            Change(
                REGISTER,
                f"{verb} agent {config.agent_name} in the host registry "
                f"(subnet {entry.subnet}, alias index {entry.alias_index})",
                files=(FileWrite(path_for(config.agent_name), wanted, 0o644, before=current),),
            )
        )
    return step


def plan_step(name: str, config: AgentConfig, facts: Facts) -> StepPlan:
    """One step's plan against these facts."""
    if name == REGISTER:
        return registration(config, facts)
    plan: StepPlan = BUILT[name].plan(config, facts)
    return plan


def make_plan(config: AgentConfig, facts: Facts, steps: list[str], *, register: bool) -> Plan:
    """The whole plan: preflight first, then registration, then the other steps."""
    order = list(steps)
    if register:
        at = 1 if order and order[0] == "preflight" else 0
        order.insert(at, REGISTER)
    return Plan(
        config=config,
        facts=facts,
        steps=[plan_step(name, config, facts) for name in order],
        collisions=find_collisions(config, facts),
    )

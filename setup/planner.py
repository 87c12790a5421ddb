"""From a config and a host's facts to a Plan.

The plan is computed before anything is done, shown, and only then applied; the same
functions re-plan each step after it ran, so "the step is right" has one definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .collisions import find_collisions
from .config import AgentConfig
from .domains import Location
from .errors import Refusal
from .facts import Facts, Probe, fresh_host, locations
from .ops import put
from .plan import Change, Plan, StepPlan, preflight_refusal
from .registry import entry_for, path_for
from .steps import BUILT

REGISTER = "register"


def wants_registration(requested: list[str] | None, steps: list[str]) -> bool:
    """A full run, or any step beyond the read-only preflight, claims the agent first.

    The claim (the registry entry) is what stops a second operator from handing out the
    same /24, alias index or jail names, so it is written before anything else.
    """
    return not requested or any(name != "preflight" for name in steps)


@dataclass(frozen=True)
class FactsRequest:
    """What the steps' plans need the facts script to read beyond the basics."""

    packages: list[str] = field(default_factory=list)
    files: list[Location] = field(default_factory=list)
    probes: dict[str, Probe] = field(default_factory=dict)


def facts_request(config: AgentConfig, steps: list[str]) -> FactsRequest:
    """The packages, managed files and probes the steps' plans need to see."""
    request = FactsRequest()
    for name in steps:
        if name == REGISTER:
            continue
        module = BUILT[name]
        request.packages.extend(p for p in module.packages(config) if p not in request.packages)
        request.files.extend(f for f in locations(module.files(config)) if f not in request.files)
        probes = getattr(module, "probes", None)
        if probes is not None:
            request.probes.update(probes(config))
    return request


def prerequisites(config: AgentConfig, facts: Facts, steps: list[str]) -> list[Refusal]:
    """Why a step cannot run: something an earlier step makes is missing, and that
    step is not part of this run (`--step` never silently runs other steps)."""
    reasons: list[Refusal] = []
    for name in steps:
        requires = getattr(BUILT.get(name), "requires", None)
        if requires is None:
            continue
        for provider, missing in requires(config, facts):
            if provider not in steps:
                reasons.append(
                    Refusal(
                        f"{name}.needs-{provider}",
                        f"{name}: {missing}: run --step {provider} first",
                    )
                )
    return reasons


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
                ops=(put(path_for(config.agent_name), wanted, 0o644, before=current),),
            )
        )
    return step


def plan_step(name: str, config: AgentConfig, facts: Facts) -> StepPlan:
    """One step's plan against these facts. A file the step reads that exists but could
    not be read in its domain (a link an agent planted towards a file it may not read,
    a read that did not finish) refuses the step: its content is never guessed."""
    if name == REGISTER:
        return registration(config, facts)
    unreadable = [
        Refusal(
            f"{name}.unreadable-file",
            f"{name}: {where} cannot be read as its owner ({where.domain.label()}): "
            f"{facts.unreadable[where]}; fix it by hand",
        )
        for where in locations(BUILT[name].files(config))
        if where in facts.unreadable
    ]
    if unreadable:
        return StepPlan(name, refusals=unreadable)
    plan: StepPlan = BUILT[name].plan(config, facts)
    return plan


def make_plan(config: AgentConfig, facts: Facts, steps: list[str], *, register: bool) -> Plan:
    """The whole plan: preflight first, then registration, then the other steps."""
    order = list(steps)
    if register:
        at = 1 if order and order[0] == "preflight" else 0
        order.insert(at, REGISTER)
    planned = [plan_step(name, config, facts) for name in order]
    missing = prerequisites(config, facts, order)
    if "preflight" not in order and any(name != REGISTER for name in order):
        # An unfit host (wrong OS, too old, Bastille 1.3) is refused whatever --step says.
        missing += [preflight_refusal(f) for f in plan_step("preflight", config, facts).errors]
    if missing and planned:
        planned[0].refusals.extend(missing)
    return Plan(
        config=config,
        facts=facts,
        steps=planned,
        collisions=find_collisions(config, facts),
    )


def offline_facts(config: AgentConfig, steps: list[str]) -> Facts:
    """The facts of a fresh host of the agent's release, with every file the steps
    read absent: what --offline plans against (no connection is made)."""
    request = facts_request(config, steps)
    facts = fresh_host(config.host, config.release or "14.3-RELEASE")
    return facts.with_files(dict.fromkeys(request.files))

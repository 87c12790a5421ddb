"""What a command does on one host, in the terms the engine drives: how to read the
host, how to plan it, and how to plan one step again once the step has run.

setup, plan, the bhyve guest and teardown are each one of these; the engine
(setup/engine.py) runs every one of them through the same read → plan → show →
confirm → apply → re-read and verify loop, so a fix to that loop is a fix to all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .config import AgentConfig
from .facts import Facts
from .plan import Plan, StepPlan
from .planner import make_plan, plan_step
from .reading import read_host
from .steps import BUILT
from .transport import Executor


class Job(Protocol):
    """One command's work on one host."""

    config: AgentConfig

    def read(self, executor: Executor) -> Facts:
        """Everything the plan needs to know about the host, in one round trip where
        the steps allow it."""
        ...

    def plan(self, facts: Facts) -> Plan:
        """The whole plan, shown before anything is done."""
        ...

    def plan_step(self, name: str, facts: Facts) -> StepPlan:
        """One step's plan against these facts: what apply sends, and, after the step
        ran, what must be empty for the step to count as done."""
        ...

    def rounds(self, name: str) -> int:
        """How many times a step may be planned and sent in one run (a step whose
        later changes can only be planned once its first ones ran)."""
        ...

    def wording(self) -> Wording:
        """How the command speaks of its work in the output."""
        ...


@dataclass(frozen=True)
class Wording:
    """The lines a command prints around the engine's run."""

    done: str = "applied {count} change(s) on {target}"
    nothing: str = ""


@dataclass
class SetupJob:
    """setup (and plan: setup without the apply) for the selected steps."""

    config: AgentConfig
    steps: list[str]
    register: bool

    def read(self, executor: Executor) -> Facts:
        return read_host(executor, self.config, self.steps)

    def plan(self, facts: Facts) -> Plan:
        return make_plan(self.config, facts, self.steps, register=self.register)

    def plan_step(self, name: str, facts: Facts) -> StepPlan:
        return plan_step(name, self.config, facts)

    def rounds(self, name: str) -> int:
        return int(getattr(BUILT.get(name), "ROUNDS", 1))

    def wording(self) -> Wording:
        return Wording()

"""Changes and plans: what a run would do, computed before anything is done.

A step's plan is a pure function of the config and the facts. No Change means the
step is already right, which is how a re-run proves it has nothing to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from .config import AgentConfig
from .errors import Refusal
from .facts import Facts
from .ops import Op, Put, pkg_install

Level = Literal["error", "warning", "ok"]


@dataclass(frozen=True)
class Change:
    """One thing a step will do: a summary and the operations that do it (setup/ops.py).

    What a plan shows (`to_json`, the table) and what runs (`sh`) are the same
    operations rendered twice, so the two cannot differ.
    """

    step: str
    summary: str
    ops: tuple[Op, ...] = ()
    # sh to run over a NEW connection after the step, to disarm a dead-man switch the
    # change armed (a change that could cut the connection that made it).
    confirm: Op | None = None
    # long-running (downloads): progress shows it when it starts, not only when done.
    slow: bool = False
    # SQL run by warden itself through its database session (setup/db), not by sh.
    sql: Any = None
    # known only once an earlier change has run (a server that is not up yet): shown
    # in the plan, planned for real in the step's next round, never sent as it is.
    deferred: bool = False

    @property
    def secret(self) -> bool:
        """An operation carries a secret (a verifier, a key): its output is not shown."""
        return any(op.secret for op in self.ops)

    @property
    def files(self) -> tuple[Put, ...]:
        """The files the change places, each shown as a diff."""
        ops = (*self.ops, *([self.confirm] if self.confirm is not None else []))
        return tuple(p for op in ops for p in op.puts())

    @property
    def commands(self) -> tuple[str, ...]:
        """What runs, an operation a line (file puts included), as a plan shows it."""
        return tuple(op.shown() for op in self.ops)

    def sh(self, redact: bool = False) -> str:
        """The change as sh lines, run under `set -e` by apply (with redact, as shown:
        for scripts written for review, never for a host)."""
        return "\n".join(op.shown() if redact else op.sh() for op in self.ops)

    @property
    def runs_as_sh(self) -> bool:
        """Sent to the host in the step's script (not SQL, not deferred)."""
        return self.sql is None and not self.deferred

    def to_json(self) -> dict[str, Any]:
        """The change for --json: summaries, commands and diffs, never secrets."""
        return {
            "summary": self.summary,
            "commands": list(self.commands),
            "kind": "sql" if self.sql is not None else "deferred" if self.deferred else "sh",
            "files": [
                {
                    "path": str(f.location),
                    "domain": f.domain.label(),
                    "mode": f"{f.mode:04o}",
                    "owner": f"{f.owner}:{f.group}",
                    "diff": f.diff(),
                }
                for f in self.files
            ],
        }


def install(step: str, facts: Facts, wanted: list[str], why: str = "") -> list[Change]:
    """`pkg install -y` of the wanted packages the host lacks: a change (that downloads,
    so progress shows it starting), or none."""
    missing = [p for p in wanted if not facts.packages.get(p)]
    if not missing:
        return []
    summary = f"install packages: {', '.join(missing)}" + (f" ({why})" if why else "")
    return [Change(step, summary, ops=(pkg_install(missing),), slow=True)]


@dataclass(frozen=True)
class Finding:
    """A preflight observation: an error stops the run, a warning does not."""

    level: Level
    check: str
    detail: str


@dataclass
class StepPlan:
    """A step's part of a plan."""

    name: str
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """The findings that stop the run."""
        return [f for f in self.findings if f.level == "error"]

    def refuse(self, code: str, text: str) -> None:
        """Refuse the step: `code` for tests and tools, `text` for the operator."""
        self.refusals.append(Refusal(code, text))


@dataclass
class Plan:
    """Everything one run would do on one host for one agent."""

    config: AgentConfig
    facts: Facts
    steps: list[StepPlan]
    collisions: list[Refusal] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        """All changes, in step order."""
        return [c for s in self.steps for c in s.changes]

    @property
    def refusals(self) -> list[Refusal]:
        """Why this plan must not be applied (collisions, missing prerequisites, errors)."""
        reasons = list(self.collisions)
        for step in self.steps:
            reasons += step.refusals
            reasons += [preflight_refusal(f) for f in step.errors]
        return reasons

    def to_json(self) -> dict[str, Any]:
        """The plan for --json."""
        return {
            "target": self.facts.target,
            "agent": self.config.agent_name,
            "offline": self.facts.assumed,
            "assumed_host": _assumption(self.facts) if self.facts.assumed else None,
            "collisions": self.collisions,
            "refused": bool(self.refusals),
            "refusal_codes": [r.code for r in self.refusals],
            "steps": [
                {
                    "step": s.name,
                    "findings": [vars(f) for f in s.findings],
                    "refusals": s.refusals,
                    "refusal_codes": [r.code for r in s.refusals],
                    "changes": [c.to_json() for c in s.changes],
                }
                for s in self.steps
            ],
            "change_count": len(self.changes),
        }


def preflight_refusal(finding: Finding) -> Refusal:
    """A preflight error as a refusal: its check names the code."""
    check = re.sub(r"[^a-z0-9]+", "-", finding.check.lower()).strip("-") or "error"
    return Refusal(f"preflight.{check}", f"preflight: {finding.check}: {finding.detail}")


def _assumption(facts: Facts) -> str:
    return (
        f"no connection was made: a fresh FreeBSD {facts.userland} host is assumed "
        "(nothing installed, no agents, no warden0)"
    )


def assumption_text(facts: Facts) -> str:
    """What --offline assumed, for the output."""
    return _assumption(facts)

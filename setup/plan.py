"""Changes and plans: what a run would do, computed before anything is done.

A step's plan is a pure function of the config and the facts. No Change means the
step is already right, which is how a re-run proves it has nothing to do.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Literal

from .config import AgentConfig
from .facts import Facts
from .shell import put_file, put_file_as

Level = Literal["error", "warning", "ok"]


@dataclass(frozen=True)
class FileWrite:
    """A managed file as it should be, and as it is now (None: absent)."""

    path: str
    content: str
    mode: int
    owner: str = "root"
    group: str = "wheel"
    before: str | None = None
    secret: bool = False
    # written as this user (a file in that user's own directory), not by root
    as_user: str | None = None

    def diff(self) -> str:
        """A unified diff from the current file; secrets are never shown."""
        if self.secret:
            return f"(secret file {self.path}: content not shown)\n"
        old = [] if self.before is None else self.before.splitlines(keepends=True)
        new = self.content.splitlines(keepends=True)
        label = "/dev/null" if self.before is None else f"a{self.path}"
        return "".join(difflib.unified_diff(old, new, label, f"b{self.path}"))

    def sh(self, redact: bool = False) -> str:
        """The sh that places the file (atomically: see shell.LIBRARY); with redact, a
        secret's content is left out (for scripts written for review)."""
        content = "(secret: not rendered)\n" if redact and self.secret else self.content
        if self.as_user is not None:
            return put_file_as(self.as_user, self.path, content, self.mode)
        return put_file(self.path, content, self.mode, self.owner, self.group)


@dataclass(frozen=True)
class Change:
    """One thing a step will do: a summary, the commands, the files it writes."""

    step: str
    summary: str
    commands: tuple[str, ...] = ()
    files: tuple[FileWrite, ...] = ()
    # sh that places the files itself (staged, checked, rolled back) instead of the
    # plain atomic puts; the files are still listed for the diff.
    script: str | None = None
    # sh to run over a NEW connection after the step, to disarm a dead-man switch the
    # change armed (a change that could cut the connection that made it).
    confirm: str | None = None
    # long-running (downloads): progress shows it when it starts, not only when done.
    slow: bool = False
    # SQL run by warden itself through its database session (setup/db), not by sh.
    sql: Any = None
    # its commands carry a secret (a password verifier): never shown, never rendered.
    secret: bool = False
    # known only once an earlier change has run (a server that is not up yet): shown
    # in the plan, planned for real in the step's next round, never sent as it is.
    deferred: bool = False

    def sh(self, redact: bool = False) -> str:
        """The change as sh lines, run under `set -e` by apply."""
        if redact and self.secret:
            return ": # (commands with a secret: not rendered)"
        if self.script is not None:
            return self.script
        return "\n".join([*(f.sh(redact) for f in self.files), *self.commands])

    @property
    def runs_as_sh(self) -> bool:
        """Sent to the host in the step's script (not SQL, not deferred)."""
        return self.sql is None and not self.deferred

    def to_json(self) -> dict[str, Any]:
        """The change for --json: summaries, commands and diffs, never secrets."""
        commands = list(self.commands) if self.script is None else [self.script]
        return {
            "summary": self.summary,
            "commands": ["(contains a secret: not shown)"] if self.secret else commands,
            "kind": "sql" if self.sql is not None else "deferred" if self.deferred else "sh",
            "files": [
                {
                    "path": f.path,
                    "mode": f"{f.mode:04o}",
                    "owner": f"{f.owner}:{f.group}",
                    "diff": f.diff(),
                }
                for f in self.files
            ],
        }


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
    refusals: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """The findings that stop the run."""
        return [f for f in self.findings if f.level == "error"]


@dataclass
class Plan:
    """Everything one run would do on one host for one agent."""

    config: AgentConfig
    facts: Facts
    steps: list[StepPlan]
    collisions: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        """All changes, in step order."""
        return [c for s in self.steps for c in s.changes]

    @property
    def refusals(self) -> list[str]:
        """Why this plan must not be applied (collisions, missing prerequisites, errors)."""
        reasons = list(self.collisions)
        for step in self.steps:
            reasons += step.refusals
            reasons += [f"preflight: {f.check}: {f.detail}" for f in step.errors]
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
            "steps": [
                {
                    "step": s.name,
                    "findings": [vars(f) for f in s.findings],
                    "refusals": s.refusals,
                    "changes": [c.to_json() for c in s.changes],
                }
                for s in self.steps
            ],
            "change_count": len(self.changes),
        }


def _assumption(facts: Facts) -> str:
    return (
        f"no connection was made: a fresh FreeBSD {facts.userland} host is assumed "
        "(nothing installed, no agents, no warden0)"
    )


def assumption_text(facts: Facts) -> str:
    """What --offline assumed, for the output."""
    return _assumption(facts)

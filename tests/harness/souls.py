"""A soul for the soul step's unit tests: the example soul in a git hub in tmp_path,
the host as the soul step needs it, and the pin the controller would make.

Real git, not a stub: the step's scripts are run against what git really prints.
"""

from __future__ import annotations

import os
import secrets
import string
import subprocess
from dataclasses import replace
from pathlib import Path

from setup.config import AgentConfig
from setup.facts import Facts, Section
from setup.soul.pin import pinned
from setup.steps import soul
from setup.steps.soul import SoulState
from tests.harness.agents import with_registered
from tests.harness.facts import bravo

EXAMPLE = Path(__file__).resolve().parents[2] / "souls" / "example"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
}  # fmt: skip


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV},
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout.strip()


def soul_host(config: AgentConfig, **probes: str) -> Facts:
    """A registered agent whose user exists and whose host has git: what the soul step
    requires, so a test sees the step's own plan rather than its refusal."""
    facts = with_registered(bravo(), config)
    return replace(
        facts,
        users={**facts.users, config.agent_user: 2001},
        groups={**facts.groups, config.agent_user: 2001},
        packages={**facts.packages, "git": True},
        probes={**facts.probes, **{k: Section(v, 0) for k, v in probes.items()}},
    )


def with_state(config: AgentConfig, facts: Facts, **extra: object) -> Facts:
    assert config.soul_repo is not None
    got = pinned(config.soul_repo, config.soul_ref, config.soul_key, config.agent_name)
    return facts.with_extra(soul.NAME, SoulState(got, **extra))  # type: ignore[arg-type]


def aws_key() -> str:
    """A fresh AWS-style access key id (detect-secrets' AWSKeyDetector: AKIA + 16 of
    [A-Z2-7]), built here so that no key sits in the source for a scanner to flag."""
    return "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))

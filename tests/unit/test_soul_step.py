"""The soul step with real git: a hub in tmp_path, the controller's pin, the host's sh.

The host commands run here under /bin/sh as the apply engine runs them (`set -e`,
stdin /dev/null, the library's bounded runner). Test shims stand in for what this
machine cannot do for an agent that has no user here, nor for a jail: `chroot -u U -g G
-G G / CMD` and `jexec -l -U U JAIL CMD` run CMD as the caller, and `id`/`chown` for
that user succeed without doing anything. Everything else (git, openssl, the bundle,
the probes) is real.
"""

from __future__ import annotations

import os
import secrets
import string
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from setup.command import cmd
from setup.config import AgentConfig
from setup.domains import HostUser, JailUser, Location
from setup.facts import Section
from setup.ops import Run
from setup.plan import Change
from setup.planner import make_plan
from setup.shell import LIBRARY
from setup.steps import soul
from tests.harness.agents import BASE, agent
from tests.harness.facts import bravo
from tests.harness.souls import EXAMPLE, GIT_ENV, git, soul_host, with_state

SHIM_CHROOT = (
    "#!/bin/sh\n# test shim: chroot -u U -g G -G G / CMD... as the caller\n"
    'while getopts u:g:G: o; do :; done; shift $((OPTIND - 1)); [ "$1" = / ] || exit 64\n'
    'shift; exec "$@"\n'
)
SHIM_JEXEC = (
    "#!/bin/sh\n# test shim: jexec -l -U U JAIL CMD... as the caller, on this machine\n"
    'while getopts lU: o; do :; done; shift $((OPTIND - 1)); shift; exec "$@"\n'
)
SHIM_OK = "#!/bin/sh\n# test shim: the agent's user exists, chown to it succeeds\nexit 0\n"


def commit(work: Path, bare: Path, path: str, text: str) -> str:
    (work / path).write_text(text)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", f"edit {path}", cwd=work)
    git("push", "-q", str(bare), "main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


@pytest.fixture
def config(tmp_path: Path, hub: tuple[Path, Path]) -> AgentConfig:
    return agent(tmp_path, BASE + f"WARDEN_SOUL_REPO={hub[0]}\nWARDEN_SOUL_IMPORT_MEMORIES=yes\n")


@pytest.fixture
def shims(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "shims"
    bin_dir.mkdir()
    for name, text in (
        ("chroot", SHIM_CHROOT),
        ("jexec", SHIM_JEXEC),
        ("id", SHIM_OK),
        ("chown", SHIM_OK),
    ):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def sh(script: str, shims: Path | None = None) -> subprocess.CompletedProcess[str]:
    path = f"{shims}:{os.environ['PATH']}" if shims else os.environ["PATH"]
    env = {**os.environ, **GIT_ENV, "PATH": path}
    return subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL)  # fmt: skip


def apply(change: Change, shims: Path | None = None) -> None:
    """One change as apply runs it: `set -e`, reading /dev/null, with the library."""
    done = sh(f"{LIBRARY}set -u\nwarden_tmp\n(\nset -e\n{change.sh()}\n) </dev/null\n", shims)
    assert done.returncode == 0, done.stderr


class Never:
    """An executor that must not be used (nothing may be read from or written to a host)."""

    target = "bravo"

    def run(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("the host was contacted")


def probe(script: str, shims: Path) -> str:
    done = sh(script, shims)
    assert done.returncode == 0, done.stderr
    return done.stdout


def seen(script: str, shims: Path) -> Section:
    return Section(probe(script, shims), 0)


def test_a_soul_with_an_aws_key_in_user_md_is_refused_before_anything_is_written(
    config: AgentConfig, hub: tuple[Path, Path]
) -> None:
    bare, work = hub
    key_id = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))
    commit(work, bare, "USER.md", (work / "USER.md").read_text() + f"\nAWS key: {key_id}\n")
    facts = soul.enrich(Never(), config, soul_host(config))  # type: ignore[arg-type]
    step = soul.plan(config, facts)
    assert step.changes == []
    assert [r.code for r in step.refusals] == ["soul.check-failed"]
    assert "secret USER.md:" in step.refusals[0]
    assert key_id not in step.refusals[0]
    whole = make_plan(config, facts, ["soul"], register=False)
    assert whole.refusals and not any(c.runs_as_sh for c in whole.changes)


def test_a_fresh_host_gets_the_clone_the_harness_file_the_mirror_and_a_deferred_seed(
    config: AgentConfig,
) -> None:
    probes = {"soul.clone": "state=absent\n", "soul.mirror": "mirror=present\n"}
    facts = with_state(config, soul_host(config, **probes))
    step = soul.plan(config, facts)
    assert step.refusals == []
    assert [c.summary.split(" (")[0] for c in step.changes] == [
        f"clone the soul {config.soul_repo} at main",
        "/home/atlas/CLAUDE.md: CLAUDE.md for claude-code from the soul's adapters/claude-code.md",
        "push " + step.changes[2].summary.split()[1] + " to the git jail's mirror"
        " atlasgit:/srv/git/atlas-soul.git",
        "then, once PostgreSQL in atlasdb answers: seed 2 skill(s) into system_skills and the"
        " curated memories into system_brain",
    ]
    assert step.changes[-1].deferred
    claude = step.changes[1].files[0]
    assert (claude.owner, claude.mode) == ("atlas", 0o644)
    got = facts.extras[soul.NAME].soul
    assert claude.content.startswith(
        f"<!-- Written by warden from adapters/claude-code.md of the soul {config.soul_repo}"
        f" at {got.commit}."
    )
    assert claude.content.endswith((EXAMPLE / "adapters/claude-code.md").read_text())


def test_the_clone_is_made_at_the_pinned_commit_and_a_rerun_plans_nothing(
    config: AgentConfig, hub: tuple[Path, Path], tmp_path: Path, shims: Path
) -> None:
    bare, work = hub
    facts = with_state(config, soul_host(config))
    got = facts.extras[soul.NAME].soul
    dest = tmp_path / "home" / "soul"
    dest.parent.mkdir()
    agent = HostUser("atlas", "atlas", str(dest.parent))
    apply(Change("soul", "clone", ops=(soul.clone_op(agent, str(dest), got, fresh=True),)), shims)
    assert git("rev-parse", "HEAD", cwd=dest) == got.commit == git("rev-parse", "HEAD", cwd=work)
    assert git("symbolic-ref", "--short", "HEAD", cwd=dest) == "main"
    assert git("config", "remote.origin.url", cwd=dest) == str(bare)
    assert git("rev-parse", "--abbrev-ref", "main@{upstream}", cwd=dest) == "origin/main"
    seen = probe(soul.clone_probe(str(dest), str(bare)), shims)
    assert seen.splitlines() == ["state=present", "origin=same", f"head={got.commit}",
                                 "branch=main"]  # fmt: skip
    again = soul.plan(config, replace(facts, probes={**facts.probes,
                                                     "soul.clone": Section(seen, 0)}))  # fmt: skip
    assert not [c for c in again.changes if "clone" in c.summary]
    assert again.refusals == []

    # the hub moves on: the clean clone is moved to the new commit
    new = commit(work, bare, "SOUL.md", "# Atlas\n\nCalmer now.\n")
    facts = with_state(config, soul_host(config, **{"soul.clone": seen}))
    moved = [c for c in soul.plan(config, facts).changes if "clone" in c.summary]
    assert len(moved) == 1
    assert moved[0].summary.startswith(f"move the clone {soul.clone_dir(config)}")
    later = facts.extras[soul.NAME].soul
    apply(Change("soul", "move", ops=(soul.clone_op(agent, str(dest), later, fresh=False),)), shims)
    assert git("rev-parse", "HEAD", cwd=dest) == new


def test_a_clone_with_local_changes_or_commits_is_refused_naming_them(
    config: AgentConfig, tmp_path: Path, shims: Path, hub: tuple[Path, Path]
) -> None:
    facts = with_state(config, soul_host(config))
    got = facts.extras[soul.NAME].soul
    dest = tmp_path / "home" / "soul"
    dest.parent.mkdir()
    agent = HostUser("atlas", "atlas", str(dest.parent))
    apply(Change("soul", "clone", ops=(soul.clone_op(agent, str(dest), got, fresh=True),)), shims)
    script = soul.clone_probe(str(dest), str(hub[0]))

    (dest / "USER.md").write_text("changed by hand\n")
    step = soul.plan(config, replace(facts, probes={"soul.clone": seen(script, shims)}))
    assert [r.code for r in step.refusals] == ["soul.local-work"]
    assert "changed: M USER.md" in step.refusals[0]
    assert not [c for c in step.changes if "clone" in c.summary]

    git("commit", "-q", "-am", "local", cwd=dest)
    local = git("rev-parse", "HEAD", cwd=dest)
    step = soul.plan(config, replace(facts, probes={"soul.clone": seen(script, shims)}))
    assert [r.code for r in step.refusals] == ["soul.local-work"]
    assert f"local commit: {local}" in step.refusals[0]

    step = soul.plan(config, replace(facts, probes={"soul.clone": Section(
        "state=present\norigin=other\nhead=x\n", 0)}))  # fmt: skip
    assert any("another origin" in r for r in step.refusals)


def test_the_mirror_gets_the_pinned_commit_owned_by_the_jails_git_user(
    config: AgentConfig, tmp_path: Path, shims: Path
) -> None:
    facts = with_state(config, soul_host(config))
    got = facts.extras[soul.NAME].soul
    mirror = tmp_path / "srv" / "git" / "atlas-soul.git"
    git("init", "-q", "--bare", "-b", "main", str(mirror))
    inside = Location(JailUser("atlasgit"), str(mirror))
    ops = soul.mirror_ops(inside, got, fetch=True)
    # the jail's git user fetches, its root gives the tree back: never host root's git
    assert [op.domain for op in ops] == [JailUser("atlasgit", "git"), JailUser("atlasgit")]
    apply(Change("soul", "mirror", ops=ops[:1]), shims)
    apply(Change("soul", "mirror", ops=(Run(cmd("chown", "-R", "2000:2000", str(mirror))),)))
    assert git("--git-dir", str(mirror), "rev-parse", "refs/heads/main") == got.commit
    assert {(p.stat().st_uid, p.stat().st_gid) for p in mirror.rglob("*")} == {(2000, 2000)}
    seen = probe(soul.mirror_probe(str(mirror)), tmp_path)
    assert f"ref={got.commit} refs/heads/main" in seen.splitlines()
    assert not any(line.startswith("foreign=") for line in seen.splitlines())
    step = soul.plan(config, replace(facts, probes={"soul.mirror": Section(seen, 0)}))
    assert not [c for c in step.changes if c.summary.startswith(("push ", "give "))]


def test_without_a_soul_repo_the_step_reads_and_plans_nothing(tmp_path: Path) -> None:
    config = agent(tmp_path)
    assert soul.probes(config) == {} and soul.packages(config) == []
    assert soul.enrich(Never(), config, bravo()) == bravo()  # type: ignore[arg-type]
    step = soul.plan(config, bravo())
    assert step.changes == [] and step.refusals == []

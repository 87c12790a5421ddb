"""The soul as the soul step takes it: cloned on the controller, checked, pinned.

Nothing reaches a host before the soul passed check_soul, so warden clones
WARDEN_SOUL_REPO here (with WARDEN_SOUL_KEY, if any, through GIT_SSH_COMMAND with
IdentitiesOnly and strict host key checking), resolves WARDEN_SOUL_REF to one
commit, checks that commit's tree, and keeps what the step needs in memory: the
findings, the seed rows, the adapters and a git bundle of the commit (with its
history). The host's clone is then made from that bundle, so the host needs neither
the key nor a route to the hub, and git's own hashes prove it checked out exactly
the commit that was checked. Pins are cached per process by the hub's answer to
`git ls-remote`: a run re-reads the host many times, the hub once per read.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import HostError
from .check import CheckReport, check_soul
from .seed import SeedRow, soul_rows

Kind = Literal["branch", "tag", "commit"]
_HEX = re.compile(r"[0-9a-f]{7,40}")
_SHA = re.compile(r"[0-9a-f]{40}")
PIN_REF = "refs/warden/pinned"  # the ref the bundle carries
GIT_TIMEOUT = 300


@dataclass(frozen=True)
class Adapter:
    harness: str
    source: str
    target: str
    content: str


@dataclass(frozen=True)
class PinnedSoul:
    """One commit of the soul, checked, with what the host and the databases get."""

    repo: str
    ref: str
    kind: Kind
    commit: str
    report: CheckReport
    skills: tuple[SeedRow, ...] = ()
    memories: tuple[SeedRow, ...] = ()
    adapters: tuple[Adapter, ...] = ()
    bundle: bytes = field(default=b"", repr=False)


def ssh_command(key: str | None) -> str:
    """GIT_SSH_COMMAND: batch mode, a known hub key only, and only the deploy key."""
    words = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
    if key is not None:
        words += ["-o", "IdentitiesOnly=yes", "-i", key]
    return shlex.join(words)


def _env(key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_SSH_COMMAND=ssh_command(key),
        GIT_CONFIG_NOSYSTEM="1",
        LC_ALL="C",
    )
    return env


def _git(args: list[str], key: str | None, what: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            env=_env(key),
            timeout=GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HostError(f"soul: {what}: {exc}") from None
    if done.returncode != 0:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        raise HostError(f"soul: {what}: {lines[-1] if lines else f'exit {done.returncode}'}")
    return done.stdout


def remote_tip(repo: str, ref: str, key: str | None) -> str | None:
    """The commit the hub's branch or tag `ref` names now (None: not a branch or tag)."""
    out = _git(
        ["ls-remote", "--", repo, f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/tags/{ref}^{{}}"],
        key,
        f"cannot read {repo}",
    )
    found: dict[str, str] = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        found[name] = sha
    for name in (f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
        if name in found:
            return found[name]
    return None


def _resolve(work: Path, repo: str, ref: str, key: str | None) -> tuple[Kind, str]:
    candidates: list[tuple[Kind, str]] = [
        ("branch", f"refs/remotes/origin/{ref}^{{commit}}"),
        ("tag", f"refs/tags/{ref}^{{commit}}"),
    ]
    if _HEX.fullmatch(ref):
        candidates.append(("commit", f"{ref}^{{commit}}"))
    for kind, spec in candidates:
        try:
            sha = _git(
                ["-C", str(work), "rev-parse", "--verify", "--quiet", spec], key, "rev-parse"
            ).strip()
        except HostError:
            continue
        if _SHA.fullmatch(sha):
            return kind, sha
    raise HostError(f"soul: WARDEN_SOUL_REF={ref}: no such branch, tag or commit in {repo}")


def pin_soul(repo: str, ref: str, key: str | None, agent: str) -> PinnedSoul:
    """Clone, resolve, check and bundle (uncached)."""
    with tempfile.TemporaryDirectory(prefix="warden-soul-") as tmp:
        work = Path(tmp) / "soul"
        _git(["clone", "--quiet", "--no-checkout", "--", repo, str(work)], key,
             f"cannot clone {repo}")  # fmt: skip
        kind, sha = _resolve(work, repo, ref, key)
        _git(["-C", str(work), "checkout", "--quiet", "--detach", sha], key, "checkout")
        report = check_soul(work, agent)
        if not report.ok:
            return PinnedSoul(repo, ref, kind, sha, report)
        skills, memories = soul_rows(work)
        adapters = (
            tuple(
                Adapter(name, a.source, a.target, (work / a.source).read_text(encoding="utf-8"))
                for name, a in sorted(report.manifest.adapters.items())
            )
            if report.manifest is not None
            else ()
        )
        _git(["-C", str(work), "update-ref", PIN_REF, sha], key, "update-ref")
        bundle = Path(tmp) / "soul.bundle"
        _git(["-C", str(work), "bundle", "create", str(bundle), PIN_REF], key, "bundle")
        return PinnedSoul(
            repo, ref, kind, sha, report, skills, memories, adapters, bundle.read_bytes()
        )


_CACHE: dict[tuple[str, str, str | None, str, str], PinnedSoul] = {}


def pinned(repo: str, ref: str, key: str | None, agent: str) -> PinnedSoul:
    """pin_soul, once per commit the hub names for `ref` in this process."""
    tip = remote_tip(repo, ref, key) if not _SHA.fullmatch(ref) else ref
    cache_key = (repo, ref, key, agent, tip or "")
    if tip is None or cache_key not in _CACHE:
        soul = pin_soul(repo, ref, key, agent)
        if tip is None:
            return soul
        _CACHE[cache_key] = soul
    return _CACHE[cache_key]

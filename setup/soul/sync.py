"""soul.sync: bring every host's clone of the agent's soul level with the hub, or say why not.

In three passes, so one run settles what it can: every host is fetched and
classified; clean clones that are only ahead get every commit they would push
checked with soul.check (on the controller) and pushed, never forced; then, if
anything was pushed, the other clean clones are fetched again, and every clean
clone that is only behind is fast-forwarded. Diverged, dirty or otherwise odd
clones are left exactly as they are, with what to do about them.

Exit codes (design): 0 in sync or synced (a host without a clone is reported,
not a failure); 1 a clone could not be synced (diverged, dirty, refused by the
check, a failed fetch or push); 3 a host unreachable; the highest of any host.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import AgentConfig
from ..errors import EXIT_CHANGE_FAILED, EXIT_HOST, EXIT_OK, HostError, Refused
from ..layout import home
from ..transport import Executor
from . import remote
from .check import Finding
from .remote import Clone, Probe, ProbeFailed
from .tree import check_tree

Connector = Callable[[str], Executor]


def host_key_path(config: AgentConfig) -> str | None:
    """The key git uses for the hub on the host: with WARDEN_SOUL_KEY, the deploy key the
    soul step places in the agent's ~/.ssh; without, the agent's own keys (its
    ~/.ssh/id_ed25519, which the git jail already allows)."""
    if config.soul_key is None:
        return None
    return f"{home(config.agent_user)}/.ssh/soul_deploy_key"


@dataclass(frozen=True)
class Refusal:
    """A commit soul.check refused, and why (findings never quote a secret)."""

    commit: str
    findings: tuple[Finding, ...]

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "findings": [f.to_json() for f in self.findings]}


@dataclass(frozen=True)
class HostSync:
    """One host's row: what was found, what was done, what the operator should do."""

    target: str
    state: str  # in sync | ahead | behind | diverged | dirty | missing | unreachable | blocked
    exit_code: int
    action: str = ""
    advice: str = ""
    ahead: int = 0
    behind: int = 0
    dirty: int = 0
    head: str = ""
    hub: str = ""
    refused: tuple[Refusal, ...] = field(default=())
    why: str = ""  # what blocks a blocked clone, in two or three words

    @property
    def shown_state(self) -> str:
        if self.state == "ahead":
            return f"ahead {self.ahead}"
        if self.state == "behind":
            return f"behind {self.behind}"
        if self.state == "diverged":
            return f"diverged ({self.ahead} ahead, {self.behind} behind)"
        if self.state == "dirty":
            return f"dirty ({self.dirty} uncommitted change(s))"
        if self.state == "missing":
            return "missing (no clone)"
        if self.state == "blocked":
            return f"blocked ({self.why})"
        return self.state

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.target,
            "state": self.state,
            "shown": self.shown_state,
            "ahead": self.ahead,
            "behind": self.behind,
            "dirty": self.dirty,
            "head": self.head or None,
            "hub": self.hub or None,
            "action": self.action or None,
            "advice": self.advice or None,
            "refused": [r.to_json() for r in self.refused],
            "why": self.why or None,
            "exit_code": self.exit_code,
        }


def exit_code(results: list[HostSync]) -> int:
    return max((r.exit_code for r in results), default=EXIT_OK)


def clone_of(config: AgentConfig) -> Clone:
    if config.soul_repo is None:
        raise Refused("soul.sync: the .env sets no WARDEN_SOUL_REPO: this agent has no soul")
    try:
        return Clone.of(config, host_key_path(config))
    except ValueError as exc:
        raise Refused(f"soul.sync: {exc}") from None


def sync_hosts(config: AgentConfig, targets: list[str], connect: Connector) -> list[HostSync]:
    """Sync the soul on every target (each tried, whatever happens to the others)."""
    clone = clone_of(config)
    agent = config.agent_name
    executors: dict[str, Executor] = {}
    results: dict[str, HostSync] = {}
    try:
        for target in targets:
            try:
                executors[target] = connect(target)
            except HostError as exc:
                results[target] = _unreachable(target, exc)
                continue
            results[target] = _guard(target, _classify, executors[target], clone)
        pushed = False
        for target, row in list(results.items()):
            if row.state == "ahead" and pushed:  # the hub moved: this one may have diverged
                row = _guard(target, _classify, executors[target], clone)
            if row.state == "ahead":
                row = _guard(target, _push, executors[target], clone, row, agent)
                pushed = pushed or row.action.startswith("pushed")
            results[target] = row
        for target, row in list(results.items()):
            if pushed and row.state in ("in sync", "behind"):
                row = _guard(target, _classify, executors[target], clone)
            if row.state == "behind":
                row = _guard(target, _fast_forward, executors[target], clone, row)
            results[target] = row
    finally:
        for executor in executors.values():
            executor.close()
    return [results[t] for t in targets]


def _guard(target: str, work: Callable[..., HostSync], *args: Any) -> HostSync:
    """A host lost half way is unreachable; the other hosts carry on."""
    try:
        return work(*args)
    except HostError as exc:
        return _unreachable(target, exc)


def _unreachable(target: str, exc: HostError) -> HostSync:
    return HostSync(target, "unreachable", EXIT_HOST, action="nothing done", advice=exc.message)


def _classify(executor: Executor, clone: Clone) -> HostSync:
    """Fetch, then say where the clone stands; changes nothing but the clone's origin/REF."""
    target = executor.target
    result = executor.run(remote.probe_script(clone))
    try:
        probe = Probe.parse(result)
    except ProbeFailed as exc:
        return _blocked(target, "git failed", f"could not run git as {clone.user}: {exc}")
    if probe.state == "no-user":
        return HostSync(
            target,
            "missing",
            EXIT_OK,
            action="nothing to sync",
            advice=f"no user {clone.user} on this host: run `invoke setup` (user and soul steps)",
        )
    if probe.state == "missing":
        return HostSync(
            target,
            "missing",
            EXIT_OK,
            action="nothing to sync",
            advice=f"no clone at {clone.path}: `invoke setup --step soul` creates it",
        )
    if probe.origin != "same":
        return _blocked(
            target,
            "wrong origin",
            f"the clone's origin is not WARDEN_SOUL_REPO; nothing was fetched or pushed. Set it"
            f" back as {clone.user}: git -C {clone.path} remote set-url origin {clone.repo}",
        )
    if probe.key == "missing":
        return _blocked(
            target,
            "no deploy key",
            f"WARDEN_SOUL_KEY is set, so git reaches the hub with the deploy key {clone.key},"
            f" which is not on this host (or not readable by {clone.user}); nothing was fetched",
        )
    if probe.fetch != "ok":
        why = remote.failure(result)
        if "couldn't find remote ref" in why:
            why += (
                f" (soul.sync follows a branch: WARDEN_SOUL_REF={clone.ref} must name a branch"
                " of the hub, not a tag or a commit)"
            )
        return _blocked(target, "fetch failed", f"git fetch from the hub failed: {why}")
    if not probe.head or not probe.hub:
        return _blocked(
            target, "no branch", f"the hub has no branch {clone.ref}, or the clone no commit"
        )
    if probe.branch != clone.ref:
        on = f"branch {probe.branch}" if probe.branch else "a detached HEAD"
        return _blocked(
            target,
            "off branch",
            f"the clone is on {on}, not {clone.ref}; left alone. Check out {clone.ref} as"
            f" {clone.user} in {clone.path}, then run soul.sync again",
            probe,
        )
    return _state(target, clone, probe)


def _blocked(target: str, why: str, advice: str, probe: Probe | None = None) -> HostSync:
    row = HostSync(
        target, "blocked", EXIT_CHANGE_FAILED, action="left alone", advice=advice, why=why
    )
    if probe is not None:
        row = replace(row, ahead=probe.ahead, behind=probe.behind, head=probe.head, hub=probe.hub)
    return row


def _state(target: str, clone: Clone, probe: Probe) -> HostSync:
    base = HostSync(
        target,
        "in sync",
        EXIT_OK,
        ahead=probe.ahead,
        behind=probe.behind,
        dirty=probe.dirty,
        head=probe.head,
        hub=probe.hub,
    )
    where = f"as {clone.user} in {clone.path}"
    if probe.dirty:
        return replace(
            base,
            state="dirty",
            exit_code=EXIT_CHANGE_FAILED,
            action="left alone",
            advice=f"uncommitted changes {where}: commit them (soul.sync then checks and pushes"
            " them) or discard them; nothing was fetched into the work tree or pushed",
        )
    if probe.ahead and probe.behind:
        return replace(
            base,
            state="diverged",
            exit_code=EXIT_CHANGE_FAILED,
            action="left alone",
            advice=f"the clone and the hub both have commits the other lacks; nothing was"
            f" merged, rebased or pushed. Reconcile by hand {where}: git pull --rebase origin"
            f" {clone.ref} (or merge), run soul.check on the result, then soul.sync again",
        )
    if probe.ahead:
        return replace(base, state="ahead", action="")
    if probe.behind:
        return replace(base, state="behind", action="")
    return replace(base, action="nothing to do")


def _push(executor: Executor, clone: Clone, row: HostSync, agent: str) -> HostSync:
    """Check every commit the hub lacks, then push the tip; one refusal and nothing is pushed."""
    listed = executor.run(remote.commits_script(clone, row.hub, row.head))
    commits = listed.stdout.split()
    if listed.rc != 0 or not commits or not all(remote.SHA.fullmatch(c) for c in commits):
        return _failed(row, f"could not list the commits to push: {remote.failure(listed)}")
    refused: list[Refusal] = []
    for commit in commits:
        listing = executor.run(remote.listing_script(clone, commit))
        archive = executor.run(remote.archive_script(clone, commit))
        if listing.rc != 0 or archive.rc != 0:
            bad = listing if listing.rc != 0 else archive
            return _failed(row, f"could not read commit {commit[:12]}: {remote.failure(bad)}")
        label = f"{executor.target}:{clone.path}@{commit[:12]}"
        report = check_tree(listing.out, archive.out, agent, label)
        if not report.ok:
            errors = tuple(f for f in report.findings if f.level == "error")
            refused.append(Refusal(commit, errors))
    if refused:
        names = ", ".join(r.commit[:12] for r in refused)
        return replace(
            row,
            exit_code=EXIT_CHANGE_FAILED,
            action="refused: nothing pushed",
            advice=f"commit(s) {names} fail soul.check (findings below); the hub is unchanged."
            f" Remove what is forbidden and rewrite the commits as {clone.user} in {clone.path}"
            " (e.g. git rebase -i, or git reset --soft origin/" + clone.ref + " and commit"
            " again): a later commit that deletes a secret still leaves it in the history",
            refused=tuple(refused),
        )
    pushed = executor.run(remote.push_script(clone, row.head))
    if pushed.rc != 0:
        return _failed(
            row,
            f"git push was rejected: {remote.failure(pushed)}. The hub may have moved: run"
            " soul.sync again (the clone will show as diverged if it has)",
        )
    return replace(row, action=f"pushed {len(commits)} commit(s), hub now {row.head[:12]}")


def _fast_forward(executor: Executor, clone: Clone, row: HostSync) -> HostSync:
    done = executor.run(remote.fast_forward_script(clone, row.head, row.hub))
    new_head = done.stdout.strip().splitlines()[-1:] if done.rc == 0 else []
    if done.rc != 0 or new_head != [row.hub]:
        return _failed(row, f"git merge --ff-only failed: {remote.failure(done)}")
    return replace(row, action=f"fast-forwarded to {row.hub[:12]}")


def _failed(row: HostSync, advice: str) -> HostSync:
    return replace(row, exit_code=EXIT_CHANGE_FAILED, action="failed", advice=advice)

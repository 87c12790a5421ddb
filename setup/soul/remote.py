"""The git commands soul.sync runs in the agent's clone, as sh scripts for one round trip each.

The clone belongs to the agent's user, so git runs as that user, through the one
primitive warden has for it (setup/domains.py: chroot -u onto /, an environment from
nothing: no login shell, no startup file of the agent's), bounded in time, stdin from
/dev/null, its output handed back only after it ended (a hook of the agent's that keeps
a pipe open cannot stall the run). The hub is reached by ssh in batch mode with strict
host key checking: a missing or changed hub key fails the fetch instead of prompting or
trusting it.

Every value that reaches a script is validated (user, paths, commit ids) and quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config import AgentConfig
from ..domains import HostUser, enter
from ..layout import home
from ..shell import LIBRARY, checked_name, checked_path, q
from ..transport import Result

CLONE_DIR = "soul"  # the soul step's clone: /home/<agent user>/soul
SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")

RC_NO_CLONE = 70  # the clone vanished between the probe and a later command


@dataclass(frozen=True)
class Clone:
    """Where the agent's soul clone is on a host, and the hub it follows."""

    user: str
    home: str
    path: str
    repo: str
    ref: str
    key: str | None = None  # a key file on the host; None: the agent's own ~/.ssh keys

    @classmethod
    def of(cls, config: AgentConfig, key: str | None = None) -> Clone:
        assert config.soul_repo is not None
        user = checked_name(config.agent_user)
        where = checked_path(home(user))
        ref = config.soul_ref
        if not _REF.fullmatch(ref) or ".." in ref or ref.endswith((".lock", "/")):
            raise ValueError(f"WARDEN_SOUL_REF={ref!r} is not a branch name")
        return cls(
            user=user,
            home=where,
            path=f"{where}/{CLONE_DIR}",
            repo=config.soul_repo,
            ref=ref,
            key=checked_path(key) if key else None,
        )

    @property
    def tracking(self) -> str:
        """The clone's copy of the hub's branch, as the last fetch saw it."""
        return f"refs/remotes/origin/{self.ref}"


def ssh_command(clone: Clone) -> str:
    """GIT_SSH_COMMAND: never a prompt, never an unknown or changed hub key accepted."""
    words = [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "ConnectTimeout=15",
    ]
    if clone.key:
        words += ["-o", "IdentitiesOnly=yes", "-i", clone.key]
    return " ".join(q(w) for w in words)


SECONDS = 300  # a fetch or a push over a slow link


def as_agent(clone: Clone, body: str, before: str = "", *, chdir: bool = True) -> str:
    """A root script that runs *before* as root, then *body* as the agent's user in the
    clone: bounded, stdin from /dev/null, its stdout and stderr copied out once it ended
    (setup/domains.py: nothing of the agent's can hold this script's pipes)."""
    agent = HostUser(clone.user, clone.user, clone.home)
    command = enter(agent, agent_part(clone, body, chdir=chdir))
    return (
        f"{LIBRARY}{before}"
        "warden_tmp || exit 1\nwarden_on_exit warden_cleanup\n"
        f'timeout --foreground -k 5 {SECONDS} {command.sh()} </dev/null >"$_w_tmp/out" '
        '2>"$_w_tmp/err"\n'
        "_w_rc=$?\n"
        'cp "$_w_tmp/out" "$_w_tmp/out.seen" && cp "$_w_tmp/err" "$_w_tmp/err.seen" || exit 1\n'
        'cat "$_w_tmp/out.seen"; cat "$_w_tmp/err.seen" >&2\n'
        'exit "$_w_rc"\n'
    )


def agent_part(clone: Clone, body: str, *, chdir: bool = True) -> str:
    """The script the agent's shell runs: git's settings, then *body* in the clone."""
    return (
        "GIT_TERMINAL_PROMPT=0; export GIT_TERMINAL_PROMPT\n"
        f"GIT_SSH_COMMAND={q(ssh_command(clone))}; export GIT_SSH_COMMAND\n"
        + (f"cd {q(clone.path)} || exit {RC_NO_CLONE}\n" if chdir else "")
        + body
    )


def probe_script(clone: Clone) -> str:
    """Is there a clone; is its origin the hub; fetch; then HEAD, the hub's tip, counts, dirt.

    Prints `key=value` lines. The origin URL is compared on the host and never sent
    back: an agent may have put a token in it.
    """
    refspec = f"+refs/heads/{clone.ref}:{clone.tracking}"
    body = (
        f'if [ "$(git config --get remote.origin.url)" != {q(clone.repo)} ]; then\n'
        "    echo origin=other; exit 0\n"
        "fi\n"
        "echo origin=same\n"
        f"{_key_check(clone)}"
        f"if git fetch --quiet --no-tags origin {q(refspec)} </dev/null; then\n"
        "    echo fetch=ok\n"
        "else\n"
        "    echo fetch=failed; exit 0\n"
        "fi\n"
        "head=$(git rev-parse --verify -q HEAD)\n"
        f"hub=$(git rev-parse --verify -q {q(clone.tracking + '^{commit}')})\n"
        'echo "head=$head"\n'
        'echo "hub=$hub"\n'
        'echo "branch=$(git symbolic-ref -q --short HEAD)"\n'
        'echo "dirty=$(git status --porcelain | wc -l)"\n'
        'if [ -n "$head" ] && [ -n "$hub" ]; then\n'
        '    echo "counts=$(git rev-list --left-right --count "$head...$hub")"\n'
        "fi\n"
    )
    before = f"if ! id {q(clone.user)} >/dev/null 2>&1; then echo state=no-user; exit 0; fi\n"
    # asked as the agent: the clone is its own
    present = (
        f"if [ ! -d {q(clone.path + '/.git')} ]; then echo state=missing; exit 0; fi\n"
        "echo state=present\n"
        f"cd {q(clone.path)} || exit {RC_NO_CLONE}\n"
    )
    return as_agent(clone, present + body, before, chdir=False)


def _key_check(clone: Clone) -> str:
    if clone.key is None:
        return ""
    return f"if [ ! -r {q(clone.key)} ]; then echo key=missing; exit 0; fi\n"


@dataclass(frozen=True)
class Probe:
    """What the probe found (fields empty when it stopped early)."""

    state: str  # present | missing | no-user
    origin: str = ""  # same | other
    key: str = ""  # missing: the deploy key is not on the host
    fetch: str = ""  # ok | failed
    head: str = ""
    hub: str = ""
    branch: str = ""
    dirty: int = 0
    ahead: int = 0
    behind: int = 0

    @classmethod
    def parse(cls, result: Result) -> Probe:
        fields: dict[str, str] = {}
        for line in result.stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep and key in _PROBE_KEYS:
                fields[key] = value.strip()
        if fields.get("state") not in ("present", "missing", "no-user"):
            raise ProbeFailed(_last_words(result))
        ahead, behind = _counts(fields.get("counts", ""))
        head, hub = fields.get("head", ""), fields.get("hub", "")
        if (head and not SHA.fullmatch(head)) or (hub and not SHA.fullmatch(hub)):
            raise ProbeFailed("git printed something that is not a commit id")
        dirty = fields.get("dirty", "0")
        return cls(
            state=fields["state"],
            origin=fields.get("origin", ""),
            key=fields.get("key", ""),
            fetch=fields.get("fetch", ""),
            head=head,
            hub=hub,
            branch=fields.get("branch", ""),
            dirty=int(dirty) if dirty.isdigit() else 0,
            ahead=ahead,
            behind=behind,
        )


_PROBE_KEYS = frozenset(
    {"state", "origin", "key", "fetch", "head", "hub", "branch", "dirty", "counts"}
)


class ProbeFailed(Exception):
    """The probe did not get as far as saying whether a clone exists (sh failed)."""


def _counts(text: str) -> tuple[int, int]:
    parts = text.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return 0, 0


_BOILERPLATE = (
    "hint:",
    "Please make sure you have the correct access rights",
    "and the repository exists.",
    "fatal: Could not read from remote repository.",
)


def _last_words(result: Result) -> str:
    """What stderr says, minus git's hints and boilerplate (git names no secret)."""
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(_BOILERPLATE)]
    if not kept:
        return lines[-1] if lines else f"exit code {result.rc}"
    return " / ".join(kept[:3])


def sha(value: str) -> str:
    if not SHA.fullmatch(value):
        raise ValueError(f"not a commit id: {value!r}")
    return value


def commits_script(clone: Clone, base: str, tip: str) -> str:
    """The commits a push would add to the hub, oldest first."""
    return as_agent(clone, f"git rev-list --reverse {q(sha(base) + '..' + sha(tip))}\n")


def listing_script(clone: Clone, commit: str) -> str:
    """Every path of the commit's tree (NUL-separated `mode type id<TAB>path`)."""
    return as_agent(clone, f"git ls-tree -r -z --full-tree {q(sha(commit))}\n")


def archive_script(clone: Clone, commit: str) -> str:
    """The commit's tree as a tar stream on stdout."""
    return as_agent(clone, f"git archive --format=tar {q(sha(commit))}\n")


def fast_forward_script(clone: Clone, expected_head: str, target: str) -> str:
    """Fast-forward only, and only from the HEAD the probe saw (else nothing happens)."""
    body = (
        f'if [ "$(git rev-parse --verify -q HEAD)" != {q(sha(expected_head))} ]; then\n'
        "    echo 'HEAD moved since the fetch; run soul.sync again' >&2; exit 1\n"
        "fi\n"
        f"git merge --ff-only --quiet {q(sha(target))} </dev/null || exit 1\n"
        "git rev-parse --verify -q HEAD\n"
    )
    return as_agent(clone, body)


def push_script(clone: Clone, commit: str) -> str:
    """Push exactly the checked commit to the hub's branch: never forced."""
    spec = f"{sha(commit)}:refs/heads/{clone.ref}"
    return as_agent(clone, f"git push --quiet origin {q(spec)} </dev/null\n")


def failure(result: Result) -> str:
    """One line saying why a git command failed."""
    return _last_words(result)

"""How the pinned soul reaches a host: the sh that reads the agent's clone (as the agent)
and the git jail's mirror (as its git user), and the runs that fetch the checked
commit's bundle, given on stdin, into them. No key and no route to the hub is needed
on the host, and git verifies the commit id.
"""

from __future__ import annotations

import base64

from ..command import cmd
from ..domains import HostUser, JailUser, Location
from ..layout import GIT_UID
from ..ops import Run
from ..shell import checked_path, q
from .pin import PIN_REF, PinnedSoul

RC_NO_CLONE = 70
_LISTED = 20  # dirty files or local commits named in a refusal


def clone_probe(dest: str, repo: str) -> str:
    """sh, run as the agent: key=value lines: state, then (for a clone) origin, head,
    branch, dirt, local commits. The origin URL is compared there and never sent back
    (it may hold a token). git runs the clone's own configuration and hooks (the
    agent's): bounded like every read in the agent's domain."""
    d = q(checked_path(dest))
    return (
        f"if [ ! -e {d} ]; then echo state=absent; exit 0; fi\n"
        f"if [ ! -d {d}/.git ]; then echo state=not-git; exit 0; fi\n"
        "echo state=present\n"
        f"cd {d} || exit {RC_NO_CLONE}\n"
        f'if [ "$(git config --get remote.origin.url)" = {q(repo)} ]; then echo origin=same;'
        " else echo origin=other; fi\n"
        'echo "head=$(git rev-parse --verify -q HEAD)"\n'
        'echo "branch=$(git symbolic-ref -q --short HEAD)"\n'
        f"git status --porcelain | head -n {_LISTED} | sed 's/^/dirty=/'\n"
        f"git rev-list --max-count={_LISTED} HEAD --not --remotes --tags"
        " --glob='refs/warden/*' 2>/dev/null | sed 's/^/local=/'\n"
    )


def mirror_probe(mirror: str) -> str:
    """sh, run inside the git jail as its git user, the mirror's owner (so git needs no
    safe.directory exception; a file it does not own is one to give back)."""
    m = q(checked_path(mirror))
    return (
        f"if [ -d {m} ]; then echo mirror=present; "
        f"git --git-dir={m} for-each-ref"
        " --format='ref=%(objectname) %(refname)'; "
        f"find {m} \\( ! -uid {GIT_UID} -o ! -gid {GIT_UID} \\) -print | head -n 5"
        " | sed 's/^/foreign=/'; "
        "else echo mirror=absent; fi"
    )


def parse_lines(output: str) -> dict[str, list[str]]:
    """{key: [values]} of the probe's key=value lines (anything else is ignored)."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isalpha():
            found.setdefault(key, []).append(value)
    return found


def bundle_text(soul: PinnedSoul) -> str:
    """The pinned commit's bundle as base64 lines (a here-document is text)."""
    text = base64.encodebytes(soul.bundle).decode("ascii")
    return "".join(text[i : i + 65] for i in range(0, len(text), 65))  # 64 chars + newline


# sh (in the domain that fetches) that leaves the bundle from stdin in "$_b/soul.bundle",
# then reads /dev/null: nothing after it can read the rest of anything.
_UNBUNDLE = (
    "set -e; umask 077; _b=$(mktemp -d /tmp/warden-soul.XXXXXX); trap 'rm -rf \"$_b\"' EXIT; "
    'openssl base64 -d -out "$_b/soul.bundle"; exec </dev/null'
)


def _fetch_spec(soul: PinnedSoul) -> list[str]:
    specs = [f"+{PIN_REF}:{PIN_REF}"]
    if soul.kind == "branch":
        specs.append(f"+{PIN_REF}:refs/remotes/origin/{soul.ref}")
    elif soul.kind == "tag":
        specs.append(f"+{PIN_REF}:refs/tags/{soul.ref}")
    return specs


def clone_op(user: HostUser, dest: str, soul: PinnedSoul, *, fresh: bool) -> Run:
    """Make or move the clone at *dest* to exactly the pinned commit, as the agent,
    from a bundle given on stdin (no key and no route to the hub needed)."""
    d = q(checked_path(dest))
    sha = soul.commit
    body = [_UNBUNDLE]
    if fresh:
        body += [f"git init --quiet {d}", f"cd {d}", f"git remote add origin {q(soul.repo)}"]
    else:
        body += [f"cd {d}"]
    body.append(
        'git fetch --quiet --no-tags "$_b/soul.bundle" ' + " ".join(q(s) for s in _fetch_spec(soul))
    )
    if soul.kind == "branch":
        body += [
            f"git checkout --quiet -B {q(soul.ref)} {sha}",
            f"git branch --quiet --set-upstream-to={q('origin/' + soul.ref)} {q(soul.ref)}",
        ]
    else:
        body.append(f"git checkout --quiet --detach {sha}")
    body.append(f'test "$(git rev-parse --verify HEAD)" = {sha}')
    return Run(
        cmd("/bin/sh", "-c", "\n".join(body)),
        user,
        label=f"the soul's clone {dest} as {user.user}",
        stdin=bundle_text(soul),
    )


def mirror_ref(soul: PinnedSoul) -> str:
    if soul.kind == "branch":
        return f"refs/heads/{soul.ref}"
    if soul.kind == "tag":
        return f"refs/tags/{soul.ref}"
    return "refs/heads/warden-pinned"


def mirror_ops(mirror: Location, soul: PinnedSoul, *, fetch: bool) -> tuple[Run, ...]:
    """Inside the git jail: its git user fetches the bundle (from stdin) into the bare
    mirror; its root gives whatever is not the git user's back to it. Git never runs
    as host root in a repository the jail owns."""
    assert isinstance(mirror.domain, JailUser)
    m = q(checked_path(mirror.path))
    ref = mirror_ref(soul)
    ops: list[Run] = []
    if fetch:
        body = [
            _UNBUNDLE,
            f'git --git-dir={m} fetch --quiet --no-tags "$_b/soul.bundle" '
            + q(f"+{PIN_REF}:{ref}"),
            f'test "$(git --git-dir={m} rev-parse --verify {q(ref + "^{commit}")})" = '
            + soul.commit,
        ]
        ops.append(
            Run(
                cmd("/bin/sh", "-c", "\n".join(body)),
                JailUser(mirror.domain.jail, "git"),
                label=f"the soul's mirror {mirror}",
                stdin=bundle_text(soul),
            )
        )
    ops.append(Run(cmd("chown", "-R", f"{GIT_UID}:{GIT_UID}", mirror.path), mirror.domain))
    return tuple(ops)

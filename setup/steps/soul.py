"""soul: the agent's soul cloned into its home, its harness files, its mirror, its rows.

The session it replaces (for agent atlas, WARDEN_SOUL_REF=main):
    git clone https://hub/atlas/soul.git /tmp/x && invoke soul.check /tmp/x   (controller)
    su atlas -c 'git clone -b main https://hub/atlas/soul.git ~/soul'
    cp ~atlas/soul/adapters/claude-code.md ~atlas/CLAUDE.md
    git -C ~atlas/soul push /usr/local/bastille/jails/atlasgit/root/srv/git/atlas-soul.git main
    chown -R 2000:2000 .../srv/git/atlas-soul.git
    psql -h 10.0.1.5 -U warden system_skills: INSERT ... ON CONFLICT ... (each SKILL.md)
Warden clones and checks the soul on the controller first (setup/soul/pin.py): a soul
that fails soul.check refuses the whole plan, so nothing is written anywhere. The
host's clone is then made from a git bundle of exactly that commit (no key and no
route to the hub needed on the host; git verifies the commit id), as the agent's user.
A clone with local changes or local commits, or another origin, is never touched.

Harness files (CLAUDE.md, AGENTS.md ... from the manifest's adapters) go into the
agent's home, the directory its harness starts in (templates/service/run.j2), not
into the clone, which must stay clean for soul.sync. The mirror in the git jail is
filled by root fetching from the bundle (never by running git in the agent's clone as
root: its hooks and config are the agent's), with the mirror's hooks off, then
handed back to the jail's git user.

For a bhyve agent (WARDEN_RUNTIME=bhyve) this step runs only inside its VM, never on
the VM's host (setup/guest.py split: the host's steps are fixed, and soul is not
one of them): the guest is a host of its own with the agent's user and home. There
it makes the same clone, harness files, deploy key and hub pin; a VM has no role
jails (the bhyve step refuses them), so no mirror and no seeding.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import jail
from ..config import AgentConfig
from ..db.tunnel import forward
from ..errors import HostError
from ..facts import Facts
from ..hostsfile import broken, markers, with_block
from ..layout import home, jail_dir
from ..plan import Change, FileWrite, Finding, StepPlan
from ..render import render
from ..secretfiles import read_secrets
from ..shell import checked_name, checked_path, heredoc, q
from ..soul.access import deploy_key, hub_known_hosts
from ..soul.pin import PIN_REF, PinnedSoul, pinned
from ..soul.seed import SeedState, plan_seed, read_seeded, soul_seed
from ..soul.sync import host_key_path
from ..transport import Executor
from . import db
from .git import GIT_UID

NAME = "soul"
ROUNDS = 1
CLONE_DIR = "soul"
RC_NO_CLONE = 70
_LISTED = 20  # dirty files or local commits named in a refusal
HUB_PART = "soul hub"  # its known_hosts block, apart from the git step's


@dataclass(frozen=True)
class SoulState:
    """What enrich read: the pinned soul, the harness files, the seeded rows."""

    soul: PinnedSoul | None
    problem: str | None = None
    harness: Mapping[str, str | None] = field(default_factory=dict)
    seeded: SeedState | None = None
    db_problem: str | None = None
    admin_password: str | None = field(default=None, repr=False)
    # soul.sync from the host: the deploy key (here and there) and the hub's host key
    local_key: str | None = field(default=None, repr=False)
    host_key: str | None = field(default=None, repr=False)
    known_hosts: str | None = None
    hub_lines: list[str] | None = None


def clone_dir(config: AgentConfig) -> str:
    return f"{home(config.agent_user)}/{CLONE_DIR}"


def mirror_dir(config: AgentConfig) -> str:
    """The git jail's bare repository, seen from the host (setup/steps/git.py repos)."""
    root = f"{jail_dir(config.jail_names['git'])}/root"
    return f"{root}/srv/git/{config.agent_name}-soul.git"


def mirrors(config: AgentConfig) -> bool:
    return config.soul_repo is not None and jail.is_mine(config, "git")


def seeds(config: AgentConfig) -> bool:
    """Its own db jail's server or the one another agent lends it (WARDEN_DB_AGENT)."""
    return config.soul_repo is not None and db.uses_db(config)


def harness_path(config: AgentConfig, target: str) -> str:
    return checked_path(f"{home(config.agent_user)}/{target}")


def packages(config: AgentConfig) -> list[str]:
    return ["git"] if config.soul_repo is not None else []


def files(config: AgentConfig) -> list[str]:
    """The harness files are known only from the manifest: enrich reads them."""
    return []


# ---- probes


def agent_sh(user: str, user_home: str, body: str) -> str:
    """sh (as root) that runs *body* as the agent's user with its own HOME, in /."""
    inner = (
        f"HOME={q(user_home)}; export HOME\n"
        'PATH="/usr/local/bin:/usr/bin:/bin:$PATH"; export PATH\n'
        f"{body}"
    )
    # the body is meant to expand in the agent's shell, not in root's
    return f"# shellcheck disable=SC2016\ncd / && su {q(checked_name(user))} -c {q(inner)}"


def clone_probe(user: str, user_home: str, dest: str, repo: str) -> str:
    """key=value lines: state, then (for a clone) origin, head, branch, dirt, local commits.
    The origin URL is compared on the host and never sent back (it may hold a token)."""
    d = q(checked_path(dest))
    body = (
        f"cd {d} || exit {RC_NO_CLONE}\n"
        f'if [ "$(git config --get remote.origin.url)" = {q(repo)} ]; then echo origin=same;'
        " else echo origin=other; fi\n"
        'echo "head=$(git rev-parse --verify -q HEAD)"\n'
        'echo "branch=$(git symbolic-ref -q --short HEAD)"\n'
        f"git status --porcelain | head -n {_LISTED} | sed 's/^/dirty=/'\n"
        f"git rev-list --max-count={_LISTED} HEAD --not --remotes --tags"
        " --glob='refs/warden/*' 2>/dev/null | sed 's/^/local=/'\n"
    )
    return (
        f"if ! id {q(user)} >/dev/null 2>&1; then echo state=no-user\n"
        f"elif [ ! -e {d} ]; then echo state=absent\n"
        f"elif [ ! -d {d}/.git ]; then echo state=not-git\n"
        f"else echo state=present\n{agent_sh(user, user_home, body)}\nfi"
    )


def mirror_probe(mirror: str) -> str:
    m = q(checked_path(mirror))
    return (
        f"if [ -d {m} ]; then echo mirror=present; "
        f"git -c safe.directory={m} --git-dir={m} for-each-ref"
        " --format='ref=%(objectname) %(refname)'; "
        f"find {m} \\( ! -uid {GIT_UID} -o ! -gid {GIT_UID} \\) -print | head -n 5"
        " | sed 's/^/foreign=/'; "
        "else echo mirror=absent; fi"
    )


def probes(config: AgentConfig) -> dict[str, str]:
    if config.soul_repo is None:
        return {}
    user, where = config.agent_user, home(config.agent_user)
    found = {
        "soul.clone": clone_probe(user, where, clone_dir(config), config.soul_repo),
        "soul.home": f'for f in {q(where)}/*.md; do [ -f "$f" ] && ls -ldn "$f"; done; :',
    }
    if mirrors(config):
        found["soul.mirror"] = mirror_probe(mirror_dir(config))
    return found


def parse_lines(output: str) -> dict[str, list[str]]:
    """{key: [values]} of the probe's key=value lines (anything else is ignored)."""
    found: dict[str, list[str]] = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isalpha():
            found.setdefault(key, []).append(value)
    return found


def _probe(facts: Facts, name: str) -> dict[str, list[str]]:
    section = facts.probe(name)
    return parse_lines(section.output) if section is not None else {}


def requires(config: AgentConfig, facts: Facts) -> list[tuple[str, str]]:
    if config.soul_repo is None:
        return []
    missing: list[tuple[str, str]] = []
    if config.agent_user not in facts.users:
        missing.append(("user", f"the agent's user {config.agent_user} does not exist"))
    if not facts.packages.get("git", False):
        where = "in the VM" if config.runtime == "bhyve" else "on the host"
        missing.append(("host", f"git is not installed {where}"))
    if mirrors(config) and _probe(facts, "soul.mirror").get("mirror") == ["absent"]:
        missing.append(("git", f"the git jail's repository {mirror_dir(config)} does not exist"))
    return missing


# ---- what goes to the host


def _bundle_sh(soul: PinnedSoul) -> list[str]:
    """sh that leaves the pinned commit's bundle in "$_ws_t/soul.bundle" (removed on exit)."""
    text = base64.encodebytes(soul.bundle).decode("ascii")
    lines = [text[i : i + 65] for i in range(0, len(text), 65)]  # 64 chars and a newline
    delimiter, body = heredoc("".join(lines))
    return [
        "_ws_t=$(mktemp -d /tmp/warden-soul.XXXXXX)",
        "trap 'rm -rf \"$_ws_t\"' EXIT",
        f"openssl base64 -d -out \"$_ws_t/soul.bundle\" <<'{delimiter}'\n{body}{delimiter}",
    ]


def _fetch_spec(soul: PinnedSoul) -> list[str]:
    specs = [f"+{PIN_REF}:{PIN_REF}"]
    if soul.kind == "branch":
        specs.append(f"+{PIN_REF}:refs/remotes/origin/{soul.ref}")
    elif soul.kind == "tag":
        specs.append(f"+{PIN_REF}:refs/tags/{soul.ref}")
    return specs


def clone_commands(
    user: str, user_home: str, dest: str, soul: PinnedSoul, *, fresh: bool
) -> tuple[str, ...]:
    """Make or move the clone at *dest* to exactly the pinned commit, as *user*."""
    d = q(checked_path(dest))
    sha = soul.commit
    body = ["set -e"]
    if fresh:
        body += [f"git init --quiet {d}", f"cd {d}", f"git remote add origin {q(soul.repo)}"]
    else:
        body += [f"cd {d}"]
    body.append(
        'git fetch --quiet --no-tags "$WARDEN_BUNDLE" ' + " ".join(q(s) for s in _fetch_spec(soul))
    )
    if soul.kind == "branch":
        body += [
            f"git checkout --quiet -B {q(soul.ref)} {sha}",
            f"git branch --quiet --set-upstream-to={q('origin/' + soul.ref)} {q(soul.ref)}",
        ]
    else:
        body.append(f"git checkout --quiet --detach {sha}")
    body.append(f'test "$(git rev-parse --verify HEAD)" = {sha}')
    run = agent_sh(user, user_home, "\n".join(body) + "\n")
    return (
        *_bundle_sh(soul),
        f'chown -R {q(user)}:{q(user)} "$_ws_t"',
        'WARDEN_BUNDLE="$_ws_t/soul.bundle"; export WARDEN_BUNDLE',
        run,
    )


def mirror_ref(soul: PinnedSoul) -> str:
    if soul.kind == "branch":
        return f"refs/heads/{soul.ref}"
    if soul.kind == "tag":
        return f"refs/tags/{soul.ref}"
    return "refs/heads/warden-pinned"


def mirror_commands(mirror: str, soul: PinnedSoul, *, fetch: bool) -> tuple[str, ...]:
    """Root fetches the bundle into the bare mirror (its hooks off), then gives it back
    to the jail's git user."""
    m = q(checked_path(mirror))
    git = f"git -c safe.directory={m} -c core.hooksPath=/dev/null --git-dir={m}"
    ref = mirror_ref(soul)
    steps: list[str] = []
    if fetch:
        steps += _bundle_sh(soul)
        steps.append(f'{git} fetch --quiet --no-tags "$_ws_t/soul.bundle" {q(f"+{PIN_REF}:{ref}")}')
    steps.append(f"chown -R {GIT_UID}:{GIT_UID} {m}")
    if fetch:
        steps.append(f'test "$({git} rev-parse --verify {q(ref + "^{commit}")})" = {soul.commit}')
    return tuple(steps)


# ---- the plan


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """The clone, the harness files, the mirror and the rows: each only where it differs."""
    step = StepPlan(NAME)
    if config.soul_repo is None:
        return step
    state = facts.extras.get(NAME)
    if not isinstance(state, SoulState):
        step.changes.append(Change(NAME, deferred_summary(config), deferred=True))
        return step
    if state.soul is None:
        step.refusals.append(f"soul: {state.problem}")
        return step
    soul = state.soul
    if not soul.report.ok:
        step.refusals.append(refusal(soul))
        return step
    if config.agent_user in facts.users:
        _clone(step, config, facts, soul)
        _harness(step, config, facts, state, soul)
        _hub_access(step, config, state)
    if mirrors(config):
        _mirror(step, config, facts, soul)
    if seeds(config):
        _seed(step, config, state, soul)
    return step


def deferred_summary(config: AgentConfig) -> str:
    """The offline plan's one line: what the step will do once the host (or, for a
    bhyve agent, its guest) is read."""
    where, read = clone_dir(config), "the host"
    if config.runtime == "bhyve":
        where, read = f"{where} inside the guest at {config.vm_ip}", "the guest"
    then = [f"clone it into {where}", "render the harness files"]
    if mirrors(config):
        then.append("mirror it")
    if seeds(config):
        then.append("seed it")
    return (
        f"clone {config.soul_repo} at {config.soul_ref} on this machine and run soul.check on"
        f" it; then {', '.join(then[:-1])} and {then[-1]} (planned when {read} is read)"
    )


def refusal(soul: PinnedSoul) -> str:
    """Why the soul is refused: every error finding (rule, file:line, detail; no value)."""
    errors = [f for f in soul.report.findings if f.level == "error"]
    lines = [
        f"soul: {soul.repo} at {soul.ref} ({soul.commit[:12]}) fails soul.check with"
        f" {len(errors)} error(s); nothing was written:"
    ]
    lines += [f"  {f.rule} {f.location}: {f.detail}" for f in errors]
    return "\n".join(lines)


def _clone(step: StepPlan, config: AgentConfig, facts: Facts, soul: PinnedSoul) -> None:
    user, dest = config.agent_user, clone_dir(config)
    seen = _probe(facts, "soul.clone")
    state = (seen.get("state") or ["absent"])[0]
    where = f"{soul.repo} at {soul.ref} ({soul.commit[:12]})"
    if state == "no-user":
        return
    if state == "not-git":
        step.refusals.append(f"soul: {dest} exists and is not a git clone: move it away")
        return
    if state == "absent":
        step.changes.append(
            Change(
                NAME,
                f"clone the soul {where} into {dest} as {user} (from a bundle of the checked"
                " commit)",
                commands=clone_commands(user, home(user), dest, soul, fresh=True),
            )
        )
        return
    if seen.get("origin") != ["same"]:
        step.refusals.append(
            f"soul: the clone {dest} has another origin than WARDEN_SOUL_REPO={soul.repo};"
            " left alone (set it back, or move the clone away)"
        )
        return
    dirty = seen.get("dirty", [])
    local = seen.get("local", [])
    if dirty or local:
        named = [f"changed: {p.strip()}" for p in dirty] + [f"local commit: {c}" for c in local]
        step.refusals.append(
            f"soul: the clone {dest} has local work that is not on the hub; it is never"
            f" overwritten (commit and sync it with soul.sync, or discard it):\n  "
            + "\n  ".join(named)
        )
        return
    head = (seen.get("head") or [""])[0]
    branch = (seen.get("branch") or [""])[0]
    on_ref = branch == soul.ref if soul.kind == "branch" else branch == ""
    if head == soul.commit and on_ref:
        return
    step.changes.append(
        Change(
            NAME,
            f"move the clone {dest} from {head[:12] or 'nothing'} to {where} as {user}",
            commands=clone_commands(user, home(user), dest, soul, fresh=False),
        )
    )


def _stats(facts: Facts) -> dict[str, tuple[str, str, str]]:
    section = facts.probe("soul.home")
    found: dict[str, tuple[str, str, str]] = {}
    for line in section.output.splitlines() if section is not None else ():
        words = line.split()
        if len(words) >= 9:
            found[words[-1]] = (words[0][:10], words[2], words[3])
    return found


def harness_file(soul: PinnedSoul, source: str, content: str) -> str:
    text = content if content.endswith("\n") else content + "\n"
    return render("soul/harness.md.j2", source=source, repo=soul.repo, commit=soul.commit,
                  content=text.removesuffix("\n"))  # fmt: skip


def _harness(
    step: StepPlan, config: AgentConfig, facts: Facts, state: SoulState, soul: PinnedSoul
) -> None:
    user = config.agent_user
    uid = str(facts.users.get(user, ""))
    stats = _stats(facts)
    for adapter in soul.adapters:
        path = harness_path(config, adapter.target)
        wanted = harness_file(soul, adapter.source, adapter.content)
        before = state.harness.get(path)
        if before == wanted and stats.get(path) == ("-rw-r--r--", uid, uid):
            continue
        step.changes.append(
            Change(
                NAME,
                f"{path}: {adapter.target} for {adapter.harness} from the soul's"
                f" {adapter.source} ({user}, 0644)",
                files=(
                    FileWrite(
                        path, wanted, 0o644, owner=user, group=user, before=before, as_user=user
                    ),
                ),
            )
        )


def _mirror(step: StepPlan, config: AgentConfig, facts: Facts, soul: PinnedSoul) -> None:
    seen = _probe(facts, "soul.mirror")
    if seen.get("mirror") != ["present"]:
        return  # requires() names the git step
    refs: dict[str, str] = {}
    for line in seen.get("ref", []):
        sha, _, name = line.partition(" ")
        refs[name] = sha
    fetch = refs.get(mirror_ref(soul)) != soul.commit
    if not fetch and not seen.get("foreign"):
        return
    mirror = mirror_dir(config)
    what = (
        f"push {soul.commit[:12]} to the git jail's mirror {mirror} ({mirror_ref(soul)})"
        if fetch
        else f"give {mirror} back to the git jail's git user ({GIT_UID})"
    )
    step.changes.append(Change(NAME, what, commands=mirror_commands(mirror, soul, fetch=fetch)))


def _seed(step: StepPlan, config: AgentConfig, state: SoulState, soul: PinnedSoul) -> None:
    if state.seeded is None:
        memories = config.soul_import_memories
        reason = f" ({state.db_problem})" if state.db_problem else ""
        step.changes.append(
            Change(
                NAME,
                f"then, once PostgreSQL in {config.jail_names['db']} answers{reason}: seed"
                f" {len(soul.skills)} skill(s) into system_skills"
                + (" and the curated memories into system_brain" if memories else ""),
                deferred=True,
            )
        )
        return
    if state.seeded.problems:
        step.refusals += [f"soul: {p}" for p in state.seeded.problems]
        return
    seed = soul_seed(
        config.agent_name,
        soul.repo,
        soul.commit,
        skills=soul.skills,
        memories=soul.memories,
        manifest=soul.report.manifest,
        import_memories=config.soul_import_memories,
    )
    for change in plan_seed(seed, state.seeded):
        step.changes.append(Change(NAME, change.summary, sql=change))


# ---- reading beyond sh, and running the SQL


def enrich(executor: Executor, config: AgentConfig, facts: Facts) -> Facts:
    """Pin and check the soul on the controller; read the harness files and the rows.
    An offline plan contacts nothing, the hub included: it shows the clone as deferred."""
    if config.soul_repo is None or facts.assumed:
        return facts
    try:
        soul = pinned(config.soul_repo, config.soul_ref, config.soul_key, config.agent_name)
    except HostError as exc:
        return facts.with_extra(NAME, SoulState(None, problem=exc.message))
    if not soul.report.ok:
        return facts.with_extra(NAME, SoulState(soul))
    harness: dict[str, str | None] = {}
    if soul.adapters and config.agent_user in facts.users:
        harness = read_secrets(executor, [harness_path(config, a.target) for a in soul.adapters])
    state = SoulState(soul, harness=harness)
    if config.agent_user in facts.users:
        state = _read_access(executor, config, state)
    if seeds(config):
        state = _read_db(executor, config, facts, state)
    return facts.with_extra(NAME, state)


def _read_access(executor: Executor, config: AgentConfig, state: SoulState) -> SoulState:
    """The deploy key (local and on the host) and the agent's known_hosts."""
    assert config.soul_repo is not None
    key_path = host_key_path(config)
    paths = [known_hosts_path(config), *([key_path] if key_path else [])]
    stored = read_secrets(executor, paths)
    try:
        local = deploy_key(config.soul_key)
    except OSError as exc:
        return _with(state, problem=f"WARDEN_SOUL_KEY {config.soul_key}: {exc.strerror}")
    return _with(
        state,
        local_key=local,
        host_key=stored.get(key_path) if key_path else None,
        known_hosts=stored[known_hosts_path(config)],
        hub_lines=hub_known_hosts(config.soul_repo),
    )


def known_hosts_path(config: AgentConfig) -> str:
    return f"{home(config.agent_user)}/.ssh/known_hosts"


def _hub_access(step: StepPlan, config: AgentConfig, state: SoulState) -> None:
    """What soul.sync needs on the host: the deploy key, and the hub's key pinned."""
    user = config.agent_user
    ssh_dir = f"{home(user)}/.ssh"
    # as the agent: its home is its own, and root must not follow links planted there
    inner = f"umask 077; mkdir -p {ssh_dir} && chmod 0700 {ssh_dir}"
    prepare = (f"su {user} -c {q(inner)}",)
    key_path = host_key_path(config)
    if key_path is not None and state.local_key is not None and state.host_key != state.local_key:
        step.changes.append(
            Change(
                NAME,
                f"the soul's deploy key (WARDEN_SOUL_KEY) for soul.sync: {key_path} (0600, {user})",
                files=(
                    FileWrite(
                        key_path, state.local_key, 0o600, owner=user, group=user, secret=True
                    ),
                ),
                script="\n".join(
                    [
                        *prepare,
                        FileWrite(key_path, state.local_key, 0o600, user, user, as_user=user).sh(),
                    ]
                ),
                secret=True,
            )
        )
    if state.hub_lines is None:
        step.findings.append(
            Finding(
                "warning",
                "soul hub key",
                f"the host key of {config.soul_repo}'s server is not in your known_hosts, so "
                "it cannot be pinned for the agent: soul.sync from this host will refuse the "
                "hub until it is (ssh to the hub once from this machine, then run setup again)",
            )
        )
        return
    if not state.hub_lines:
        return
    path = known_hosts_path(config)
    problem = broken(state.known_hosts, config.agent_name, path, HUB_PART)
    if problem is not None:
        step.refusals.append(f"soul: {problem}; fix the file by hand")
        return
    begin, end = markers(config.agent_name, HUB_PART)
    content = with_block(
        state.known_hosts, config.agent_name, [begin, *state.hub_lines, end], HUB_PART
    )
    if content != state.known_hosts:
        step.changes.append(
            Change(
                NAME,
                f"{path}: the soul hub's host key, pinned from your known_hosts",
                script="\n".join(
                    [*prepare, FileWrite(path, content, 0o600, user, user, as_user=user).sh()]
                ),
                files=(FileWrite(path, content, 0o600, user, user, before=state.known_hosts),),
            )
        )


def _read_db(executor: Executor, config: AgentConfig, facts: Facts, state: SoulState) -> SoulState:
    where = db.server(config, facts)
    if isinstance(where, str):
        return _with(state, db_problem=where)
    admin = read_secrets(executor, [where.admin_secret])[where.admin_secret]
    if admin is None:
        return _with(state, db_problem="no admin password yet: the db step makes it")
    password = admin.strip()
    try:
        with forward(executor, str(where.admin_address), db.PORT) as address:
            seeded = read_seeded(db.admin_opener(address, password), config.agent_name)
    except HostError as exc:
        return _with(state, db_problem=exc.message)
    return _with(state, seeded=seeded, admin_password=password)


def _with(state: SoulState, **changes: Any) -> SoulState:
    return SoulState(**{**state.__dict__, **changes})


def apply_sql(
    executor: Executor,
    config: AgentConfig,
    facts: Facts,
    changes: list[Change],
    *,
    progress: Callable[[str, int, str, str], None] | None = None,
    journal: Callable[[str, int, float], None] | None = None,
) -> None:
    """Run the seeding as the admin role through the forward, journalled one by one."""
    state = facts.extras.get(NAME)
    where = db.server(config, facts)
    if not isinstance(state, SoulState) or state.admin_password is None or isinstance(where, str):
        raise HostError(f"{executor.target}: soul: no admin login to seed the databases with")
    db.run_admin_sql(executor, where, NAME, state.admin_password, changes, progress, journal)

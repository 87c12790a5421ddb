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
route to the hub needed on the host; git verifies the commit id), as the agent's user
(the sh of that, and of the mirror's fetch: setup/soul/delivery.py).
A clone with local changes or local commits, or another origin, is never touched.

Harness files (CLAUDE.md, AGENTS.md ... from the manifest's adapters) go into the
agent's home, the directory its harness starts in (templates/service/run.j2), not
into the clone, which must stay clean for soul.sync. Everything in the agent's home
is read and written as the agent, and the clone's git runs as the agent, bounded
(setup/domains.py): its configuration and hooks are the agent's. The mirror in the
git jail is filled from inside the jail, by its git user fetching the same bundle:
git never runs as host root in a repository a jail owns.

For a bhyve agent (WARDEN_RUNTIME=bhyve) this step runs only inside its VM, never on
the VM's host (setup/guest.py split: the host's steps are fixed, and soul is not
one of them): the guest is a host of its own with the agent's user and home. There
it makes the same clone, harness files, deploy key and hub pin; a VM has no role
jails (the bhyve step refuses them), so no mirror and no seeding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import jail
from ..blocks import broken, markers
from ..config import AgentConfig
from ..db.tunnel import forward
from ..domains import HostUser, JailUser, Location
from ..errors import HostError, Refusal
from ..facts import Facts, Probe, Stat, read, stats
from ..layout import GIT_UID, home
from ..ops import block, directory, put
from ..plan import Change, Finding, StepPlan
from ..render import render
from ..shell import checked_path, q
from ..soul.access import deploy_key, hub_known_hosts
from ..soul.delivery import clone_op as clone_op
from ..soul.delivery import clone_probe as clone_probe
from ..soul.delivery import mirror_ops as mirror_ops
from ..soul.delivery import mirror_probe as mirror_probe
from ..soul.delivery import mirror_ref, parse_lines
from ..soul.pin import PinnedSoul, pinned
from ..soul.seed import SeedState, plan_seed, read_seeded, soul_seed
from ..soul.sync import host_key_path
from ..transport import Executor
from . import db

NAME = "soul"
ROUNDS = 1
CLONE_DIR = "soul"
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


def agent(config: AgentConfig) -> HostUser:
    """The agent's user: its clone and its files are read and written as it."""
    user = config.agent_user
    return HostUser(user, user, home(user))


def mirror_path(config: AgentConfig) -> str:
    """The git jail's bare repository, inside the jail (setup/steps/git.py repos)."""
    return f"/srv/git/{config.agent_name}-soul.git"


def mirror_dir(config: AgentConfig) -> Location:
    return Location(JailUser(config.jail_names["git"]), mirror_path(config))


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


def probes(config: AgentConfig) -> dict[str, Probe]:
    if config.soul_repo is None:
        return {}
    where = home(config.agent_user)
    found = {
        "soul.clone": Probe(clone_probe(clone_dir(config), config.soul_repo), agent(config)),
        "soul.home": Probe(
            f'for f in {q(where)}/*.md; do [ -f "$f" ] && ls -ldn "$f"; done; :', agent(config)
        ),
    }
    if mirrors(config):
        git_user = JailUser(config.jail_names["git"], "git")
        found["soul.mirror"] = Probe(mirror_probe(mirror_path(config)), git_user)
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
    if mirrors(config) and _probe(facts, "soul.mirror").get("mirror") != ["present"]:
        missing.append(("git", f"the git jail's repository {mirror_dir(config)} does not exist"))
    return missing


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
        step.refuse("soul.unavailable", f"soul: {state.problem}")
        return step
    soul = state.soul
    if not soul.report.ok:
        step.refuse("soul.check-failed", refusal(soul))
        return step
    if state.problem is not None:
        step.refuse("soul.unavailable", f"soul: {state.problem}")
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
    section = facts.probe("soul.clone")
    if section is not None and section.rc in (124, 137):
        step.refuse(
            "soul.clone-read-timeout",
            f"soul: reading the clone {dest} as {user} did not finish in time: git there runs "
            f"{user}'s own configuration and hooks (core.fsmonitor, a filter, a hook in "
            f"{dest}/.git/config or {home(user)}/.gitconfig), and one of them hangs; fix them",
        )
        return
    seen = _probe(facts, "soul.clone")
    state = (seen.get("state") or ["absent"])[0]
    where = f"{soul.repo} at {soul.ref} ({soul.commit[:12]})"
    if state == "not-git":
        step.refuse("soul.not-a-clone", f"soul: {dest} exists and is not a git clone: move it away")
        return
    if state == "absent":
        step.changes.append(
            Change(
                NAME,
                f"clone the soul {where} into {dest} as {user} (from a bundle of the checked"
                " commit)",
                ops=(clone_op(agent(config), dest, soul, fresh=True),),
            )
        )
        return
    if seen.get("origin") != ["same"]:
        step.refuse(
            "soul.other-origin",
            f"soul: the clone {dest} has another origin than WARDEN_SOUL_REPO={soul.repo};"
            " left alone (set it back, or move the clone away)",
        )
        return
    dirty = seen.get("dirty", [])
    local = seen.get("local", [])
    if dirty or local:
        named = [f"changed: {p.strip()}" for p in dirty] + [f"local commit: {c}" for c in local]
        step.refuse(
            "soul.local-work",
            f"soul: the clone {dest} has local work that is not on the hub; it is never"
            f" overwritten (commit and sync it with soul.sync, or discard it):\n  "
            + "\n  ".join(named),
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
            ops=(clone_op(agent(config), dest, soul, fresh=False),),
        )
    )


def harness_file(soul: PinnedSoul, source: str, content: str) -> str:
    text = content if content.endswith("\n") else content + "\n"
    return render("soul/harness.md.j2", source=source, repo=soul.repo, commit=soul.commit,
                  content=text.removesuffix("\n"))  # fmt: skip


def _harness(
    step: StepPlan, config: AgentConfig, facts: Facts, state: SoulState, soul: PinnedSoul
) -> None:
    user = config.agent_user
    uid = facts.users.get(user, -1)
    have = stats(facts.probe("soul.home"))
    for adapter in soul.adapters:
        path = harness_path(config, adapter.target)
        wanted = harness_file(soul, adapter.source, adapter.content)
        before = state.harness.get(path)
        if before == wanted and have.get(path) == Stat("-rw-r--r--", uid, uid):
            continue
        step.changes.append(
            Change(
                NAME,
                f"{path}: {adapter.target} for {adapter.harness} from the soul's"
                f" {adapter.source} ({user}, 0644)",
                # the agent's home: read and written as the agent (setup/domains.py)
                ops=(put(Location(agent(config), path), wanted, 0o644, user, user, before=before),),
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
    step.changes.append(Change(NAME, what, ops=mirror_ops(mirror, soul, fetch=fetch)))


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
        step.refusals += [Refusal("soul.seed-problem", f"soul: {p}") for p in state.seeded.problems]
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
    state = SoulState(soul)
    if config.agent_user in facts.users:
        state = _read_home(executor, config, state)
    if seeds(config):
        state = _read_db(executor, config, facts, state)
    return facts.with_extra(NAME, state)


def _read_home(executor: Executor, config: AgentConfig, state: SoulState) -> SoulState:
    """The harness files, the deploy key and the known_hosts in the agent's home, read
    as the agent (a link it planted leads only to what it may read itself), and the
    deploy key on this machine."""
    assert state.soul is not None and config.soul_repo is not None
    mine = agent(config)
    key_path = host_key_path(config)
    harness = [harness_path(config, a.target) for a in state.soul.adapters]
    paths = [*harness, known_hosts_path(config), *([key_path] if key_path else [])]
    stored = read(executor, files=[Location(mine, p) for p in paths])
    if stored.unreadable:
        where, why = next(iter(stored.unreadable.items()))
        return _with(state, problem=f"{where} cannot be read as {mine.user}: {why}; fix it by hand")
    try:
        local = deploy_key(config.soul_key)
    except OSError as exc:
        return _with(state, problem=f"WARDEN_SOUL_KEY {config.soul_key}: {exc.strerror}")
    return _with(
        state,
        harness={p: stored.file(Location(mine, p)) for p in harness},
        local_key=local,
        host_key=stored.file(Location(mine, key_path)) if key_path else None,
        known_hosts=stored.file(Location(mine, known_hosts_path(config))),
        hub_lines=hub_known_hosts(config.soul_repo),
    )


def known_hosts_path(config: AgentConfig) -> str:
    return f"{home(config.agent_user)}/.ssh/known_hosts"


def _hub_access(step: StepPlan, config: AgentConfig, state: SoulState) -> None:
    """What soul.sync needs on the host: the deploy key, and the hub's key pinned, both
    written as the agent in its own ~/.ssh."""
    user = config.agent_user
    mine = agent(config)
    ssh_dir = directory(Location(mine, f"{home(user)}/.ssh"), 0o700)
    key_path = host_key_path(config)
    if key_path is not None and state.local_key is not None and state.host_key != state.local_key:
        step.changes.append(
            Change(
                NAME,
                f"the soul's deploy key (WARDEN_SOUL_KEY) for soul.sync: {key_path} (0600, {user})",
                ops=(
                    ssh_dir,
                    put(Location(mine, key_path), state.local_key, 0o600, user, user, secret=True),
                ),
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
        step.refuse("soul.marked-block-broken", f"soul: {problem}; fix the file by hand")
        return
    begin, end = markers(config.agent_name, HUB_PART)
    write = block(
        Location(mine, path),
        state.known_hosts,
        config.agent_name,
        [begin, *state.hub_lines, end],
        0o600,
        user,
        user,
        HUB_PART,
    )
    if write is not None:
        step.changes.append(
            Change(
                NAME,
                f"{path}: the soul hub's host key, pinned from your known_hosts",
                ops=(ssh_dir, write),
            )
        )


def _read_db(executor: Executor, config: AgentConfig, facts: Facts, state: SoulState) -> SoulState:
    where = db.server(config, facts)
    if isinstance(where, str):
        return _with(state, db_problem=where)
    admin = read(executor, files=[where.admin_secret]).file(where.admin_secret)
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


def _admin_password(facts: Facts) -> str | None:
    state = facts.extras.get(NAME)
    return state.admin_password if isinstance(state, SoulState) else None


apply_sql = db.admin_sql(NAME, _admin_password)

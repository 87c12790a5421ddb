"""The check that cannot be forgotten: no root-domain operation, read or line of sh names
a path an agent or a jail controls.

Every step's plan (and teardown's, and status's probes) is built for a matrix of
configurations (every role, both runtimes, both db runtimes, shared jails, the soul) on a
fresh host and on a host where everything already exists, so that every branch that
places, reads or removes something is taken. What runs as host root (an operation of
the host domain, a probe or file read of the host domain) must not name a path below an
agent's home, a path in a jail's root, or a path below a directory an agent can write
(its tmux socket directory, /tmp): those are read and written in their own domain
(setup/domains.py), never by root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from setup.command import cmd
from setup.config import AgentConfig
from setup.domains import Host, Location
from setup.facts import Facts, Probe, Section, locations
from setup.ops import Op, Put, Run, Script
from setup.plan import Change
from setup.planner import facts_request, make_plan
from setup.registry import entry_for, load_entries, owned_roles
from setup.soul.check import CheckReport
from setup.soul.pin import Adapter, PinnedSoul
from setup.status import probes as status_probes
from setup.steps import BUILT, db, select
from setup.steps.soul import SoulState
from setup.teardown import files as teardown_files
from setup.teardown import plan_teardown
from setup.teardown import probes as teardown_probes
from tests.harness.agents import agent
from tests.harness.facts import jail_done, ready_host
from tests.portability import code_lines

# Paths an agent's user or a jail's root controls: below a home, a jail's root (and the
# root directory itself), below an agent's tmux socket directory, below /tmp.
UNTRUSTED = re.compile(
    r"/home/[a-z_][a-z0-9_-]*/"
    r"|/usr/local/bastille/jails/[A-Za-z0-9_.]+/root\b"
    r"|/var/run/warden/[a-z0-9]+/"
    r"|(?<![\w/])/(?:var/)?tmp/"
)

BASE = "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_NAMESERVER=192.0.2.53\n"
SOUL = "WARDEN_SOUL_REPO=https://hub.example/atlas/soul.git\n"
MATRIX = {
    "every role": "WARDEN_ROLES=db,git,cms,ollama,llama-cpp\nWARDEN_LLAMA_MODEL=m.gguf\n"
    "WARDEN_LLAMA_CPP_IP=10.0.1.6\n",
    "every role with a soul": "WARDEN_ROLES=db,git,cms,llama-cpp\nWARDEN_LLAMA_MODEL=m.gguf\n"
    + SOUL,
    "db on the host": "WARDEN_ROLES=db,git\nWARDEN_DB_RUNTIME=host\n" + SOUL,
    "no role jails": "WARDEN_ROLES=none\n" + SOUL,
    "bhyve": "WARDEN_RUNTIME=bhyve\nWARDEN_ROLES=none\nWARDEN_VM_IP=10.0.1.10\n" + SOUL,
    "shared jails": "WARDEN_ROLES=db,ollama\nWARDEN_DB_AGENT=orion\nWARDEN_LLM_AGENT=orion\n",
}
LENDER = "AGENT_NAME=orion\nAGENT_SUBNET_BASE=10.0.2\nWARDEN_ROLES=db,ollama\n"


def configs(tmp_path: Path) -> Iterator[tuple[str, AgentConfig]]:
    for name, extra in MATRIX.items():
        yield name, agent(tmp_path, BASE + extra, name=f"{name}.env".replace(" ", "-"))


def lived_in(config: AgentConfig, tmp_path: Path) -> Facts:
    """A host where everything of the agent's exists already: its jails run, its files
    and keys are there, its registry entry and its lender's, every probe answers."""
    facts = ready_host(config)
    lender = agent(tmp_path, LENDER + "WARDEN_NAMESERVER=192.0.2.53\n", name="orion.env")
    registry = dict(facts.registry)
    registry["orion"] = entry_for(lender, replace(facts, registry=registry)).to_json()
    facts = replace(facts, registry=registry)
    registry[config.agent_name] = entry_for(config, facts).to_json()
    facts = replace(
        facts,
        registry=registry,
        users={**facts.users, config.agent_user: 2001, "orion": 2002},
        groups={**facts.groups, config.agent_user: 2001},
        packages=dict.fromkeys(
            ["bastille", "tmux", "git", "vm-bhyve", "postgresql17-server"], True
        ),
        jails_defined=("orionollama", "oriondb"),
        jails_running=("orionollama", "oriondb"),
    )
    if config.runtime == "jail":
        for role in ("db", "git", "cms"):
            if role in owned_roles(config):
                facts = jail_done(config, role, facts)
    # every probe and file answers something a step acts on
    answers = {
        "soul.clone": "state=present\norigin=same\nhead=0000000\nbranch=main\n",
        "soul.mirror": "mirror=present\nref=00 refs/heads/main\nforeign=/srv/git/x\n",
        "teardown.paths": "\n".join(
            ["/usr/local/etc/rc.d/atlas", "/var/run/warden/atlas", "/var/log/warden/atlas"]
        ),
    }
    probes = dict(facts.probes)
    for name in answers:
        probes[name] = Section(answers[name], 0)
    facts = replace(facts, probes=probes)
    # what the soul's and the db's enrich would have read: a pinned soul with a harness
    # file, a deploy key, a hub key; a server warden cannot log in to yet
    report = CheckReport(tmp_path, "atlas", "SOUL.md", None)
    soul = PinnedSoul(
        repo="https://hub.example/atlas/soul.git", ref="main", kind="branch", commit="1" * 40,
        report=report, adapters=(Adapter("claude-code", "adapters/c.md", "CLAUDE.md", "hi\n"),),
        bundle=b"bundle",
    )  # fmt: skip
    state = SoulState(soul, harness={}, local_key="key\n", host_key=None, known_hosts="x\n",
                      hub_lines=["hub.example ssh-ed25519 AAAA"])  # fmt: skip
    db_state = db.DbState(
        reachable=True, problem="no login", admin_password="a" * 43, agent_password="b" * 43
    )
    return facts.with_extra("soul", state).with_extra("db", db_state)


def half_done(config: AgentConfig, tmp_path: Path) -> Facts:
    """The jails and the keys exist, but nothing is pinned yet; the db's secrets exist and
    its server runs, but warden cannot log in; the brain can be dumped."""
    facts = lived_in(config, tmp_path)
    pins = ("known_hosts", "/.ssh/config", "authorized_keys")
    unpinned = {k: v for k, v in facts.files.items() if not k.path.endswith(pins)}
    secrets = (
        "\n".join(
            f"-rw-------  1 0 0 44 Dec  5 01:00 {p}"
            for p in (db.admin_secret(config), db.agent_secret(config))
        )
        + f"\ndrwx------  2 0 0 512 Dec  5 01:00 {db.secrets_dir(config.agent_name)}\n"
    )
    probes = {
        **facts.probes,
        "db.secrets": Section(secrets, 0),
        "teardown.brain": Section("", 0),
        "teardown.service": Section("", 0),
    }
    return replace(facts, files=unpinned, probes=probes)


# What root must never run: a tool that runs a user's shell and startup files (su), or
# that evaluates a jail's output as host root (bastille template: its template.sh pastes
# the jail's own `ifconfig` output into an eval; docs/freebsd/sources.md §6).
FORBIDDEN = re.compile(r"(^|[;&|(]\s*|\bexec\s+)su\s|\bbastille\s+template\b")


def violations(text: str) -> list[str]:
    """The code lines of root's sh (here-document bodies are data, not code) that name
    an untrusted path, or run what root must never run."""
    return [
        line for _, line in code_lines(text) if UNTRUSTED.search(line) or FORBIDDEN.search(line)
    ]


def root_ops(ops: tuple[Op, ...]) -> Iterator[Op]:
    for op in ops:
        if isinstance(op, Put | Run | Script) and isinstance(op.domain, Host):
            yield op


def check_changes(changes: list[Change], where: str) -> list[str]:
    found: list[str] = []
    for change in changes:
        ops = (*change.ops, *([change.confirm] if change.confirm is not None else ()))
        for op in ops:
            if isinstance(op, Put | Run) and not isinstance(op.domain, Host):
                continue  # runs as the user or inside the jail: its paths are theirs
            if isinstance(op, Put) and UNTRUSTED.search(op.path):
                found.append(f"{where}: {change.summary}: root writes {op.path}")
            found += [f"{where}: {change.summary}: {line}" for line in violations(op.sh())]
    return found


def check_reads(files: list[str | Location], probes: dict[str, Probe], where: str) -> list[str]:
    found = [
        f"{where}: root reads {loc.path}"
        for loc in locations(files)
        if isinstance(loc.domain, Host) and UNTRUSTED.search(loc.path)
    ]
    for name, probe in probes.items():
        if isinstance(probe.domain, Host):
            found += [f"{where}: probe {name}: {line}" for line in violations(probe.body)]
    return found


def test_no_root_operation_read_or_line_of_sh_names_what_an_agent_or_a_jail_controls(
    tmp_path: Path,
) -> None:
    found: list[str] = []
    checked = 0
    for name, config in configs(tmp_path):
        request = facts_request(config, select(None))
        found += check_reads(request.files, request.probes, name)
        found += check_reads(teardown_files(config), teardown_probes(config), f"{name} teardown")
        for facts in (
            replace(ready_host(config), registry={}),
            lived_in(config, tmp_path),
            half_done(config, tmp_path),
        ):
            for step in select(None):
                plan = BUILT[step].plan(config, facts)
                found += check_changes(plan.changes, f"{name} {step}")
                checked += len(plan.changes)
            whole = make_plan(config, facts, select(None), register=True)
            found += check_changes(whole.changes, f"{name} whole plan")
            for keep in (False, True):
                down = plan_teardown(config, facts, keep_data=keep, force=True)
                found += check_changes(down.changes, f"{name} teardown")
                checked += len(down.changes)
            entries, _ = load_entries(facts)
            found += check_reads([], status_probes(list(entries.values()), entries), "status")
    assert checked > 100  # the matrix really exercised the steps
    assert found == []


def test_the_check_sees_a_root_read_write_or_git_in_an_agents_or_a_jails_paths() -> None:
    planted = [
        Change("x", "root reads the agent's file", ops=(Run(cmd("cat", "/home/atlas/.ssh/x")),)),
        Change(
            "x",
            "root writes a jail's file",
            ops=(
                Put(Location(Host(), "/usr/local/bastille/jails/atlasgit/root/etc/x"), "", 0o644),
            ),
        ),
        Change(
            "x",
            "git in the mirror",
            ops=(
                Run(
                    cmd(
                        "git",
                        "--git-dir=/usr/local/bastille/jails/atlasgit/root/srv/git/a.git",
                        "fetch",
                    )
                ),
            ),
        ),
    ]
    assert len(check_changes(planted, "planted")) == 4  # the write: its path and its sh
    reads = check_reads(["/home/atlas/.ssh/known_hosts"], {"p": Probe("ls /tmp/x")}, "planted")
    assert len(reads) == 2
    tools = [
        Change("x", "su", ops=(Run(cmd("su", "atlas", "-c", "id")),)),
        Change("x", "template", ops=(Run(cmd("bastille", "template", "-a", "j", "/t")),)),
    ]
    assert len(check_changes(tools, "planted")) == 2


@pytest.mark.parametrize("path", ["/home/atlas", "/var/run/warden/atlas", "/etc/hosts"])
def test_the_agents_home_and_socket_directory_themselves_are_roots_to_name(path: str) -> None:
    """/home and /var/run/warden are root's: root makes, hands over and removes the
    directories themselves (never following a link: rm -r and mkdir do not)."""
    assert violations(f"mkdir -p {path}") == []

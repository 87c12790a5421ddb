"""Teardown's plan: a pure function of the config, the facts and the entry."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import UTC, datetime

from ..blocks import broken
from ..command import Command, Raw, cmd
from ..config import AgentConfig
from ..db import names
from ..db.server import Server, server_for
from ..domains import SLOW_SECONDS, HostUser, bounded
from ..facts import Facts
from ..layout import (
    BRIDGE,
    HOSTS,
    agent_etc,
    agent_libexec,
    home,
    jail_dir,
    log_dir,
    newsyslog_conf,
    rc_script,
    secrets_dir,
    template_dir,
    tmux_socket_dir,
)
from ..layout import (
    template_stamp as stamp,
)
from ..ops import Run, block, check, directory, either, negate, quiet, run, sysrc_delete, when
from ..plan import Change, Plan, StepPlan
from ..registry import (
    ALIAS_PREFIX,
    RegistryEntry,
    borrowers,
    load_entries,
    path_for,
)
from ..steps import pf
from .kept import KeptDb, kept_server, leave_kept_server
from .names import DUMPS, KEPT_DB, NAME, UNREGISTER


def _present(facts: Facts) -> set[str]:
    probe = facts.probe("teardown.paths")
    return set(probe.output.split()) if probe is not None else set()


def alias_key(config: AgentConfig, facts: Facts, entry: RegistryEntry | None) -> str | None:
    """The agent's rc.conf alias: the registry's index, else the key holding its gateway."""
    gateway = f"inet {config.gateway}/{config.subnet.prefixlen}"
    if entry is not None:
        key = f"{ALIAS_PREFIX}{entry.alias_index}"
        return key if facts.rc_conf.get(key) == gateway else None
    return next(
        (k for k, v in facts.rc_conf.items() if k.startswith(ALIAS_PREFIX) and v == gateway),
        None,
    )


def plan_teardown(
    config: AgentConfig,
    facts: Facts,
    *,
    keep_data: bool,
    force: bool,
    now: datetime | None = None,
    entry: RegistryEntry | None = None,
) -> Plan:
    """Teardown's plan: the agent's own things, then pf without it, then its entry.

    `entry` is the agent's registry entry as it was when the teardown began: planned
    again after its steps ran, the plan must still know what the agent had, so
    whatever is left of it is a change or a refusal, never an empty plan."""
    entries, _ = load_entries(facts)
    entry = entries.pop(config.agent_name, None) or entry
    step = StepPlan(NAME)
    if entry is None:
        # Not warden's agent here (or already gone: unregistering is the last change).
        # Nothing of that name is touched: it could be someone else's.
        return Plan(config=config, facts=facts, steps=[step])
    lending = [
        f"{other.agent} uses its "
        + ", ".join(r for r, lender in sorted(other.borrows.items()) if lender == config.agent_name)
        + " jail"
        for other in borrowers(entries, config.agent_name)
    ]
    if lending:
        step.refuse(
            "teardown.jails-in-use",
            f"teardown: other agents use {config.agent_name}'s jails ({'; '.join(lending)}): "
            "tear them down first",
        )
        return Plan(config=config, facts=facts, steps=[step])
    if entry.runtime == "bhyve":
        step.refuse(
            "teardown.bhyve-not-built",
            f"teardown: {config.agent_name} runs in a bhyve VM; tearing down a VM agent is not "
            "built in this version of warden (vm stop, vm destroy, vm_list by hand)",
        )
        return Plan(config=config, facts=facts, steps=[step])
    # once the user is gone, so is its clone (a rerun, or the check after the run)
    unpushed = facts.probe("teardown.unpushed") if config.agent_user in facts.users else None
    commits = (
        unpushed.output.strip().splitlines() if unpushed is not None and unpushed.rc == 0 else []
    )
    if unpushed is not None and unpushed.rc not in (0, 3) and not force:
        step.refuse(
            "teardown.soul-unreadable",
            f"teardown: the soul clone of {config.agent_name} could not be read as "
            f"{config.agent_user} (exit {unpushed.rc}): check it, or pass --force",
        )
    if commits and not force:
        step.refuse(
            "teardown.soul-unpushed",
            f"teardown: the soul clone of {config.agent_name} has {len(commits)} commit(s) not "
            f"pushed anywhere ({'; '.join(commits[:5])}): push them (invoke soul.sync) or "
            "pass --force to lose them",
        )
    present = _present(facts)
    server = server_for(config.agent_name, {**entries, config.agent_name: entry})
    kept = kept_server(server)
    # stopped first: nothing the agent writes after the dump is lost, and no session of
    # it holds the database when it is dropped
    _service(step, config, facts, present)
    _dump(step, config, facts, server, now or datetime.now(UTC), force, keep_data)
    if kept is not None:
        leave_kept_server(step, config, facts, kept, keep_data)
    _jails(step, config, facts, entry.jails, keep_data, present)
    _network(step, config, facts, entry)
    _home_left(step, config, facts, present)
    if not keep_data:
        _user(step, config, facts, entry, present)
    _remove(step, present, "remove the agent's secrets {}", secrets_dir(config.agent_name))
    pf_step = pf.plan_for(
        config, facts, sorted(entries.values(), key=lambda e: ipaddress.IPv4Network(e.subnet))
    )
    unregister = StepPlan(UNREGISTER)
    if config.agent_name in facts.registry:
        unregister.changes.append(
            Change(
                UNREGISTER,
                f"remove agent {config.agent_name} from the host registry",
                ops=(run("rm", "-f", path_for(config.agent_name)),),
            )
        )
    return Plan(config=config, facts=facts, steps=[step, pf_step, unregister])


def _dump(
    step: StepPlan,
    config: AgentConfig,
    facts: Facts,
    server: Server | None,
    now: datetime,
    force: bool,
    keep_data: bool,
) -> None:
    """The agent's database, dumped by the server's own pg_dump to a dated file (once
    a run: a file of this run's time is the dump done)."""
    if server is None:
        return
    brain = names.brain_database(config.agent_name)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    target = f"{DUMPS}/{brain}-{stamp}.dump"
    dumps = facts.probe("teardown.dumps")
    if dumps is not None and target.rsplit("/", 1)[1] in dumps.output.split():
        return
    if kept_server(server) is None:
        if server.jail not in facts.jails_defined:
            return
        if keep_data and server.jail not in facts.jails_running:
            return  # the stopped jail keeps the data itself (--keep-data)
        brain_there = facts.probe("teardown.brain")
        brain_ok = brain_there is not None and brain_there.rc == 0
    else:
        seen = facts.extras.get(KEPT_DB)
        if isinstance(seen, KeptDb) and seen.running and not seen.brain:
            return  # dumped and dropped by an earlier run
        brain_ok = isinstance(seen, KeptDb) and seen.running
    if not brain_ok:
        if not force:
            step.refuse(
                "teardown.no-dump",
                f"teardown: there is no running PostgreSQL {server.where} with database "
                f"{names.brain_database(config.agent_name)}, so it cannot be dumped first: "
                "start it (bastille start, service postgresql start), or pass --force to "
                "tear down without a dump",
            )
        return
    part = target + ".part"
    step.changes.append(
        Change(
            NAME,
            f"dump database {brain} with the pg_dump {server.where} to {target}",
            ops=(
                directory(DUMPS, 0o700),
                # pg_dump runs as postgres where the server is; its stdout is a file of
                # root's, opened by root
                replace(
                    server.as_postgres(cmd("pg_dump", "-Fc", "-d", brain)),
                    stdout=part,
                    seconds=SLOW_SECONDS,
                ),
                run("test", "-s", part),
                run("mv", "-f", part, target),
            ),
            slow=True,
        )
    )


def _service(step: StepPlan, config: AgentConfig, facts: Facts, present: set[str]) -> None:
    a = config.agent_name
    status = facts.probe("teardown.service")
    running = status is not None and status.rc == 0
    if running:
        # its own tmux answers onestatus: no check of it here (the agent could keep a
        # session alive); every process of its user is stopped next
        step.changes.append(
            Change(
                NAME,
                f"stop agent {a}",
                ops=(Run(either(cmd("service", a, "onestop"), Raw(":"))),),
            )
        )
    user = config.agent_user
    left = facts.probe("teardown.processes")
    if user in facts.users and (running or (left is not None and left.output.strip())):
        step.changes.append(
            Change(
                NAME,
                f"stop every process of {user}: nothing of the agent's runs on",
                ops=(kill_all(config),),
            )
        )
    if f"{a}_enable" in facts.rc_conf:
        step.changes.append(
            Change(NAME, f"rc.conf: remove {a}_enable", ops=(sysrc_delete(f"{a}_enable"),))
        )
    _remove(
        step,
        present,
        "remove the agent's service files: {}",
        *(rc_script(a), agent_libexec(a), newsyslog_conf(a), agent_etc(a), tmux_socket_dir(a)),
    )


def _jails(
    step: StepPlan,
    config: AgentConfig,
    facts: Facts,
    jails: dict[str, str],
    keep_data: bool,
    present: set[str],
) -> None:
    for role, jail in sorted(jails.items()):
        if keep_data and role == "db":
            if jail in facts.jails_running:
                step.changes.append(
                    Change(
                        NAME,
                        f"stop jail {jail} and keep it, not started at boot (--keep-data): "
                        "its address is free for another agent once this one is gone",
                        ops=(
                            run("bastille", "stop", jail),
                            Run(negate(quiet(cmd("jls", "-j", jail, "jid")))),
                            run("bastille", "config", jail, "set", "boot", "off"),
                        ),
                    )
                )
            continue
        if jail in facts.jails_defined:
            step.changes.append(
                Change(
                    NAME,
                    f"destroy jail {jail} ({role})",
                    ops=(
                        # The exact name, never Bastille's prefix matching.
                        Run(when(listed(jail), cmd("bastille", "destroy", "-a", "-y", jail))),
                        Run(negate(listed(jail))),
                        # nothing of it may stay: a later create would reuse what its
                        # root left there (files it made undeletable, links)
                        check(
                            negate(cmd("test", "-e", jail_dir(jail))),
                            f"{jail_dir(jail)} is still there after the destroy: its root "
                            "may have left files that cannot be removed (chflags); inspect "
                            "and remove it by hand (chflags -R 0, then rm -rf)",
                        ),
                    ),
                    slow=True,
                )
            )
        template = template_dir(config.agent_name, role)
        _remove(step, present, f"remove the {role} template and its stamp", template, stamp(jail))


def _network(step: StepPlan, config: AgentConfig, facts: Facts, entry: RegistryEntry) -> None:
    before = facts.file(HOSTS)
    problem = broken(before, config.agent_name, HOSTS)
    if problem is None:
        write = block(HOSTS, before, config.agent_name, [], 0o644)
        if write is not None and before is not None:
            step.changes.append(
                Change(NAME, f"{HOSTS}: remove agent {config.agent_name}'s names", ops=(write,))
            )
    else:
        step.refuse("teardown.marked-block-broken", f"teardown: {problem}; fix it by hand")
    gateway = ipaddress.IPv4Interface(f"{config.gateway}/{config.subnet.prefixlen}")
    bridge = facts.interfaces.get(BRIDGE)
    if bridge is not None and gateway in bridge.inet:
        step.changes.append(
            Change(
                NAME,
                f"remove the agent's gateway {gateway} from {BRIDGE}",
                ops=(run("ifconfig", BRIDGE, "inet", str(gateway.ip), "-alias"),),
            )
        )
    key = alias_key(config, facts, entry)
    if key is not None:
        step.changes.append(Change(NAME, f"rc.conf: remove {key}", ops=(sysrc_delete(key),)))


def kill_all(config: AgentConfig) -> Run:
    """Every process of the agent's user, killed as that user (kill(2) with -1: every
    process of its uid but the killer, on FreeBSD and Linux alike), until `ps -U` (POSIX:
    the real uid) lists none."""
    user = config.agent_user
    agent = HostUser(user, user, home(user))
    kill = bounded(agent, "kill -9 -1", 30, f"kill every process of {user}")
    gone = cmd(Raw('[ -z "$('), cmd("ps", "-U", user, "-o", "pid="), Raw(')" ]'))
    return Run(
        cmd(
            Raw("for _w_i in 1 2 3 4 5; do"),
            kill,
            Raw("</dev/null || :;"),
            Raw("if"),
            gone,
            Raw("; then break; fi; sleep 1; done;"),
            gone,
        )
    )


def _user(
    step: StepPlan, config: AgentConfig, facts: Facts, entry: RegistryEntry, present: set[str]
) -> None:
    user = config.agent_user
    if user in facts.users and facts.users[user] != entry.uid:
        step.refuse(
            "teardown.uid-changed",
            f"teardown: user {user} has UID {facts.users[user]}, not the {entry.uid} warden "
            "gave it: it was changed by hand; remove it yourself",
        )
        return
    if user in facts.users:
        # in one change: nothing of the agent's can start between the kill and the
        # removal of its home (pw's rm_r follows a directory swapped for a link)
        step.changes.append(
            Change(
                NAME,
                f"remove user {user} and its home {home(user)} (its soul clone with it)",
                ops=(kill_all(config), run("pw", "userdel", user, "-r")),
            )
        )
    if user in facts.groups:
        step.changes.append(
            Change(
                NAME,
                f"remove group {user}",
                ops=(Run(when(quiet(cmd("pw", "groupshow", user)), cmd("pw", "groupdel", user))),),
            )
        )
    _remove(step, present, "remove the agent's logs {}", log_dir(config.agent_name))


def _home_left(step: StepPlan, config: AgentConfig, facts: Facts, present: set[str]) -> None:
    """A home whose user is gone: pw userdel -r removes only what the user owned
    (rm_r.c), and a cut can stop it halfway. What else is there (the soul clone with
    commits nobody pushed, files of others) is not warden's to guess about, and its uid
    must not reach another agent with it: refused with or without --keep-data."""
    user = config.agent_user
    if user not in facts.users and home(user) in present:
        step.refuse(
            "teardown.home-left",
            f"teardown: {home(user)} is still there after user {user} was removed: pw "
            "userdel -r leaves what the user did not own (and a cut run can leave all of "
            f"it, {home(user)}/soul included: push what it holds first); inspect it, remove "
            "it by hand, then run teardown again",
        )


def _remove(step: StepPlan, present: set[str], summary: str, *paths: str) -> None:
    """Remove those of root's paths for the agent that are still there (paths of root's
    own directories: nothing of the agent's is followed)."""
    gone = [p for p in paths if p in present]
    if gone:
        step.changes.append(
            Change(
                NAME,
                summary.format(", ".join(gone)),
                ops=tuple(run("rm", "-rf", p) for p in gone),
            )
        )


def owned_paths(config: AgentConfig) -> list[str]:
    """The paths of root's that warden made for the agent, and its home: all must be
    gone once it is torn down."""
    a = config.agent_name
    return [
        rc_script(a),
        agent_libexec(a),
        agent_etc(a),
        newsyslog_conf(a),
        secrets_dir(a),
        log_dir(a),
        tmux_socket_dir(a),
        *(template_dir(a, role) for role in config.roles),
        *(stamp(config.jail_names[role]) for role in config.roles),
        home(config.agent_user),
    ]


def listed(jail: str) -> Command:
    """Bastille has a jail of exactly this name (never its prefix matching)."""
    return cmd(cmd("bastille", "list", "jails"), Raw("|"), cmd("grep", "-qx", jail))

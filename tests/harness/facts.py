"""A host's facts as the step plans read them, built in memory: a fresh host, then the
host as each step leaves it.

Plans are pure (facts in, changes out), so a test that starts from the state a step
leaves behind checks the next step without a host; each builder here is that state,
written once so that a step's tests and the tests of what comes after it agree.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from setup import bastillefile, jail
from setup.blocks import with_block
from setup.config import AgentConfig
from setup.domains import Host, Location
from setup.facts import Facts, Interface, Section, fresh_host
from setup.hostsfile import block
from setup.layout import template_stamp
from setup.registry import entry_for
from setup.steps import cms, db, git
from tests.harness.agents import with_registered


def bravo(**changes: object) -> Facts:
    return replace(fresh_host("bravo"), assumed=False, **changes)  # type: ignore[arg-type]


def right_network(config: AgentConfig, facts: Facts) -> Facts:
    index = entry_for(config, facts).alias_index
    bridge = Interface(
        "warden0",
        ("UP", "BROADCAST", "RUNNING"),
        (ipaddress.IPv4Interface(f"{config.gateway}/24"),),
        groups=("bridge",),
    )
    rc = {
        **facts.rc_conf,
        "cloned_interfaces": "bridge3",
        "ifconfig_bridge3_name": "warden0",
        "ifconfig_warden0": "up",
        f"ifconfig_warden0_alias{index}": f"inet {config.gateway}/24",
        "gateway_enable": "YES",
    }
    hosts = with_block("127.0.0.1\tlocalhost\n", config.agent_name, block(config))
    return replace(
        facts,
        interfaces={**facts.interfaces, "warden0": bridge},
        rc_conf=rc,
        sysctl={**facts.sysctl, "net.inet.ip.forwarding": "1"},
        files={**facts.files, "/etc/hosts": hosts},
    )


def ready_host(config: AgentConfig, **changes: object) -> Facts:
    """A host where the host and network steps are done: Bastille, the release, warden0."""
    facts = right_network(config, with_registered(bravo(), config))
    facts = replace(
        facts,
        bastille_version="1.4.4",
        packages={"bastille": True},
        probes={**facts.probes, "host.releases": Section("14.3-RELEASE\n", 0)},
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


def jail_done(config: AgentConfig, role: str, facts: Facts, service: str = "running") -> Facts:
    """The role's jail exists, runs, has the right network and the current template."""
    name = config.jail_names[role]
    spec = {"git": git.SPEC, "cms": cms.STEP.spec, "db": db.SPEC}[role]
    tree = bastillefile.rendered(config, role, **spec.context(config))
    files: dict[str | Location, str | None] = {
        w: tree[w.path.lstrip("/")] for w in jail.jail_files(config, role)
    }
    files[template_stamp(name)] = bastillefile.digest(tree) + "\n"
    ip = f"{config.role_ips[role]}/24"
    probe = Section(
        f"ifconfig_vnet0=inet {ip}\ndefaultrouter={config.gateway}\nservice={service}\n", 0
    )
    facts = replace(
        facts,
        jails_defined=(*facts.jails_defined, name),
        jails_running=(*facts.jails_running, name),
        files={**facts.files, **files},
        probes={**facts.probes, jail.probe_name(name): probe},
    )
    if role == "git":
        facts = git_keys_pinned(config, facts)
    return facts


def git_keys_pinned(config: AgentConfig, facts: Facts) -> Facts:
    """Both keys exist and the files the git step writes are what it wants."""
    keys = {
        git.agent_pub(config): "ssh-ed25519 AAAAagent warden agent atlas\n",
        git.host_key_pub(config): "ssh-ed25519 AAAAjail atlasgit\n",
    }
    facts = replace(facts, files={**facts.files, **keys})
    writes = {
        f.location: f.content
        for c in git.plan(config, facts).changes
        for f in c.files
        if not isinstance(f.domain, Host)
    }
    return replace(facts, files={**facts.files, **writes})


def db_ready(config: AgentConfig, state: db.DbState | None) -> Facts:
    facts = jail_done(config, "db", ready_host(config))
    ls = "\n".join(
        [
            f"drwx------  2 0 0 512 Dec  5 01:00 {db.secrets_dir('atlas')}",
            f"-rw-------  1 0 0 44 Dec  5 01:00 {db.admin_secret(config)}",
            f"-rw-------  1 0 0 44 Dec  5 01:00 {db.agent_secret(config)}",
        ]
    )
    facts = replace(facts, probes={**facts.probes, "db.secrets": Section(ls + "\n", 0)})
    if state is None:
        return facts
    where = db.server(config, facts)
    assert isinstance(where, db.Server)
    if state.hba is None:  # the jail's pg_hba.conf as warden wrote it
        state = replace(state, hba=where.hba)
    return facts.with_extra("db", state)


def registered_with_jails(
    config: AgentConfig,
    *,
    running: bool,
    brain: bool,
    jails: tuple[str, ...] = ("atlasdb", "atlasgit"),
) -> Facts:
    """A host where the agent is registered with its db and git jails, running or not,
    its db jail answering for its brain database or not (what teardown reads)."""
    facts = with_registered(bravo(), config)
    return replace(
        facts,
        jails_defined=jails,
        jails_running=jails if running else (),
        probes={**facts.probes, "teardown.brain": Section("", 0 if brain else 1)},
    )

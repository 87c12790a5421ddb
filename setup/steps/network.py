"""network: the warden0 bridge, the agent's gateway address on it, forwarding.

The session it replaces (guide §3):
    ifconfig bridge create name warden0; ifconfig warden0 up
    ifconfig warden0 inet 10.0.1.1/24 alias
    sysrc cloned_interfaces+=bridge0 ifconfig_bridge0_name=warden0 ifconfig_warden0=up
    sysrc ifconfig_warden0_alias0="inet 10.0.1.1/24" gateway_enable=YES
    sysctl net.inet.ip.forwarding=1
    printf '10.0.1.2 git.atlas.home.arpa atlasgit ...' >> /etc/hosts
Now and at boot, each checked against its current value. The bridge number in rc.conf
is one no other cloned interface uses there; the alias index is the agent's own, from
the host registry, so agents never overwrite each other's alias.
"""

from __future__ import annotations

import ipaddress
import re

from ..blocks import broken
from ..command import Raw, cmd
from ..config import AgentConfig
from ..facts import Facts
from ..hostsfile import hosts_change
from ..layout import BRIDGE, HOSTS
from ..ops import Run, quiet, run, sysctl_set, sysrc_add, sysrc_set, unless
from ..plan import Change, StepPlan
from ..rcconf import setting
from ..registry import ALIAS_PREFIX, entry_for, load_entries

NAME = "network"


def packages(config: AgentConfig) -> list[str]:
    """Everything here is in the base system."""
    return []


def files(config: AgentConfig) -> list[str]:
    """/etc/hosts (the agent's names); rc.conf is read through `sysrc -a`."""
    return [HOSTS]


def persisted_bridge(rc_conf: dict[str, str]) -> int | None:
    """N of the `ifconfig_bridgeN_name="warden0"` that persists the bridge, if any."""
    for key, value in rc_conf.items():
        match = re.fullmatch(r"ifconfig_bridge(\d+)_name", key)
        if match and value == BRIDGE:
            return int(match.group(1))
    return None


def free_bridge_number(rc_conf: dict[str, str]) -> int:
    """The lowest N with no bridgeN in cloned_interfaces and no ifconfig_bridgeN_* key."""
    cloned = set(rc_conf.get("cloned_interfaces", "").split())
    number = 0
    while f"bridge{number}" in cloned or any(
        key.startswith(f"ifconfig_bridge{number}_") for key in rc_conf
    ):
        number += 1
    return number


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """Bridge, persistence, the agent's alias (now and at boot), forwarding."""
    step = StepPlan(NAME)
    rc_conf = dict(facts.rc_conf)
    bridge = facts.interfaces.get(BRIDGE)
    if bridge is None:
        step.changes.append(
            Change(
                NAME,
                f"create the {BRIDGE} bridge",
                # Guarded: another run may have made it since the facts were read. One
                # command (the arguments after `create` apply to the new bridge): a cut
                # between a create and a rename would leave a stray bridgeN behind.
                ops=(
                    Run(
                        unless(
                            quiet(cmd("ifconfig", "-n", BRIDGE)),
                            quiet(cmd("ifconfig", "bridge", "create", "name", BRIDGE)),
                        )
                    ),
                    run("ifconfig", BRIDGE, "up"),
                ),
            )
        )
    elif "UP" not in bridge.flags:
        step.changes.append(
            Change(NAME, f"bring {BRIDGE} up", ops=(run("ifconfig", BRIDGE, "up"),))
        )
    _persist_bridge(step, rc_conf)
    _gateway(step, config, facts, rc_conf)
    change = setting(NAME, rc_conf, "gateway_enable", "YES", why="forwarding at boot")
    if change is not None:
        step.changes.append(change)
    if facts.sysctl.get("net.inet.ip.forwarding") != "1":
        step.changes.append(
            Change(
                NAME,
                "forward IPv4 now (net.inet.ip.forwarding=1)",
                ops=(sysctl_set(("net.inet.ip.forwarding", "1")),),
            )
        )
    problem = broken(facts.file(HOSTS), config.agent_name, HOSTS)
    if problem is not None:
        step.refuse("network.marked-block-broken", f"network: {problem}; fix the file by hand")
        return step
    hosts = hosts_change(NAME, config, facts)
    if hosts is not None:
        step.changes.append(hosts)
    return step


def _persist_bridge(step: StepPlan, rc_conf: dict[str, str]) -> None:
    number = persisted_bridge(rc_conf)
    commands: list[Run] = []
    if number is None:
        number = free_bridge_number(rc_conf)
        commands.append(sysrc_set(f"ifconfig_bridge{number}_name", BRIDGE))
    if f"bridge{number}" not in rc_conf.get("cloned_interfaces", "").split():
        # `+=` adds one word and keeps every other cloned interface (sysrc(8)). After
        # the name: a run cut between the two then finds bridgeN named warden0 and
        # finishes it, instead of taking bridgeN+1 and leaving bridgeN behind.
        commands.append(sysrc_add("cloned_interfaces", f"bridge{number}"))
    if commands:
        step.changes.append(
            Change(
                NAME,
                f"rc.conf: create {BRIDGE} at boot as bridge{number} (cloned_interfaces, "
                f"ifconfig_bridge{number}_name)",
                ops=tuple(commands),
            )
        )
    words = rc_conf.get(f"ifconfig_{BRIDGE}", "").split()
    if "up" not in words:
        change = setting(NAME, rc_conf, f"ifconfig_{BRIDGE}", " ".join([*words, "up"]))
        if change is not None:
            step.changes.append(change)


def _gateway(step: StepPlan, config: AgentConfig, facts: Facts, rc_conf: dict[str, str]) -> None:
    entry = entry_for(config, facts)
    gateway = ipaddress.IPv4Interface(f"{config.gateway}/{config.subnet.prefixlen}")
    key = f"{ALIAS_PREFIX}{entry.alias_index}"
    wanted = f"inet {gateway.with_prefixlen}"
    have = rc_conf.get(key)
    entries, _ = load_entries(facts)
    previous = entries.get(config.agent_name)
    old = (
        ipaddress.IPv4Interface(
            f"{previous.gateway}/{ipaddress.IPv4Network(previous.subnet).prefixlen}"
        )
        if previous is not None
        else None
    )
    if (
        have is not None
        and have != wanted
        and (old is None or have != f"inet {old.with_prefixlen}")
    ):
        step.refuse(
            "network.alias-not-warden",
            f"network: rc.conf {key} holds {have!r}, which warden did not write for agent "
            f"{config.agent_name} (its alias index is {entry.alias_index}): remove it or "
            "fix it by hand",
        )
        return
    bridge = facts.interfaces.get(BRIDGE)
    present = bridge.inet if bridge is not None else ()
    if old is not None and old != gateway and old in present:
        step.changes.append(
            Change(
                NAME,
                f"remove the agent's old gateway {old} from {BRIDGE} (its subnet changed)",
                ops=(run("ifconfig", BRIDGE, "inet", str(old.ip), "-alias"),),
            )
        )
    if gateway not in present:
        # Always with a prefix length: FreeBSD 15 refuses an address without a mask.
        step.changes.append(
            Change(
                NAME,
                f"gateway {gateway} for agent {config.agent_name} on {BRIDGE}",
                ops=(
                    Run(
                        unless(
                            cmd(
                                cmd("ifconfig", BRIDGE, "inet"),
                                Raw("|"),
                                cmd("grep", "-q", f"inet {gateway.ip} "),
                            ),
                            cmd("ifconfig", BRIDGE, "inet", gateway.with_prefixlen, "alias"),
                        )
                    ),
                ),
            )
        )
    change = setting(NAME, rc_conf, key, wanted, why="the gateway at boot")
    if change is not None:
        step.changes.append(change)

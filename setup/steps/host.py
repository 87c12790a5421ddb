"""host: once per host, what every agent's jails and service stand on.

The session it replaces: `pkg install bastille tmux git postgresql17-client`, check
bastille.conf, append the VNET devfs ruleset, set the bridge pfil sysctls (now and in
sysctl.conf), `sysrc bastille_enable=YES`, `bastille bootstrap 14.3-RELEASE`. Never
`bastille setup vnet` (it overwrites /etc/devfs.rules) or `bastille setup pf`.
"""

from __future__ import annotations

import re

from ..command import Raw, cmd, glue
from ..config import AgentConfig
from ..facts import Facts, Probe
from ..layout import (
    BASTILLE_CONF,
    BRIDGE,
    DEVFS_RULES,
    JOURNAL_FILE,
    JOURNAL_NEWSYSLOG,
    LOADER_CONF,
    SYSCTL_CONF,
)
from ..ops import Run, either, put, run, sysctl_set
from ..plan import Change, Finding, StepPlan, install
from ..rcconf import assignments, setting
from ..registry import owned_roles
from ..releases import RELEASES_DIR, jail_release, releases_probe
from ..render import render

NAME = "host"
DEVFS_NAME = "bastille_vnet"
DEVFS_RULESET = 13
DEVFS_SECTION = f"[{DEVFS_NAME}={DEVFS_RULESET}]"
# Bastille's VNET guide: bridged jail traffic is not filtered on the bridge or its
# members; pf filters what is routed through the host's .1 addresses.
PFIL_SYSCTLS = {
    "net.link.bridge.pfil_member": "0",
    "net.link.bridge.pfil_bridge": "0",
    "net.link.bridge.pfil_onlyip": "0",
}
# What `bastille create -B` relies on in bastille.conf.
BASTILLE_SETTINGS = {"bastille_network_vnet_type": "if_bridge"}


def packages(config: AgentConfig) -> list[str]:
    """What warden and the agent's service need on the host."""
    return ["bastille", "tmux", "git", f"postgresql{config.pg_version}-client"]


def files(config: AgentConfig) -> list[str]:
    """The host files this step edits."""
    return [BASTILLE_CONF, DEVFS_RULES, SYSCTL_CONF, LOADER_CONF, JOURNAL_NEWSYSLOG]


def probes(config: AgentConfig) -> dict[str, Probe]:
    """The releases Bastille has completely bootstrapped (their COPYRIGHT exists)."""
    return releases_probe()


def needs_jails(config: AgentConfig) -> bool:
    """Jails on this host: the jail runtime with at least one role jail of its own."""
    return config.runtime == "jail" and bool(owned_roles(config))


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """Each missing or different piece is one change."""
    step = StepPlan(NAME)
    garbled = [path for path in files(config) if "\ufffd" in (facts.file(path) or "")]
    if garbled:
        step.refuse(
            "host.not-utf8",
            f"host: {', '.join(garbled)} is not UTF-8 text; warden edits only text it can "
            "keep intact",
        )
        return step
    step.changes += install(NAME, facts, packages(config))
    conf = assignments(facts.file(BASTILLE_CONF))
    for name, value in BASTILLE_SETTINGS.items():
        change = setting(NAME, conf, name, value, file=BASTILLE_CONF, why="VNET jails on a bridge")
        if change is not None:
            step.changes.append(change)
    _devfs(step, facts)
    _sysctls(step, facts)
    change = setting(
        NAME,
        assignments(facts.file(LOADER_CONF)),
        "if_bridge_load",
        "YES",
        file=LOADER_CONF,
        why="the pfil sysctls exist at boot only once if_bridge is loaded",
    )
    if change is not None:
        step.changes.append(change)
    change = setting(NAME, facts.rc_conf, "bastille_enable", "YES", why="jails start at boot")
    if change is not None:
        step.changes.append(change)
    journal_rotation = render("newsyslog/journal.conf.j2", journal=JOURNAL_FILE)
    if facts.file(JOURNAL_NEWSYSLOG) != journal_rotation:
        step.changes.append(
            Change(
                NAME,
                f"rotate warden's journal with newsyslog ({JOURNAL_NEWSYSLOG})",
                ops=(
                    put(
                        JOURNAL_NEWSYSLOG,
                        journal_rotation,
                        0o644,
                        before=facts.file(JOURNAL_NEWSYSLOG),
                    ),
                ),
            )
        )
    if needs_jails(config):
        _bootstrap(step, config, facts, conf)
    return step


def _devfs(step: StepPlan, facts: Facts) -> None:
    """Append the VNET ruleset Bastille's jail.conf names, unless it is there."""
    rules = facts.file(DEVFS_RULES)
    headers = re.findall(r"^\s*\[([^=\]]+)=(\d+)\]", rules or "", re.MULTILINE)
    if (DEVFS_NAME, str(DEVFS_RULESET)) in headers:
        return
    taken = [name for name, number in headers if int(number) == DEVFS_RULESET]
    if taken:
        step.refuse(
            "host.devfs-ruleset-taken",
            f"host: {DEVFS_RULES} already uses ruleset {DEVFS_RULESET} for [{taken[0]}], "
            f"which Bastille's VNET jails expect to be {DEVFS_SECTION}: rename that ruleset",
        )
        return
    section = render("host/devfs-bastille-vnet.rules.j2", header=DEVFS_SECTION)
    before = rules or ""
    if not before:
        section = section.lstrip("\n")
    content = before + ("\n" if before and not before.endswith("\n") else "") + section
    step.changes.append(
        Change(
            NAME,
            f"append the {DEVFS_SECTION} devfs ruleset for VNET jails to {DEVFS_RULES} "
            "and reload the rulesets",
            ops=(
                put(DEVFS_RULES, content, 0o644, before=rules),
                run("service", "devfs", "restart"),
            ),
        )
    )


def _sysctls(step: StepPlan, facts: Facts) -> None:
    """The bridge pfil sysctls: now (after loading if_bridge) and in sysctl.conf."""
    others = [
        i.name
        for i in facts.interfaces.values()
        if "bridge" in i.groups and i.name != BRIDGE and i.members
    ]
    if others and any(facts.sysctl.get(n) != v for n, v in PFIL_SYSCTLS.items()):
        step.findings.append(
            Finding(
                "warning",
                "bridge filtering",
                f"the pfil sysctls are host-wide: pf will no longer filter bridged traffic on "
                f"{', '.join(others)} either",
            )
        )
    if any(facts.sysctl.get(name) != value for name, value in PFIL_SYSCTLS.items()):
        step.changes.append(
            Change(
                NAME,
                "bridge pfil sysctls to 0 now (bridged jail traffic is not filtered twice)",
                ops=(run("kldload", "-n", "if_bridge"), sysctl_set(*PFIL_SYSCTLS.items())),
            )
        )
    current = facts.file(SYSCTL_CONF)
    wanted = sysctl_conf(current, PFIL_SYSCTLS)
    if wanted != (current or ""):
        step.changes.append(
            Change(
                NAME,
                f"bridge pfil sysctls to 0 at boot ({SYSCTL_CONF})",
                ops=(put(SYSCTL_CONF, wanted, 0o644, before=current),),
            )
        )


def sysctl_conf(text: str | None, wanted: dict[str, str]) -> str:
    """sysctl.conf with each wanted `name=value` exactly once: a line with another value
    is changed in place, a repeated one dropped, a missing one appended; every other
    line is kept as it is."""
    lines = (text or "").splitlines(keepends=True)
    seen: set[str] = set()
    out: list[str] = []
    for line in lines:
        name = line.split("#", 1)[0].split("=", 1)[0].strip()
        if name in wanted and "=" in line.split("#", 1)[0]:
            if name in seen:
                continue
            seen.add(name)
            line = f"{name}={wanted[name]}\n"
        out.append(line)
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    out += [f"{name}={value}\n" for name, value in wanted.items() if name not in seen]
    return "".join(out)


def _bootstrap(step: StepPlan, config: AgentConfig, facts: Facts, conf: dict[str, str]) -> None:
    release = jail_release(config, facts)
    if not re.fullmatch(r"\d+\.\d+-(RELEASE|BETA\d*|RC\d*)", release):
        step.refuse(
            "host.release-unknown",
            f"host: the host runs {facts.userland}, which `bastille bootstrap` cannot fetch "
            "for jails: set WARDEN_RELEASE to a release, e.g. 14.3-RELEASE",
        )
        return
    probe = facts.probe("host.releases")
    have = set(probe.output.split()) if probe is not None else set()
    if release in have:
        return
    if facts.rc_conf.get("zfs_enable", "").upper() == "YES" and (
        conf.get("bastille_zfs_enable", "").upper() != "YES"
    ):
        step.refuse(
            "host.zfs-not-configured",
            f"host: rc.conf has zfs_enable=YES but {BASTILLE_CONF} does not have "
            "bastille_zfs_enable=YES, so `bastille bootstrap` would stop at a question: "
            "set bastille_zfs_enable=YES and bastille_zfs_zpool there",
        )
        return
    step.changes.append(
        Change(
            NAME,
            f"bootstrap FreeBSD {release} for jails (bastille bootstrap: downloads the base "
            "system, takes minutes)",
            ops=(
                Run(
                    cmd(
                        Raw(RELEASES_DIR + ";"),
                        either(
                            cmd("test", "-f", glue(Raw('"$d"/'), release, "/COPYRIGHT")),
                            cmd("bastille", "bootstrap", release),
                        ),
                    )
                ),
            ),
            slow=True,
        )
    )

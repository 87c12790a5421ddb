"""pf: NAT for every agent subnet on the host, through one include, loaded safely.

The session it replaces (guide §4): edit /etc/pf.warden.conf, `pfctl -nf
/etc/pf.conf`, `pfctl -f /etc/pf.conf`. Here the include is rebuilt from the host
registry, so adding an agent rewrites one file and leaves the others' traffic alone;
the would-be ruleset is checked before anything is swapped; a failed check or load
puts the previous files back; and a load over SSH arms a dead-man switch that
restores the previous ruleset unless warden reconnects and confirms.
"""

from __future__ import annotations

import ipaddress

from ..config import AgentConfig
from ..facts import Facts
from ..layout import BRIDGE, PF_CONF, PF_STATE_DIR, PF_TABLE, PF_WARDEN_CONF
from ..pfconf import with_include
from ..plan import Change, FileWrite, StepPlan
from ..rcconf import setting
from ..registry import RegistryEntry, entry_for, load_entries
from ..render import render
from ..shell import JOURNAL_FILE, put_file

NAME = "pf"
# How long the host waits for warden to reconnect after a remote load before it
# restores the previous ruleset. Reconnecting takes seconds; this leaves room for
# a slow link without leaving a host cut off for long.
DEADMAN_SECONDS = 120
UNCONFIRMED = f"{PF_STATE_DIR}/unconfirmed"
STAGE = f"{PF_STATE_DIR}/stage"


def packages(config: AgentConfig) -> list[str]:
    """pf is in the base system."""
    return []


def files(config: AgentConfig) -> list[str]:
    """The include and the pf.conf that includes it."""
    return [PF_CONF, PF_WARDEN_CONF]


def probes(config: AgentConfig) -> dict[str, str]:
    """The subnets the running ruleset really NATs (a flushed or stale load shows here)."""
    return {"pf.table": f"pfctl -t {PF_TABLE} -T show"}


def agents(config: AgentConfig, facts: Facts) -> list[RegistryEntry]:
    """Every agent on the host, this one included (as it will be registered)."""
    entries, _ = load_entries(facts)
    entries[config.agent_name] = entry_for(config, facts)
    return sorted(entries.values(), key=lambda e: ipaddress.IPv4Network(e.subnet))


def loaded_subnets(facts: Facts) -> list[str] | None:
    """The table's entries in the running ruleset; None when pf has none loaded."""
    probe = facts.probe("pf.table")
    if probe is None or probe.rc != 0:
        return None
    return sorted(line.strip() for line in probe.output.splitlines() if line.strip())


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """Rewrite the include and the pf.conf block when they differ; load when the
    files or the running table differ; enable pf and keep it enabled at boot."""
    step = StepPlan(NAME)
    ext_if = config.ext_if or facts.default_interface()
    if ext_if is None:
        step.refusals.append(
            "pf: the host has no default route, so the NAT interface is unknown: set WARDEN_EXT_IF"
        )
        return step
    everyone = agents(config, facts)
    include = render(
        "pf/pf.warden.conf.j2", agents=everyone, bridge=BRIDGE, ext_if=ext_if, table=PF_TABLE
    )
    current_pf = facts.file(PF_CONF)
    pf_conf = with_include(current_pf, ext_if)
    subnets = sorted(entry.subnet for entry in everyone)
    stale = facts.file(PF_WARDEN_CONF) != include or current_pf != pf_conf
    if stale or loaded_subnets(facts) != subnets or facts.pf != "enabled":
        remote = facts.target != "local"
        what = "write /etc/pf.warden.conf and the include in /etc/pf.conf, " if stale else ""
        names = ", ".join(f"{e.agent} {e.subnet}" for e in everyone)
        step.changes.append(
            Change(
                NAME,
                f"pf: NAT through {ext_if} for {names}: {what}check with pfctl -nf, load"
                + (", enable pf" if facts.pf != "enabled" else "")
                + (f" (restored after {DEADMAN_SECONDS}s unless confirmed)" if remote else ""),
                files=(
                    FileWrite(PF_WARDEN_CONF, include, 0o644, before=facts.file(PF_WARDEN_CONF)),
                    FileWrite(PF_CONF, pf_conf, 0o644, before=current_pf),
                ),
                script=load_script(include, pf_conf, remote=remote),
                confirm=f"rm -f {UNCONFIRMED}" if remote else None,
            )
        )
    enable = setting(NAME, facts.rc_conf, "pf_enable", "YES", why="pf loads at boot")
    if enable is not None:
        step.changes.append(enable)
    return step


def load_script(include: str, pf_conf: str, *, remote: bool) -> str:
    """The sh of one safe load (templates/pf/load.sh.j2)."""
    # The would-be pf.conf, including the staged include: pfctl -nf checks exactly
    # what will be loaded, before either real file is touched.
    staged_pf_conf = pf_conf.replace(
        f'include "{PF_WARDEN_CONF}"', f'include "{STAGE}/pf.warden.conf"'
    )
    deadman = render(
        "pf/deadman.sh.j2", state_dir=PF_STATE_DIR, pf_conf=PF_CONF, journal=JOURNAL_FILE
    )
    return render(
        "pf/load.sh.j2",
        state_dir=PF_STATE_DIR,
        include=PF_WARDEN_CONF,
        pf_conf=PF_CONF,
        put_staged_include=put_file(f"{STAGE}/pf.warden.conf", include, 0o600, "root", "wheel"),
        put_staged_pf_conf=put_file(f"{STAGE}/pf.conf", staged_pf_conf, 0o600, "root", "wheel"),
        put_pf_conf=put_file(PF_CONF, pf_conf, 0o644, "root", "wheel"),
        put_deadman=put_file(f"{PF_STATE_DIR}/deadman.sh", deadman, 0o700, "root", "wheel"),
        deadman_seconds=DEADMAN_SECONDS if remote else 0,
    )

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
import re
from dataclasses import replace

from ..config import AgentConfig
from ..errors import Refusal
from ..facts import Facts, Probe
from ..layout import (
    BRIDGE,
    JOURNAL_FILE,
    LOCK_FILE,
    PF_CONF,
    PF_STATE_DIR,
    PF_TABLE,
    PF_WARDEN_CONF,
)
from ..ops import Op, Put, Script, put
from ..pfconf import MarkerError, check_markers, foreign_statements, with_include
from ..plan import Change, StepPlan
from ..rcconf import setting
from ..registry import RegistryEntry, entry_for, load_entries
from ..render import render
from ..shared import pass_rules

NAME = "pf"
# How long the host waits for warden to reconnect after a remote load before it
# restores the previous ruleset. Reconnecting takes seconds; this leaves room for
# a slow link without leaving a host cut off for long.
DEADMAN_SECONDS = 120
STAGE = f"{PF_STATE_DIR}/stage"


def packages(config: AgentConfig) -> list[str]:
    """pf is in the base system."""
    return []


def files(config: AgentConfig) -> list[str]:
    """The include and the pf.conf that includes it."""
    return [PF_CONF, PF_WARDEN_CONF]


def probes(config: AgentConfig) -> dict[str, Probe]:
    """The subnets the running ruleset really NATs (a flushed or stale load shows here)."""
    return {"pf.table": Probe(f"pfctl -t {PF_TABLE} -T show")}


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


_IF_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,14}")


def _refusal(config: AgentConfig, facts: Facts) -> Refusal | None:
    """Why warden must not touch this host's pf: each case could lose rules or SSH."""
    pf_rules = facts.rc_conf.get("pf_rules", PF_CONF)
    if pf_rules != PF_CONF:
        return Refusal(
            "pf.rules-elsewhere",
            (
                f"pf: rc.conf has pf_rules={pf_rules}; warden manages {PF_CONF} only, which "
                "this host does not load at boot: include /etc/pf.warden.conf from your rules "
                "yourself, or move them to /etc/pf.conf"
            ),
        )
    text = facts.file(PF_CONF)
    if text is None and facts.pf == "enabled":
        return Refusal(
            "pf.no-pf-conf",
            (
                f"pf: pf is enabled but {PF_CONF} does not exist: its running rules come from "
                "elsewhere, and a new pf.conf would replace them"
            ),
        )
    if text is not None and "\ufffd" in text:
        return Refusal(
            "pf.not-utf8",
            f"pf: {PF_CONF} is not UTF-8 text; warden edits only text it can keep intact",
        )
    if text is not None:
        try:
            check_markers(text)
        except MarkerError as exc:
            return Refusal(
                "pf.marked-block-broken",
                f"pf: the marked block in {PF_CONF} is broken ({exc}): fix it by hand",
            )
    if facts.pf != "enabled" and "block" in foreign_statements(text):
        return Refusal(
            "pf.would-block",
            (
                f"pf: pf is off and {PF_CONF} blocks traffic: turning it on would freeze the "
                "SSH session that does it (established connections have no state). Enable pf "
                "yourself from the console (service pf start), then run this step again"
            ),
        )
    return None


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """Rewrite the include and the pf.conf block when they differ; load when the
    files or the running table differ; enable pf and keep it enabled at boot."""
    return plan_for(config, facts, agents(config, facts))


def plan_for(config: AgentConfig, facts: Facts, everyone: list[RegistryEntry]) -> StepPlan:
    """The pf step for exactly these agents (teardown leaves one out)."""
    step = StepPlan(NAME)
    ext_if = config.ext_if or facts.default_interface()
    if ext_if is None or not _IF_NAME.fullmatch(ext_if):
        step.refuse(
            "pf.nat-interface-unknown",
            "pf: the NAT interface is unknown (no usable default route): set WARDEN_EXT_IF",
        )
        return step
    refusal = _refusal(config, facts)
    if refusal is not None:
        step.refusals.append(refusal)
        return step
    enable = setting(NAME, facts.rc_conf, "pf_enable", "YES", why="pf loads at boot")
    if enable is not None:
        step.changes.append(enable)
    include = render(
        "pf/pf.warden.conf.j2",
        agents=everyone,
        shares=pass_rules(everyone),
        bridge=BRIDGE,
        ext_if=ext_if,
        table=PF_TABLE,
    )
    current_pf = facts.file(PF_CONF)
    pf_conf = with_include(current_pf, ext_if)
    subnets = sorted(entry.subnet for entry in everyone)
    stale = facts.file(PF_WARDEN_CONF) != include or current_pf != pf_conf
    if stale or loaded_subnets(facts) != subnets or facts.pf != "enabled":
        remote = facts.target != "local"
        what = "write /etc/pf.warden.conf and the include in /etc/pf.conf, " if stale else ""
        names = ", ".join(f"{e.agent} {e.subnet}" for e in everyone) or "no agent"
        # Last in the step: nothing after it can fail between the load and its confirmation.
        swap = _swap(include, pf_conf, facts)
        step.changes.append(
            Change(
                NAME,
                f"pf: NAT through {ext_if} for {names}: {what}check with pfctl -nf, load"
                + (", enable pf" if facts.pf != "enabled" else "")
                + (f" (restored after {DEADMAN_SECONDS}s unless confirmed)" if remote else ""),
                ops=(load_script(include, pf_conf, swap, remote=remote),),
                confirm=confirm_script(swap) if remote else None,
            )
        )
    return step


def _swap(include: str, pf_conf: str, facts: Facts) -> Script:
    """The checked and loaded ruleset's files become the host's (templates/pf/swap.sh.j2)."""
    return Script(
        "pf/swap.sh.j2",
        parts={
            "put_include": put(PF_WARDEN_CONF, include, 0o644, before=facts.file(PF_WARDEN_CONF)),
            "put_pf_conf": put(PF_CONF, pf_conf, 0o644, before=facts.file(PF_CONF)),
        },
    )


def confirm_script(swap: Script) -> Script:
    """Disarm this run's dead-man and keep the new files (templates/pf/confirm.sh.j2)."""
    return Script("pf/confirm.sh.j2", parts={"swap": swap}, context={"state_dir": PF_STATE_DIR})


def load_script(include: str, pf_conf: str, swap: Script, *, remote: bool) -> Script:
    """One safe load (templates/pf/load.sh.j2); locally the swap is part of it."""
    # The would-be pf.conf, including the staged include: pfctl checks and loads exactly
    # this, while the files in /etc stay as they were until the new rules are confirmed.
    staged_pf_conf = pf_conf.replace(
        f'include "{PF_WARDEN_CONF}"', f'include "{STAGE}/pf.warden.conf"'
    )
    deadman = render(
        "pf/deadman.sh.j2",
        state_dir=PF_STATE_DIR,
        pf_conf=PF_CONF,
        journal=JOURNAL_FILE,
        lock=LOCK_FILE,
    )
    parts: dict[str, Op] = {
        "put_staged_include": staging(f"{STAGE}/pf.warden.conf", include, 0o600),
        "put_staged_pf_conf": staging(f"{STAGE}/pf.conf", staged_pf_conf, 0o600),
        "put_deadman": staging(f"{PF_STATE_DIR}/deadman.sh", deadman, 0o700),
    }
    if not remote:
        parts["swap"] = swap
    return Script(
        "pf/load.sh.j2",
        parts=parts,
        context={"state_dir": PF_STATE_DIR, "deadman_seconds": DEADMAN_SECONDS if remote else 0},
    )


def staging(path: str, content: str, mode: int) -> Put:
    """A file of the load's own (shown in the script, not as a diff: the files it
    becomes are)."""
    return replace(put(path, content, mode), diffed=False)

"""Is this host fit for warden? Reads and reports; changes nothing.

Errors stop every other step (the run is refused, exit 2); warnings say what a later
step will have to do or what will not be available.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..config import AgentConfig
from ..facts import Facts, parse_version
from ..plan import Finding, Level, StepPlan

NAME = "preflight"
MIN_FREEBSD = (14, 0)
MIN_BASTILLE = (1, 4)

_Add = Callable[[Level, str, str], None]


def packages(config: AgentConfig) -> list[str]:
    """Packages whose presence preflight reports."""
    return ["bastille", "tmux", "git", f"postgresql{config.pg_version}-client"]


def files(config: AgentConfig) -> list[str]:
    """Preflight reads no managed files."""
    return []


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """The report: one finding per check."""
    findings: list[Finding] = []

    def add(level: Level, check: str, detail: str) -> None:
        findings.append(Finding(level, check, detail))

    _check_system(facts, add)
    _check_bastille(facts, add)
    _check_release(config, facts, add)
    _check_network(config, facts, add)
    _check_pf_and_limits(config, facts, add)
    _check_modules(config, facts, add)
    if facts.lock_holder:
        add("warning", "lock", f"another apply holds the host lock: {facts.lock_holder}")
    return StepPlan(NAME, findings=findings)


def _check_system(facts: Facts, add: _Add) -> None:
    if facts.os_name != "FreeBSD":
        add("error", "system", f"{facts.target} runs {facts.os_name}; warden manages FreeBSD")
        return
    version = facts.version
    if version is None or version < MIN_FREEBSD:
        add(
            "error",
            "FreeBSD version",
            f"userland {facts.userland or 'unknown'}; warden needs FreeBSD 14.0 or newer",
        )
    else:
        add("ok", "FreeBSD version", f"kernel {facts.kernel}, userland {facts.userland}")
    add("ok", "privileges", "scripts run as root (directly, or through doas / sudo -n)")


def _check_bastille(facts: Facts, add: _Add) -> None:
    found = facts.bastille_version
    if found is None:
        add("warning", "Bastille", "not installed: the host step installs it")
        return
    match = re.match(r"^(\d+)\.(\d+)", found)
    if match is None:
        add("warning", "Bastille", f"version {found!r} not recognised; warden needs 1.4 or newer")
    elif (int(match.group(1)), int(match.group(2))) < MIN_BASTILLE:
        add(
            "error",
            "Bastille",
            f"version {found} is older than 1.4: 1.3 drops the mask of a jail's address, so "
            "VNET jails come up without an IP on FreeBSD 15; run `pkg upgrade bastille`",
        )
    else:
        add("ok", "Bastille", f"version {found}")


def _check_release(config: AgentConfig, facts: Facts, add: _Add) -> None:
    if config.release is None:
        return
    wanted, host = parse_version(config.release), facts.version
    if wanted is not None and host is not None and wanted > host:
        add(
            "error",
            "WARDEN_RELEASE",
            f"{config.release} is newer than the host's {facts.userland}; "
            "a jail release newer than its host does not run",
        )


def _check_network(config: AgentConfig, facts: Facts, add: _Add) -> None:
    if config.ext_if is not None:
        if config.ext_if not in facts.interfaces:
            names = ", ".join(sorted(facts.interfaces)) or "none"
            add("error", "WARDEN_EXT_IF", f"{config.ext_if} does not exist (interfaces: {names})")
        else:
            add("ok", "external interface", f"{config.ext_if} (WARDEN_EXT_IF)")
    elif facts.default_interface() is None:
        add(
            "warning",
            "external interface",
            "no default route: set WARDEN_EXT_IF so the pf step knows where to NAT",
        )
    else:
        add("ok", "external interface", f"{facts.default_interface()} (default route)")
    if config.nameserver is None:
        usable = [n for n in facts.nameservers if not n.startswith("127.") and n != "::1"]
        if not usable:
            add(
                "warning",
                "nameserver",
                "the host resolves through loopback or has no resolver: jail steps will need "
                "WARDEN_NAMESERVER",
            )


def _check_pf_and_limits(config: AgentConfig, facts: Facts, add: _Add) -> None:
    pf_detail = {
        "enabled": ("ok", "enabled"),
        "disabled": ("warning", "loaded but disabled: the pf step enables it"),
        "unavailable": ("warning", "not loaded: the pf step loads and enables it"),
    }
    level, detail = pf_detail[facts.pf]
    add(level, "pf", detail)  # type: ignore[arg-type]
    racct = facts.sysctl.get("kern.racct.enable")
    if racct == "1":
        add("ok", "rctl", "kern.racct.enable=1")
    else:
        note = " (WARDEN_LIMITS will not be applied)" if config.limits else ""
        add(
            "warning",
            "rctl",
            f"kern.racct.enable is {racct or 'absent'}{note}: resource limits need "
            "kern.racct.enable=1 in /boot/loader.conf and a reboot",
        )


def _check_modules(config: AgentConfig, facts: Facts, add: _Add) -> None:
    for module in ("if_bridge", "if_epair"):
        state = "loaded" if facts.modules.get(module) else "not loaded yet (loads on first use)"
        add("ok", f"module {module}", state)
    if config.runtime == "bhyve":
        if facts.modules.get("vmm"):
            add("ok", "module vmm", "loaded")
        else:
            add("warning", "module vmm", "not loaded: the bhyve step loads it (vm init)")

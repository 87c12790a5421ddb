"""What runs on a host for each agent, and whether it also comes back after a reboot.

Read in the same single facts round trip a plan uses, with a probe per agent (its
service, its tmux session, its jails' services, the NAT table, its journal lines).
Every check is a row with a reason, so an unhealthy agent says why. Nothing here
changes a host.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .domains import HostUser, JailUser
from .facts import Facts, Probe
from .layout import (
    BRIDGE,
    JOURNAL_FILE,
    PF_TABLE,
    PF_WARDEN_CONF,
    TMUX,
    home,
    jail_dir,
    tmux_socket_dir,
)
from .registry import ALIAS_PREFIX, RegistryEntry
from .shell import q

# The service that proves a role jail works (setup/steps: the role's JailRole).
ROLE_SERVICES = {
    "db": "postgresql",
    "git": "sshd",
    "cms": "nginx",
    "ollama": "ollama",
    "llama-cpp": "llama_server",
}
_NAME = re.compile(r"[a-z][a-z0-9]{0,15}")
JOURNAL_TAIL = 2000


@dataclass(frozen=True)
class Check:
    """One row: what was checked, whether it is right, and what was seen."""

    check: str
    ok: bool
    detail: str


@dataclass
class AgentStatus:
    agent: str
    checks: list[Check] = field(default_factory=list)
    last_apply: str | None = None

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "healthy": self.healthy,
            "last_apply": self.last_apply,
            "checks": [vars(c) for c in self.checks],
        }


def _valid(entry: RegistryEntry) -> bool:
    names = [entry.agent, entry.agent_user, *entry.jails.values()]
    return all(_NAME.fullmatch(n) for n in names) and set(entry.jails) <= set(ROLE_SERVICES)


def _elsewhere(
    entry: RegistryEntry, everyone: dict[str, RegistryEntry]
) -> dict[str, tuple[str | None, str]]:
    """{role: (the jail, or None for the host; in words)} for the roles whose service
    runs outside the agent's own jails: another agent's jail, or the host's PostgreSQL."""
    found: dict[str, tuple[str | None, str]] = {}
    if "db" in entry.roles and entry.db_runtime == "host" and "db" not in entry.borrows:
        found["db"] = (None, "on this host")
    for role, lender in sorted(entry.borrows.items()):
        jail = everyone[lender].jails.get(role) if lender in everyone else None
        if jail is not None and _NAME.fullmatch(jail):
            found[role] = (jail, f"in {lender}'s jail {jail}")
        else:
            found[role] = ("", f"{lender}'s {role} jail is not registered here")
    return found


def probes(
    entries: list[RegistryEntry], everyone: dict[str, RegistryEntry] | None = None
) -> dict[str, Probe]:
    """Read-only questions per agent (names from the registry, checked before use), each
    in its domain: the tmux session as the agent, a jail's settings inside the jail."""
    found: dict[str, Probe] = {
        "status.nat": Probe(f"pfctl -t {PF_TABLE} -T show"),
        "status.vms": Probe("if command -v vm >/dev/null 2>&1; then vm list; fi"),
        "status.journal": Probe(
            f"if [ -f {JOURNAL_FILE} ]; then tail -n {JOURNAL_TAIL} {JOURNAL_FILE}; fi"
        ),
    }
    for entry in entries:
        if not _valid(entry):
            continue
        a, user = entry.agent, entry.agent_user
        sock = f"{tmux_socket_dir(a)}/tmux.sock"
        found[f"status.{a}.service"] = Probe(f"service {a} onestatus")
        found[f"status.{a}.tmux"] = Probe(
            f"{TMUX} -S {q(sock)} has-session -t ={a} 2>&1", HostUser(user, user, home(user))
        )
        for role, jail in entry.jails.items():
            # boot=on|off is Bastille's setting, beside the jail's root: root's
            found[f"status.{a}.boot.{role}"] = Probe(
                f"sed -n 's/^boot=//p' {q(jail_dir(jail) + '/settings.conf')} 2>/dev/null"
                " | tr -d '\"'"
            )
            found[f"status.{a}.jail.{role}"] = Probe(
                "printf '%s\\n' \"$(sysrc -n ifconfig_vnet0 2>/dev/null)\"; "
                f"service {ROLE_SERVICES[role]} onestatus >/dev/null 2>&1; echo $?",
                JailUser(jail),
            )
        for role, (lent, _) in _elsewhere(entry, everyone or {}).items():
            service = ROLE_SERVICES[role]
            if lent is None:
                found[f"status.{a}.uses.{role}"] = Probe(f"service {service} onestatus")
            elif lent:
                found[f"status.{a}.uses.{role}"] = Probe(
                    f"service {service} onestatus", JailUser(lent)
                )
    return found


def agent_status(
    entry: RegistryEntry, facts: Facts, everyone: dict[str, RegistryEntry] | None = None
) -> AgentStatus:
    """Every check for one agent, from facts read with `probes`."""
    status = AgentStatus(entry.agent)
    if not _valid(entry):
        status.checks.append(
            Check("registry", False, f"the registry entry of {entry.agent!r} has invalid names")
        )
        return status
    a = entry.agent
    add = status.checks.append
    if entry.runtime == "bhyve":
        # the service runs in the guest: `invoke status --host <its address>` reads it
        _network(status, entry, facts)
        _vm(status, entry, facts)
        status.last_apply = last_apply(facts, a)
        return status
    service = facts.probe(f"status.{a}.service")
    add(
        Check(
            "service",
            service is not None and service.rc == 0,
            (service.output.strip() if service is not None else "not read") or "no answer",
        )
    )
    tmux = facts.probe(f"status.{a}.tmux")
    add(
        Check(
            "tmux session",
            tmux is not None and tmux.rc == 0,
            f"session {a} is there"
            if tmux is not None and tmux.rc == 0
            else f"no tmux session {a}: {(tmux.output.strip() if tmux else '') or 'not found'}",
        )
    )
    enabled = facts.rc_conf.get(f"{a}_enable", "")
    add(Check("service at boot", enabled.upper() == "YES", f"{a}_enable={enabled or 'unset'}"))
    _network(status, entry, facts)
    for role, jail in sorted(entry.jails.items()):
        _jail(status, entry, facts, role, jail)
    for role, (_, where) in _elsewhere(entry, everyone or {}).items():
        probe = facts.probe(f"status.{a}.uses.{role}")
        ok = probe is not None and probe.rc == 0
        state = "running" if ok else "not running"
        add(Check(f"{role} service", ok, f"{ROLE_SERVICES[role]} {state} {where}"))
    if entry.jails and facts.rc_conf.get("bastille_enable", "").upper() != "YES":
        add(Check("jails at boot", False, "bastille_enable is not YES: the jails stay down"))
    status.last_apply = last_apply(facts, a)
    return status


def _network(status: AgentStatus, entry: RegistryEntry, facts: Facts) -> None:
    add = status.checks.append
    bridge = facts.interfaces.get(BRIDGE)
    gateway = f"{entry.gateway}/{entry.subnet.split('/')[1]}"
    on_bridge = bridge is not None and any(str(i) == gateway for i in bridge.inet)
    add(Check("gateway", on_bridge, f"{gateway} {'on' if on_bridge else 'missing from'} {BRIDGE}"))
    key = f"{ALIAS_PREFIX}{entry.alias_index}"
    persisted = facts.rc_conf.get(key) == f"inet {gateway}"
    add(Check("gateway at boot", persisted, f"{key}={facts.rc_conf.get(key, 'unset')!r}"))
    include = facts.file(PF_WARDEN_CONF) or ""
    add(
        Check(
            "nat include",
            entry.subnet in include,
            f"{entry.subnet} {'in' if entry.subnet in include else 'missing from'} "
            f"{PF_WARDEN_CONF}",
        )
    )
    nat = facts.probe("status.nat")
    loaded = nat is not None and nat.rc == 0 and entry.subnet in nat.output.split()
    add(
        Check(
            "nat loaded",
            loaded,
            f"{entry.subnet} {'in' if loaded else 'not in'} the loaded <{PF_TABLE}> table",
        )
    )
    pf_boot = facts.rc_conf.get("pf_enable", "").upper() == "YES"
    add(Check("pf at boot", pf_boot, f"pf_enable={facts.rc_conf.get('pf_enable', 'unset')}"))


def _jail(status: AgentStatus, entry: RegistryEntry, facts: Facts, role: str, jail: str) -> None:
    add = status.checks.append
    probe = facts.probe(f"status.{entry.agent}.jail.{role}")
    lines = (probe.output if probe is not None else "").split("\n")
    vnet, service = [*lines, "", ""][:2]
    boot_probe = facts.probe(f"status.{entry.agent}.boot.{role}")
    boot = boot_probe.output if boot_probe is not None else ""
    running = jail in facts.jails_running
    address = entry.addresses.get(role, "?")
    add(
        Check(
            f"jail {jail}",
            running and vnet.strip().startswith(f"inet {address}/"),
            f"{'running' if running else 'not running'}, ifconfig_vnet0={vnet.strip()!r}",
        )
    )
    add(Check(f"jail {jail} at boot", boot.strip() == "on", f"boot={boot.strip() or 'unset'}"))
    if running:
        ok = service.strip() == "0"
        add(
            Check(
                f"{role} service",
                ok,
                f"{ROLE_SERVICES[role]} {'running' if ok else 'not running'} in {jail}",
            )
        )


def _vm(status: AgentStatus, entry: RegistryEntry, facts: Facts) -> None:
    """The agent's guest (named after it): running now, and in vm_list for the next boot.
    What runs inside the guest is the guest's own status (invoke status --host <vm ip>)."""
    listing = facts.probe("status.vms")
    row = next(
        (
            line
            for line in (listing.output if listing is not None else "").splitlines()
            if line.split()[:1] == [entry.agent]
        ),
        None,
    )
    # vm list: NAME DATASTORE LOADER CPU MEMORY VNC AUTO STATE, AUTO `Yes [N]` or `No`
    state = (
        "absent"
        if row is None
        else row[row.find("Running (") :]
        if "Running (" in row
        else (row.split()[-1])
    )
    status.checks.append(Check("vm", state.startswith("Running"), f"vm {entry.agent}: {state}"))
    listed = entry.agent in facts.rc_conf.get("vm_list", "").split()
    status.checks.append(
        Check("vm at boot", listed, f"vm_list={facts.rc_conf.get('vm_list', '')!r}")
    )


def last_apply(facts: Facts, agent: str) -> str | None:
    """The agent's newest journal line, as `time step: change (result)`."""
    journal = facts.probe("status.journal")
    for line in reversed((journal.output if journal is not None else "").splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("agent") == agent:
            return (
                f"{record.get('ts', '?')} {record.get('step', '?')}: "
                f"{record.get('change', '?')} ({record.get('result', '?')})"
            )
    return None

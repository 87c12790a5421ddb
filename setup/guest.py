"""setup and plan for a bhyve agent: the host makes the VM, then the guest is set up.

Which steps run where. The host gets preflight, the registry entry, host, network
(warden0 and the agent's .1), pf (NAT of the agent's /24) and bhyve (the VM). The
guest, reached through the host as an SSH jump with the host key warden pinned, gets
preflight, its own registry entry (its user's UID is recorded there), host (its
packages: tmux for the session, git for the soul), user, soul (the clone, harness files,
deploy key and hub pin, as on a jail agent's host; never on the VM's host) and service.
`invoke soul.sync` reaches the soul there the same way (setup/commands/soul_sync.py).

Addressing: the guest sits at WARDEN_VM_IP on the host's warden0, in the agent's /24,
with the host's .1 as its gateway, so the agent's traffic leaves through the host's
NAT like a jail's. The /24 is the guest's own link, so jails inside the guest would
need another subnet: role jails in a VM are not built yet, and the bhyve step refuses
WARDEN_ROLES other than none (so the soul in a VM has no git-jail mirror and no
seeding). For the same reason the guest gets no warden0 and no pf of its own.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import time
from dataclasses import dataclass
from typing import Any

from .collisions import find_collisions
from .config import AgentConfig
from .engine import Options, on_host
from .errors import EXIT_OK, HostError, Refused, WardenError
from .facts import Facts
from .job import SetupJob
from .output import clean, console, print_json
from .plan import Plan
from .steps import bhyve
from .transport import Executor, connect
from .vm import (
    GuestKeyMismatch,
    connect_guest,
    host_pub_path,
    known_hosts_file,
    pin,
    wait_for_guest,
)

HOST_STEPS = ("preflight", "host", "network", "pf", "bhyve")
HOST_ONLY = ("network", "pf", "bhyve")
DEFAULT_WAIT = 300


def split(selected: list[str]) -> tuple[list[str], list[str]]:
    """The selected steps that run on the host, and those that run in the guest.

    The host's are a fixed list, so every other step (user, soul, service) runs only
    in the guest; preflight and host run on both. The role jail steps plan nothing in
    the guest: the bhyve step refuses role jails, so the soul there has no mirror and
    no seeding."""
    host = [s for s in selected if s in HOST_STEPS]
    guest = [s for s in selected if s not in HOST_ONLY]
    return host, guest


def vm_wait() -> int:
    """Seconds to wait for the guest's SSH (WARDEN_VM_WAIT, default 300)."""
    raw = os.environ.get("WARDEN_VM_WAIT", str(DEFAULT_WAIT))
    if not raw.isdigit() or not 1 <= int(raw) <= 3600:
        raise Refused(f"WARDEN_VM_WAIT={raw!r}: a number of seconds from 1 to 3600")
    return int(raw)


def without_own_address(facts: Facts, config: AgentConfig) -> Facts:
    """The guest's facts less its own address in the agent's /24 (and that link's
    route): the guest holding WARDEN_VM_IP is the agent's, not a collision."""
    assert config.vm_ip is not None
    own = ipaddress.IPv4Interface(f"{config.vm_ip}/{config.subnet.prefixlen}")
    links = {name for name, address in facts.addresses() if address == own}
    interfaces = {
        name: dataclasses.replace(i, inet=tuple(a for a in i.inet if a != own))
        for name, i in facts.interfaces.items()
    }
    host_route = ipaddress.IPv4Network(f"{own.ip}/32")  # FreeBSD's UHS route via lo0
    routes = tuple(
        r
        for r in facts.routes
        if not (r.netif in links and r.network() == own.network) and r.network() != host_route
    )
    return dataclasses.replace(facts, interfaces=interfaces, routes=routes)


@dataclass
class GuestJob(SetupJob):
    """setup inside the guest: the usual plan, with collisions that ignore its own
    address."""

    def plan(self, facts: Facts) -> Plan:
        plan = super().plan(facts)
        plan.collisions = find_collisions(self.config, without_own_address(facts, self.config))
        return plan


def setup_one(
    target: str, config: AgentConfig, selected: list[str], register: bool, options: Options
) -> int:
    """Plan and apply the host's part, then, once the guest answers, the guest's."""
    assert config.vm_ip is not None
    host_steps, guest_steps = split(selected)
    address = str(config.vm_ip)
    out = console(stderr=options.as_json)
    executor = connect(target, accept_new=options.accept_new)
    try:
        # The key is pinned below from the host's copy, once the apply has put it
        # there: pinning this run's fresh key first would make every rerun after a
        # failed first apply refuse the next fresh key.
        host = on_host(executor, SetupJob(config, host_steps, register), options)
        report = {**host.report(), "guest": None}
        if host.code != EXIT_OK or not guest_steps:
            return _finish(report, options.as_json, host.code)
        assert host.plan is not None
        facts = host.after or host.plan.facts
        state = bhyve.VmState(facts)
        if not state.running:
            return _note(
                report,
                options.as_json,
                out,
                f"the guest {bhyve.vm_name(config)} is not running yet: its steps are planned "
                "once it is",
            )
        pub = facts.file(host_pub_path(config.agent_name))
        # The host's copy is trusted as the host is (it is the key warden put in the
        # guest's user-data); never learnt from the guest itself.
        if (
            pub is not None
            and not options.dry_run
            and pin(known_hosts_file(executor), address, pub.strip())
        ):
            out.print(
                f"  pinned the guest's SSH host key for {address} in "
                f"{clean(known_hosts_file(executor))}"
            )
        guest = _reach(executor, address, dry_run=options.dry_run, out=out)
        if guest is None:
            return _note(
                report,
                options.as_json,
                out,
                f"the guest at {address} does not answer SSH yet, or its key is not pinned "
                "here: its steps are planned once it does",
            )
        try:
            inside = on_host(guest, GuestJob(config, guest_steps, register), options)
        finally:
            guest.close()
        report["guest"] = inside.report()
        return _finish(report, options.as_json, inside.code)
    finally:
        executor.close()


def _note(report: dict[str, Any], as_json: bool, out: Any, note: str) -> int:
    """The guest's part waits for a later run: say why, and end well."""
    report["guest_note"] = note
    if not as_json:
        out.print(clean(note))
    return _finish(report, as_json, EXIT_OK)


def _reach(executor: Executor, address: str, *, dry_run: bool, out: Any) -> Executor | None:
    """The guest's connection: waited for (bounded) on a real run; one try on a plan."""
    if dry_run:
        try:
            return connect_guest(executor, address)
        except GuestKeyMismatch:
            raise
        except HostError:
            return None
    seconds = vm_wait()
    started = time.monotonic()
    status = out.status(f"waiting for the guest's SSH at {address} (up to {seconds}s)")
    status.start()
    try:

        def progress(elapsed: float, last: str) -> None:
            status.update(
                f"waiting for the guest's SSH at {address}: {int(elapsed)}s of {seconds}s "
                f"({clean(last)})"
            )

        guest = wait_for_guest(executor, address, deadline=started + seconds, report=progress)
    finally:
        status.stop()
    out.print(f"  the guest at {address} answered after {int(time.monotonic() - started)}s")
    return guest


def _finish(report: dict[str, Any], as_json: bool, code: int) -> int:
    if as_json:
        print_json(report)
    return code


def refuse_fleet(config: AgentConfig) -> None:
    """Several hosts at once for one bhyve agent would make one VM per host."""
    raise Refused(
        f"agent {config.agent_name} runs in a bhyve VM (WARDEN_RUNTIME=bhyve): give one "
        "--host target; several hosts at once are not built for the bhyve runtime"
    )


__all__ = ["HOST_ONLY", "HOST_STEPS", "GuestJob", "WardenError", "setup_one", "split"]

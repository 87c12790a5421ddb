"""setup and plan for a bhyve agent: the host makes the VM, then the guest is set up.

Which steps run where. The host gets preflight, the registry entry, host, network
(warden0 and the agent's .1), pf (NAT of the agent's /24) and bhyve (the VM). The
guest, reached through the host as an SSH jump with the host key warden pinned, gets
preflight, its own registry entry (its user's UID is recorded there), host (its
packages: tmux for the session, git for the soul), user, soul (the clone, harness files,
deploy key and hub pin, as on a jail agent's host; never on the VM's host) and service.
`invoke soul.sync` reaches the soul there the same way (setup/soul/sync_command.py).

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
import sys
import time
from typing import Any

from .apply import apply_steps
from .collisions import find_collisions
from .config import AgentConfig
from .errors import EXIT_OK, EXIT_REFUSED, HostError, Refused, WardenError
from .facts import Facts
from .output import clean, console, print_json, show_plan
from .plan import Plan
from .planner import make_plan
from .reading import read_host
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


def guest_plan(config: AgentConfig, facts: Facts, steps: list[str], register: bool) -> Plan:
    """The guest's plan: the usual one, with collisions that ignore its own address."""
    plan = make_plan(config, facts, steps, register=register)
    plan.collisions = find_collisions(config, without_own_address(facts, config))
    return plan


def setup_one(
    target: str,
    config: AgentConfig,
    selected: list[str],
    register: bool,
    *,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    accept_new: bool,
    wait: int,
) -> int:
    """Plan and apply the host's part, then, once the guest answers, the guest's."""
    assert config.vm_ip is not None
    host_steps, guest_steps = split(selected)
    address = str(config.vm_ip)
    report: dict[str, Any] = {}
    out = console(stderr=as_json)
    executor = connect(target, accept_new=accept_new)
    try:
        facts = read_host(executor, config, host_steps)
        plan = make_plan(config, facts, host_steps, register=register)
        report.update(plan.to_json())
        report["applied"] = []
        report["guest"] = None
        if not as_json:
            show_plan(plan, console())
        if plan.refusals:
            return _finish(report, as_json, EXIT_REFUSED)
        if plan.changes and not dry_run:
            if not yes:
                _confirm(len(plan.changes), target)
            # The key is pinned below from the host's copy, once the apply has put it
            # there: pinning this run's fresh key first would make every rerun after a
            # failed first apply refuse the next fresh key.
            outcomes = apply_steps(
                executor,
                config,
                plan.facts,
                [s.name for s in plan.steps],
                host_steps,
                lock_wait=wait,
                progress=_progress(out),
            )
            report["applied"] = [{"step": o.step, "changes": o.applied} for o in outcomes]
            facts = read_host(executor, config, host_steps)
        if not guest_steps:
            return _finish(report, as_json, EXIT_OK)
        state = bhyve.VmState(facts)
        if not state.running:
            report["guest_note"] = (
                f"the guest {bhyve.vm_name(config)} is not running yet: its steps are planned "
                "once it is"
            )
            if not as_json:
                out.print(clean(report["guest_note"]))
            return _finish(report, as_json, EXIT_OK)
        pub = facts.file(host_pub_path(config.agent_name))
        # The host's copy is trusted as the host is (it is the key warden put in the
        # guest's user-data); never learnt from the guest itself.
        if (
            pub is not None
            and not dry_run
            and pin(known_hosts_file(executor), address, pub.strip())
        ):
            out.print(
                f"  pinned the guest's SSH host key for {address} in "
                f"{clean(known_hosts_file(executor))}"
            )
        guest = _reach(executor, address, dry_run=dry_run, out=out, as_json=as_json)
        if guest is None:
            report["guest_note"] = (
                f"the guest at {address} does not answer SSH yet, or its key is not pinned "
                "here: its steps are planned once it does"
            )
            if not as_json:
                out.print(clean(report["guest_note"]))
            return _finish(report, as_json, EXIT_OK)
        try:
            code = _guest_part(
                guest,
                config,
                guest_steps,
                register,
                report,
                dry_run=dry_run,
                yes=yes,
                as_json=as_json,
                wait=wait,
                out=out,
            )
        finally:
            guest.close()
        return _finish(report, as_json, code)
    finally:
        executor.close()


def _reach(
    executor: Executor, address: str, *, dry_run: bool, out: Any, as_json: bool
) -> Executor | None:
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


def _guest_part(
    guest: Executor,
    config: AgentConfig,
    steps: list[str],
    register: bool,
    report: dict[str, Any],
    *,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    wait: int,
    out: Any,
) -> int:
    facts = read_host(guest, config, steps)
    plan = guest_plan(config, facts, steps, register)
    report["guest"] = {**plan.to_json(), "applied": []}
    if not as_json:
        show_plan(plan, console())
    if plan.refusals:
        return EXIT_REFUSED
    if dry_run or not plan.changes:
        return EXIT_OK
    if not yes:
        _confirm(len(plan.changes), guest.target)
    outcomes = apply_steps(
        guest,
        config,
        plan.facts,
        [s.name for s in plan.steps],
        steps,
        lock_wait=wait,
        progress=_progress(out),
    )
    report["guest"]["applied"] = [{"step": o.step, "changes": o.applied} for o in outcomes]
    if not as_json:
        count = sum(len(o.applied) for o in outcomes)
        out.print(f"[green]applied {count} change(s) on {clean(guest.target)}[/green]")
    return EXIT_OK


def _progress(out: Any) -> Any:
    def progress(step: str, index: int, event: str, summary: str) -> None:
        if event != "begin":
            mark = "[red]✗[/red]" if event == "failed" else "[green]✓[/green]"
            out.print(f"  {mark} {clean(step)}: {clean(summary)}")

    return progress


def _confirm(count: int, target: str) -> None:
    if not sys.stdin.isatty():
        raise Refused(
            f"{count} change(s) planned for {target}; standard input is not a terminal, "
            "so pass --yes to apply them"
        )
    answer = input(f"apply {count} change(s) to {target}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise Refused("not confirmed: nothing was changed (use --yes to skip the question)")


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


__all__ = ["HOST_ONLY", "HOST_STEPS", "WardenError", "guest_plan", "setup_one", "split"]

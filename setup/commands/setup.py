"""`invoke setup` and `invoke plan` (setup --dry-run; --offline plans a fresh host
without a connection): every target through the engine; a bhyve agent through its
host, then its guest."""

from __future__ import annotations

from typing import Any

from .. import engine, guest
from .. import steps as steps_module
from ..config import load_or_refuse as load
from ..engine import Options
from ..errors import EXIT_OK, EXIT_REFUSED
from ..fleet import DEFAULT_WORKERS
from ..inventory import parse_targets
from ..job import SetupJob
from ..output import console, print_json, show_plan
from ..plan import Plan
from ..planner import make_plan, offline_facts, wants_registration
from .options import lock_wait


def _show(plan: Plan, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        print_json({**plan.to_json(), **(extra or {})})
    else:
        show_plan(plan, console())


def plan_command(
    env: str,
    host: str | None,
    offline: bool,
    as_json: bool,
    accept_new: bool,
    step: list[str] | None = None,
    parallel: int = DEFAULT_WORKERS,
) -> int:
    """Show what setup would do; change nothing (online, exactly setup --dry-run)."""
    if offline:
        config = load(env)
        selected = steps_module.select(step)
        register = wants_registration(step, selected)
        plan = make_plan(config, offline_facts(config, selected), selected, register=register)
        _show(plan, as_json)
        return EXIT_REFUSED if plan.refusals else EXIT_OK
    options = Options(dry_run=True, as_json=as_json, accept_new=accept_new, parallel=parallel)
    return _setup(env, step, host, options)


def setup_command(
    env: str,
    step: list[str] | None,
    host: str | None,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    accept_new: bool,
    parallel: int = DEFAULT_WORKERS,
) -> int:
    """Plan, show, then apply (unless --dry-run) on every target."""
    options = Options(
        dry_run=dry_run,
        yes=yes,
        as_json=as_json,
        accept_new=accept_new,
        lock_wait=lock_wait(),
        parallel=parallel,
    )
    return _setup(env, step, host, options)


def _setup(env: str, step: list[str] | None, host: str | None, options: Options) -> int:
    """setup and plan alike: every target through the engine; a bhyve agent through its
    host, then its guest."""
    config = load(env)
    selected = steps_module.select(step)
    register = wants_registration(step, selected)
    targets = parse_targets(host, config.host)
    if config.runtime == "bhyve":
        if len(targets) > 1:
            guest.refuse_fleet(config)
        return guest.setup_one(targets[0], config, selected, register, options)
    job = SetupJob(config, selected, register)
    if len(targets) > 1:
        return engine.on_many(targets, job, options)
    return engine.on_one(targets[0], job, options)

"""`setup` and `plan` on several hosts: plan them all in parallel, show, ask once, apply
them all in parallel, then one summary.

Each host keeps its one SSH connection from its plan to its apply. A host whose plan is
refused, or that cannot be reached, is reported and left alone; the others go on.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

from .apply import apply_steps
from .config import AgentConfig
from .errors import EXIT_OK, EXIT_REFUSED, Refused
from .fleet import HostResult, Report, run_on_hosts, worst
from .output import clean, console, print_json, show_plan
from .plan import Plan
from .planner import make_plan
from .reading import read_host
from .transport import Executor, connect


@dataclass
class HostRun:
    """One host's part of the run: its connection, its plan, what was applied."""

    target: str
    executor: Executor | None = None
    plan: Plan | None = None
    applied: list[dict[str, Any]] = field(default_factory=list)


def fleet_setup(
    targets: list[str],
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
    """Plan on every host at once; then, unless --dry-run, apply where the plan allows."""
    runs = {t: HostRun(t) for t in targets}

    def plan_one(target: str, report: Report) -> tuple[int, HostRun]:
        run = runs[target]
        run.executor = connect(target, accept_new=accept_new)
        report("reading the host")
        facts = read_host(run.executor, config, selected)
        run.plan = make_plan(config, facts, selected, register=register)
        if run.plan.refusals:
            report("refused")
            return EXIT_REFUSED, run
        report(f"{len(run.plan.changes)} change(s) planned")
        return EXIT_OK, run

    try:
        planned = run_on_hosts(targets, plan_one, live=not as_json)
        to_apply = [
            r.target
            for r in planned
            if r.code == EXIT_OK
            and r.value is not None
            and r.value.plan is not None
            and r.value.plan.changes
        ]
        if not as_json:
            for result in planned:
                run = runs[result.target]
                if run.plan is not None:
                    show_plan(run.plan, console())
        if dry_run or not to_apply:
            return _finish(planned, runs, as_json, applied=False)
        if not yes:
            _confirm_all(runs, to_apply)

        def apply_one(target: str, report: Report) -> tuple[int, HostRun]:
            run = runs[target]
            assert run.executor is not None and run.plan is not None

            def progress(step: str, index: int, event: str, summary: str) -> None:
                report(f"{step}: {summary} ({event})")

            outcomes = apply_steps(
                run.executor,
                config,
                run.plan.facts,
                [s.name for s in run.plan.steps],
                selected,
                lock_wait=wait,
                progress=progress,
            )
            run.applied = [{"step": o.step, "changes": o.applied} for o in outcomes]
            return EXIT_OK, run

        applied = {r.target: r for r in run_on_hosts(to_apply, apply_one, live=not as_json)}
        merged = [applied.get(r.target, r) for r in planned]
        return _finish(merged, runs, as_json, applied=True)
    finally:
        for run in runs.values():
            if run.executor is not None:
                run.executor.close()


def _confirm_all(runs: dict[str, HostRun], to_apply: list[str]) -> None:
    count = 0
    for target in to_apply:
        plan = runs[target].plan
        count += len(plan.changes) if plan is not None else 0
    what = f"{count} change(s) on {len(to_apply)} host(s) ({', '.join(to_apply)})"
    if not sys.stdin.isatty():
        raise Refused(
            f"{what} planned; standard input is not a terminal, so pass --yes to apply them"
        )
    answer = input(f"apply {what}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise Refused("not confirmed: nothing was changed (use --yes to skip the question)")


def _finish(
    results: list[HostResult[HostRun]], runs: dict[str, HostRun], as_json: bool, *, applied: bool
) -> int:
    if as_json:
        print_json(
            {
                "hosts": [
                    {
                        "target": r.target,
                        "exit_code": r.code,
                        "error": r.message,
                        "plan": runs[r.target].plan.to_json()  # type: ignore[union-attr]
                        if runs[r.target].plan is not None
                        else None,
                        "applied": runs[r.target].applied,
                    }
                    for r in results
                ]
            }
        )
        return worst(results)
    table = Table(title="summary", title_justify="left")
    for column in ("host", "exit", "result"):
        table.add_column(column)
    for result in results:
        run = runs[result.target]
        if result.message is not None:
            text = result.message
        elif run.plan is not None and run.plan.refusals:
            text = "refused: " + "; ".join(run.plan.refusals)
        elif applied and run.applied:
            text = f"applied {sum(len(a['changes']) for a in run.applied)} change(s)"
        elif run.plan is not None and not run.plan.changes:
            text = "nothing to do"
        else:
            text = f"{len(run.plan.changes) if run.plan else 0} change(s) planned, not applied"
        table.add_row(clean(result.target), str(result.code), clean(text))
    console().print(table)
    return worst(results)


def is_fleet(targets: list[str]) -> bool:
    """Several targets run as a fleet; one keeps the plain single-host path."""
    return len(targets) > 1

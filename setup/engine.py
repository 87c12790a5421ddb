"""The one loop every changing command runs: read → plan → show → confirm → apply →
re-read and verify, on one host or on several at once.

setup, plan (setup with --dry-run), the bhyve host and guest, and teardown differ
only in their job (setup/job.py): what they read and how they plan. The prompt, the
progress display, the JSON report and the apply loop (setup/apply.py: apply_steps)
are here once, so every command asks, shows and verifies the same way.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table

from .apply import DEFAULT_LOCK_WAIT, Progress, apply_steps
from .errors import EXIT_OK, EXIT_REFUSED, Refused
from .facts import Facts
from .fleet import DEFAULT_WORKERS, HostResult, Report, run_on_hosts, worst
from .job import Job
from .output import clean, console, print_json, show_plan
from .plan import Plan
from .transport import Executor, connect


@dataclass(frozen=True)
class Options:
    """How a run goes, whatever the command: the same flags mean the same everywhere."""

    dry_run: bool = False
    yes: bool = False
    as_json: bool = False
    accept_new: bool = False
    lock_wait: int = DEFAULT_LOCK_WAIT
    parallel: int = DEFAULT_WORKERS


@dataclass
class HostRun:
    """One host's part of a run: its connection, its plan, what was applied."""

    target: str
    executor: Executor | None = None
    plan: Plan | None = None
    applied: list[dict[str, Any]] = field(default_factory=list)
    # the host as the apply's last check read it (None: nothing was applied)
    after: Facts | None = None

    @property
    def code(self) -> int:
        return EXIT_REFUSED if self.plan is not None and self.plan.refusals else EXIT_OK

    @property
    def count(self) -> int:
        """How many changes were applied."""
        return sum(len(a["changes"]) for a in self.applied)

    def report(self) -> dict[str, Any]:
        """The plan and what was applied, for --json."""
        plan = self.plan.to_json() if self.plan is not None else {}
        return {**plan, "applied": self.applied}


def confirm(count: int, what: str) -> None:
    """The one question before anything changes; without a terminal, --yes is required."""
    if not sys.stdin.isatty():
        raise Refused(
            f"{count} change(s) planned for {what}; standard input is not a terminal, "
            "so pass --yes to apply them"
        )
    answer = input(f"apply {count} change(s) to {what}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise Refused("not confirmed: nothing was changed (use --yes to skip the question)")


_MARKS = {
    "begin": "[cyan]…[/cyan]",
    "done": "[green]✓[/green]",
    "confirmed": "[green]✓[/green]",
    "failed": "[red]✗[/red]",
    "awaiting confirmation": "[yellow]…[/yellow]",
}


def printer(out: Console, plan: Plan) -> Progress:
    """The progress display: a line a change when it ends, and when a slow one starts."""
    slow = {(s.name, i) for s in plan.steps for i, c in enumerate(s.changes, 1) if c.slow}

    def progress(step: str, index: int, event: str, summary: str) -> None:
        if event == "begin" and (step, index) not in slow:
            return
        note = " (done; confirming over a new connection)" if event.startswith("await") else ""
        out.print(f"  {_MARKS[event]} {clean(step)}: {clean(summary)}{note}")

    return progress


def read_and_plan(run: HostRun, job: Job) -> None:
    """The host as it is, and the plan against it."""
    assert run.executor is not None
    run.plan = job.plan(job.read(run.executor))


def apply(run: HostRun, job: Job, options: Options, progress: Progress) -> None:
    """Apply the run's plan step by step, each verified after it ran."""
    assert run.executor is not None and run.plan is not None
    done = apply_steps(
        run.executor,
        job,
        run.plan.facts,
        [s.name for s in run.plan.steps],
        lock_wait=options.lock_wait,
        progress=progress,
    )
    run.applied = [{"step": o.step, "changes": o.applied} for o in done.steps]
    run.after = done.facts


def on_host(executor: Executor, job: Job, options: Options) -> HostRun:
    """The whole loop on one connected host; the caller reports the result."""
    run = HostRun(executor.target, executor)
    read_and_plan(run, job)
    assert run.plan is not None
    plan, wording = run.plan, job.wording()
    if not options.as_json:
        if wording.nothing and not plan.changes and not plan.refusals:
            console().print(clean(wording.nothing.format(target=run.target)))
        else:
            show_plan(plan, console())
    if plan.refusals or options.dry_run or not plan.changes:
        return run
    if not options.yes:
        confirm(len(plan.changes), run.target)
    apply(run, job, options, printer(console(stderr=options.as_json), plan))
    if not options.as_json:
        done = wording.done.format(count=run.count, target=run.target)
        console().print(f"[green]{clean(done)}[/green]")
    return run


def on_one(target: str, job: Job, options: Options) -> int:
    """Connect to one host, run the loop, report it (as JSON with --json)."""
    executor = connect(target, accept_new=options.accept_new)
    try:
        run = on_host(executor, job, options)
    finally:
        executor.close()
    if options.as_json:
        print_json(run.report())
    return run.code


def on_many(targets: list[str], job: Job, options: Options) -> int:
    """Plan every host at once; show the plans; ask once; apply them all at once; one
    summary. A host that is refused or cannot be reached is reported and left alone;
    the others go on, each keeping its one connection from its plan to its apply."""
    runs = {t: HostRun(t) for t in targets}
    live = not options.as_json

    def plan_one(target: str, report: Report) -> tuple[int, HostRun]:
        run = runs[target]
        run.executor = connect(target, accept_new=options.accept_new)
        report("reading the host")
        read_and_plan(run, job)
        assert run.plan is not None
        report("refused" if run.plan.refusals else f"{len(run.plan.changes)} change(s) planned")
        return run.code, run

    def apply_one(target: str, report: Report) -> tuple[int, HostRun]:
        def progress(step: str, index: int, event: str, summary: str) -> None:
            report(f"{step}: {summary} ({event})")

        apply(runs[target], job, options, progress)
        return EXIT_OK, runs[target]

    try:
        planned = run_on_hosts(targets, plan_one, workers=options.parallel, live=live)
        changes = {
            r.target: len(r.value.plan.changes)
            for r in planned
            if r.code == EXIT_OK and r.value is not None and r.value.plan is not None
        }
        to_apply = [t for t, count in changes.items() if count]
        if not options.as_json:
            for run in runs.values():
                if run.plan is not None:
                    show_plan(run.plan, console())
        results = planned
        if not options.dry_run and to_apply:
            if not options.yes:
                confirm(sum(changes.values()), f"{len(to_apply)} host(s) ({', '.join(to_apply)})")
            applied = {
                r.target: r
                for r in run_on_hosts(to_apply, apply_one, workers=options.parallel, live=live)
            }
            results = [applied.get(r.target, r) for r in planned]
        _summary(results, runs, options)
        return worst(results)
    finally:
        for run in runs.values():
            if run.executor is not None:
                run.executor.close()


def _summary(
    results: list[HostResult[HostRun]], runs: dict[str, HostRun], options: Options
) -> None:
    if options.as_json:
        print_json(
            {
                "hosts": [
                    {
                        "target": r.target,
                        "exit_code": r.code,
                        "error": r.message,
                        "plan": plan.to_json() if (plan := runs[r.target].plan) else None,
                        "applied": runs[r.target].applied,
                    }
                    for r in results
                ]
            }
        )
        return
    table = Table(title="summary", title_justify="left")
    for column in ("host", "exit", "result"):
        table.add_column(column)
    for result in results:
        run = runs[result.target]
        if result.message is not None:
            text = result.message
        elif run.plan is not None and run.plan.refusals:
            text = "refused: " + "; ".join(run.plan.refusals)
        elif run.applied:
            text = f"applied {run.count} change(s)"
        elif run.plan is not None and not run.plan.changes:
            text = "nothing to do"
        else:
            text = f"{len(run.plan.changes) if run.plan else 0} change(s) planned, not applied"
        table.add_row(clean(result.target), str(result.code), clean(text))
    console().print(table)

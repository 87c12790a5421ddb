"""One command on several hosts at once: bounded workers, a live view, every host tried.

A host that fails or cannot be reached is reported with its reason and exit code; the
others go on. The command's exit code is the highest of any host (design: the command
line), decided only after every host has been tried.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rich.live import Live
from rich.table import Table

from .errors import EXIT_CHANGE_FAILED, EXIT_OK, WardenError
from .output import clean, console

T = TypeVar("T")
Report = Callable[[str], None]
DEFAULT_WORKERS = 8


@dataclass
class HostResult(Generic[T]):
    """What one host gave: a value, or the reason it did not, and its exit code."""

    target: str
    code: int = EXIT_OK
    value: T | None = None
    message: str | None = None


def run_on_hosts(
    targets: list[str],
    work: Callable[[str, Report], tuple[int, T]],
    *,
    workers: int = DEFAULT_WORKERS,
    live: bool = True,
) -> list[HostResult[T]]:
    """Run `work(target, report)` for every target, at most `workers` at a time, and
    return the results in the targets' order. `report` sets the host's line in the live
    view (on a terminal; elsewhere each host's end is one line on stderr)."""
    states = dict.fromkeys(targets, "waiting")
    lock = threading.Lock()
    err = console(stderr=True)
    show = live and len(targets) > 1

    def table() -> Table:
        view = Table(title="hosts", title_justify="left")
        view.add_column("host")
        view.add_column("state")
        with lock:
            for target, state in states.items():
                view.add_row(clean(target), clean(state))
        return view

    def one(target: str) -> HostResult[T]:
        def report(state: str) -> None:
            with lock:
                states[target] = state

        report("connecting")
        try:
            code, value = work(target, report)
            result: HostResult[T] = HostResult(target, code, value)
            report("done" if code == EXIT_OK else f"exit {code}")
        except WardenError as exc:
            result = HostResult(target, exc.exit_code, None, exc.message)
            report(f"failed (exit {exc.exit_code})")
        except Exception as exc:  # a bug of warden's: this host fails, the others go on
            result = HostResult(
                target, EXIT_CHANGE_FAILED, None, f"internal error: {type(exc).__name__}: {exc}"
            )
            report("internal error")
        if show and not err.is_terminal:
            err.print(f"{clean(target)}: {clean(states[target])}")
        return result

    size = max(1, min(workers, len(targets)))
    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="warden-host") as pool:
        futures = [pool.submit(one, target) for target in targets]
        if show and err.is_terminal:
            with Live(table(), console=err, refresh_per_second=4, transient=True) as view:
                while not all(f.done() for f in futures):
                    view.update(table())
                    threading.Event().wait(0.25)
        results = [f.result() for f in futures]
    return results


def worst(results: list[HostResult[Any]]) -> int:
    """The exit code of the whole command: the highest of any host."""
    return max((r.code for r in results), default=EXIT_OK)

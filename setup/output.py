"""How a plan looks to the operator: a rich table with diffs, or JSON for machines."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table

from .plan import Plan, assumption_text

_LEVEL_STYLE = {"error": "bold red", "warning": "yellow", "ok": "green"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Text from a host or the network, safe for a terminal: markup escaped, control
    characters (escape sequences included) shown as \\xNN instead of acted on."""
    return escape(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))


def console(stderr: bool = False) -> Console:
    """A console that never colours a pipe and never wraps JSON."""
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def show_plan(plan: Plan, out: Console) -> None:
    """Findings, refusals, then the changes with a diff for every file."""
    facts = plan.facts
    title = escape(f"warden plan: agent {plan.config.agent_name} on {facts.target}")
    out.print(f"[bold]{title}[/bold]")
    if facts.assumed:
        out.print(f"[yellow]offline:[/yellow] {assumption_text(facts)}", soft_wrap=True)
    for step in plan.steps:
        if step.findings:
            table = Table(title=f"{step.name}", title_justify="left", show_lines=False)
            table.add_column("", no_wrap=True)
            table.add_column("check", no_wrap=True)
            table.add_column("detail")
            for finding in step.findings:
                style = _LEVEL_STYLE[finding.level]
                table.add_row(
                    f"[{style}]{finding.level}[/{style}]",
                    escape(finding.check),
                    escape(finding.detail),
                )
            out.print(table)
    refusals = plan.refusals
    if refusals:
        out.print("[bold red]refused:[/bold red] nothing will be changed")
        for reason in refusals:
            out.print(f"  - {clean(reason)}", soft_wrap=True)
    changes = plan.changes
    if not changes:
        out.print("[green]no changes: the host is already as planned[/green]")
        return
    table = Table(title=f"{len(changes)} change(s)", title_justify="left")
    table.add_column("step", no_wrap=True)
    table.add_column("#", justify="right")
    table.add_column("change")
    for number, change in enumerate(changes, 1):
        table.add_row(change.step, str(number), clean(change.summary))
    out.print(table)
    for change in changes:
        for file in change.files:
            out.print(
                f"[bold]{clean(file.path)}[/bold] mode {file.mode:04o} {file.owner}:{file.group}"
            )
            out.print(
                Syntax(
                    # a file's old content can come from a jail (its root controls it)
                    _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", file.diff()),
                    "diff",
                    theme="ansi_dark",
                    background_color="default",
                    word_wrap=True,
                )
            )


def print_json(data: Any) -> None:
    """JSON on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()

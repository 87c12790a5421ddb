"""`invoke soul.sync`: the .env and targets checked first, then one table (or one JSON document).

Kept apart from sync.py so the passes over the hosts can be driven by tests with any
connector, and the printing stays in one place.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from ..config import load_or_refuse as load
from ..inventory import parse_targets
from ..output import clean, console, print_json
from ..soul.reach import connector_for
from ..soul.sync import HostSync, clone_of, exit_code, sync_hosts

_STATE_STYLE = {
    "in sync": "green",
    "ahead": "cyan",
    "behind": "cyan",
    "diverged": "bold red",
    "dirty": "bold red",
    "blocked": "bold red",
    "missing": "yellow",
    "unreachable": "bold red",
}


def sync_command(env: str, host: str | None, as_json: bool) -> int:
    """soul.sync --env FILE [--host TARGETS] [--json]: exit 0, 1 or 3 (the highest host's).
    A bhyve agent's clone is inside its VM: reached through the one host given."""
    config = load(env)
    clone = clone_of(config)  # a .env without a soul is refused before any connection
    targets = parse_targets(host, config.host)
    results = sync_hosts(config, targets, connector_for(config, targets))
    code = exit_code(results)
    if as_json:
        print_json(
            {
                "agent": config.agent_name,
                "repo": clone.repo,
                "ref": clone.ref,
                "clone": clone.path,
                "hosts": [r.to_json() for r in results],
                "exit_code": code,
            }
        )
    else:
        show(results, config.agent_name, clone.repo, clone.ref, Path(clone.path))
    return code


def show(results: list[HostSync], agent: str, repo: str, ref: str, path: Path) -> None:
    out = console()
    table = _table(
        f"soul of {clean(agent)}: {clean(str(path))} vs {clean(repo)} {clean(ref)}",
        "host",
        "state",
        "done",
    )
    for row in results:
        style = _STATE_STYLE.get(row.state, "")
        state = clean(row.shown_state)
        table.add_row(
            clean(row.target),
            f"[{style}]{state}[/{style}]" if style else state,
            clean(row.action or "-"),
        )
    out.print(table)
    for row in results:
        if row.advice:
            out.print(f"[bold]{clean(row.target)}:[/bold] {clean(row.advice)}", soft_wrap=True)
        for refusal in row.refused:
            findings = _table(
                f"{clean(row.target)}: commit {refusal.commit[:12]} refused by soul.check",
                "rule",
                "file:line",
                "detail",
            )
            for finding in refusal.findings:
                findings.add_row(
                    clean(finding.rule), clean(finding.location), clean(finding.detail)
                )
            out.print(findings)


def _table(title: str, key: str, *columns: str) -> Table:
    """A table titled on the left whose first column (the host, the rule) never wraps:
    the key a reader looks a row up by stays whole."""
    table = Table(title=title, title_justify="left")
    table.add_column(key, no_wrap=True)
    for column in columns:
        table.add_column(column)
    return table

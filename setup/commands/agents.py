"""`invoke agents`: the agents each host's registry holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from ..config import load_or_refuse as load
from ..errors import EXIT_OK
from ..inventory import parse_targets
from ..output import clean, console, print_json
from ..reading import read_registries


def agents_command(host: str | None, as_json: bool, accept_new: bool, env: str = ".env") -> int:
    """List the agents registered on each host."""
    default = "local"
    if host is None and Path(env).is_file():
        default = load(env).host
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    worst = EXIT_OK
    for found in read_registries(parse_targets(host, default), accept_new):
        if found.error is not None:
            notes.append(found.error.message)
            worst = max(worst, found.error.exit_code)
            continue
        notes += found.notes
        rows += [{"host": found.target, **e.model_dump()} for _, e in sorted(found.entries.items())]
    if as_json:
        print_json({"agents": rows, "problems": notes})
        return worst
    table = Table(title="agents", title_justify="left")
    for column in ("host", "agent", "subnet", "alias", "runtime", "roles", "jails"):
        table.add_column(column)
    for row in rows:
        cells = (
            row["host"],
            row["agent"],
            row["subnet"],
            str(row["alias_index"]),
            row["runtime"],
            ",".join(row["roles"]),
            ",".join(row["jails"].values()),
        )
        table.add_row(*(clean(cell) for cell in cells))
    console().print(table if rows else "no agents registered")
    for note in notes:
        console(stderr=True).print(f"[yellow]warning:[/yellow] {clean(note)}", soft_wrap=True)
    return worst

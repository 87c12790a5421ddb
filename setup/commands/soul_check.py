"""`invoke soul.check`: a soul checked, one table (or one JSON document).

Exit codes follow the rest of warden: 0 clean, 2 refused (a forbidden or
invalid soul, bad input); setup/commands' `guarded` turns Refused into its
message and code.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from rich.table import Table

from ..config import load_or_refuse
from ..errors import EXIT_OK, EXIT_REFUSED, Refused
from ..output import clean, console, print_json
from ..soul.check import CheckReport, check_soul

_STYLE = {"error": "bold red", "warning": "yellow"}


def check_command(path: str | None, env: str | None, as_json: bool) -> int:
    """soul.check [PATH] [--env FILE] [--json]: exit 2 when anything is forbidden or invalid."""
    if path is None and env is None:
        raise Refused(
            "soul.check: give the soul's PATH, or --env FILE to check its WARDEN_SOUL_REPO"
        )
    agent = None
    if env is not None:
        config = load_or_refuse(env)
        agent = config.agent_name
        if path is None:
            path = str(_local_soul(env, config.soul_repo))
    soul = Path(path or ".")
    if not soul.is_dir():
        raise Refused(f"soul.check: {soul} is not a directory")
    report = check_soul(soul, agent)
    if as_json:
        print_json(report.to_json())
    else:
        show_report(report)
    return EXIT_OK if report.ok else EXIT_REFUSED


def show_report(report: CheckReport) -> None:
    out = console()
    out.print(
        f"[bold]soul[/bold] {clean(str(report.root))}  agent {clean(report.agent or '?')}"
        f"  identity {clean(report.identity or 'none')}",
        soft_wrap=True,
    )
    if not report.findings:
        out.print("[green]clean: the soul passes every check[/green]")
        return
    table = Table(title=f"{len(report.findings)} finding(s)", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("file:line")
    table.add_column("detail")
    for finding in report.findings:
        style = _STYLE[finding.level]
        table.add_row(
            f"[{style}]{finding.level}[/{style}]",
            finding.rule,
            clean(finding.location),
            clean(finding.detail),
        )
    out.print(table)
    verdict = "refused" if not report.ok else "passes, with warnings"
    out.print(f"[bold]{verdict}[/bold]")


def _local_soul(env: str, repo: str | None) -> Path:
    """WARDEN_SOUL_REPO as a local work tree; a remote one is checked by the soul step."""
    if repo is None:
        raise Refused(f"soul.check: {env} sets no WARDEN_SOUL_REPO; give the soul's PATH")
    local = urlsplit(repo).path if repo.startswith("file://") else repo
    if not local.startswith("/"):
        raise Refused(
            f"soul.check: WARDEN_SOUL_REPO={repo} is a remote repository: soul.check reads"
            " local directories only; the soul step checks it after cloning, before anything"
            " is written. To check it now: git clone it and run soul.check on the clone."
        )
    path = Path(local)
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        raise Refused(
            f"soul.check: WARDEN_SOUL_REPO={repo} is a bare repository (no files to read);"
            " the soul step checks it after cloning. Check a clone of it instead."
        )
    return path

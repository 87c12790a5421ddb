"""`invoke status`: per agent, what runs, what comes back at boot, the last apply."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from ..config import load_or_refuse as load
from ..errors import EXIT_CHANGE_FAILED, EXIT_OK
from ..facts import gather
from ..fleet import DEFAULT_WORKERS, Report, run_on_hosts, worst
from ..inventory import parse_targets
from ..layout import PF_WARDEN_CONF
from ..output import clean, console, print_json
from ..registry import load_entries
from ..status import AgentStatus, Check, agent_status
from ..status import probes as status_probes
from ..transport import connect


def status_command(
    env: str,
    all_agents: bool,
    host: str | None,
    as_json: bool,
    accept_new: bool,
    parallel: int = DEFAULT_WORKERS,
) -> int:
    """Per agent: what runs, what comes back at boot, the last apply; exit 1 when any
    agent is unhealthy, 3 when a host cannot be read (the highest of any host)."""
    agent: str | None = None
    default = "local"
    if not all_agents:
        config = load(env)
        agent, default = config.agent_name, config.host
    elif Path(env).is_file():
        default = load(env).host
    targets = parse_targets(host, default)

    def one(target: str, report: Report) -> tuple[int, list[AgentStatus]]:
        executor = connect(target, accept_new=accept_new)
        try:
            report("reading the registry")
            entries, notes = load_entries(gather(executor))
            chosen = [e for name, e in sorted(entries.items()) if agent in (None, name)]
            report("reading the agents' state")
            facts = gather(executor, files=[PF_WARDEN_CONF], probes=status_probes(chosen, entries))
        finally:
            executor.close()
        rows = [agent_status(entry, facts, entries) for entry in chosen]
        if agent is not None and not chosen:
            missing = AgentStatus(agent)
            missing.checks.append(
                Check("registry", False, f"agent {agent} is not set up on {target}")
            )
            rows.append(missing)
        for note in notes:
            broken = AgentStatus("?")
            broken.checks.append(Check("registry", False, note))
            rows.append(broken)
        return (EXIT_OK if all(r.healthy for r in rows) else EXIT_CHANGE_FAILED), rows

    results = run_on_hosts(targets, one, workers=parallel)
    if as_json:
        print_json(
            {
                "healthy": all(r.code == EXIT_OK for r in results),
                "hosts": [
                    {
                        "target": r.target,
                        "exit_code": r.code,
                        "error": r.message,
                        "agents": [s.to_json() for s in r.value or []],
                    }
                    for r in results
                ],
            }
        )
        return worst(results)
    out = console()
    for result in results:
        if result.message is not None:
            out.print(f"[bold red]{clean(result.target)}:[/bold red] {clean(result.message)}")
            continue
        for status in result.value or []:
            mark = "[green]healthy[/green]" if status.healthy else "[red]unhealthy[/red]"
            table = Table(
                title=f"{clean(status.agent)} on {clean(result.target)}: {mark}",
                title_justify="left",
            )
            table.add_column("check")
            table.add_column("")
            table.add_column("detail")
            for check in status.checks:
                table.add_row(
                    clean(check.check),
                    "[green]ok[/green]" if check.ok else "[red]FAIL[/red]",
                    clean(check.detail),
                )
            out.print(table)
            if status.last_apply:
                out.print(f"  last apply: {clean(status.last_apply)}", soft_wrap=True)
        if not result.value:
            out.print(f"{clean(result.target)}: no agents registered")
    return worst(results)

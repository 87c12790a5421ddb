"""The commands behind tasks.py, each returning the exit code the design promises.

Order matters for safety: the .env and every option are validated before any
connection is made, so bad input never reaches a host (exit 2).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.table import Table

from . import engine, guest, teardown
from . import steps as steps_module
from .apply import DEFAULT_LOCK_WAIT, locked_command, step_script
from .config import AgentConfig
from .config import load_or_refuse as load
from .domains import JailUser
from .engine import Options
from .errors import EXIT_CHANGE_FAILED, EXIT_OK, EXIT_REFUSED, Refused, WardenError
from .facts import Facts, build_script, fresh_host, gather
from .fleet import DEFAULT_WORKERS, Report, run_on_hosts, worst
from .inventory import parse_targets
from .job import SetupJob
from .layout import PF_WARDEN_CONF
from .logs import log_path, show_log
from .output import clean, console, print_json, show_plan
from .plan import Plan
from .planner import facts_request, make_plan, wants_registration
from .reading import read_registries
from .registry import load_entries
from .status import AgentStatus, Check, agent_status
from .status import probes as status_probes
from .transport import connect


def guarded(command: Callable[[], int]) -> int:
    """Run a command; turn every expected failure into its message and exit code."""
    try:
        return command()
    except WardenError as exc:
        console(stderr=True).print(
            f"[bold red]error:[/bold red] {clean(exc.message)}", soft_wrap=True
        )
        return exc.exit_code
    except KeyboardInterrupt:
        console(stderr=True).print("interrupted")
        return 130
    except Exception as exc:  # a bug of warden's: one clear line, never a traceback
        console(stderr=True).print(
            f"[bold red]internal error:[/bold red] {clean(type(exc).__name__)}: {clean(str(exc))} "
            "(please report it)",
            soft_wrap=True,
        )
        return EXIT_CHANGE_FAILED


def parallel_width(raw: str | None) -> int:
    """--parallel: how many hosts at once (a number from 1 to 64; default 8)."""
    if raw is None:
        return DEFAULT_WORKERS
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise Refused(f"--parallel {raw!r}: a number of hosts from 1 to 64")
    return int(raw)


def lock_wait() -> int:
    """Seconds a second apply waits for the host lock (WARDEN_LOCK_WAIT, default 30)."""
    raw = os.environ.get("WARDEN_LOCK_WAIT", str(DEFAULT_LOCK_WAIT))
    if not raw.isdigit() or int(raw) > 3600:
        raise Refused(f"WARDEN_LOCK_WAIT={raw!r}: a number of seconds from 0 to 3600")
    return int(raw)


def _offline_facts(config: AgentConfig, steps: list[str]) -> Facts:
    request = facts_request(config, steps)
    facts = fresh_host(config.host, config.release or "14.3-RELEASE")
    return facts.with_files(dict.fromkeys(request.files))


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
        plan = make_plan(config, _offline_facts(config, selected), selected, register=register)
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


def render_command(env: str, out_dir: str) -> int:
    """Write every artifact an offline plan would send, for review."""
    config = load(env)
    selected = steps_module.select(None)
    plan = make_plan(config, _offline_facts(config, selected), selected, register=True)
    root = Path(out_dir)
    request = facts_request(config, selected)
    written: list[Path] = []

    def write(relative: str, text: str, mode: int = 0o644) -> None:
        path = root / relative.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
        written.append(path)

    write(
        "scripts/facts.sh",
        build_script(request.packages, request.files, nonce="RENDERED", probes=request.probes)[0],
        0o755,
    )
    for number, step in enumerate(plan.steps, 1):
        if step.changes:
            script = step_script(
                step.name,
                step.changes,
                "",
                run_id="rendered",
                operator="operator@workstation",
                redact=True,
            )
            write(f"scripts/{number:02d}-{step.name}.sh", script, 0o755)
        for change in step.changes:
            for file in change.files:
                if not file.secret:
                    where = file.domain
                    prefix = f"jails/{where.jail}" if isinstance(where, JailUser) else ""
                    write(f"files/{prefix}{file.path}", file.content, file.mode)
    write("scripts/remote-command.txt", locked_command(DEFAULT_LOCK_WAIT) + "\n")
    write("plan.json", _json_text(plan.to_json()))
    console().print(f"wrote {len(written)} file(s) under {root}/ (offline plan of a fresh host)")
    for path in written:
        console().print(f"  {path}")
    return EXIT_OK


def _json_text(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


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


def logs_command(
    env: str, host: str | None, role: str | None, follow: bool, accept_new: bool
) -> int:
    """Print the agent's log (or a role jail's service log); --follow streams it."""
    config = load(env)
    path = log_path(config, role)
    targets = parse_targets(host, config.host)
    if len(targets) != 1:
        raise Refused("logs reads one host: give one --host target")
    executor = connect(targets[0], accept_new=accept_new)
    try:
        show_log(executor, path, follow)
    finally:
        executor.close()
    return EXIT_OK


def teardown_command(
    env: str, host: str | None, keep_data: bool, force: bool, yes: bool, accept_new: bool
) -> int:
    """Dump, then remove one agent from one host; show the plan and ask unless --yes."""
    config = load(env)
    targets = parse_targets(host, config.host)
    if len(targets) != 1:
        raise Refused("teardown works on one host at a time: give one --host target")
    job = teardown.TeardownJob(config, keep_data=keep_data, force=force)
    options = Options(yes=yes, accept_new=accept_new, lock_wait=lock_wait())
    return engine.on_one(targets[0], job, options)

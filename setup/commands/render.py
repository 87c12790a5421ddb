"""`invoke render`: every script and file an offline plan would send, for review."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import steps as steps_module
from ..apply import DEFAULT_LOCK_WAIT, locked_command, step_script
from ..config import load_or_refuse as load
from ..domains import JailUser
from ..errors import EXIT_OK
from ..facts import build_script
from ..output import console
from ..planner import facts_request, make_plan, offline_facts


def render_command(env: str, out_dir: str) -> int:
    """Write every artifact an offline plan would send, for review."""
    config = load(env)
    selected = steps_module.select(None)
    plan = make_plan(config, offline_facts(config, selected), selected, register=True)
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

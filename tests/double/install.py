"""Put the FreeBSD test double on a PATH and give it a fresh host state.

`install_double` writes one POSIX sh wrapper per command into a bin dir (put it
first on PATH of the throwaway host); `seed_state` writes state.json;
`read_calls` reads back calls.log so a test can prove which commands ran.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.double import freebsd_double

DOUBLE = Path(freebsd_double.__file__).resolve()

#: Every command the double answers.
COMMANDS: tuple[str, ...] = freebsd_double.COMMANDS


def install_double(
    bin_dir: Path,
    python: str | None = None,
    state_dir: str | None = None,
    seen_as: str | None = None,
) -> None:
    """Write an executable sh wrapper per command: `exec PYTHON freebsd_double.py CMD "$@"`.

    With `seen_as` (bin_dir's path inside a test host), the program is copied next to
    bin_dir and the wrappers name it by that path: a test host hides /tmp, where a
    checkout may live. The interpreter is the real file behind sys.executable (a venv's
    python is a symlink into the base install), as the double needs only the stdlib.
    """
    python = python or os.path.realpath(sys.executable)
    bin_dir.mkdir(parents=True, exist_ok=True)
    program = str(DOUBLE)
    if seen_as is not None:
        shutil.copy2(DOUBLE, bin_dir.parent / DOUBLE.name)
        program = f"{Path(seen_as).parent}/{DOUBLE.name}"
    for command in COMMANDS:
        lines = ["#!/bin/sh", f"# {command}: FreeBSD test double (tests/double), not FreeBSD."]
        if state_dir is not None:
            lines.append(f"FREEBSD_DOUBLE_STATE={shlex.quote(state_dir)}")
            lines.append("export FREEBSD_DOUBLE_STATE")
        lines.append(f'exec {shlex.quote(python)} {shlex.quote(program)} {command} "$@"')
        wrapper = bin_dir / command
        wrapper.write_text("\n".join(lines) + "\n", encoding="utf-8")
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


Run = Callable[..., subprocess.CompletedProcess[str]]


def runner(state_dir: Path, root: Path) -> Run:
    """Run the double directly (no wrapper), with its state and root in test folders."""
    env = {**os.environ, "FREEBSD_DOUBLE_STATE": str(state_dir), "FREEBSD_DOUBLE_ROOT": str(root)}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(DOUBLE), *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    return run


def default_state() -> dict[str, Any]:
    """A fresh FreeBSD 14.3-RELEASE amd64 host: testhost, vtnet0 192.0.2.10/24, no bastille."""
    return freebsd_double.build_default_state()


def seed_state(state_dir: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Deep-merge overrides into default_state() and write state_dir/state.json."""
    state = freebsd_double.deep_merge(default_state(), overrides or {})
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, state_dir / "state.json")
    return state


def read_calls(state_dir: Path) -> list[dict[str, Any]]:
    """Every logged invocation, oldest first: [{"argv": [...], "rc": N}, ...]."""
    log = state_dir / "calls.log"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]

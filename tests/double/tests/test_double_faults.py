"""The double's fault hook: calls counted under lockf, sleep, and disconnect's refusals.

The disconnect itself needs an sshd session: tests/integration/test_faults.py drives it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.double.install import DOUBLE, Run, runner, seed_state


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Path]:
    state, root = tmp_path / "state", tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    seed_state(state)
    return {"state": state, "root": root}


@pytest.fixture
def run(host: dict[str, Path]) -> Run:
    return runner(host["state"], host["root"])


def fault(host: dict[str, Path], spec: Any) -> None:
    seed_state(host["state"], {"fault": spec})


def under_lockf(run: Run, host: dict[str, Path], script: str) -> int:
    """`lockf LOCK /bin/sh -c SCRIPT`, the double's lockf, as warden's step scripts run."""
    return run("lockf", "-k", "/lock", "/bin/sh", "-c", script).returncode


def test_under_lockf_counts_only_the_calls_a_lockf_runs(run: Run, host: dict[str, Path]) -> None:
    fault(host, {"at": 2, "under": "lockf", "action": "exit", "rc": 3, "stderr": "cut"})
    double = f"python3 {DOUBLE}"
    assert run("uname").returncode == 0  # outside any lockf: not counted
    assert under_lockf(run, host, f"{double} uname && {double} sysrc -a") == 3
    log = [
        json.loads(line) for line in (host["state"] / "calls.lockf.log").read_text().splitlines()
    ]
    assert [(c["n"], c["argv"][0], c["lockf"] is None) for c in log] == [
        (None, "uname", True),
        (None, "lockf", True),
        (1, "uname", False),
        (2, "sysrc", False),
    ]
    assert log[2]["lockf"] == log[3]["lockf"]
    assert (host["state"] / "calls.lockf.seq").read_text() == "2\n"


def test_a_sleep_fault_delays_the_call_then_lets_it_act(run: Run, host: dict[str, Path]) -> None:
    fault(host, {"at": 1, "action": "sleep", "seconds": 0.5})
    started = time.monotonic()
    result = run("sysrc", "-f", "/etc/x.conf", "a=b")
    assert time.monotonic() - started >= 0.5
    assert result.returncode == 0
    assert (host["root"] / "etc" / "x.conf").read_text() == 'a="b"\n'


def test_disconnect_outside_an_ssh_session_is_not_modelled(run: Run, host: dict[str, Path]) -> None:
    fault(host, {"at": 1, "action": "disconnect"})
    result = run("uname")
    assert result.returncode == 64
    assert "outside an SSH session" in result.stderr


@pytest.mark.parametrize(
    "spec",
    [
        {"at": 1, "action": "sleep"},  # no seconds
        {"at": 1, "action": "exit", "seconds": 1},
        {"at": 1, "action": "disconnect", "rc": 1},
        {"argv": ["uname"], "under": "lockf", "action": "exit"},
        {"at": 1, "under": "flock", "action": "exit"},
        {"at": 1, "action": "reboot"},
    ],
)
def test_a_fault_spec_it_does_not_model_exits_64(
    run: Run, host: dict[str, Path], spec: dict[str, Any]
) -> None:
    fault(host, spec)
    result = run("uname")
    assert result.returncode == 64
    assert "fault spec" in result.stderr

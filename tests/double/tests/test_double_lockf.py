"""The double's lockf(1) really locks (FreeBSD 14 usr.bin/lockf, reference/outputs.md §11)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.double.install import seed_state

DOUBLE = Path(__file__).resolve().parents[1] / "freebsd_double.py"
LOCK = "/var/run/warden.lock"

Lockf = Callable[..., subprocess.CompletedProcess[str]]
Holder = tuple[subprocess.Popen[bytes], Path]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    seed_state(tmp_path / "state")
    (tmp_path / "root" / "var" / "run").mkdir(parents=True)
    return {
        **os.environ,
        "FREEBSD_DOUBLE_STATE": str(tmp_path / "state"),
        "FREEBSD_DOUBLE_ROOT": str(tmp_path / "root"),
    }


@pytest.fixture
def lockf(env: dict[str, str]) -> Lockf:
    def _run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(DOUBLE), "lockf", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    return _run


@pytest.fixture
def holder(env: dict[str, str], tmp_path: Path) -> Iterator[Holder]:
    """A concurrent `lockf -k LOCK sh -c ...` that holds the lock until killed."""
    ready, pidfile = tmp_path / "ready", tmp_path / "child.pid"
    script = f"echo $$ > {pidfile}; touch {ready}; exec sleep 60"
    proc = subprocess.Popen(
        [sys.executable, str(DOUBLE), "lockf", "-k", LOCK, "sh", "-c", script], env=env
    )
    deadline = time.monotonic() + 10
    while not ready.exists():
        assert time.monotonic() < deadline, "holder never took the lock"
        time.sleep(0.02)
    yield proc, pidfile
    for pid in (proc.pid, int(pidfile.read_text())):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=10)


def test_lockf_t0_on_a_held_lock_exits_75_with_the_message(lockf: Lockf, holder: Holder) -> None:
    result = lockf("-t", "0", LOCK, "true")
    assert (result.stdout, result.stderr, result.returncode) == (
        "",
        f"lockf: {LOCK}: already locked\n",
        75,
    )


def test_lockf_s_is_silent_but_still_exits_75(lockf: Lockf, holder: Holder) -> None:
    result = lockf("-s", "-t", "0", LOCK, "true")
    assert (result.stderr, result.returncode) == ("", 75)


def test_lockf_t_waits_that_long_before_giving_up(lockf: Lockf, holder: Holder) -> None:
    started = time.monotonic()
    assert lockf("-t", "1", LOCK, "true").returncode == 75
    assert time.monotonic() - started >= 0.9


def test_lockf_releases_the_lock_when_its_process_is_killed(lockf: Lockf, holder: Holder) -> None:
    proc, pidfile = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    child = int(pidfile.read_text())
    os.kill(child, 0)  # the command itself is still running, without the lock
    result = lockf("-t", "2", LOCK, "echo", "got it")
    assert (result.stdout, result.returncode) == ("got it\n", 0)


def test_lockf_returns_the_command_status_and_unlinks_without_k(
    lockf: Lockf, env: dict[str, str]
) -> None:
    path = Path(env["FREEBSD_DOUBLE_ROOT"]) / LOCK.lstrip("/")
    assert lockf(LOCK, "sh", "-c", "exit 3").returncode == 3
    assert not path.exists()
    assert lockf("-k", LOCK, "true").returncode == 0
    assert path.exists()


def test_lockf_n_on_a_missing_file_exits_69(lockf: Lockf) -> None:
    result = lockf("-n", LOCK, "true")
    assert (result.stderr, result.returncode) == (f"lockf: {LOCK}: No such file or directory\n", 69)


def test_lockf_passes_stdin_through_to_the_command(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, str(DOUBLE), "lockf", LOCK, "cat"],
        env=env,
        input="hello\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.stdout, result.returncode) == ("hello\n", 0)


def test_lockf_without_a_command_is_a_usage_error(lockf: Lockf) -> None:
    result = lockf(LOCK)
    assert result.returncode == 64
    assert result.stderr.startswith("usage: lockf")

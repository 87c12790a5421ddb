"""The double's server answers a call as the direct run would, as the kernel's caller.

tests/double/server.py and client.c: the server forks a worker per call that becomes
the caller (uid and groups from the socket, directory, umask and limits from /proc);
the commands that must run in the caller's own session are sent back to it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.double import install

DOUBLE = install.DOUBLE
SERVER = install.DOUBLE.parent / "server.py"
NOBODY = 65534

Call = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder an unprivileged caller can reach (pytest's tmp_path is root's alone)."""
    made = Path(tempfile.mkdtemp(prefix="double-server-"))
    made.chmod(0o755)
    try:
        yield made
    finally:
        shutil.rmtree(made)


@pytest.fixture
def double_env(base: Path) -> dict[str, str]:
    install.seed_state(base / "state")
    (base / "root" / "etc").mkdir(parents=True)
    (base / "root" / "var" / "run").mkdir(parents=True)
    for name in ("calls.seq", "calls.log", "state.lock"):
        (base / "state" / name).touch()
    for path in base.rglob("*"):
        path.chmod(0o777 if path.is_dir() else 0o666)  # the nobody caller logs its calls too
    return {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "FREEBSD_DOUBLE_STATE": str(base / "state"),
        "FREEBSD_DOUBLE_ROOT": str(base / "root"),
    }


@pytest.fixture
def server(base: Path) -> Iterator[Path]:
    socket_path = base / "double.sock"
    proc = subprocess.Popen(
        [os.path.realpath(sys.executable), str(SERVER), str(socket_path)],
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not socket_path.exists() and time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited"
        time.sleep(0.02)
    try:
        yield socket_path
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def client() -> Path:
    built = install.client_binary()
    assert built is not None, "no C compiler: .ci/install installs gcc"
    return built


def _runner(argv0: list[str], env: dict[str, str]) -> Call:
    def call(
        *argv: str, uid: int = 0, cwd: str = "/", stdin: str = ""
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*argv0, *argv],
            env=env,
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
            user=uid,
            group=uid if uid else 0,
            extra_groups=[] if uid else None,
        )

    return call


@pytest.fixture
def direct(double_env: dict[str, str]) -> Call:
    return _runner([os.path.realpath(sys.executable), str(DOUBLE)], double_env)


@pytest.fixture
def served(double_env: dict[str, str], server: Path, client: Path) -> Call:
    """Through the server only: the client's own fallback interpreter does not exist."""
    return _runner([str(client), str(server), "/nonexistent/python3", str(DOUBLE)], double_env)


CALLS = (
    ("uname", "-r"),
    ("freebsd-version", "-ku"),
    ("sysctl", "-n", "kern.ostype"),
    ("sysrc", "-n", "no_such_variable"),  # exit 1, a message on stderr
    ("ifconfig", "-l"),
    ("kldstat", "-q", "-m", "pf"),
    ("pkg", "info", "--no-such-flag"),  # not modelled: exit 64
)


@pytest.mark.parametrize("argv", CALLS, ids=" ".join)
def test_a_call_through_the_server_prints_and_exits_as_the_direct_run(
    argv: tuple[str, ...], direct: Call, served: Call
) -> None:
    want = direct(*argv)
    got = served(*argv)
    assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)


def test_the_worker_has_the_callers_uid_from_the_kernel(served: Call) -> None:
    as_nobody = served("pkg", "install", "-y", "git", uid=NOBODY)
    as_root = served("pkg", "install", "-y", "git")
    assert as_root.returncode == 0, as_root.stderr
    assert as_nobody.returncode == 1
    assert "Insufficient privileges" in as_nobody.stderr


def test_the_worker_writes_in_the_callers_directory_with_its_umask(
    served: Call, base: Path
) -> None:
    work = base / "work"
    work.mkdir(mode=0o777)
    work.chmod(0o777)
    done = served("sysrc", "-f", "relative.conf", "x=1", cwd=str(work), uid=NOBODY)
    assert done.returncode == 0, done.stderr
    made = work / "relative.conf"
    assert (made.stat().st_uid, made.stat().st_mode & 0o777) == (NOBODY, 0o644)


def test_the_worker_reads_the_callers_stdin(served: Call, double_env: dict[str, str]) -> None:
    # pkg's confirmation is read from stdin (pkg install without -y)
    declined = served("pkg", "install", "git", stdin="n\n")
    accepted = served("pkg", "install", "git", stdin="y\n")
    state = json.loads(Path(double_env["FREEBSD_DOUBLE_STATE"], "state.json").read_text())
    assert (declined.returncode, accepted.returncode) == (1, 0)
    assert "git" in state["packages"]


def test_lockf_runs_in_the_callers_own_process_not_in_the_server(
    client: Path, server: Path, double_env: dict[str, str]
) -> None:
    proc = subprocess.Popen(
        [
            str(client),
            str(server),
            os.path.realpath(sys.executable),
            str(DOUBLE),
            "lockf",
            "-k",
            "/var/run/test.lock",
            "sh",
            "-c",
            "echo $PPID",
        ],
        env=double_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert int(out) == proc.pid  # the client exec'd the double: lockf is its child's parent


def test_a_fault_under_lockf_sees_the_callers_lockf_through_the_server(
    client: Path, server: Path, double_env: dict[str, str]
) -> None:
    state_file = Path(double_env["FREEBSD_DOUBLE_STATE"], "state.json")
    state = json.loads(state_file.read_text())
    state["fault"] = {"at": 1, "under": "lockf", "action": "exit", "rc": 9}
    state_file.write_text(json.dumps(state))
    command = [str(client), str(server), os.path.realpath(sys.executable), str(DOUBLE)]
    inner = " ".join([*command, "uname", "-r"])
    done = subprocess.run(
        [*command, "lockf", "-k", "/var/run/test.lock", "sh", "-c", inner],
        env=double_env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 9  # the uname under lockf is lockf's call 1
    outside = subprocess.run(
        [*command, "uname", "-r"], env=double_env, capture_output=True, text=True, timeout=30
    )
    assert (outside.returncode, outside.stdout) == (0, "14.3-RELEASE\n")


def test_without_a_server_the_client_runs_the_double_itself(
    client: Path, double_env: dict[str, str], base: Path, direct: Call
) -> None:
    done = _runner(
        [str(client), str(base / "no-server.sock"), os.path.realpath(sys.executable), str(DOUBLE)],
        double_env,
    )("sysrc", "-n", "no_such_variable")
    want = direct("sysrc", "-n", "no_such_variable")
    assert (done.returncode, done.stderr) == (want.returncode, want.stderr)


def test_bastille_reads_are_served_and_its_other_subcommands_run_in_the_callers_session(
    served: Call,
) -> None:
    # `served` has no interpreter of its own: a call sent back to the caller fails with 70
    for argv in (("--version",), ("list", "jails")):
        read = served("bastille", *argv)
        assert (read.returncode, read.stderr) == (127, "bastille: not found\n")
    created = served("bastille", "create", "x", "14.3-RELEASE", "10.0.0.2")
    assert created.returncode == 70
    assert "/nonexistent/python3" in created.stderr

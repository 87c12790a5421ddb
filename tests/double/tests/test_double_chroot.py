"""The double's chroot(8) is FreeBSD's (docs/freebsd/sources.md §1), not Debian's: -u/-g/-G
set exactly the uid, gid and groups named, nothing of the user's runs, the environment
stays the caller's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.double.install import Run, runner, seed_state


@pytest.fixture
def run(tmp_path: Path) -> Run:
    if os.geteuid() != 0:
        pytest.fail("chroot -u needs root (euid 0): run the tests as root")
    seed_state(tmp_path / "state")
    return runner(tmp_path / "state", Path("/"))


def test_user_group_and_groups_are_exactly_the_ones_named(run: Run) -> None:
    result = run("chroot", "-u", "nobody", "-g", "nogroup", "-G", "nogroup", "/", "id")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:3] == [
        "uid=65534(nobody)",
        "gid=65534(nogroup)",
        "groups=65534(nogroup)",
    ]


def test_without_g_and_capital_g_roots_groups_stay_as_on_freebsd(run: Run) -> None:
    result = run("chroot", "-u", "nobody", "/", "id", "-G")
    assert result.returncode == 0, result.stderr
    assert "0" in result.stdout.split()  # root's gid and groups: why warden always gives -g -G


def test_the_command_is_exec_d_with_the_callers_environment(run: Run) -> None:
    result = run("chroot", "-u", "nobody", "-g", "nogroup", "-G", "nogroup", "/",
                 "/bin/sh", "-c", 'echo "$FREEBSD_DOUBLE_STATE"')  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip().endswith("/state")


def test_an_unknown_user_fails_with_freebsds_message_and_runs_nothing(run: Run) -> None:
    result = run("chroot", "-u", "no-such-user-here", "/", "touch", "/tmp/chroot-ran")
    assert (result.returncode, result.stderr.strip()) == (
        1,
        "chroot: no such user 'no-such-user-here'",
    )
    assert not Path("/tmp/chroot-ran").exists()


def test_unmodelled_flags_exit_64(run: Run) -> None:
    assert run("chroot", "-n", "/", "true").returncode == 64
    assert run("chroot", "--userspec=nobody", "/", "true").returncode == 64
    assert run("chroot", "-u", "", "/", "true").returncode == 1

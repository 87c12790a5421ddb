"""The double's `pkg install` prints pkg's lines and leaves what later commands need."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.double.install import seed_state

DOUBLE = Path(__file__).resolve().parents[1] / "freebsd_double.py"
PkgRun = Callable[..., subprocess.CompletedProcess[str]]

UPDATE = [
    "Updating FreeBSD repository catalogue...",
    "FreeBSD repository is up to date.",
    "All repositories are up to date.",
]


@pytest.fixture
def run(tmp_path: Path) -> PkgRun:
    if os.geteuid() != 0:
        pytest.fail('pkg install needs root ("Insufficient privileges" otherwise): run as root')
    seed_state(tmp_path / "state")
    (tmp_path / "root").mkdir()

    def run(*argv: str, env: dict[str, str] | None = None, stdin: str = "") -> Any:
        full = {k: v for k, v in os.environ.items() if k != "ASSUME_ALWAYS_YES"}
        full.update(FREEBSD_DOUBLE_STATE=str(tmp_path / "state"))
        full.update(FREEBSD_DOUBLE_ROOT=str(tmp_path / "root"), **(env or {}))
        return subprocess.run(
            [sys.executable, str(DOUBLE), *argv],
            env=full,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=30,
        )

    return run


def state(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "state" / "state.json").read_text())
    return data


def test_install_y_prints_the_summary_and_records_bastille_for_later_commands(
    run: PkgRun, tmp_path: Path
) -> None:
    result = run("pkg", "install", "-y", "bastille")
    assert (result.stderr, result.returncode) == ("", 0)
    assert result.stdout.splitlines() == [
        *UPDATE,
        "The following 1 package(s) will be affected (of 1 checked):",
        "",
        "New packages to be INSTALLED:",
        "\tbastille: 1.4.4",
        "",
        "Number of packages to be installed: 1",
        "Checking integrity... done (0 conflicting)",
        "[1/1] Installing bastille-1.4.4...",
        "[1/1] Extracting bastille-1.4.4: 100%",
    ]
    assert run("pkg", "info", "-e", "bastille").returncode == 0
    assert run("pkg", "info", "bastille").stdout.splitlines()[4] == (
        "Origin         : sysutils/bastille"
    )
    assert run("bastille", "--version").stderr == "1.4.4\n"  # 1.4.x: on stderr
    conf = (tmp_path / "root" / "usr/local/etc/bastille/bastille.conf").read_text()
    assert 'bastille_prefix="/usr/local/bastille"\n' in conf
    assert 'bastille_jailsdir="${bastille_prefix}/jails"\n' in conf
    assert 'bastille_network_vnet_type="if_bridge"\n' in conf


def test_an_existing_bastille_conf_is_kept(run: PkgRun, tmp_path: Path) -> None:
    conf = tmp_path / "root" / "usr/local/etc/bastille/bastille.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text('bastille_prefix="/data/bastille"\n')
    assert run("pkg", "install", "-y", "bastille").returncode == 0
    assert conf.read_text() == 'bastille_prefix="/data/bastille"\n'
    assert (conf.parent / "bastille.conf.sample").exists()


def test_installing_what_is_installed_says_so_and_exits_0_even_with_q(run: PkgRun) -> None:
    run("pkg", "install", "-y", "bastille")
    again = run("pkg", "install", "-y", "bastille")
    assert (again.stdout.splitlines(), again.returncode) == (
        [
            *UPDATE,
            "Checking integrity... done (0 conflicting)",
            "The most recent versions of packages are already installed",
        ],
        0,
    )
    quiet = run("pkg", "install", "-qy", "bastille")
    assert (quiet.stdout, quiet.returncode) == (
        "The most recent versions of packages are already installed\n",
        0,
    )


def test_a_name_not_in_the_catalog_fails_with_pkgs_message_and_installs_nothing(
    run: PkgRun, tmp_path: Path
) -> None:
    result = run("pkg", "install", "-y", "tmux", "nosuchpkg")
    assert result.stderr == (
        "pkg: No packages available to install matching 'nosuchpkg' have been found in the "
        "repositories\n"
    )
    assert result.returncode == 1
    assert "tmux" not in state(tmp_path)["packages"]


def test_without_y_pkg_asks_and_eof_or_no_means_nothing_happens_and_rc_1(
    run: PkgRun, tmp_path: Path
) -> None:
    for answer in ("", "n\n", "\n"):
        result = run("pkg", "install", "vm-bhyve", stdin=answer)
        assert result.stdout.endswith(
            "Number of packages to be installed: 1\n\nProceed with this action? [y/N]: "
        )
        assert result.returncode == 1
    assert "vm-bhyve" not in state(tmp_path)["packages"]
    yes = run("pkg", "install", "vm-bhyve", stdin="maybe\ny\n")
    assert "Please type 'Y[es]' or 'N[o]' to make a selection\n" in yes.stdout
    assert yes.returncode == 0
    assert state(tmp_path)["packages"]["vm-bhyve"]["version"] == "1.7.5"


def test_assume_always_yes_in_the_environment_answers_yes(run: PkgRun, tmp_path: Path) -> None:
    result = run("pkg", "install", "git", env={"ASSUME_ALWAYS_YES": "yes"})
    assert "Proceed with this action?" not in result.stdout
    assert result.returncode == 0
    assert "git" in state(tmp_path)["packages"]


def test_q_without_y_installs_nothing_silently_with_rc_1(run: PkgRun, tmp_path: Path) -> None:
    result = run("pkg", "install", "-q", "git")
    assert (result.stdout, result.stderr, result.returncode) == ("", "", 1)
    assert "git" not in state(tmp_path)["packages"]


def test_tmux_becomes_usr_local_bin_tmux_running_the_linux_tmux(
    run: PkgRun, tmp_path: Path
) -> None:
    real = shutil.which("tmux")
    if real is None:
        pytest.skip("no tmux on this Linux host")
    assert run("pkg", "install", "-y", "tmux").returncode == 0
    link = tmp_path / "root" / "usr/local/bin/tmux"
    assert os.readlink(link) == real
    version = subprocess.run([str(link), "-V"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("tmux ")


def test_tmux_missing_on_the_linux_host_fails_loudly_before_any_change(
    run: PkgRun, tmp_path: Path
) -> None:
    result = run("pkg", "install", "-y", "tmux", env={"PATH": str(tmp_path)})
    assert result.returncode == 70
    assert result.stderr.startswith("freebsd-double: pkg install tmux: no Linux `tmux' on PATH")
    assert "tmux" not in state(tmp_path)["packages"]


def test_a_catalog_in_the_state_replaces_the_default_one(run: PkgRun, tmp_path: Path) -> None:
    seed_state(tmp_path / "state", {"pkg_catalog": {"bastille": "1.3.2.250601"}})
    assert run("pkg", "install", "-y", "bastille").returncode == 0
    assert run("bastille", "--version").stdout == "1.3.2.250601\n"  # < 1.4: stdout
    assert run("pkg", "install", "-y", "tmux").returncode == 1


def test_unmodelled_install_flags_exit_64(run: PkgRun) -> None:
    for argv in (("-r", "FreeBSD", "tmux"), ("-g", "tmu*"), ("tmu*",)):
        result = run("pkg", "install", *argv)
        assert result.returncode == 64
        assert "freebsd-double: not modelled" in result.stderr

"""A login user that is not root gets root through doas -n or sudo -n, or a clear refusal."""

from __future__ import annotations

import subprocess
from pathlib import Path

from setup.apply import locked_command
from setup.shell import RC_NOT_ROOT
from setup.transport import remote_command


def fake_bin(tmp_path: Path, *tools: str) -> Path:
    """`id` says uid 1001; each tool logs its arguments and runs the rest of them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").write_text('#!/bin/sh\n[ "$1" = -u ] && echo 1001\n')
    (bin_dir / "true").write_text("#!/bin/sh\nexit 0\n")
    for tool in tools:
        (bin_dir / tool).write_text(
            f'#!/bin/sh\necho "{tool} $*" >> {tmp_path}/log\n[ "$1" = -n ] && shift\nexec "$@"\n'
        )
    for path in bin_dir.iterdir():
        path.chmod(0o755)
    return bin_dir


def run_as_login_user(bin_dir: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", remote_command()],
        input=script,
        capture_output=True,
        text=True,
        env={"PATH": str(bin_dir)},
    )


def test_doas_is_used_without_a_password_prompt_when_present(tmp_path: Path) -> None:
    result = run_as_login_user(fake_bin(tmp_path, "doas", "sudo"), "echo ran\n")
    assert result.stdout == "ran\n"
    assert (tmp_path / "log").read_text() == "doas -n true\ndoas -n /bin/sh -c /bin/sh -s\n"


def test_sudo_n_is_used_when_doas_is_absent(tmp_path: Path) -> None:
    result = run_as_login_user(fake_bin(tmp_path, "sudo"), "echo ran\n")
    assert result.stdout == "ran\n"
    assert (tmp_path / "log").read_text() == "sudo -n true\nsudo -n /bin/sh -c /bin/sh -s\n"


def test_without_doas_or_sudo_the_run_stops_with_the_reason(tmp_path: Path) -> None:
    result = run_as_login_user(fake_bin(tmp_path), "echo ran\n")
    assert result.returncode == RC_NOT_ROOT
    assert result.stdout == ""
    assert "neither doas -n nor sudo -n" in result.stderr


def test_a_doas_that_wants_a_password_falls_through_to_sudo(tmp_path: Path) -> None:
    bin_dir = fake_bin(tmp_path, "sudo")
    (bin_dir / "doas").write_text('#!/bin/sh\necho "doas: Authentication required" >&2\nexit 1\n')
    (bin_dir / "doas").chmod(0o755)
    result = run_as_login_user(bin_dir, "echo ran\n")
    assert result.stdout == "ran\n"
    assert (tmp_path / "log").read_text().endswith("sudo -n /bin/sh -c /bin/sh -s\n")


def test_the_exec_line_survives_a_csh_login_shell_one_line_no_bang() -> None:
    line = remote_command(locked_command(30))
    assert "\n" not in line and "!" not in line

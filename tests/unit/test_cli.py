"""The command line keeps its contract: tasks, help, exit codes, --offline, --json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from setup.commands import guarded
from setup.commands.setup import plan_command
from setup.config import KNOWN_KEYS

ROOT = Path(__file__).resolve().parents[2]
GOOD = "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\n"


def invoke(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_invoke_list_shows_every_command_with_its_help() -> None:
    listing = invoke("--list").stdout
    for name in ("setup", "plan", "render", "agents", "test"):
        line = next(line for line in listing.splitlines() if line.strip().startswith(name + " "))
        assert len(line.split()) > 2, f"{name} has no help text"


def test_setup_help_documents_every_option() -> None:
    text = invoke("setup", "--help").stdout
    for option in ("--env", "--step", "--host", "--dry-run", "--yes", "--json", "--accept-new"):
        assert option in text


def test_the_offline_plan_of_the_example_agent_exits_0_and_says_it_assumed_a_host() -> None:
    result = invoke("plan", "--env", str(ROOT / ".env.example"), "--offline")
    assert result.returncode == 0, result.stderr
    assert "fresh FreeBSD" in result.stdout
    assert "record agent atlas in the host registry" in result.stdout


def test_the_offline_plan_as_json_lists_steps_and_changes() -> None:
    result = invoke("plan", "--env", str(ROOT / ".env.example"), "--offline", "--json")
    data = json.loads(result.stdout)
    assert data["offline"] is True and data["refused"] is False
    steps = ["preflight", "register", "host", "network", "pf", "user"]
    steps += ["db", "git", "cms", "ollama", "llama-cpp", "soul", "service", "bhyve"]
    assert [s["step"] for s in data["steps"]] == steps
    idle = [s["step"] for s in data["steps"][1:] if not s["changes"]]
    assert idle == ["llama-cpp", "bhyve"], "every step but a role not in WARDEN_ROLES and bhyve"
    pf = next(s for s in data["steps"] if s["step"] == "pf")
    diffs = [f["diff"] for change in pf["changes"] for f in change["files"]]
    assert any("+nat on $warden_ext_if" in diff for diff in diffs)


def test_invokes_own_dry_flag_is_refused(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(GOOD)
    result = invoke("--dry", "setup", "--env", str(env))
    assert result.returncode == 2
    assert "--dry-run" in result.stderr


def test_a_bad_value_exits_2_naming_file_key_and_value(tmp_path: Path) -> None:
    env = tmp_path / "agent.env"
    env.write_text("AGENT_NAME=atlas\nAGENT_SUBNET_BASE=8.8.8\n")
    result = invoke("plan", "--env", str(env), "--offline")
    assert result.returncode == 2
    assert str(env) in result.stderr and "AGENT_SUBNET_BASE" in result.stderr
    assert "8.8.8" in result.stderr


def test_an_unknown_step_exits_2_and_lists_the_available_ones(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(GOOD)
    result = invoke("setup", "--env", str(env), "--step", "nope")
    assert result.returncode == 2
    assert "available steps: preflight" in result.stderr


def test_render_writes_scripts_and_files_for_review(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(GOOD)
    out = tmp_path / "out"
    assert invoke("render", "--env", str(env), "--out", str(out)).returncode == 0
    assert (out / "scripts" / "facts.sh").is_file()
    assert (
        json.loads((out / "files/var/db/warden/agents/atlas.json").read_text())["agent"] == "atlas"
    )


def test_a_bad_host_option_is_refused_before_any_connection(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(GOOD)
    result = invoke("plan", "--env", str(env), "--host", "a;rm -rf /")
    assert result.returncode == 2 and "is not a host" in result.stderr


@pytest.mark.parametrize("width", ["0", "65", "x", "-1", "8;reboot"])
def test_a_parallel_width_outside_1_to_64_exits_2_before_any_connection(
    tmp_path: Path, width: str
) -> None:
    env = tmp_path / ".env"
    env.write_text(GOOD)
    for task in ("setup", "plan", "status"):
        result = invoke(
            task, "--env", str(env), "--host", "unreachable.invalid", "--parallel", width
        )
        assert result.returncode == 2, (task, result.stderr)
        assert "--parallel" in result.stderr


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=st.sampled_from(sorted(KNOWN_KEYS)), value=st.text(max_size=40))
def test_any_value_of_any_key_gives_exit_0_or_2_never_a_traceback(
    tmp_path: Path, key: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "fuzz.env"
    quoted = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    lines = [line for line in GOOD.splitlines() if not line.startswith(key + "=")]
    env.write_text("\n".join([*lines, f"{key}={quoted}"]) + "\n", encoding="utf-8")
    code = guarded(lambda: plan_command(str(env), None, True, True, False))
    capsys.readouterr()
    assert code in (0, 2)


def test_error_messages_keep_brackets_and_are_not_wrapped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from setup.errors import Refused

    def fail() -> int:
        raise Refused("x" * 120 + " use [user@]host[:port]")

    assert guarded(fail) == 2
    err = capsys.readouterr().err
    assert "[user@]host[:port]" in err and err.count("\n") == 1


def test_host_text_cannot_drive_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from setup.errors import HostError

    def fail() -> int:
        raise HostError("banner: \x1b[2J\x1b[41mALL GOOD\x07")

    assert guarded(fail) == 3
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b[2J" in err


def test_an_unexpected_exception_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def bug() -> int:
        raise KeyError("oops")

    assert guarded(bug) == 1
    err = capsys.readouterr().err
    assert "internal error: KeyError" in err and "Traceback" not in err


@pytest.mark.parametrize("target", ["h:99999", "h:0", "a b", "-oProxyCommand=x"])
def test_a_bad_target_is_refused(target: str) -> None:
    from setup.errors import Refused
    from setup.inventory import check_target

    with pytest.raises(Refused):
        check_target(target, "--host")


@pytest.mark.parametrize("target", ["local", "web1", "root@10.0.0.1:2222", "[::1]", "[::1]:22"])
def test_a_good_target_is_accepted(target: str) -> None:
    from setup.inventory import check_target

    assert check_target(target, "--host") == target

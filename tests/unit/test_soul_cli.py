"""soul.new and soul.check through the real invoke command line."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from setup.errors import Refused
from setup.soul import check_soul
from setup.soul.scaffold import scaffold

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_new_soul_passes_the_check_and_names_its_agent(tmp_path: Path) -> None:
    made = scaffold("zeus", tmp_path / "zeus", datetime(2025, 1, 1, tzinfo=UTC))
    report = check_soul(made, None)
    assert report.findings == () and report.agent == "zeus"
    assert "You are Zeus." in (made / "adapters" / "claude-code.md").read_text()
    assert report.manifest is not None and report.manifest.privacy.import_memories is False


def test_a_bad_name_is_refused_with_agent_names_own_reason(tmp_path: Path) -> None:
    with pytest.raises(Refused, match=r"NAME='pf'.*already used by FreeBSD"):
        scaffold("pf", tmp_path / "pf")
    assert not (tmp_path / "pf").exists()


def test_invoke_soul_new_creates_a_soul_that_invoke_soul_check_accepts(tmp_path: Path) -> None:
    created = invoke("soul.new", "hermes", "--dest", str(tmp_path / "hermes"))
    assert created.returncode == 0, created.stderr
    assert "passes soul.check" in created.stdout
    checked = invoke("soul.check", str(tmp_path / "hermes"), "--json")
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout)["ok"] is True


def test_invoke_soul_new_defaults_to_souls_name_under_the_working_directory(
    tmp_path: Path,
) -> None:
    result = invoke("soul.new", "pi", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "souls" / "pi" / "manifest.json").is_file()


def test_invoke_soul_new_never_overwrites_a_directory(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    result = invoke("soul.new", "atlas", "--dest", str(tmp_path / "taken"))
    assert result.returncode == 2
    assert "already exists" in result.stderr
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["mine.txt"]


def test_invoke_soul_check_refuses_a_soul_with_a_secret_and_exits_2(tmp_path: Path) -> None:
    scaffold("atlas", tmp_path / "s")
    key = "AKIA" + "QX7RT2MZ5VW3LPK4"
    with (tmp_path / "s" / "USER.md").open("a") as handle:
        handle.write(f"key {key}\n")
    result = invoke("soul.check", str(tmp_path / "s"))
    assert result.returncode == 2
    assert "secret" in result.stdout and "AWS Access Key" in result.stdout
    assert key not in result.stdout + result.stderr


def test_invoke_soul_check_with_env_only_checks_the_local_soul_repo(tmp_path: Path) -> None:
    scaffold("atlas", tmp_path / "soul")
    env = tmp_path / ".env"
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    env.write_text(text.replace("https://git.example.org/atlas/soul.git", str(tmp_path / "soul")))
    result = invoke("soul.check", "--env", str(env))
    assert result.returncode == 0, result.stderr
    assert "agent atlas" in result.stdout and "clean" in result.stdout


def test_invoke_soul_check_without_path_or_env_is_refused_by_the_parser() -> None:
    result = invoke("soul.check")
    assert result.returncode != 0
    assert "'path'" in result.stderr


def test_invoke_list_keeps_every_task_and_adds_the_soul_ones() -> None:
    listing = invoke("--list").stdout
    names = {line.split()[0] for line in listing.splitlines() if line.startswith("  ")}
    for name in ("agents", "plan", "render", "setup", "test", "soul.check", "soul.new"):
        assert name in names, listing


def test_soul_check_help_documents_every_option() -> None:
    text = invoke("--help", "soul.check").stdout
    for option in ("--env", "--json", "--path"):
        assert option in text
    assert "usage: invoke --help soul.check" in invoke("soul.check", "--help").stderr

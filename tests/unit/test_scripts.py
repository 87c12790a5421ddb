"""Every script warden sends parses under sh, passes shellcheck and stays portable."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from setup.apply import locked_command, step_script
from setup.config import load_config
from setup.facts import build_script, fresh_host
from setup.ops import put, run
from setup.plan import Change
from setup.planner import make_plan
from setup.render import render
from setup.shell import LIBRARY
from setup.steps import select, service
from setup.transport import remote_command
from tests.portability import scan

TRICKY = "a line with $HOME and `backticks` and 'quotes' and \\ backslash\nWARDEN_EOF_x\n"


def generated_scripts() -> dict[str, str]:
    change = Change(
        "register",
        "write a file whose content looks like shell",
        ops=(
            run("mkdir", "-p", "/var/db/warden/agents"),
            put("/var/db/warden/agents/x.json", TRICKY, 0o644),
        ),
    )
    return {
        "facts": build_script(["bastille", "tmux"], ["/etc/pf.conf"])[0],
        "step": step_script("register", [change], "== /x\n{}\n\n", run_id="r", operator="o@w"),
        "put": LIBRARY + put("/etc/motd", TRICKY, 0o600).sh() + "\n",
        "remote": remote_command(locked_command(30)) + "\n",
    }


ROOT = Path(__file__).resolve().parents[2]


def step_scripts() -> dict[str, str]:
    """Every step's script of the example agent's full plan, on a local and a remote
    host (a remote pf load also arms the dead-man), plus the service's own files."""
    config = load_config(ROOT / ".env.example")
    scripts: dict[str, str] = {}
    for target in ("local", "bravo.example"):
        facts = replace(fresh_host(target), assumed=False)
        plan = make_plan(config, facts, select(None), register=True)
        for step in plan.steps:
            if step.changes:
                scripts[f"{target}:{step.name}"] = step_script(
                    step.name, step.changes, "", run_id="r", operator="o@w"
                )
    scripts["file:deadman.sh"] = render(
        "pf/deadman.sh.j2",
        state_dir="/var/db/warden/pf",
        pf_conf="/etc/pf.conf",
        journal="/var/db/warden/journal/warden.jsonl",
        lock="/var/db/warden/lock",
    ).split("\n", 1)[1]
    for target in ("bravo.example",):
        facts = replace(fresh_host(target), assumed=False)
        pf_change = make_plan(config, facts, ["pf"], register=False).changes[-1]
        assert pf_change.confirm is not None
        scripts["confirm:pf"] = f"{LIBRARY}set -eu\n_w_run=r\n{pf_change.confirm.sh()}\n"
    for path, (content, mode) in service.rendered(config).items():
        if mode & 0o111 and not path.startswith("/usr/local/etc/rc.d/"):
            scripts[f"file:{path}"] = content.split("\n", 1)[1]  # without its #! line
    return scripts


STEP_SCRIPTS = sorted(step_scripts())


@pytest.mark.parametrize("name", STEP_SCRIPTS)
def test_each_step_script_parses_passes_shellcheck_and_is_portable(
    name: str, tmp_path: Path
) -> None:
    text = step_scripts()[name]
    parsed = subprocess.run(["sh", "-n"], input=text.encode(), capture_output=True)
    assert parsed.returncode == 0, parsed.stderr.decode()
    script = tmp_path / "step.sh"
    script.write_text("#!/bin/sh\n" + text)
    checked = subprocess.run(
        ["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout
    assert scan(text) == []


def test_the_remote_pf_script_arms_the_dead_man_and_the_local_one_does_not() -> None:
    scripts = step_scripts()
    assert "deadman.sh" in scripts["bravo.example:pf"]
    assert "deadman.sh" not in scripts["local:pf"]


@pytest.mark.parametrize("name", ["facts", "step", "put", "remote"])
def test_each_generated_script_parses_under_sh(name: str) -> None:
    result = subprocess.run(
        ["sh", "-n"], input=generated_scripts()[name].encode(), capture_output=True
    )
    assert result.returncode == 0, result.stderr.decode()


@pytest.mark.parametrize("name", ["facts", "step", "put", "remote"])
def test_each_generated_script_passes_shellcheck(name: str, tmp_path: Path) -> None:
    assert shutil.which("shellcheck"), "shellcheck is required (apt-get install shellcheck)"
    script = tmp_path / f"{name}.sh"
    script.write_text("#!/bin/sh\n" + generated_scripts()[name])
    result = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("name", ["facts", "step", "put", "remote"])
def test_each_generated_script_uses_only_portable_forms(name: str) -> None:
    assert scan(generated_scripts()[name]) == []


def test_the_portability_scan_catches_gnu_only_forms() -> None:
    bad = "sed -i s/a/b/ f\nstat -c %a f\nreadlink -f x\nsha256sum f\ncp --archive a b\n"
    problems = scan(bad)
    assert len(problems) == 5
    assert any("--archive on cp" in p for p in problems)


def test_the_portability_scan_ignores_file_content_in_here_documents() -> None:
    script = "cat > f <<'EOF_1'\nsed -i is only text here\nEOF_1\n"
    assert scan(script) == []


def test_a_placed_file_keeps_shell_looking_content_byte_for_byte(tmp_path: Path) -> None:
    target = tmp_path / "conf" / "file.txt"
    group = "root" if os.getuid() == 0 else str(os.getgid())
    owner = "root" if os.getuid() == 0 else str(os.getuid())
    script = (
        LIBRARY
        + put(str(target), TRICKY, 0o640, owner, group).sh().replace(f"'{owner}'", owner)
        + "\n"
    )
    subprocess.run(["sh", "-s"], input=script.encode(), check=True)
    assert target.read_text() == TRICKY
    assert oct(target.stat().st_mode & 0o777) == oct(0o640)
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_a_file_without_a_final_newline_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="newline"):
        put("/etc/x", "no newline", 0o644).sh()


def test_a_path_with_shell_characters_is_refused() -> None:
    with pytest.raises(ValueError, match="unsafe path"):
        put("/etc/x; rm -rf /", "x\n", 0o644).sh()

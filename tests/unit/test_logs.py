"""`invoke logs` reads the right file, and a host's control characters never reach the
operator's terminal as escape sequences."""

from __future__ import annotations

from pathlib import Path

import pytest

from setup.errors import Refused
from setup.logs import log_path, safe
from tests.unit.test_steps import BASE, agent


def test_the_agent_log_and_a_role_jails_service_log_are_read_from_the_host(
    tmp_path: Path,
) -> None:
    config = agent(tmp_path, BASE)
    assert log_path(config, None) == "/var/log/warden/atlas/agent.log"
    assert log_path(config, "db") == "/usr/local/bastille/jails/atlasdb/root/var/log/messages"
    assert log_path(config, "git") == "/usr/local/bastille/jails/atlasgit/root/var/log/auth.log"


def test_a_role_the_agent_has_no_jail_for_is_refused_naming_its_roles(tmp_path: Path) -> None:
    config = agent(tmp_path, BASE)
    with pytest.raises(Refused, match=r"no cms jail of its own .*its role jails: db, git"):
        log_path(config, "cms")
    with pytest.raises(Refused, match="not a role; roles are db, git, cms"):
        log_path(config, "web")


def test_escape_sequences_in_a_log_line_are_shown_not_acted_on() -> None:
    assert safe("tick \x1b[2J\x07done") == "tick \\x1b[2J\\x07done"


def test_a_link_inside_a_jails_root_is_not_followed_by_host_root(tmp_path: Path) -> None:
    import os
    import subprocess

    from setup.logs import show_log

    scripts: list[str] = []

    class Recorder:
        target = "h1"

        def run(self, script: str, on_line: object = None) -> object:
            scripts.append(script)
            return type("R", (), {"rc": 0, "stderr": ""})()

    show_log(Recorder(), "/usr/local/bastille/jails/atlasdb/root/var/log/messages", False)  # type: ignore[arg-type]
    jails = tmp_path / "jails"
    (jails / "atlasdb" / "root" / "var").mkdir(parents=True)
    os.symlink("/etc", jails / "atlasdb" / "root" / "var" / "log")  # planted by root in the jail
    script = scripts[0].replace("/usr/local/bastille/jails", str(jails))
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
    assert result.returncode == 65
    assert "root/var/log is a symbolic link: not read" in result.stderr
    assert result.stdout == ""

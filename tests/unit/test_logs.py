"""`invoke logs` reads the right file, and a host's control characters never reach the
operator's terminal as escape sequences."""

from __future__ import annotations

from pathlib import Path

import pytest

from setup.domains import HostUser, JailUser, Location
from setup.errors import HostError, Refused
from setup.logs import log_path, safe
from tests.harness.agents import BASE, agent


def test_the_agent_log_is_read_as_the_agent_and_a_role_jails_log_inside_its_jail(
    tmp_path: Path,
) -> None:
    config = agent(tmp_path, BASE)
    atlas = HostUser("atlas", "atlas", "/home/atlas")
    assert log_path(config, None) == Location(atlas, "/var/log/warden/atlas/agent.log")
    assert log_path(config, "db") == Location(JailUser("atlasdb"), "/var/log/messages")
    assert log_path(config, "git") == Location(JailUser("atlasgit"), "/var/log/auth.log")


def test_a_role_the_agent_has_no_jail_for_is_refused_naming_its_roles(tmp_path: Path) -> None:
    config = agent(tmp_path, BASE)
    with pytest.raises(Refused, match=r"no cms jail of its own .*its role jails: db, git"):
        log_path(config, "cms")
    with pytest.raises(Refused, match="not a role; roles are db, git, cms"):
        log_path(config, "web")


def test_escape_sequences_in_a_log_line_are_shown_not_acted_on() -> None:
    assert safe("tick \x1b[2J\x07done") == "tick \\x1b[2J\\x07done"


def test_a_jails_log_is_read_by_tail_inside_the_jail_never_through_its_root_path() -> None:
    from setup.logs import show_log

    scripts: list[str] = []

    class Recorder:
        target = "h1"

        def run(self, script: str, on_line: object = None) -> object:
            scripts.append(script)
            return type("R", (), {"rc": 0, "stderr": "", "out": b"", "stdout": ""})()

    with pytest.raises(HostError):  # the recorder answers nothing: the read did not finish
        show_log(Recorder(), Location(JailUser("atlasdb"), "/var/log/messages"), False)  # type: ignore[arg-type]
    show_log(Recorder(), Location(JailUser("atlasdb"), "/var/log/messages"), True)  # type: ignore[arg-type]
    read, follow = scripts
    assert (
        "jexec -l -U root atlasdb /bin/sh -c " in read and "tail -n 200 /var/log/messages" in read
    )
    assert "jexec -l -U root atlasdb /bin/sh -c 'tail -n 200 -F /var/log/messages'" in follow
    assert "/usr/local/bastille/jails" not in read + follow

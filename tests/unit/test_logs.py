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

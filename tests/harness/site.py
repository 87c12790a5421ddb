"""A site for the end-to-end tests: a throwaway host as an operator has it, the
operator's workstation that reaches it, and what a setup there leaves behind.

tests/faults.py and bench/run.py prepare their hosts with these too, so a fault
sweep and a benchmark run against the same site the end-to-end tests check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.operator import Operator
from tests.testhost import TestHost, missing_preconditions

OPERATOR_PF = """# the operator's own rules
ext_if = "vtnet0"
set skip on lo0
set block-policy return
scrub in on $ext_if all fragment reassemble
nat on $ext_if inet from 192.168.50.0/24 to any -> ($ext_if:0)
block in all
pass out quick keep state
pass in on $ext_if inet proto tcp from any to ($ext_if) port ssh keep state
"""

FAKE_AGENT = """#!/bin/sh
# stands in for Claude Code: says where it runs, then ticks
echo "agent $AGENT_NAME LANG=$LANG DISPLAY_LOCALE=$DISPLAY_LOCALE"
while :; do echo "tick $AGENT_NAME"; sleep 1; done
"""


class HasHost(Protocol):  # each end-to-end module's Site
    host: TestHost


def require_test_hosts(network: bool = False) -> None:
    """Fail (or, with WARDEN_SKIP_INTEGRATION=1, skip) when throwaway hosts cannot run."""
    problem = missing_preconditions(network=network)
    if problem is None:
        return
    if os.environ.get("WARDEN_SKIP_INTEGRATION") == "1":
        pytest.skip(f"WARDEN_SKIP_INTEGRATION=1 and {problem}")
    pytest.fail(
        f"integration tests cannot run here: {problem}. "
        "Set WARDEN_SKIP_INTEGRATION=1 to skip them on this machine.",
        pytrace=False,
    )


def sh(host: TestHost, command: str) -> str:
    """Root's sh on the host: its stdout, or a failure that shows the command's output
    (TestHost.exec's own error keeps only stderr)."""
    result = host.exec(command, check=False)
    out = result.stderr.decode() + result.stdout.decode()
    assert result.returncode == 0, f"{command}: rc {result.returncode}\n{out}"
    return result.stdout.decode()


def prepared(host: TestHost) -> TestHost:
    """The operator's firewall is up, with its own rules; the fake agent is installed."""
    host.write_file("/etc/pf.conf", OPERATOR_PF)
    sh(host, "kldload pf && pfctl -f /etc/pf.conf && pfctl -e && sysrc pf_enable=YES")
    host.write_file("/usr/local/bin/fake-agent", FAKE_AGENT, mode=0o755)
    return host


def operator_for(home: Path, host: TestHost) -> Operator:
    """An operator who reaches the host as h1 and already trusts its host key, as after
    a first `ssh h1`: the tests are about warden, not about accepting a new key."""
    op = Operator(home, [("h1", host, None)])
    op.known_hosts.write_text(host.host_key_line() + "\n")
    return op


def env(operator: Operator, name: str, base: str, locale: str = "sl-SI") -> Path:
    """The agent runs the fake agent, in a locale that is not the machine's, so a test
    sees where every locale setting came from."""
    posix = locale.replace("-", "_") + ".UTF-8"
    return operator.env_file(
        name,
        base,
        extra=(
            f"DISPLAY_LOCALE={locale}\nASSISTANT_LOCALE={locale}\nSYSTEM_LOCALE={posix}\n"
            "WARDEN_AGENT_COMMAND=/usr/local/bin/fake-agent\n"
        ),
    )


def setup_json(operator: Operator, env_file: Path) -> dict[str, Any]:
    """`invoke setup --yes --json`, which must succeed; its report. The failure shows the
    ends of both streams: a role jail's setup prints more than a test report can hold."""
    result = operator.warden("setup", "--env", str(env_file), "--yes", "--json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def agent_dsn(site: HasHost, agent: str = "atlas") -> str:
    """Read where the agent reads it (its credentials file), so a test connects with
    what the agent would connect with."""
    path = f"/usr/local/etc/warden/agents/{agent}/credentials"
    credentials = site.host.read_file(path).decode()
    return next(
        line.split("=", 1)[1].strip("'")
        for line in credentials.splitlines()
        if line.startswith("WARDEN_DB_DSN=")
    )

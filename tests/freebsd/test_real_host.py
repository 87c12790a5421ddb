"""The same cases as tests/integration, against a real FreeBSD host (WARDEN_TEST_HOST).

Registration writes /var/db/warden on that host, so it runs only with
WARDEN_TEST_HOST_WRITABLE=1 (a throwaway host).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from setup.facts import gather
from setup.transport import SSHExecutor

ROOT = Path(__file__).resolve().parents[2]


def target() -> str:
    return os.environ["WARDEN_TEST_HOST"]


def warden(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    base = os.environ.get("WARDEN_TEST_SUBNET_BASE", "10.250.250")
    path = tmp_path / ".env"
    path.write_text(f"AGENT_NAME=wardentest\nAGENT_SUBNET_BASE={base}\nWARDEN_HOST={target()}\n")
    return path


def test_the_real_hosts_facts_parse_into_a_freebsd_host() -> None:
    executor = SSHExecutor(target())
    try:
        facts = gather(executor, packages=["pkg"])
    finally:
        executor.close()
    assert facts.os_name == "FreeBSD" and facts.version is not None
    assert facts.interfaces and facts.addresses()
    assert facts.default_interface() in facts.interfaces
    assert facts.packages == {"pkg": True}


def test_preflight_on_the_real_host_reports_and_changes_nothing(env_file: Path) -> None:
    result = warden("setup", "--env", str(env_file), "--step", "preflight", "--json", "--yes")
    assert result.returncode in (0, 2), result.stderr
    findings = json.loads(result.stdout)["steps"][0]["findings"]
    assert any(f["check"] == "FreeBSD version" for f in findings)


@pytest.mark.skipif(
    os.environ.get("WARDEN_TEST_HOST_WRITABLE") != "1",
    reason="writes the host registry: set WARDEN_TEST_HOST_WRITABLE=1",
)
def test_setup_twice_on_the_real_host_changes_nothing_the_second_time(env_file: Path) -> None:
    first = warden("setup", "--env", str(env_file), "--yes", "--json")
    assert first.returncode == 0, first.stderr
    second = warden("setup", "--env", str(env_file), "--yes", "--json")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["change_count"] == 0

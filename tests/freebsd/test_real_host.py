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

from setup.config import load_config
from setup.facts import gather
from setup.planner import facts_request
from setup.steps import pf
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
    path.write_text(
        f"AGENT_NAME=wardentest\nAGENT_SUBNET_BASE={base}\nWARDEN_HOST={target()}\n"
        "WARDEN_AGENT_COMMAND=/usr/bin/top -s 5\n"
    )
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


def test_the_generated_pf_files_pass_the_real_pfctl(env_file: Path) -> None:
    """The double's pf grammar is a subset; the real pfctl is the judge. Read-only: the
    files go to a temporary directory and only `pfctl -nf` reads them."""
    config = load_config(env_file)
    executor = SSHExecutor(target())
    try:
        request = facts_request(config, ["pf"])
        facts = gather(executor, request.packages, request.files, request.probes)
        step = pf.plan(config, facts)
        files = {f.path: f.content for c in step.changes for f in c.files}
        if not files:
            pytest.skip("the host's pf files are already warden's: nothing new to check")
        loaded = executor.run("kldstat -q -m pf\n")
        if loaded.rc != 0:
            pytest.skip("pf is not loaded on the host; pfctl -nf needs /dev/pf on 14.x")
        check = "/tmp/warden-pfcheck"
        include = files.get("/etc/pf.warden.conf", facts.file("/etc/pf.warden.conf") or "")
        pf_conf = files.get("/etc/pf.conf", facts.file("/etc/pf.conf") or "")
        executor.put(f"{check}/pf.warden.conf", include, mode=0o600)
        executor.put(
            f"{check}/pf.conf",
            pf_conf.replace('include "/etc/pf.warden.conf"', f'include "{check}/pf.warden.conf"'),
            mode=0o600,
        )
        result = executor.run(f"pfctl -nf {check}/pf.conf; rc=$?; rm -rf {check}; exit $rc\n")
    finally:
        executor.close()
    assert result.rc == 0, result.stderr


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

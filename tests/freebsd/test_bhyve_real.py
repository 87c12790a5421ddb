"""What the double cannot show: a real FreeBSD guest booting from warden's user-data.

Needs WARDEN_TEST_HOST (a throwaway FreeBSD host with VT-x/AMD-V, in ~/.ssh/known_hosts;
skipped otherwise, with the reason shown). The guest downloads FreeBSD's cloud-init VM
image (minutes). Checked there: nuageinit gives the guest the address and gateway of the
user-data on vtnet0, its sshd presents the host key warden pinned (warden refuses any
other), root logs in by key through the host, password logins are off, and the guest
comes back after `vm stop`/`vm start` (vm_list at boot is rc.d vm's job).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from setup.transport import SSHExecutor
from setup.vm import connect_guest

ROOT = Path(__file__).resolve().parents[2]
BASE = os.environ.get("WARDEN_TEST_BHYVE_SUBNET_BASE", "10.250.251")


def warden(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text(
        f"AGENT_NAME=wardenvm\nAGENT_SUBNET_BASE={BASE}\n"
        f"WARDEN_HOST={os.environ['WARDEN_TEST_HOST']}\nWARDEN_RUNTIME=bhyve\n"
        "WARDEN_ROLES=none\nWARDEN_VM_MEMORY=1G\nWARDEN_VM_DISK=8G\n"
        "WARDEN_AGENT_COMMAND=/usr/bin/top -s 5\n"
    )
    return path


def test_a_real_guest_boots_from_the_user_data_with_the_pinned_key(env_file: Path) -> None:
    first = warden("setup", "--env", str(env_file), "--yes", "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["guest"] is not None and report["guest"]["refused"] is False
    host = SSHExecutor(os.environ["WARDEN_TEST_HOST"])
    try:
        guest = connect_guest(host, f"{BASE}.10")  # only the pinned key is accepted
        try:
            checks = guest.run(
                "ifconfig vtnet0 inet | grep -q 'inet "
                f"{BASE}.10 netmask 0xffffff00' && route -n get default | grep -q "
                f"'gateway: {BASE}.1' && grep -q '^PasswordAuthentication no' "
                "/etc/ssh/sshd_config && service wardenvm onestatus\n"
            )
            assert checks.rc == 0, checks.stdout + checks.stderr
        finally:
            guest.close()
    finally:
        host.close()
    second = warden("setup", "--env", str(env_file), "--yes", "--json")
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert again["change_count"] == 0 and again["guest"]["change_count"] == 0

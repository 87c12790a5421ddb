"""An operator's workstation for end-to-end tests: HOME with ~/.ssh, and `invoke`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.testhost import TestHost, write_ssh_config

ROOT = Path(__file__).resolve().parents[1]


class Operator:
    """A workstation: a HOME with ~/.ssh/config and known_hosts, and the warden checkout."""

    def __init__(self, home: Path, hosts: list[tuple[str, TestHost, str | None]]) -> None:
        self.home = home
        ssh = home / ".ssh"
        ssh.mkdir(parents=True, exist_ok=True)
        self.known_hosts = ssh / "known_hosts"
        self.ssh_config = write_ssh_config(ssh / "config", hosts, self.known_hosts)

    def env_file(
        self, name: str = "atlas", base: str = "10.0.1", host: str = "h1", extra: str = ""
    ) -> Path:
        path = self.home / f"{name}.env"
        if "WARDEN_AGENT_COMMAND=" not in extra:
            extra += "WARDEN_AGENT_COMMAND=/bin/sh\n"  # a full plan needs one (service)
        if "WARDEN_ROLES=" not in extra:
            extra += "WARDEN_ROLES=none\n"  # role jails only where a test asks for them
        path.write_text(f"AGENT_NAME={name}\nAGENT_SUBNET_BASE={base}\nWARDEN_HOST={host}\n{extra}")
        return path

    def popen(self, *args: str, lock_wait: int = 30) -> subprocess.Popen[str]:
        """`invoke ARGS` as this operator: their HOME (so their ~/.ssh), this checkout."""
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "WARDEN_LOCK_WAIT": str(lock_wait),
            "LANG": "C.UTF-8",
        }
        return subprocess.Popen(
            [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def warden(
        self, *args: str, lock_wait: int = 30, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run `invoke ARGS` to the end."""
        proc = self.popen(*args, lock_wait=lock_wait)
        try:
            out, err = proc.communicate(timeout=timeout)
        finally:
            proc.kill()
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

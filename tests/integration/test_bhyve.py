"""A bhyve agent end to end: the double's `vm` on one test host, a second test host
playing the guest, reachable only through the first.

The double boots nothing (tests/double/vm.py): the guest test host already runs. What
stands in for bhyve and nuageinit is `Hypervisor` below: while the guest is "off" its
link is down; when the double's `vm start` records a boot, it reads the user-data
warden passed to `vm create -u` on the host, installs the SSH host key and root's keys
from it into the guest's sshd (as nuageinit's ssh_keys and users do), restarts that
sshd and brings the link up. So the guest answers with the key warden generated and
pinned, or warden refuses it. Whether a real FreeBSD guest boots from that user-data
is tests/freebsd/test_bhyve_real.py's question.

The agent has a soul (a bare hub on the operator's machine): it is cloned into the
agent's home inside the guest, never on the host, and `invoke soul.sync` reaches that
clone through the host with the pinned guest key.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml

from tests.double import install
from tests.operator import Operator
from tests.soulhub import soul_hub
from tests.testhost import DOUBLE_STATE, TestHost

pytestmark = pytest.mark.slow

VM_DIR = "/usr/local/vm"


def q(path: Path) -> str:
    return shlex.quote(str(path))


class Hypervisor(threading.Thread):
    """Boots the guest test host from the user-data of the double's first `vm start`."""

    def __init__(self, host: TestHost, guest: TestHost) -> None:
        super().__init__(daemon=True)
        self.host, self.guest = host, guest
        self.user_data: dict[str, Any] | None = None
        self.stop = threading.Event()
        self.link("down")

    def link(self, state: str) -> None:
        subprocess.run(
            ["ip", "-n", str(self.guest.netns), "link", "set", "eth0", state], check=True
        )

    def run(self) -> None:
        state_file = self.host.upper / DOUBLE_STATE.lstrip("/") / "state.json"
        while not self.stop.is_set():
            try:
                boots = json.loads(state_file.read_text()).get("vm", {}).get("boots", [])
            except (OSError, ValueError):
                boots = []
            if boots:
                self.boot(boots[0]["user_data"])
                return
            time.sleep(0.05)

    def boot(self, user_data_path: str) -> None:
        text = (self.host.upper / user_data_path.lstrip("/")).read_text()
        data = yaml.safe_load(text)
        self.user_data = data
        sshd = self.guest.tmp / "sshd"
        key = sshd / "host_ed25519_key"
        key.write_text(data["ssh_keys"]["ed25519_private"])
        key.chmod(0o600)
        (sshd / "host_ed25519_key.pub").write_text(data["ssh_keys"]["ed25519_public"] + "\n")
        root = next(u for u in data["users"] if u["name"] == "root")
        (sshd / "authorized_keys").write_text("\n".join(root["ssh_authorized_keys"]) + "\n")
        os.kill(self.guest.sshd_pid, signal.SIGHUP)  # sshd re-execs: loads the new host key
        time.sleep(0.3)
        self.link("up")


def _guest_key(guest: TestHost) -> str:
    """The host key the guest's sshd presents now, through nobody (read from its file)."""
    return (guest.tmp / "sshd" / "host_ed25519_key.pub").read_text().split()[1]


def test_a_bhyve_agent_is_created_and_its_guest_provisioned_through_the_host_with_the_pinned_key(
    jump_hosts: tuple[TestHost, TestHost], tmp_path: Path
) -> None:
    host, guest = jump_hosts
    # The guest's double: what nuageinit makes of the user-data's network section.
    base = guest.address.rsplit(".", 1)[0]
    install.seed_state(
        guest.upper / DOUBLE_STATE.lstrip("/"),
        {
            "uname": {"nodename": "atlas.vm.home.arpa"},
            "interfaces": [
                {
                    "name": "vtnet0",
                    "kind": "ether",
                    "index": 1,
                    "up": True,
                    "mtu": 1500,
                    "ether": "58:9c:fc:00:00:01",
                    "inet": [{"addr": guest.address, "prefixlen": 24}],
                    "members": [],
                    "groups": [],
                    "description": None,
                },
                {
                    "name": "lo0",
                    "kind": "loopback",
                    "index": 2,
                    "up": True,
                    "mtu": 16384,
                    "ether": None,
                    "inet": [{"addr": "127.0.0.1", "prefixlen": 8}],
                    "members": [],
                    "groups": ["lo"],
                    "description": None,
                },
            ],
            "routes": [
                {"destination": "default", "gateway": f"{base}.1", "interface": "vtnet0",
                 "flags": "UGS"},
            ],
        },
    )  # fmt: skip
    operator = Operator(tmp_path / "home", [("h1", host, None)])
    hub = soul_hub(tmp_path / "soul")
    env = operator.env_file(
        "atlas",
        base=base,
        host="h1",
        extra=f"WARDEN_RUNTIME=bhyve\nWARDEN_VM_IP={guest.address}\nWARDEN_NAMESERVER=192.0.2.53\n"
        f"WARDEN_SOUL_REPO={hub}\nWARDEN_SOUL_REF=main\n",
    )
    hypervisor = Hypervisor(host, guest)
    hypervisor.start()
    try:
        first = operator.warden("setup", "--env", str(env), "--yes", "--json", timeout=240)
    finally:
        hypervisor.stop.set()
    assert first.returncode == 0, first.stderr + first.stdout
    assert "PRIVATE KEY" not in first.stdout + first.stderr
    report = json.loads(first.stdout)
    assert report["guest"] is not None, report
    host_steps = {a["step"] for a in report["applied"]}
    assert {"register", "host", "network", "pf", "bhyve"} <= host_steps
    assert "soul" not in host_steps and "soul" not in {s["step"] for s in report["steps"]}
    guest_steps = {a["step"] for a in report["guest"]["applied"]}
    assert guest_steps >= {"register", "user", "soul", "service"}

    # The host: vm-bhyve made the guest from warden's template with -u user-data.
    argvs = [c["argv"] for c in host.calls() if c["argv"][:1] == ["vm"]]
    create = next(a for a in argvs if a[1] == "create")
    assert create[-1] == "atlas" and "-C" in create and "-u" in create and "-n" not in create
    assert create[create.index("-t") + 1] == "warden-atlas"
    assert ["vm", "start", "atlas"] in argvs
    assert ["vm", "switch", "create", "-t", "manual", "-b", "warden0", "warden"] in argvs
    rc_conf = host.read_file("/etc/rc.conf").decode()
    assert 'vm_enable="YES"' in rc_conf and "atlas" in rc_conf.split("vm_list=")[1]
    # The user-data: the address in the agent's /24, gateway .1, no password logins.
    data = hypervisor.user_data
    assert data is not None
    assert data["network"]["ethernets"]["vtnet0"]["addresses"] == [f"{guest.address}/24"]
    assert data["network"]["ethernets"]["vtnet0"]["gateway4"] == f"{base}.1"
    assert data["ssh_pwauth"] is False
    # Its private key is the host's secret only: root-only files, the staged copy gone.
    mode = host.exec(f"stat -c %a {VM_DIR}/atlas/.cloud-init/user-data").stdout.decode()
    assert mode.strip() == "600"
    assert not host.exists("/usr/local/etc/warden/secrets/atlas/vm-user-data")

    # The pin: known_hosts names the guest's address with the key warden generated, and
    # that is the key the guest's sshd now presents (installed from the user-data).
    pinned = [
        line.split() for line in operator.known_hosts.read_text().splitlines()
        if line.split()[0] == guest.address
    ]  # fmt: skip
    assert len(pinned) == 1
    assert pinned[0][2] == data["ssh_keys"]["ed25519_public"].split()[1] == _guest_key(guest)
    host_pub = host.read_file("/usr/local/etc/warden/secrets/atlas/vm_ssh_host_ed25519_key.pub")
    assert host_pub.decode().split()[1] == pinned[0][2]

    # The guest was provisioned through the host: its user and service exist there.
    assert guest.exists("/usr/local/etc/rc.d/atlas")
    assert b"atlas:" in guest.read_file("/etc/passwd")
    assert host.exec("id atlas", check=False).returncode != 0  # not on the host
    assert guest.accepted_logins() >= 1  # every one of them arrived through the host

    # The soul: cloned in the guest at the hub's commit, the agent's, with its harness
    # file in the agent's home; nothing of it on the host.
    commit = subprocess.run(
        ["git", "-C", str(hub), "rev-parse", "main"], capture_output=True, text=True, check=True
    ).stdout.strip()
    clone = "/home/atlas/soul"
    head = guest.exec(["git", "-c", f"safe.directory={clone}", "-C", clone, "rev-parse", "HEAD"])
    assert head.stdout.decode().strip() == commit
    owners = guest.exec(["stat", "-c", "%U", clone, "/home/atlas/CLAUDE.md"]).stdout.decode()
    assert owners.split() == ["atlas", "atlas"]
    assert b"adapters/claude-code.md" in guest.read_file("/home/atlas/CLAUDE.md")
    assert not host.exists(clone) and not host.exists("/home/atlas")
    # Reached only through the host: the guest is not routable from here.
    probe = paramiko.SSHClient()
    try:
        probe.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            probe.connect(guest.address, port=22, timeout=2, banner_timeout=2)
            reached = True
        except (OSError, paramiko.SSHException):
            reached = False
    finally:
        probe.close()
    assert not reached

    # A re-run plans zero changes, on the host and in the guest, and starts nothing.
    again = operator.warden("plan", "--env", str(env), "--json", timeout=120)
    assert again.returncode == 0, again.stderr
    replan = json.loads(again.stdout)
    assert replan["change_count"] == 0, replan
    assert replan["guest"] is not None and replan["guest"]["change_count"] == 0, replan
    rerun = operator.warden("setup", "--env", str(env), "--yes", "--json", timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    rerun_report = json.loads(rerun.stdout)
    assert rerun_report["applied"] == [] and rerun_report["guest"]["applied"] == [], rerun_report
    starts = [c for c in host.calls() if c["argv"][:2] == ["vm", "start"]]
    assert len(starts) == 1

    # soul.sync reaches the clone in the guest through the host. The hub is a path on the
    # operator's machine, so the guest gets a copy of it at that same path to fetch from.
    packed = subprocess.run(
        ["tar", "-C", str(hub.parent), "-cf", "-", hub.name], capture_output=True, check=True
    ).stdout
    guest.exec(
        f"mkdir -p {q(hub.parent)} && tar -C {q(hub.parent)} -xf - && chown -R atlas {q(hub)}",
        input=packed,
    )
    sync = operator.warden("soul.sync", "--env", str(env), "--json", timeout=120)
    assert sync.returncode == 0, sync.stderr + sync.stdout
    rows = json.loads(sync.stdout)["hosts"]
    assert [(r["state"], r["head"], r["hub"]) for r in rows] == [("in sync", commit, commit)]
    assert rows[0]["host"] == f"{guest.address} (guest, via h1)"

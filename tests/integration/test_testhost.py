"""The throwaway hosts behave like separate machines, and leave nothing behind."""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paramiko
import pytest

from tests.testhost import (
    DOUBLE_BIN,
    DOUBLE_STATE,
    TestHost,
    TestNetwork,
    _children,
    _comm,
    _ns_id,
    _pids,
    write_known_hosts,
)


@contextmanager
def ssh(
    host: TestHost, known_hosts: Path, sock: paramiko.Channel | None = None
) -> Iterator[paramiko.SSHClient]:
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        host.address,
        host.port,
        username="root",
        key_filename=str(host.client_key),
        look_for_keys=False,
        allow_agent=False,
        timeout=5,
        sock=sock,
    )
    try:
        yield client
    finally:
        client.close()


def run(client: paramiko.SSHClient, command: str) -> tuple[int, str]:
    _, stdout, stderr = client.exec_command(command, timeout=10)
    out = stdout.read().decode()
    rc = stdout.channel.recv_exit_status()
    return rc, out + stderr.read().decode()


def digest(path: str) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def test_a_write_to_rc_conf_over_ssh_lands_in_the_overlay_not_on_the_machine(
    test_host: TestHost, tmp_path: Path
) -> None:
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [test_host])
    machine_rc_conf = digest("/etc/rc.conf")

    with ssh(test_host, known_hosts) as client:
        rc, out = run(client, "echo 'sshd_enable=\"YES\"' >> /etc/rc.conf && mkdir -p /var/db/w")
        assert rc == 0, out
        with client.open_sftp() as sftp:
            sftp.putfo(io.BytesIO(b"x=1\n"), "/usr/local/etc/warden.conf")

    assert test_host.read_file("/etc/rc.conf").endswith(b'sshd_enable="YES"\n')
    assert (test_host.upper / "etc/rc.conf").read_bytes().endswith(b'sshd_enable="YES"\n')
    assert (test_host.upper / "usr/local/etc/warden.conf").read_bytes() == b"x=1\n"
    assert (test_host.upper / "var/db/w").is_dir()
    assert digest("/etc/rc.conf") == machine_rc_conf
    assert not Path("/usr/local/etc/warden.conf").exists()
    assert not Path("/var/db/w").exists()
    assert test_host.accepted_logins() == 1


def test_setup_helpers_see_and_write_the_hosts_view_only(test_host: TestHost) -> None:
    test_host.write_file("/usr/local/etc/rc.d/warden", "#!/bin/sh\n", mode=0o555)

    assert test_host.exists("/usr/local/etc/rc.d/warden")
    assert test_host.read_file("/usr/local/etc/rc.d/warden") == b"#!/bin/sh\n"
    assert test_host.exec("stat -c %a /usr/local/etc/rc.d/warden").stdout == b"555\n"
    assert not Path("/usr/local/etc/rc.d/warden").exists()
    assert not test_host.exists("/nonexistent")


def test_freebsds_wheel_group_exists_inside_the_host_only(
    test_host: TestHost, tmp_path: Path
) -> None:
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [test_host])
    with ssh(test_host, known_hosts) as client:
        rc, out = run(
            client,
            "getent group wheel; touch /etc/x && chgrp wheel /etc/x && "
            "stat -c %G /etc/x; getent group root",
        )
    assert rc == 0, out
    assert out.splitlines() == ["wheel:x:0:root", "wheel", "root:x:0:"]
    assert b"wheel:" not in Path("/etc/group").read_bytes()


def test_the_freebsd_double_is_first_on_path_in_an_ssh_session(
    test_host: TestHost, tmp_path: Path
) -> None:
    assert test_host.has_double, "the FreeBSD double was not installed in the host"
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [test_host])

    with ssh(test_host, known_hosts) as client:
        rc, out = run(client, "uname -s; command -v sysrc")

    assert rc == 0, out
    assert out.splitlines() == ["FreeBSD", f"{DOUBLE_BIN}/sysrc"]
    assert any(call["argv"][:2] == ["uname", "-s"] for call in test_host.calls())


@pytest.mark.parametrize("test_host", [{"uname": {"nodename": "seeded"}}], indirect=True)
def test_the_double_state_takes_overrides_by_indirect_parametrization(
    test_host: TestHost, tmp_path: Path
) -> None:
    assert test_host.has_double, "the FreeBSD double was not installed in the host"
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [test_host])

    with ssh(test_host, known_hosts) as client:
        assert run(client, "uname -n; uname -s") == (0, "seeded\nFreeBSD\n")


def test_the_double_state_takes_overrides_from_the_factory(
    make_test_host: Callable[..., TestHost],
) -> None:
    host = make_test_host("web", uname={"nodename": "web1"})
    assert host.has_double, "the FreeBSD double was not installed in the host"

    state = json.loads(host.read_file(f"{DOUBLE_STATE}/state.json"))
    assert state["uname"]["nodename"] == "web1"
    assert state["uname"]["sysname"] == "FreeBSD"  # merged into the defaults


def test_the_second_jump_host_is_reachable_through_the_first_and_not_directly(
    jump_hosts: tuple[TestHost, TestHost], tmp_path: Path
) -> None:
    jump, guest = jump_hosts
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [jump, guest])
    guest.write_file("/etc/whoami", "guest\n")

    with ssh(jump, known_hosts) as first:
        transport = first.get_transport()
        assert transport is not None
        channel = transport.open_channel(
            "direct-tcpip", (guest.address, guest.port), ("127.0.0.1", 0)
        )
        with ssh(guest, known_hosts, sock=channel) as second:
            rc, out = run(second, "cat /etc/whoami")
        assert run(first, "cat /etc/whoami")[0] != 0

    assert (rc, out) == (0, "guest\n")
    assert guest.accepted_logins() == 1
    with pytest.raises(OSError):
        socket.create_connection((guest.address, guest.port), timeout=1).close()


def test_an_openssh_client_reaches_the_guest_with_the_written_proxyjump_config(
    jump_hosts: tuple[TestHost, TestHost], client_ssh_config: Callable[..., Path]
) -> None:
    jump, guest = jump_hosts
    config = client_ssh_config(guest)

    assert f"ProxyJump {jump.name}" in config.read_text()
    done = subprocess.run(
        ["ssh", "-F", str(config), guest.name, "echo reached"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "reached\n"), done.stderr
    assert jump.accepted_logins() == 1
    assert guest.accepted_logins() == 1


def _descendants(pid: int) -> set[int]:
    found = {pid}
    for child in _children(pid):
        found |= _descendants(child)
    return found


def _comms(pids: set[int]) -> list[str]:
    return [_comm(pid) for pid in pids]


def _descendants_once_running(pid: int, name: str) -> set[int]:
    """Descendants of pid, once one of them is `name` (setsid execs it a moment later)."""
    deadline = time.monotonic() + 5
    while name not in _comms(found := _descendants(pid)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert name in _comms(found)
    return found


def _processes_of(pids: set[int]) -> list[str]:
    found = []
    for pid in pids:
        try:
            found.append(Path(f"/proc/{pid}/stat").read_text())
        except FileNotFoundError:
            continue
    return found


def test_stopping_a_host_leaves_no_process_and_no_namespace_behind(
    test_network: TestNetwork, tmp_path: Path
) -> None:
    host = test_network.host("doomed")
    ns, tmp = host.netns, host.tmp
    assert ns is not None
    root_link = "r".join(ns.rsplit("n", 1))
    known_hosts = write_known_hosts(tmp_path / "known_hosts", [host])
    with ssh(host, known_hosts) as client:
        # a daemon left running and a connection still open when the host stops
        rc, out = run(client, "setsid sleep 300 </dev/null >/dev/null 2>&1 &")
        assert rc == 0, out
        pids = _descendants_once_running(host.pid, "sleep")
        assert _comms(pids).count("sshd") >= 2  # the listener and the connection
        test_network.close()

    assert _processes_of(pids) == []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert not re.search(rf"^{ns}\b", netns.stdout, re.M)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    assert f" {root_link}@" not in links.stdout
    assert not tmp.exists()


def test_stopping_a_loopback_host_ends_what_exec_started_and_removes_its_files(
    make_test_host: Callable[..., TestHost],
) -> None:
    host = make_test_host("short-lived")
    host.exec("setsid sleep 300 </dev/null >/dev/null 2>&1 &")
    pids = _descendants_once_running(host.pid, "sleep")
    in_host = {p for p in _pids() if _ns_id(p, "mnt") == _ns_id(host.pid, "mnt")}
    assert in_host == pids  # unshare, sshd and the sleep, nothing else

    host.stop()

    assert _processes_of(pids) == []
    assert not host.tmp.exists()
    with pytest.raises(OSError):
        socket.create_connection((host.address, host.port), timeout=1).close()


def test_processes_inside_a_host_see_only_that_host(test_host: TestHost) -> None:
    ps = test_host.exec("ls /proc | grep -c '^[0-9]'").stdout
    assert int(ps) <= 5  # sshd, the double's server, nsenter's child sh, ls, grep

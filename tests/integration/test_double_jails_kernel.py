"""Inside a test host the double's Bastille jails are real: a root jexec enters, a network
namespace on a real bridge, and a real PostgreSQL in the db jail (tests/double/jail_kernel.py).

A plain `test_host` shares the machine's network namespace, so its jails get a real root
but no network of their own ("chroot"); a `test_network` host has its own namespace, so
its VNET jails get one too, linked to the real bridge warden0 ("vnet").
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from setup import bastillefile, render
from setup.db import hba
from setup.domains import JailUser, Location
from setup.ops import Op, put
from setup.shell import LIBRARY
from tests.harness.site import sh
from tests.testhost import DOUBLE_STATE, TestHost, TestNetwork

JAILS = "/usr/local/bastille/jails"
CREATE = "bastille create -B -g 10.0.1.1 -n 10.0.1.1"

AGENT_NET = ipaddress.IPv4Network("10.0.1.0/24")
GATEWAY = ipaddress.IPv4Address("10.0.1.1")


def warden_db_template() -> dict[str, str]:
    """templates/bastille/db rendered as warden renders it for agent atlas (pg 17)."""
    access = hba.AgentAccess.for_agent("atlas", AGENT_NET)
    context = {"agent": "atlas", "jail": "a3db", "ip": "10.0.1.5", "pg_version": 17,
               "hba": hba.pg_hba(GATEWAY, [access])}  # fmt: skip
    base = Path(render.ROOT, "templates/bastille/db")
    return {
        str(path.relative_to(base)).removesuffix(".j2"): render.render(
            f"bastille/db/{path.relative_to(base)}", **context
        )
        for path in sorted(base.rglob("*.j2"))
    }


LISTENER = """import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.0.1.5", 7000))
s.listen()
open("/tmp/ready", "w").close()
conn, peer = s.accept()
print(peer[0], flush=True)
"""
CONNECT = """import socket, time
for _ in range(100):
    try:
        c = socket.create_connection(("10.0.1.5", 7000), timeout=2)
        break
    except OSError:
        time.sleep(0.05)
print(c.getsockname()[0])
"""


def run(host: TestHost, command: str) -> subprocess.CompletedProcess[bytes]:
    return host.exec(command, check=False)


def with_jail(host: TestHost, name: str = "a3db", ip: str = "10.0.1.5/24") -> TestHost:
    """bastille installed and bootstrapped, warden0 with the agent's .1, jail NAME running."""
    sh(host, "pkg install -y bastille >/dev/null && bastille bootstrap 14.3-RELEASE 2>/dev/null")
    sh(host, "ifconfig bridge create name warden0 && ifconfig warden0 inet 10.0.1.1/24 alias")
    sh(host, f"{CREATE} {name} 14.3-RELEASE {ip} warden0")
    return host


def ip_links(host: TestHost) -> set[str]:
    shown = sh(host, "ip -o link show")
    return set(re.findall(r"^\d+: ([^:@]+)", shown, re.M))


def machine(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


# ------------------------------------------------------------------ a real root (any test host)


def test_a_file_written_through_jexec_lands_under_the_jail_root_not_the_hosts(
    test_host: TestHost,
) -> None:
    with_jail(test_host)
    assert sh(test_host, "cat /run/freebsd-double/kernel") == "chroot\n"
    sh(test_host, "jexec a3db sh -c 'mkdir -p /srv/git && echo inside > /srv/git/marker'")
    assert test_host.read_file(f"{JAILS}/a3db/root/srv/git/marker") == b"inside\n"
    assert not test_host.exists("/srv/git/marker")
    passwd = sh(test_host, "jexec -l a3db cat /etc/passwd")
    assert passwd.startswith("root:x:0:0:Charlie &:/root:/bin/sh\n")  # the jail's, not Debian's
    # the base is the host's userland, read-only; the jail's /usr/local is its own
    refused = run(test_host, "jexec a3db touch /usr/bin/x")
    assert refused.returncode == 1 and b"Read-only file system" in refused.stderr
    sh(test_host, "jexec a3db touch /usr/local/own")
    assert test_host.exists(f"{JAILS}/a3db/root/usr/local/own")
    assert not test_host.exists("/usr/local/own")


def test_jexec_u_runs_as_a_user_only_the_jails_passwd_has_and_chown_uses_it(
    test_host: TestHost,
) -> None:
    with_jail(test_host)
    sh(test_host, "jexec a3db pw groupadd git -g 2000")
    sh(test_host, "jexec a3db pw useradd git -u 2000 -g git -d /srv/git -s /bin/sh")
    assert run(test_host, "id git").returncode == 1  # the host has no such user
    sh(test_host, "jexec a3db sh -c 'mkdir -p /srv/git && chown git:git /srv/git'")
    who = sh(test_host, "jexec -l -U git a3db sh -c 'id -un; id -gn; echo $HOME; touch /srv/git/f'")
    assert who == "git\ngit\n/srv/git\n"
    owner = sh(test_host, f"stat -c '%u:%g' {JAILS}/a3db/root/srv/git/f {JAILS}/a3db/root/srv/git")
    assert owner == "2000:2000\n2000:2000\n"
    missing = run(test_host, "jexec -U nosuch a3db true")
    assert (missing.returncode, missing.stderr) == (1, b"jexec: nosuch: no such user\n")


def test_jexec_returns_the_commands_exit_code_and_execvp_errors_like_jexec(
    test_host: TestHost,
) -> None:
    with_jail(test_host)
    assert run(test_host, "jexec a3db sh -c 'exit 7'").returncode == 7
    absent = run(test_host, "jexec a3db /nonexistent/tool")
    assert absent.returncode == 1
    assert absent.stderr == b"jexec: execvp: /nonexistent/tool: No such file or directory\n"


def test_the_jails_mounts_go_at_stop_and_destroy_removes_only_the_jail(
    test_host: TestHost,
) -> None:
    with_jail(test_host)
    root = f"{JAILS}/a3db/root"
    assert root in sh(test_host, "cat /proc/self/mountinfo")
    sh(test_host, "bastille stop a3db")
    assert root not in sh(test_host, "cat /proc/self/mountinfo")
    assert test_host.exists("/dev/null") and test_host.exists(f"{DOUBLE_STATE}/state.json")
    sh(test_host, "bastille start a3db && bastille destroy -afy a3db")
    assert not test_host.exists(f"{JAILS}/a3db")
    assert test_host.exists("/dev/null") and test_host.exists(f"{DOUBLE_STATE}/state.json")
    assert root not in sh(test_host, "cat /proc/self/mountinfo")


def test_the_double_inside_the_jail_shares_the_one_state(test_host: TestHost) -> None:
    with_jail(test_host)
    sh(test_host, "jexec -l a3db pkg install -y nginx >/dev/null")
    assert run(test_host, "pkg -j a3db info -e nginx").returncode == 0
    assert run(test_host, "pkg info -e nginx").returncode == 1
    sh(test_host, "bastille sysrc a3db nginx_enable=YES")
    assert 'nginx_enable="YES"' in sh(test_host, "jexec a3db cat /etc/rc.conf")
    calls = [c["argv"] for c in test_host.calls()]
    assert ["pkg", "install", "-y", "nginx"] in calls  # run inside the jail, logged once


# ------------------------------------------------------------------ VNET (a host of its own)


def test_a_vnet_jails_address_answers_from_the_host_with_the_gateway_as_source(
    test_network: TestNetwork,
) -> None:
    host = with_jail(test_network.host("h1"))
    assert sh(host, "cat /run/freebsd-double/kernel") == "vnet\n"
    inside = sh(host, "jexec a3db ip -o -4 addr show; jexec a3db ip route")
    assert re.search(r"vnet0\s+inet 10\.0\.1\.5/24", inside)
    assert "default via 10.0.1.1 dev vnet0" in inside
    assert "e0a_a3db" in sh(host, "ip -o link show master warden0")
    host.write_file(f"{JAILS}/a3db/root/tmp/listen.py", LISTENER)
    sh(host, "jexec a3db python3 /tmp/listen.py > /tmp/peer 2>&1 &")
    host.write_file("/tmp/connect.py", CONNECT)
    assert sh(host, "python3 /tmp/connect.py") == "10.0.1.1\n"
    sh(host, "for i in $(seq 50); do [ -s /tmp/peer ] && break; sleep 0.1; done")
    assert host.read_file("/tmp/peer") == b"10.0.1.1\n"  # what the jail saw


def test_ifconfig_alias_changes_on_the_bridge_reach_the_real_bridge_and_print_as_before(
    test_network: TestNetwork,
) -> None:
    host = with_jail(test_network.host("h1"))
    added = run(host, "ifconfig warden0 inet 10.0.2.1/24 alias")
    assert (added.returncode, added.stdout, added.stderr) == (0, b"", b"")
    assert re.findall(r"inet (\S+)", sh(host, "ip -4 -o addr show dev warden0")) == [
        "10.0.1.1/24",
        "10.0.2.1/24",
    ]
    sh(host, "ifconfig warden0 inet 10.0.2.1 -alias")
    assert "10.0.2.1" not in sh(host, "ip -4 -o addr show dev warden0")


def test_stopping_a_vnet_jail_removes_its_namespace_and_epair(test_network: TestNetwork) -> None:
    host = with_jail(test_network.host("h1"))
    assert "jail-a3db" in sh(host, "ip netns list")
    sh(host, "bastille stop a3db")
    assert "jail-a3db" not in sh(host, "ip netns list")
    assert "e0a_a3db" not in ip_links(host)
    sh(host, "bastille start a3db")
    assert "10.0.1.5" in sh(host, "jexec a3db ip -o -4 addr show dev vnet0")


# ------------------------------------------------------------------ the db jail's PostgreSQL


def db_jail(host: TestHost) -> TestHost:
    """The db jail after warden's own template (templates/bastille/db), applied as warden
    applies it: the files placed inside the jail, then the Bastillefile's verbs."""
    with_jail(host)
    tree = warden_db_template()
    inside = JailUser("a3db")
    ops: list[Op] = [put(Location(inside, "/" + path), text, 0o644) for path, text in tree.items()
           if path != bastillefile.BASTILLEFILE]  # fmt: skip
    ops += bastillefile.bastillefile_ops("a3db", tree[bastillefile.BASTILLEFILE])
    script = LIBRARY + "warden_tmp\nset -e\n" + "\n".join(op.sh() for op in ops) + "\n"
    host.exec(["sh", "-c", script])
    return host


def test_wardens_db_template_runs_a_real_postgresql_on_the_jails_address(
    test_network: TestNetwork,
) -> None:
    host = db_jail(test_network.host("h1"))
    assert sh(host, "jexec a3db cat /var/db/postgres/data17/PG_VERSION") == "15\n"
    assert "postgres:x:770:770:" in sh(host, "jexec a3db grep ^postgres: /etc/passwd")
    status = run(host, "jexec a3db service postgresql onestatus")
    assert status.returncode == 0 and status.stdout.startswith(b"pg_ctl: server is running")
    assert sh(host, "jexec a3db ls -ld /var/run/postgresql").split()[2:4] == ["postgres"] * 2
    # setup/steps/db.py's bootstrap: as postgres on the jail's socket (peer), stdin SQL
    host.write_file("/tmp/admin.sql", "CREATE ROLE warden LOGIN SUPERUSER PASSWORD 'pw-t3st';\n")
    sh(host, "jexec -l -U postgres a3db psql -X -q -v ON_ERROR_STOP=1 -d postgres < /tmp/admin.sql")
    shown = sh(host, "jexec -l -U postgres a3db psql -X -At -c 'show listen_addresses' "
                     "-c 'show hba_file'")  # fmt: skip
    assert shown == "10.0.1.5\n/usr/local/etc/warden/pg_hba.conf\n"
    # from the host, as through warden's SSH forward: the source is the gateway .1
    client = sh(host, "PGPASSWORD=pw-t3st psql -X -At -h 10.0.1.5 -U warden -d postgres "
                      "-c 'select inet_client_addr()'")  # fmt: skip
    assert client == "10.0.1.1\n"
    refused = run(host, "psql -X -At -h 10.0.1.5 -U postgres -d postgres -c 'select 1'")
    assert refused.returncode == 2 and b"pg_hba.conf rejects connection" in refused.stderr


def test_postgresql_stop_and_the_jails_stop_leave_no_server(test_network: TestNetwork) -> None:
    host = db_jail(test_network.host("h1"))
    again = run(host, "jexec a3db service postgresql initdb")
    assert again.returncode == 1 and b"exists but is not empty" in again.stderr
    assert run(host, "jexec a3db service postgresql reload").returncode == 0
    before = sh(host, "jexec a3db head -1 /var/db/postgres/data17/postmaster.pid")
    assert run(host, "jexec a3db service postgresql restart").returncode == 0
    assert sh(host, "jexec a3db head -1 /var/db/postgres/data17/postmaster.pid") != before
    assert run(host, "jexec a3db service postgresql stop").returncode == 0
    not_running = run(host, "jexec a3db service postgresql stop")
    assert not_running.returncode == 1 and b"Is server running?" in not_running.stderr
    stopped = run(host, "jexec a3db service postgresql onestatus")
    assert (stopped.returncode, stopped.stdout) == (3, b"pg_ctl: no server running\n")
    sh(host, "jexec a3db service postgresql start")
    assert run(host, "pgrep -x postgres").returncode == 0
    sh(host, "bastille stop a3db")
    assert run(host, "pgrep -x postgres").returncode == 1
    state = json.loads(host.read_file(f"{DOUBLE_STATE}/state.json"))
    assert state["jail_data"]["a3db"]["services"] == {}


def test_nothing_of_a_jail_outlives_its_test_host(client_key: Path) -> None:
    with TestNetwork(client_key=client_key) as network:
        host = db_jail(network.host("h1"))
        assert "jail-a3db" in sh(host, "ip netns list")
        mnt = os.readlink(f"/proc/{host.pid}/ns/mnt")
        servers = [pid for pid in machine_pids() if proc_info(pid) == (mnt, "postgres")]
        assert servers  # the jail's PostgreSQL, seen from the machine
    assert not [pid for pid in servers if os.path.exists(f"/proc/{pid}")]
    assert "jail-" not in machine("ip", "netns", "list")
    links = machine("ip", "-o", "link")
    assert "warden0" not in links and "e0a_a3db" not in links


def machine_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def proc_info(pid: int) -> tuple[str, str] | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt"), Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


@pytest.mark.parametrize("test_host", [{}], indirect=True)
def test_in_a_host_without_its_own_network_the_jail_gets_no_namespace(
    test_host: TestHost,
) -> None:
    with_jail(test_host)
    assert "jail-a3db" not in sh(test_host, "ip netns list")
    assert "warden0" not in ip_links(test_host)  # never a bridge in the machine's namespace
    assert "warden0" not in machine("ip", "-o", "link")

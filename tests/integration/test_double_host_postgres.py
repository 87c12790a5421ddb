"""PostgreSQL on the host itself (WARDEN_DB_RUNTIME=host) in a test host: the double's
`pkg install postgresql17-server` leaves the port's account and an rc.d script whose
`service postgresql ...` runs Debian's real PostgreSQL 15 (tests/double/host_postgres.py).

One TestNetwork host for the module (its own network namespace: port 5432, 127.0.0.1 and
the warden0 address are its own).  The commands are the ones warden sends, as root in sh.
"""

from __future__ import annotations

import re
import secrets
import shlex
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.site import require_test_hosts
from tests.testhost import TestHost, TestNetwork

DATA = "/var/db/postgres/data17"
RC = "/usr/local/etc/rc.d/postgresql"
ETC = "/usr/local/etc/warden/postgresql"
GATEWAY = "10.0.1.1"  # the agent's .1 on warden0, where its jails reach the host
INCLUDE = f"include_dir = '{ETC}/conf.d'"
ADMIN_HBA = "local all postgres peer\n"
ATLAS_HBA = "host postgres atlas 10.0.1.0/24 scram-sha-256\n"


@dataclass
class Site:
    host: TestHost
    password: str
    initdb: subprocess.CompletedProcess[bytes]


def run(host: TestHost, command: str, stdin: str = "") -> subprocess.CompletedProcess[bytes]:
    return host.exec(command, input=stdin.encode(), check=False)


def ok(host: TestHost, command: str, stdin: str = "") -> str:
    done = run(host, command, stdin)
    assert done.returncode == 0, f"{command}: rc {done.returncode}\n{done.stdout!r} {done.stderr!r}"
    return done.stdout.decode()


def as_postgres(command: str) -> str:
    """What warden sends: su -l postgres -c 'exec COMMAND' (setup/db/server.py as_postgres)."""
    return f"su -l postgres -c {shlex.quote('exec ' + command)}"


def psql_admin(host: TestHost, sql: str) -> str:
    return ok(host, as_postgres("psql -X -q -t -A -v ON_ERROR_STOP=1 -d postgres"), sql)


def psql_atlas(host: TestHost, password: str) -> subprocess.CompletedProcess[bytes]:
    """A TCP login of the agent's role to the host's .1, as its jails make it."""
    argv = ["env", f"PGPASSWORD={password}", "PGCONNECT_TIMEOUT=5", "psql", "-X", "-t", "-A",
            "-h", GATEWAY, "-U", "atlas", "-d", "postgres",
            "-c", "select current_user || ' ' || host(inet_server_addr())"]  # fmt: skip
    return host.exec(argv, check=False)


def write_hba(host: TestHost, text: str) -> None:
    host.write_file(f"{ETC}/pg_hba.conf", text, 0o644)


def segment(shmid: str) -> str:
    """The machine's `ipcs -m -i ID` (exit 0 and nothing on stdout once it is gone)."""
    return subprocess.run(["ipcs", "-m", "-i", shmid], capture_output=True, text=True).stdout


def server_pid(host: TestHost) -> int:
    return int(ok(host, f"head -n 1 {DATA}/postmaster.pid").strip())


@pytest.fixture(scope="module")
def site(client_key: Path) -> Iterator[Site]:
    """pkg install, sysrc, the PG_VERSION-guarded initdb, warden's settings (an include line
    appended by postgres through sh, a conf.d file, an hba_file outside the data dir)."""
    require_test_hosts(network=True)
    with TestNetwork(client_key=client_key) as network:
        host = network.host("pghost")
        ok(host, "pkg install -y postgresql17-server postgresql17-client")
        ok(host, "sysrc postgresql_enable=YES")
        initdb = run(host, f"test -f {DATA}/PG_VERSION || service postgresql oneinitdb")
        # warden0 with the agent's .1 is real once a jail starts (jail_kernel.sync_bridge);
        # here no jail runs, so the test makes that bridge itself.
        ok(host, f"ip link add warden0 type bridge && ip addr add {GATEWAY}/24 dev warden0 "
                 "&& ip link set warden0 up")  # fmt: skip
        host.write_file(
            f"{ETC}/conf.d/warden.conf",
            f"listen_addresses = 'localhost,{GATEWAY}'\n"
            "password_encryption = 'scram-sha-256'\n"
            f"hba_file = '{ETC}/pg_hba.conf'\n",
            0o644,
        )
        write_hba(host, ADMIN_HBA + ATLAS_HBA)
        append = (
            f"grep -qxF {shlex.quote(INCLUDE)} {DATA}/postgresql.conf || "
            f"echo {shlex.quote(INCLUDE)} >> {DATA}/postgresql.conf"
        )
        ok(host, f"su -l postgres -c {shlex.quote('sh -c ' + shlex.quote(append))}")
        yield Site(host, secrets.token_urlsafe(24), initdb)


@pytest.fixture
def running(site: Site) -> Site:
    """The server runs (a test before may have stopped it)."""
    ok(site.host, "service postgresql onestatus >/dev/null || service postgresql start")
    return site


@pytest.fixture
def atlas(running: Site) -> Site:
    """The agent's password role, as warden's admin SQL makes it."""
    psql_admin(
        running.host,
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'atlas') THEN "
        "CREATE ROLE atlas LOGIN; END IF; END $$;\n"
        f"ALTER ROLE atlas PASSWORD '{running.password}';\n",
    )
    return running


def test_pkg_install_of_the_server_leaves_the_ports_account_and_an_executable_rc_script(
    site: Site,
) -> None:
    host = site.host
    passwd = ok(host, "grep '^postgres:' /etc/passwd")
    assert passwd == "postgres:x:770:770:PostgreSQL Daemon:/var/db/postgres:/bin/sh\n"
    assert ok(host, "grep '^postgres:' /etc/group") == "postgres:x:770:\n"
    assert ok(host, "stat -c '%u:%g' /var/db/postgres") == "770:770\n"
    assert ok(host, f"test -x {RC} && sed -n 3p {RC}").startswith("# postgresql: TEST DOUBLE")
    assert f"{RC}\n" in ok(host, "service -e")  # enabled: service -e lists it


def test_oneinitdb_makes_the_cluster_in_the_ports_data_directory_owned_by_postgres(
    site: Site,
) -> None:
    assert site.initdb.returncode == 0, site.initdb.stderr
    out = site.initdb.stdout.decode()
    assert 'The files belonging to this database system will be owned by user "postgres".' in out
    assert ok(site.host, f"stat -c '%u:%g %a' {DATA}") == "770:770 700\n"


def test_initdb_again_fails_as_initdb_does_on_a_non_empty_data_directory(site: Site) -> None:
    done = run(site.host, "service postgresql initdb")
    assert done.returncode == 1
    assert f'initdb: error: directory "{DATA}" exists but is not empty' in done.stderr.decode()


def test_start_runs_the_server_and_status_exits_0_naming_its_pid(running: Site) -> None:
    pid = server_pid(running.host)
    for verb in ("onestatus", "status"):
        out = ok(running.host, f"service postgresql {verb}")
        assert out.startswith(f"pg_ctl: server is running (PID: {pid})\n")
        assert f'"-D" "{DATA}"' in out


def test_psql_as_postgres_through_su_l_reaches_the_server_by_its_socket(running: Site) -> None:
    out = psql_admin(running.host, "SELECT current_user;\nSHOW data_directory;\nSHOW hba_file;\n")
    assert out.splitlines() == ["postgres", DATA, f"{ETC}/pg_hba.conf"]
    assert running.host.exists("/var/run/postgresql/.s.PGSQL.5432")


def test_the_included_settings_make_the_server_listen_on_the_gateway_address(
    running: Site,
) -> None:
    assert psql_admin(running.host, "SHOW listen_addresses;\n") == f"localhost,{GATEWAY}\n"
    listening = ok(running.host, "ss -Hltn 'sport = :5432'")
    assert f"{GATEWAY}:5432" in listening
    assert "127.0.0.1:5432" in listening


def test_a_password_role_logs_in_over_tcp_and_a_wrong_password_is_refused(atlas: Site) -> None:
    done = psql_atlas(atlas.host, atlas.password)
    assert (done.returncode, done.stdout.decode()) == (0, f"atlas {GATEWAY}\n"), done.stderr
    wrong = psql_atlas(atlas.host, atlas.password + "x")
    assert wrong.returncode == 2
    assert 'password authentication failed for user "atlas"' in wrong.stderr.decode()


def test_reload_after_a_pg_hba_change_takes_effect_without_a_restart(atlas: Site) -> None:
    host, pid = atlas.host, server_pid(atlas.host)
    try:
        write_hba(host, ADMIN_HBA + "host postgres atlas 10.0.1.0/24 reject\n")
        assert run(host, "service postgresql reload").returncode == 0
        refused = psql_atlas(host, atlas.password)
        assert refused.returncode == 2
        assert "pg_hba.conf rejects connection" in refused.stderr.decode()
    finally:
        write_hba(host, ADMIN_HBA + ATLAS_HBA)
        assert run(host, "service postgresql reload").returncode == 0
    assert psql_atlas(host, atlas.password).returncode == 0
    assert server_pid(host) == pid


def test_restart_brings_up_a_new_postmaster_on_the_same_cluster(running: Site) -> None:
    before = server_pid(running.host)
    ok(running.host, "service postgresql restart")
    assert server_pid(running.host) != before
    assert psql_admin(running.host, "SELECT 1;\n") == "1\n"


def test_pg_dump_as_postgres_writes_a_custom_format_dump_where_root_redirects_it(
    running: Site,
) -> None:
    host = running.host
    dump = "/var/db/warden/dumps/x.dump.part"
    ok(host, "mkdir -p /var/db/warden/dumps")
    ok(host, f"{as_postgres('pg_dump -Fc -d postgres')} > {dump}")
    assert host.read_file(dump)[:5] == b"PGDMP"


def test_stop_ends_the_server_and_onestatus_then_exits_1(running: Site) -> None:
    host = running.host
    assert run(host, "service postgresql stop").returncode == 0
    done = run(host, "service postgresql onestatus")
    assert (done.returncode, done.stdout.decode()) == (1, "pg_ctl: no server running\n")
    assert run(host, "pgrep -x postgres").returncode == 1
    assert not host.exists(f"{DATA}/postmaster.pid")


def test_stop_of_a_stopped_server_fails_as_pg_ctl_does(site: Site) -> None:
    host = site.host
    ok(host, "service postgresql onestatus >/dev/null && service postgresql stop || true")
    done = run(host, "service postgresql stop")
    assert done.returncode == 1
    assert f'pg_ctl: PID file "{DATA}/postmaster.pid" does not exist' in done.stderr.decode()


@pytest.mark.parametrize("verb", ["start", "stop", "restart", "reload", "initdb"])
def test_a_disabled_service_refuses_the_verb_as_rc_subr_does_and_the_server_runs_on(
    running: Site, verb: str
) -> None:
    host, pid = running.host, server_pid(running.host)
    ok(host, "sysrc postgresql_enable=NO")
    try:
        done = run(host, f"service postgresql {verb}")
    finally:
        ok(host, "sysrc postgresql_enable=YES")
    assert (done.returncode, done.stdout.decode(), done.stderr.decode()) == (
        0,
        f"Cannot '{verb}' postgresql. Set postgresql_enable to YES in /etc/rc.conf "
        f"or use 'one{verb}' instead of '{verb}'.\n",
        "",
    )
    assert server_pid(host) == pid
    assert run(host, "service postgresql onestatus").returncode == 0


def test_an_unknown_verb_gets_rc_subr_usage_and_exit_1(site: Site) -> None:
    done = run(site.host, "service postgresql promote")
    assert done.returncode == 1
    assert done.stderr.decode() == (
        f"{RC}: unknown directive 'promote'.\n"
        f"Usage: {RC} [fast|force|one|quiet](start|stop|restart|rcvar|enable|disable|delete|"
        "enabled|describe|extracommands|reload|initdb|status|poll)\n"
    )


def test_outside_a_network_test_host_the_real_server_is_not_modelled_exit_64(
    make_test_host: Callable[..., TestHost],
) -> None:
    host = make_test_host("plain")
    ok(host, "pkg install -y postgresql17-server")
    done = run(host, "service postgresql oneinitdb")
    assert done.returncode == 64
    assert "not modelled (exit 64)" in done.stderr.decode()
    assert not host.exists(DATA)


def test_the_test_host_stops_its_postgres_so_no_shared_memory_outlives_it(
    test_network: TestNetwork,
) -> None:
    host = test_network.host("pgdown")
    ok(host, "pkg install -y postgresql17-server && service postgresql oneinitdb >/dev/null 2>&1 "
             "&& service postgresql onestart")  # fmt: skip
    # postmaster.pid line 7: the SysV key and id of the server's shared memory segment
    shmid = re.split(r"\s+", ok(host, f"sed -n 7p {DATA}/postmaster.pid").strip())[1]
    assert f"shmid={shmid}" in segment(shmid)
    host.stop()
    assert f"shmid={shmid}" not in segment(shmid)

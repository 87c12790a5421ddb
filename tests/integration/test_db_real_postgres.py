"""warden's PostgreSQL layer against a real PostgreSQL 15 reached through a real SSH forward.

The site: a test host (real sshd in its own network namespace) and, behind it, a "db
jail" namespace linked to it by a veth pair: 10.0.1.1/24 on the host side (the agent's
gateway, warden0's alias on FreeBSD), 10.0.1.5/24 on the jail side, owned by a real
PostgreSQL server (tests/postgres.py). Only the host can reach 10.0.1.5, so warden,
running here as a remote operator, goes through `forward()` over its one SSH connection
and the server sees every such connection come from 10.0.1.1.

The module fixture stands in for the lead's jail step: it writes warden's pg_hba
(setup.db.hba.pg_hba) and bootstraps the `warden` superuser by piping
`bootstrap_admin_sql(verifier)` to psql as postgres on the local socket. Everything
after that is warden's own code, with no test-only bypass of the SQL: read the catalog,
plan, apply, for two agents (atlas, then orion) sharing the server.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from setup.db import scram, session
from setup.db.catalog import read_catalog
from setup.db.hba import AgentAccess, pg_hba
from setup.db.provision import DbWants, SqlChange, apply_sql, bootstrap_admin_sql, plan_sql
from setup.db.tunnel import forward
from setup.errors import HostError
from setup.transport import Executor, connect
from tests import testhost
from tests.harness.site import require_test_hosts
from tests.postgres import JailPostgres
from tests.testhost import TestHost, TestNetwork, write_ssh_config

GATEWAY = "10.0.1.1"
DB_IP = "10.0.1.5"
SUBNET = "10.0.1.0/24"
PORT = 5432


@dataclass
class Site:
    host: TestHost
    pg: JailPostgres
    ssh_config: Path
    executor: Executor
    address: tuple[str, int]
    passwords: dict[str, str]
    first: dict[str, list[SqlChange]] = field(default_factory=dict)

    def login(self, user: str, dbname: str, address: tuple[str, int] | None = None) -> Any:
        return session.connect(address or self.address, user, self.passwords[user], dbname)

    def admin(self, address: tuple[str, int] | None = None) -> Any:
        return lambda dbname: self.login("warden", dbname, address)

    def wants(self, agent: str) -> DbWants:
        return DbWants.for_agent(agent, self.passwords[agent])

    def plan(self, agent: str, address: tuple[str, int] | None = None) -> list[SqlChange]:
        with self.login("warden", "postgres", address) as conn:
            catalog = read_catalog(conn, self.admin(address))
        return plan_sql(self.wants(agent), catalog)

    def run(self, agent: str) -> list[SqlChange]:
        """What the db step does for one agent: read, plan, apply."""
        changes = self.plan(agent)
        apply_sql(self.admin(), changes)
        return changes

    def verifier(self, role: str) -> str:
        return self.pg.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'").strip()


@pytest.fixture(scope="module")
def site(client_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_test_hosts(network=True)
    tmp = tmp_path_factory.mktemp("db-site")
    passwords = {name: secrets.token_urlsafe(24) for name in ("warden", "atlas", "orion")}
    hba = pg_hba(
        GATEWAY, [AgentAccess.for_agent("atlas", SUBNET), AgentAccess.for_agent("orion", SUBNET)]
    )
    settings = {"log_statement": "all", "log_connections": "on", "log_min_error_statement": "info"}
    with TestNetwork(client_key=client_key) as net:
        host = net.host("dbhost", double=False)
        with JailPostgres(host, hba=hba, gateway=GATEWAY, address=DB_IP, settings=settings) as pg:
            # the lead's jail step: psql as postgres on the jail's socket
            pg.psql(bootstrap_admin_sql(scram.verifier(passwords["warden"])))
            ssh_config = write_ssh_config(
                tmp / "ssh_config", [("dbhost", host, None)], tmp / "known_hosts"
            )
            executor = connect("dbhost", ssh_config=ssh_config)
            try:
                with forward(executor, DB_IP, PORT) as address:
                    s = Site(host, pg, ssh_config, executor, address, passwords)
                    s.first["atlas"] = s.run("atlas")
                    # the soul seeding's part: warden creates a table in a shared database
                    with s.login("warden", "system_skills") as conn:
                        conn.execute("CREATE TABLE skills (id serial PRIMARY KEY, name text)")
                    s.first["orion"] = s.run("orion")
                    yield s
            finally:
                executor.close()


def roles(site: Site) -> dict[str, list[str]]:
    out = site.pg.psql(
        "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit "
        "FROM pg_roles WHERE rolname IN ('atlas', 'orion', 'warden')"
    )
    return {line.split("|")[0]: line.split("|")[1:] for line in out.split()}


def test_warden_creates_the_roles_and_databases_through_the_ssh_forward(site: Site) -> None:
    assert site.first["atlas"] and site.first["orion"]
    assert site.address[0] == "127.0.0.1" and site.address != (DB_IP, PORT)
    found = roles(site)
    assert found["atlas"] == ["t", "f", "f", "f", "t"]  # LOGIN, no superuser/createdb/role
    assert found["orion"] == ["t", "f", "f", "f", "t"]
    assert found["warden"][:2] == ["t", "t"]
    owners = site.pg.psql(
        "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
        "WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY 1"
    ).split()
    assert owners == [
        "atlas_brain|atlas",
        "orion_brain|orion",
        "system_brain|warden",
        "system_ops|warden",
        "system_skills|warden",
    ]
    # the shared databases were created by atlas's run only
    creates = [s for c in site.first["orion"] for s in c.statements]
    assert not any("system_" in st.as_string(None) and "CREATE DATABASE" in st.as_string(None)
                   for st in creates)  # fmt: skip


def test_every_tcp_connection_through_the_forward_came_from_the_gateway_address(
    site: Site,
) -> None:
    lines = site.pg.log().splitlines()
    received = [line for line in lines if "connection received" in line]
    assert any("host=[local]" in line for line in received), "the bootstrap used the socket"
    received = [line for line in received if "host=[local]" not in line]
    assert received, "log_connections shows no connection"
    assert all(f"host={GATEWAY}" in line for line in received), received


def test_a_second_run_over_a_new_connection_plans_nothing_and_keeps_the_passwords(
    site: Site,
) -> None:
    before = {role: site.verifier(role) for role in ("atlas", "orion")}
    executor = connect("dbhost", ssh_config=site.ssh_config)
    try:
        with forward(executor, DB_IP, PORT) as address:
            assert site.plan("atlas", address) == []
            assert site.plan("orion", address) == []
    finally:
        executor.close()
    assert {role: site.verifier(role) for role in ("atlas", "orion")} == before
    assert scram.matches(before["atlas"], site.passwords["atlas"])


def test_each_agent_reads_and_writes_the_table_warden_created_in_system_skills(
    site: Site,
) -> None:
    for agent in ("atlas", "orion"):
        with site.login(agent, "system_skills") as conn:
            conn.execute("INSERT INTO skills (name) VALUES (%s)", (f"{agent}-skill",))
            conn.execute("UPDATE skills SET name = name WHERE name = %s", (f"{agent}-skill",))
            names = [row[0] for row in conn.execute("SELECT name FROM skills")]
            assert f"{agent}-skill" in names
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE mine (x int)")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("TRUNCATE skills")


def test_an_agent_owns_its_brain_and_cannot_create_a_database(site: Site) -> None:
    with site.login("atlas", "atlas_brain") as conn:
        conn.execute("CREATE TABLE notes (body text)")
        conn.execute("INSERT INTO notes VALUES ('remember')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="create database"):
            conn.execute("CREATE DATABASE atlas_extra")


def test_neither_agent_can_open_the_others_brain(site: Site) -> None:
    for user, other in (("atlas", "orion_brain"), ("orion", "atlas_brain")):
        with pytest.raises(HostError, match=r"pg_hba\.conf rejects connection"):
            site.login(user, other).close()


def test_the_revoked_connect_keeps_the_brains_apart_even_with_a_permissive_pg_hba(
    site: Site,
) -> None:
    """The second layer: REVOKE ALL ... FROM PUBLIC holds should pg_hba let them in."""
    original = (site.pg.data / "pg_hba.conf").read_text()
    site.pg.write_hba(
        original.replace(
            "atlas_brain,system_ops,system_brain,system_skills  atlas", "all  atlas"
        ).replace("orion_brain,system_ops,system_brain,system_skills  orion", "all  orion")
    )
    try:
        for user, other in (("atlas", "orion_brain"), ("orion", "atlas_brain")):
            with pytest.raises(HostError, match=f'permission denied for database "?{other}'):
                site.login(user, other).close()
    finally:
        site.pg.write_hba(original)


def test_the_admin_login_is_refused_from_any_address_but_the_gateway(site: Site) -> None:
    result = site.pg.in_jail(
        ["psql", "-X", "-h", DB_IP, "-U", "warden", "-d", "postgres", "-c", "SELECT 1"],
        env={"PGPASSWORD": site.passwords["warden"], "PGCONNECT_TIMEOUT": "5"},
    )
    assert result.returncode != 0
    assert f'pg_hba.conf rejects connection for host "{DB_IP}", user "warden"' in result.stderr


def test_a_wrong_admin_password_is_a_host_error_without_the_password(site: Site) -> None:
    with pytest.raises(HostError) as info:
        session.connect(site.address, "warden", "not-the-Passw0rd", "postgres")
    assert 'password authentication failed for user "warden"' in info.value.message
    assert "not-the-Passw0rd" not in str(info.value)


def test_no_plaintext_password_reaches_the_server_log(site: Site) -> None:
    log = site.pg.log()
    assert 'statement: CREATE ROLE "atlas" WITH LOGIN' in log, "log_statement=all is not on"
    assert "PASSWORD 'SCRAM-SHA-256$4096:" in log
    for name, password in site.passwords.items():
        assert password not in log, f"{name}'s password is in the PostgreSQL log"


def test_an_unreachable_jail_port_is_a_clear_host_error(site: Site) -> None:
    with pytest.raises(HostError) as info, forward(site.executor, DB_IP, 5999):
        pass
    assert info.value.message.startswith(f"cannot reach the db jail {DB_IP}:5999 through dbhost: ")


def test_the_forward_leaves_no_thread_or_listener_behind(site: Site) -> None:
    before = set(threading.enumerate())
    with forward(site.executor, DB_IP, PORT) as address:
        with site.login("atlas", "system_ops", address) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("atlas",)
        listening = address
        assert {t.name for t in set(threading.enumerate()) - before} >= {"warden-db-listener"}
    assert [t for t in set(threading.enumerate()) - before if t.is_alive()] == []
    with pytest.raises(HostError, match="cannot log in"):
        session.connect(listening, "atlas", site.passwords["atlas"], "system_ops", timeout=2)


def test_the_bootstrap_run_again_with_the_same_verifier_changes_nothing(site: Site) -> None:
    before = site.verifier("warden")
    site.pg.psql(bootstrap_admin_sql(before))
    assert site.verifier("warden") == before
    with site.login("warden", "postgres") as conn:
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'warden'").fetchone()[0]


def test_a_cluster_that_fails_to_start_leaves_no_namespace_or_files(site: Site) -> None:
    pg = JailPostgres(
        site.host,
        hba=pg_hba("10.0.9.1", []),
        gateway="10.0.9.1",
        address="10.0.9.5",
        settings={"no_such_setting": "on"},
    )
    with pytest.raises(testhost.TestHostError, match="no_such_setting"):
        pg.start()
    assert pg.netns is None and not pg.tmp.exists()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert f"wd{os.getpid()}n" in listed.stdout  # the site's own namespaces are still there
    links = site.host.exec(["ip", "-o", "link"]).stdout.decode()
    assert links.count("jail") == 1, "the failed jail's veth is gone, the site's remains"

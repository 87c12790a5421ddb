"""infra/ansible/playbooks/postgres.yml against a real PostgreSQL, over real SSH.

The site is test_db_real_postgres's: a test host (real sshd in its own namespaces) and,
behind it, a "db jail" namespace with a real PostgreSQL on 10.0.1.5 that only the host
reaches, with warden's pg_hba and admin role. The host holds warden's secrets files;
the inventory is `invoke ansible.inventory`'s export of the agent's `.env`. Then the
real ansible-playbook (the pinned .venv-ansible) provisions atlas, and warden's own
planner, reading the catalog the playbook left, must find nothing to do: the playbook
applies exactly warden's grants. The server logs every statement: no plaintext
password may appear there.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from setup.commands import ansible_inventory
from setup.db import scram, session
from setup.db.catalog import read_catalog
from setup.db.hba import AgentAccess, pg_hba
from setup.db.provision import DbWants, SqlChange, bootstrap_admin_sql, plan_sql
from setup.db.tunnel import forward
from setup.transport import connect
from tests.harness.site import require_test_hosts
from tests.postgres import JailPostgres
from tests.testhost import TestHost, TestNetwork, write_ssh_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / ".venv-ansible" / "bin"
PLAYBOOK = ROOT / "infra" / "ansible" / "playbooks" / "postgres.yml"
GATEWAY, DB_IP, SUBNET, PORT = "10.0.1.1", "10.0.1.5", "10.0.1.0/24", 5432
SECRETS = "/usr/local/etc/warden/secrets/atlas"
ENV = "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_HOST=dbhost\nWARDEN_ROLES=db\n"


@dataclass
class Site:
    host: TestHost
    pg: JailPostgres
    ssh_config: Path
    inventory: Path
    passwords: dict[str, str]
    tmp: Path

    def playbook(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(ANSIBLE / "ansible-playbook"), "-i", str(self.inventory), str(PLAYBOOK),
                "-e", f"ansible_ssh_common_args='-F {self.ssh_config}'",
                # the test host's own python (Debian's, with python3-psycopg2): the
                # checkout's venvs may sit under /tmp, which a test host hides
                "-e", "ansible_python_interpreter=/usr/bin/python3",
                "-e", "ansible_remote_tmp=/var/tmp/ansible",
                "-e", "warden_psycopg_package=none",
            ],
            cwd=ROOT / "infra" / "ansible",
            capture_output=True, text=True, timeout=300, check=False,
            env={
                "PATH": f"{ANSIBLE}:/usr/bin:/bin", "HOME": str(self.tmp), "LANG": "C.UTF-8",
                "ANSIBLE_CONFIG": str(ROOT / "infra" / "ansible" / "ansible.cfg"),
                "ANSIBLE_LOCAL_TEMP": str(self.tmp / "ansible-local"),
            },
        )  # fmt: skip

    def warden_plan(self, agent: str) -> list[SqlChange]:
        """warden's own db step planner, on the catalog as the playbook left it."""
        executor = connect("dbhost", ssh_config=self.ssh_config)
        try:
            with forward(executor, DB_IP, PORT) as address:

                def admin(dbname: str) -> psycopg.Connection[object]:
                    return session.connect(address, "warden", self.passwords["warden"], dbname)

                with admin("postgres") as conn:
                    catalog = read_catalog(conn, admin)
                return plan_sql(DbWants.for_agent(agent, self.passwords[agent]), catalog)
        finally:
            executor.close()

    def verifier(self, role: str) -> str:
        return self.pg.psql(f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'").strip()


def recap_changed(output: str) -> int:
    found = re.search(r"^atlas\s*:.*\bchanged=(\d+).*\bfailed=(\d+)", output, re.M)
    assert found, output
    assert found.group(2) == "0", output
    return int(found.group(1))


@pytest.fixture(scope="module")
def site(client_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_test_hosts(network=True)
    if not (ANSIBLE / "ansible-playbook").exists():
        pytest.fail(f"{ANSIBLE} missing: bash .ci/install creates .venv-ansible", pytrace=False)
    tmp = tmp_path_factory.mktemp("ansible-site")
    passwords = {name: secrets.token_urlsafe(32) for name in ("warden", "atlas")}
    hba = pg_hba(GATEWAY, [AgentAccess.for_agent("atlas", SUBNET)])
    settings = {"log_statement": "all", "log_connections": "on"}
    with TestNetwork(client_key=client_key) as net:
        host = net.host("dbhost", double=False)
        with JailPostgres(host, hba=hba, gateway=GATEWAY, address=DB_IP, settings=settings) as pg:
            # warden's db step, rounds 1-2: the server, its pg_hba, the admin role, secrets
            pg.psql(bootstrap_admin_sql(scram.verifier(passwords["warden"])))
            host.write_file(f"{SECRETS}/pg-admin", passwords["warden"] + "\n", 0o600)
            host.write_file(f"{SECRETS}/pg-agent", passwords["atlas"] + "\n", 0o600)
            ssh_config = write_ssh_config(
                tmp / "ssh_config", [("dbhost", host, None)], tmp / "known_hosts"
            )
            env = tmp / "atlas.env"
            env.write_text(ENV, encoding="utf-8")
            inventory = tmp / "inventory.yml"
            ansible_inventory.inventory_command([str(env)], None, str(inventory), False)
            yield Site(host, pg, ssh_config, inventory, passwords, tmp)


@pytest.fixture(scope="module")
def runs(site: Site) -> dict[str, subprocess.CompletedProcess[str]]:
    """First run; a table warden creates later (the soul seeding) with an extra grant;
    second run; third run."""
    out = {"first": site.playbook()}
    assert out["first"].returncode == 0, out["first"].stdout + out["first"].stderr
    site.pg.psql(
        "CREATE TABLE skills (id serial PRIMARY KEY, name text);"
        "GRANT TRUNCATE, REFERENCES ON skills TO atlas;",
        dbname="system_skills",
    )
    out["second"] = site.playbook()
    out["third"] = site.playbook()
    return out


def test_the_playbook_leaves_nothing_for_wardens_own_db_step_to_do(
    site: Site, runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    assert recap_changed(runs["first"].stdout) > 0
    assert runs["second"].returncode == 0, runs["second"].stdout
    assert [c.summary for c in site.warden_plan("atlas")] == []


def test_a_run_on_a_provisioned_server_changes_nothing(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    assert recap_changed(runs["second"].stdout) > 0, "the extra TRUNCATE was not revoked"
    assert runs["third"].returncode == 0, runs["third"].stdout
    assert recap_changed(runs["third"].stdout) == 0, runs["third"].stdout


def test_the_agent_logs_in_with_the_hosts_password_and_has_only_its_grants(
    site: Site, runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    assert scram.matches(site.verifier("atlas"), site.passwords["atlas"])
    assert (
        site.pg.psql(
            "SELECT has_table_privilege('atlas', 'skills', 'SELECT'),"
            " has_table_privilege('atlas', 'skills', 'TRUNCATE'),"
            " has_database_privilege('atlas', 'system_skills', 'CREATE'),"
            " has_schema_privilege('atlas', 'public', 'CREATE')",
            dbname="system_skills",
        ).strip()
        == "t|f|f|f"
    )
    owners = site.pg.psql(
        "SELECT datname || ':' || pg_get_userbyid(datdba) FROM pg_database"
        " WHERE datname NOT IN ('postgres', 'template0', 'template1') ORDER BY 1"
    ).split()
    assert owners == [
        "atlas_brain:atlas", "system_brain:warden", "system_ops:warden", "system_skills:warden",
    ]  # fmt: skip


def test_no_password_reaches_the_server_log_or_ansibles_output(
    site: Site, runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    log = site.pg.log()
    assert "CREATE USER" in log or "CREATE ROLE" in log, "log_statement=all saw no role DDL"
    for password in site.passwords.values():
        assert password not in log
        for run in runs.values():
            assert password not in run.stdout and password not in run.stderr
    assert all(f"host={GATEWAY}" in line for line in log.splitlines()
               if "connection received" in line and "[local]" not in line)  # fmt: skip
    assert os.path.getsize(site.inventory) > 0


def test_a_missing_password_file_fails_naming_it_and_what_to_run(
    site: Site, runs: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    site.host.exec(["rm", "-f", f"{SECRETS}/pg-agent"])
    try:
        result = site.playbook()
    finally:
        site.host.write_file(f"{SECRETS}/pg-agent", site.passwords["atlas"] + "\n", 0o600)
    assert result.returncode != 0
    assert f"{SECRETS}/pg-agent is missing" in result.stdout, result.stdout
    assert "invoke setup --step db" in result.stdout

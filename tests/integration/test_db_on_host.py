"""WARDEN_DB_RUNTIME=host end to end: PostgreSQL on the test host itself (Debian's
real PostgreSQL behind the double's port rc script), shared by atlas and vega, each
reaching it on its own .1 through its DSN; warden's SQL goes through the SSH forward
to 127.0.0.1. Every setup runs twice and the second run changes nothing; tearing vega
down dumps its brain, drops it and its role, and takes its address out of the
cluster's settings, leaving atlas as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.site import agent_dsn, operator_for, require_test_hosts, setup_json, sh
from tests.testhost import TestNetwork

pytestmark = pytest.mark.slow

ON_HOST = "WARDEN_ROLES=db\nWARDEN_DB_RUNTIME=host\n"


class Site:
    def __init__(self, network: TestNetwork, home: Path) -> None:
        self.host = network.host("h1")
        self.operator = operator_for(home, self.host)
        self.atlas = self.operator.env_file("atlas", "10.0.1", extra=ON_HOST)
        self.vega = self.operator.env_file("vega", "10.0.3", extra=ON_HOST)
        self.runs: dict[str, dict[str, Any]] = {}
        for name, env in (("atlas", self.atlas), ("atlas again", self.atlas),
                          ("vega", self.vega), ("vega again", self.vega),
                          ("atlas after vega", self.atlas)):  # fmt: skip
            self.runs[name] = setup_json(self.operator, env)


@pytest.fixture(scope="module")
def site(client_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_test_hosts(network=True)
    with TestNetwork(client_key=client_key) as network:
        yield Site(network, tmp_path_factory.mktemp("dbhost") / "home")


def test_the_host_cluster_is_set_up_once_and_a_second_run_changes_nothing(site: Site) -> None:
    first = [c for s in site.runs["atlas"]["applied"] for c in s["changes"]]
    assert any("install packages: postgresql17-server" in c for c in first), first
    for name in ("atlas again", "vega again", "atlas after vega"):
        assert site.runs[name]["change_count"] == 0, site.runs[name]
    assert "db" not in " ".join(sh(site.host, "bastille list jails").split())
    entry = json.loads(site.host.read_file("/var/db/warden/agents/vega.json"))
    assert entry["db_runtime"] == "host" and entry["jails"] == {}


def test_each_agent_reaches_its_own_brain_on_its_gateway_and_not_the_others(site: Site) -> None:
    atlas, vega = agent_dsn(site, "atlas"), agent_dsn(site, "vega")
    assert atlas.endswith("@10.0.1.1:5432/atlas_brain")
    assert vega.endswith("@10.0.3.1:5432/vega_brain")
    query = "select current_user, current_database()"
    assert sh(site.host, f"psql -X -A -t {atlas!r} -c {query!r}").strip() == "atlas|atlas_brain"
    assert sh(site.host, f"psql -X -A -t {vega!r} -c {query!r}").strip() == "vega|vega_brain"
    for dsn, other in ((vega, "atlas_brain"), (atlas, "vega_brain")):
        mine = dsn.rsplit("/", 1)[1]
        refused = site.host.exec(f"psql -X {dsn.replace(mine, other)!r} -c 'select 1'", check=False)
        assert refused.returncode != 0, f"{dsn.split('@')[0]} opened {other}"
    conf = site.host.read_file("/usr/local/etc/warden/postgresql/conf.d/warden.conf").decode()
    assert "listen_addresses = 'localhost,10.0.1.1,10.0.3.1'" in conf
    mode = sh(site.host, "ls -ln /usr/local/etc/warden/secrets/postgresql-host/pg-admin")
    assert mode.split()[0] == "-rw-------"


def test_the_admin_role_logs_in_only_from_the_loopback(site: Site) -> None:
    hba = site.host.read_file("/usr/local/etc/warden/postgresql/pg_hba.conf").decode()
    rows = [line.split() for line in hba.splitlines() if not line.startswith("#")]
    assert [r for r in rows if len(r) > 2 and r[2] == "warden"] == [
        ["host", "all", "warden", "127.0.0.1/32", "scram-sha-256"]
    ]
    assert "trust" not in [r[-1] for r in rows]


def test_status_reports_the_hosts_postgresql_for_each_agent(site: Site) -> None:
    for env in (site.atlas, site.vega):
        result = site.operator.warden("status", "--env", str(env), "--json")
        assert result.returncode == 0, result.stdout + result.stderr
        agent = json.loads(result.stdout)["hosts"][0]["agents"][0]
        checks = {c["check"]: c for c in agent["checks"]}
        assert checks["db service"] == {
            "check": "db service",
            "ok": True,
            "detail": "postgresql running on this host",
        }


def test_teardown_of_vega_dumps_drops_and_leaves_atlas_as_it_was(site: Site) -> None:
    dsn = agent_dsn(site, "vega")
    sh(site.host, f"psql -X -q {dsn!r} -c 'create table memory (note text)'")
    result = site.operator.warden("teardown", "--env", str(site.vega), "--yes", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    (dump,) = [d for d in sh(site.host, "ls /var/db/warden/dumps").split() if d.startswith("vega")]
    assert site.host.read_file(f"/var/db/warden/dumps/{dump}")[:5] == b"PGDMP"
    as_postgres = "su -l postgres -c 'exec psql -X -A -t -d postgres -c \"{}\"'"
    databases = sh(site.host, as_postgres.format("select datname from pg_database")).split()
    assert "vega_brain" not in databases and "atlas_brain" in databases
    roles = sh(site.host, as_postgres.format("select rolname from pg_roles")).split()
    assert "vega" not in roles and "atlas" in roles
    conf = site.host.read_file("/usr/local/etc/warden/postgresql/conf.d/warden.conf").decode()
    assert "listen_addresses = 'localhost,10.0.1.1'" in conf
    again = setup_json(site.operator, site.atlas)
    assert again["change_count"] == 0, again
    atlas = agent_dsn(site, "atlas")
    assert sh(site.host, f"psql -X -A -t {atlas!r} -c 'select 1'").strip() == "1"

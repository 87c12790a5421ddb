"""WARDEN_DB_RUNTIME=host: one PostgreSQL cluster on the host for every agent whose
.env says so, its settings computed from the registry, no db jail."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from setup.config import AgentConfig, ConfigError
from setup.db.catalog import Catalog
from setup.db.server import HOST_CONF, HOST_HBA, HOST_SECRETS
from setup.domains import HostUser
from setup.facts import Facts, Section
from setup.registry import entry_for, owned_roles
from setup.steps import db
from setup.teardown import KEPT_DB, KeptDb, plan_teardown
from tests.harness.agents import agent, with_registered
from tests.harness.facts import ready_host

ATLAS = "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=db\nWARDEN_DB_RUNTIME=host\n"
VEGA = "AGENT_NAME=vega\nAGENT_SUBNET_BASE=10.0.3\nWARDEN_ROLES=db\nWARDEN_DB_RUNTIME=host\n"


@pytest.fixture
def atlas(tmp_path: Path) -> AgentConfig:
    return agent(tmp_path, ATLAS, name="atlas.env")


@pytest.fixture
def vega(tmp_path: Path) -> AgentConfig:
    return agent(tmp_path, VEGA, name="vega.env")


def summaries(config: AgentConfig, facts: Facts) -> list[str]:
    step = db.plan(config, facts)
    assert step.refusals == []
    return [c.summary for c in step.changes]


def running_host(config: AgentConfig, *others: AgentConfig) -> Facts:
    """The host cluster installed, initialised, including warden's settings, running
    with the settings every registered host agent computes; the secrets in place."""
    facts = with_registered(ready_host(config), *others, config)
    where = db.server(config, facts)
    assert isinstance(where, db.Server)
    ls = "\n".join(
        f"{kind}  1 0 0 44 Dec  5 01:00 {path}"
        for kind, path in (
            ("drwx------", db.secrets_dir(config.agent_name)),
            ("drwx------", HOST_SECRETS),
            ("-rw-------", f"{HOST_SECRETS}/pg-admin"),
            ("-rw-------", db.agent_secret(config)),
        )
    )
    return replace(
        facts,
        packages={**facts.packages, "postgresql17-server": True, "postgresql17-client": True},
        rc_conf={**facts.rc_conf, "postgresql_enable": "YES"},
        files={**facts.files, HOST_CONF: where.host_conf(), HOST_HBA: where.hba},
        probes={
            **facts.probes,
            "db.secrets": Section(ls + "\n", 0),
            "db.host": Section("initdb=yes\ninclude=yes\nrunning=yes\n", 0),
        },
    )


def test_a_host_database_needs_no_jail_and_records_its_runtime(atlas: AgentConfig) -> None:
    assert owned_roles(atlas) == []
    entry = entry_for(atlas, ready_host(atlas))
    assert entry.db_runtime == "host" and entry.jails == {}
    assert '"db_runtime": "host"' in entry.to_json()


def test_the_host_cluster_is_installed_initialised_configured_and_started_once(
    atlas: AgentConfig,
) -> None:
    plan = summaries(atlas, with_registered(ready_host(atlas), atlas))
    assert (
        plan[0]
        == "install packages: postgresql17-server, postgresql17-client (PostgreSQL 17 on this host)"
    )
    assert "rc.conf: postgresql_enable='YES' (unset): PostgreSQL at boot" in plan
    assert any(s.startswith("initdb the host's cluster in /var/db/postgres/data17") for s in plan)
    assert any("include warden's settings" in s for s in plan)
    assert "start PostgreSQL" in plan
    assert not any("jail" in s for s in plan)
    assert plan[-1].startswith("then, once PostgreSQL runs on this host")


def test_the_host_cluster_listens_on_each_host_agents_gateway_and_lets_each_in_from_its_subnet(
    atlas: AgentConfig, vega: AgentConfig
) -> None:
    where = db.server(vega, with_registered(ready_host(vega), atlas, vega))
    assert isinstance(where, db.Server)
    assert "listen_addresses = 'localhost,10.0.1.1,10.0.3.1'" in where.host_conf()
    rows = [line.split() for line in where.hba.splitlines() if not line.startswith("#")]
    assert ["host", "all", "warden", "127.0.0.1/32", "scram-sha-256"] in rows
    assert ["host", "vega_brain,system_ops,system_brain,system_skills", "vega", "10.0.3.0/24",
            "scram-sha-256"] in rows  # fmt: skip
    assert str(where.address) == "10.0.3.1" and str(where.admin_address) == "127.0.0.1"
    assert where.admin_secret == f"{HOST_SECRETS}/pg-admin"


def test_a_second_host_agent_restarts_the_cluster_for_its_address_and_the_first_then_agrees(
    atlas: AgentConfig, vega: AgentConfig
) -> None:
    facts = running_host(atlas)
    # vega arrives: the settings of atlas's run are stale for vega's address
    seen = replace(facts, registry=with_registered(facts, vega).registry)
    plan = summaries(vega, replace(seen, users={**seen.users, "vega": 2002}))
    assert any(s.startswith("warden's PostgreSQL settings") for s in plan)
    assert any(s.startswith("restart PostgreSQL: its listen addresses changed") for s in plan)
    # once both are registered and the files written, atlas's run plans nothing there
    both = running_host(atlas, vega)
    assert not [s for s in summaries(atlas, both) if "PostgreSQL" in s and "then" not in s]


def test_an_installed_server_of_another_version_is_refused(atlas: AgentConfig) -> None:
    facts = with_registered(ready_host(atlas), atlas)
    facts = replace(facts, packages={**facts.packages, "postgresql16-server": True})
    (refusal,) = db.plan(atlas, facts).refusals
    assert refusal.code == "db.host-version-mismatch"
    assert "WARDEN_PG_VERSION=17, but this host has postgresql16-server installed" in refusal


def test_the_admin_role_is_bootstrapped_as_postgres_on_the_hosts_socket(atlas: AgentConfig) -> None:
    state = db.DbState(
        reachable=True, problem="password authentication failed", admin_password="a" * 43,
        agent_password="b" * 43, credentials="",
    )  # fmt: skip
    step = db.plan(atlas, running_host(atlas).with_extra("db", state))
    (change,) = step.changes
    assert change.secret and "on this host" in change.summary
    # as the port's postgres account, through warden's one as-user primitive: no login
    # shell and no startup file of postgres' run
    assert change.ops[0].domain == HostUser("postgres", "postgres", "/var/db/postgres")
    assert (
        "chroot -u postgres -g postgres -G postgres / /usr/bin/env -i HOME=/var/db/postgres"
        in change.commands[0]
    )
    assert "'psql -X -q -v ON_ERROR_STOP=1 -d postgres' <<" in change.sh()


def test_the_dsn_names_the_agents_own_gateway(atlas: AgentConfig) -> None:
    state = db.DbState(
        reachable=True, admin_ok=True, catalog=Catalog(roles={}, databases={}, inside={}),
        admin_password="a" * 43, agent_password="b" * 43, credentials="",
    )  # fmt: skip
    step = db.plan(atlas, running_host(atlas).with_extra("db", state))
    (dsn,) = [c for c in step.changes if "DSN" in c.summary]
    assert "@10.0.1.1:5432/atlas_brain" in dsn.files[0].content


def test_db_runtime_host_with_a_db_agent_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        agent(tmp_path, VEGA + "WARDEN_DB_AGENT=atlas\n")
    assert "WARDEN_DB_RUNTIME" in str(caught.value) and "WARDEN_DB_AGENT=atlas" in str(caught.value)


def test_teardown_of_a_host_agent_dumps_drops_and_takes_its_address_out(
    atlas: AgentConfig, vega: AgentConfig
) -> None:
    facts = running_host(vega, atlas)
    where = db.server(vega, facts)
    assert isinstance(where, db.Server)
    facts = facts.with_extra(KEPT_DB, KeptDb(True, True, True, where.hba, where.host_conf()))
    plan = [c.summary for c in plan_teardown(vega, facts, keep_data=False, force=False).changes]
    dump = next(i for i, s in enumerate(plan) if s.startswith("dump database vega_brain"))
    drop = next(i for i, s in enumerate(plan) if s.startswith("drop database vega_brain"))
    assert dump < drop and "this host" in plan[dump]
    assert "restart PostgreSQL without vega's address" in plan
    (settings,) = [
        c for c in plan_teardown(vega, facts, keep_data=False, force=False).changes
        if c.summary.startswith("warden's PostgreSQL settings")
    ]  # fmt: skip
    conf = next(f.content for f in settings.files if f.path == HOST_CONF)
    assert "listen_addresses = 'localhost,10.0.1.1'" in conf


def test_a_cluster_warden_did_not_make_is_refused_not_taken_over(atlas: AgentConfig) -> None:
    facts = with_registered(ready_host(atlas), atlas)
    facts = replace(
        facts,
        packages={**facts.packages, "postgresql17-server": True},
        probes={**facts.probes, "db.host": Section("initdb=yes\nrunning=yes\n", 0)},
    )
    (refusal,) = db.plan(atlas, facts).refusals
    assert refusal.code == "db.host-cluster-not-warden"
    assert "already has a PostgreSQL cluster in /var/db/postgres/data17 that warden did not" in (
        refusal
    )

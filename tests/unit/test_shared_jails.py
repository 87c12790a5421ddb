"""Shared jails (WARDEN_DB_AGENT, WARDEN_LLM_AGENT): the borrowing is recorded in the
registry, the lender's pg_hba.conf and pf let the borrower in, nothing is created for
the borrower, and the lender cannot be torn down while it lasts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from setup.config import AgentConfig
from setup.db.catalog import Catalog
from setup.domains import JailUser, Location
from setup.facts import Facts, Section
from setup.registry import borrowers, entry_for, load_entries
from setup.shared import pass_rules
from setup.steps import db, pf
from setup.teardown import KEPT_DB, KeptDb, plan_teardown
from tests.harness.agents import agent, with_registered
from tests.harness.facts import db_ready, ready_host

ATLAS = "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=db,ollama\n"
VEGA = (
    "AGENT_NAME=vega\nAGENT_SUBNET_BASE=10.0.3\nWARDEN_ROLES=db,ollama\n"
    "WARDEN_DB_AGENT=atlas\nWARDEN_LLM_AGENT=atlas\n"
)
NS = "WARDEN_NAMESERVER=192.0.2.53\n"


@pytest.fixture
def atlas(tmp_path: Path) -> AgentConfig:
    return agent(tmp_path, ATLAS + NS, name="atlas.env")


@pytest.fixture
def vega(tmp_path: Path) -> AgentConfig:
    return agent(tmp_path, VEGA + NS, name="vega.env")


def state(hba: str | None = None) -> db.DbState:
    return db.DbState(
        reachable=True,
        admin_ok=True,
        hba=hba,
        catalog=Catalog(roles={}, databases={}, inside={}),
        admin_password="a" * 43,
        agent_password="b" * 43,
        credentials="",
    )


def borrower_host(atlas: AgentConfig, vega: AgentConfig, hba: str | None = None) -> Facts:
    """atlas registered with its db jail; vega registered; vega's secrets in place."""
    facts = with_registered(ready_host(vega), atlas, vega)
    ls = (
        f"drwx------  2 0 0 512 Dec  5 01:00 {db.secrets_dir('vega')}\n"
        f"-rw-------  1 0 0 44 Dec  5 01:00 {db.agent_secret(vega)}\n"
    )
    facts = replace(facts, probes={**facts.probes, "db.secrets": Section(ls, 0)})
    return facts.with_extra("db", state(hba))


def test_the_registry_records_what_an_agent_borrows_and_keeps_old_entries_bytes(
    atlas: AgentConfig, vega: AgentConfig
) -> None:
    facts = with_registered(ready_host(vega), atlas)
    mine = json.loads(entry_for(vega, facts).to_json())
    assert mine["borrows"] == {"db": "atlas", "ollama": "atlas"}
    assert mine["jails"] == {} and mine["addresses"] == {}
    assert "borrows" not in json.loads(entry_for(atlas, facts).to_json())
    entries, _ = load_entries(with_registered(facts, vega))
    assert [e.agent for e in borrowers(entries, "atlas")] == ["vega"]


def test_a_borrower_is_refused_until_its_lender_is_registered_with_that_jail(
    tmp_path: Path, vega: AgentConfig
) -> None:
    step = db.plan(vega, ready_host(vega))
    assert step.refusals == [
        "db: WARDEN_DB_AGENT=atlas, but no agent atlas is registered on this host: set atlas "
        "up first, with db in its WARDEN_ROLES"
    ]
    jailless = agent(tmp_path, "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=git\n")
    (refusal,) = db.plan(vega, with_registered(ready_host(vega), jailless)).refusals
    assert "atlas has no db jail of its own on this host" in refusal


def test_a_borrower_gets_its_role_on_the_lenders_server_and_no_jail(
    atlas: AgentConfig, vega: AgentConfig
) -> None:
    where = db.server(vega, borrower_host(atlas, vega))
    assert isinstance(where, db.Server)
    assert (where.owner, where.jail, str(where.address), where.mine) == (
        "atlas",
        "atlasdb",
        "10.0.1.5",
        False,
    )
    assert where.admin_secret == "/usr/local/etc/warden/secrets/atlas/pg-admin"
    step = db.plan(vega, borrower_host(atlas, vega, hba=where.hba))
    assert step.refusals == []
    assert not any("jail" in c.summary and "create" in c.summary for c in step.changes)
    sql = [c.summary for c in step.changes if c.sql is not None]
    assert any("vega_brain" in s for s in sql)
    (dsn,) = [c for c in step.changes if "DSN" in c.summary]
    assert "@10.0.1.5:5432/vega_brain" in dsn.files[0].content


def test_the_lenders_pg_hba_lets_the_borrower_in_from_the_hosts_address_and_its_subnet(
    atlas: AgentConfig, vega: AgentConfig
) -> None:
    facts = borrower_host(atlas, vega, hba="# the lender's first pg_hba.conf\n")
    (change,) = [c for c in db.plan(vega, facts).changes if "pg_hba.conf" in c.summary]
    wanted = change.files[0].content
    # the lender's jail's file, written from inside that jail
    assert change.files[0].location == Location(
        JailUser("atlasdb"), "/usr/local/etc/warden/pg_hba.conf"
    )
    rows = [line.split() for line in wanted.splitlines() if not line.startswith("#")]
    assert ["host", "vega_brain,system_ops,system_brain,system_skills", "vega", "10.0.1.1/32",
            "scram-sha-256"] in rows  # fmt: skip
    assert ["host", "vega_brain,system_ops,system_brain,system_skills", "vega", "10.0.3.0/24",
            "scram-sha-256"] in rows  # fmt: skip
    assert not any("atlas_brain" in row[1] and row[2] == "vega" for row in rows if len(row) > 2)
    assert "jexec -l -U root atlasdb /bin/sh -c" in change.sh()
    assert "'service postgresql reload'" in change.sh()
    # the owner computes the same bytes: its own run plans no pg_hba change
    owner = db_ready(atlas, replace(state(), hba=wanted))
    owner = replace(owner, registry={**owner.registry, **borrower_host(atlas, vega).registry})
    assert not [c for c in db.plan(atlas, owner).changes if "pg_hba" in c.summary]


def test_pf_lets_a_borrower_reach_only_the_lent_port_before_blocking_other_subnets(
    atlas: AgentConfig, vega: AgentConfig
) -> None:
    facts = borrower_host(atlas, vega)
    everyone = pf.agents(vega, facts)
    rules = [(r.borrower, r.role, r.address, r.port) for r in pass_rules(everyone)]
    assert rules == [("vega", "db", "10.0.1.5", 5432), ("vega", "ollama", "10.0.1.4", 11434)]
    (load,) = [c for c in pf.plan(vega, facts).changes if c.files]
    include = load.files[0].content
    lent = "pass in quick on $warden_if inet proto tcp from 10.0.3.0/24 to 10.0.1.5 port 5432"
    block = "block in quick on $warden_if inet from 10.0.3.0/24 to { 10.0.1.0/24 }"
    assert include.index(lent) < include.index(block)


def test_the_lender_cannot_be_torn_down_while_another_agent_uses_its_jail(
    atlas: AgentConfig, vega: AgentConfig
) -> None:
    facts = borrower_host(atlas, vega)
    (refusal,) = plan_teardown(atlas, facts, keep_data=False, force=True).steps[0].refusals
    assert "vega uses its db, ollama jail" in refusal


def test_a_borrowers_teardown_dumps_then_drops_its_database_on_the_lenders_server(
    atlas: AgentConfig, vega: AgentConfig
) -> None:
    where = db.server(vega, borrower_host(atlas, vega))
    assert isinstance(where, db.Server)
    facts = replace(borrower_host(atlas, vega), jails_defined=("atlasdb",))
    facts = facts.with_extra(KEPT_DB, KeptDb(True, True, True, where.hba))
    summaries = [
        c.summary for c in plan_teardown(vega, facts, keep_data=False, force=False).changes
    ]
    dump = next(i for i, s in enumerate(summaries) if s.startswith("dump database vega_brain"))
    drop = next(i for i, s in enumerate(summaries) if s.startswith("drop database vega_brain"))
    assert dump < drop and "atlasdb" in summaries[dump]
    assert any(s.startswith("pg_hba.conf of atlasdb without vega") for s in summaries)
    assert not any("destroy jail" in s for s in summaries)
    # a re-run after it finished: nothing of vega is left on atlas's server
    done = facts.with_extra(KEPT_DB, KeptDb(True, False, False, borrowed_hba_without(atlas)))
    again = [c.summary for c in plan_teardown(vega, done, keep_data=False, force=False).changes]
    assert not any("vega_brain" in s or "pg_hba" in s for s in again)


def borrowed_hba_without(atlas: AgentConfig) -> str:
    return db.hba.pg_hba(atlas.gateway, [db.hba.AgentAccess.for_agent("atlas", atlas.subnet)])


def test_a_shared_llm_jail_creates_nothing_and_needs_its_lender(
    atlas: AgentConfig, vega: AgentConfig
) -> None:
    from setup.steps import ollama

    (refusal,) = ollama.STEP.plan(vega, ready_host(vega)).refusals
    assert refusal.startswith("ollama: WARDEN_LLM_AGENT=atlas, but no agent atlas is registered")
    step = ollama.STEP.plan(vega, with_registered(ready_host(vega), atlas))
    assert step.refusals == [] and step.changes == []


def test_moving_a_database_to_another_agents_jail_is_refused(
    atlas: AgentConfig, vega: AgentConfig, tmp_path: Path
) -> None:
    own = agent(tmp_path, "AGENT_NAME=vega\nAGENT_SUBNET_BASE=10.0.3\nWARDEN_ROLES=db\n" + NS)
    facts = with_registered(ready_host(vega), atlas, own)  # vega was set up with its own jail
    (refusal,) = db.plan(vega, facts).refusals
    assert refusal.startswith("db: vega's database is on its own db jail vegadb, and the .env")
    assert "WARDEN_DB_AGENT=atlas" in refusal and "warden does not move a database" in refusal


def test_a_borrowed_role_without_its_role_in_warden_roles_is_bad_input(tmp_path: Path) -> None:
    from setup.config import ConfigError

    for key, roles in (("WARDEN_DB_AGENT", "git"), ("WARDEN_LLM_AGENT", "db")):
        text = f"AGENT_NAME=vega\nAGENT_SUBNET_BASE=10.0.3\nWARDEN_ROLES={roles}\n{key}=atlas\n"
        with pytest.raises(ConfigError) as caught:
            agent(tmp_path, text)
        assert f"{key}" in str(caught.value) and "atlas" in str(caught.value)


def test_a_registry_entry_with_an_unknown_borrowed_role_is_unreadable_not_a_crash(
    atlas: AgentConfig,
) -> None:
    facts = with_registered(ready_host(atlas), atlas)
    bad = json.loads(facts.registry["atlas"])
    bad["borrows"] = {"mail": "orion"}
    entries, unreadable = load_entries(replace(facts, registry={"atlas": json.dumps(bad)}))
    assert entries == {} and unreadable == [
        "/var/db/warden/agents/atlas.json is not a valid registry entry"
    ]


def test_teardown_stops_the_agent_before_the_dump_and_keeps_data_but_not_access(
    atlas: AgentConfig, vega: AgentConfig
) -> None:
    where = db.server(vega, borrower_host(atlas, vega))
    assert isinstance(where, db.Server)
    facts = replace(borrower_host(atlas, vega), jails_defined=("atlasdb",))
    facts = replace(facts, probes={**facts.probes, "teardown.service": Section("", 0)})
    facts = facts.with_extra(KEPT_DB, KeptDb(True, True, True, where.hba))
    plan = [c.summary for c in plan_teardown(vega, facts, keep_data=False, force=False).changes]
    assert plan.index("stop agent vega") < next(
        i for i, s in enumerate(plan) if s.startswith("dump database")
    )
    kept = [c.summary for c in plan_teardown(vega, facts, keep_data=True, force=False).changes]
    assert not any(s.startswith("drop database") for s in kept)
    assert any(s.startswith("pg_hba.conf of atlasdb without vega") for s in kept)


def test_the_drop_reaches_every_plain_named_database_the_role_may_hold_grants_in() -> None:
    from setup.db.provision import drop_agent_sql

    text = drop_agent_sql("vega", ("atlas_brain", "postgres", "system_ops", "vega_brain", "x y"))
    connects = [line.split()[1] for line in text.splitlines() if line.startswith("\\connect")]
    assert connects == ["system_ops", "atlas_brain", "postgres", "postgres"]
    assert text.index('DROP DATABASE IF EXISTS "vega_brain" WITH (FORCE);') < text.index(
        'DROP ROLE "vega";'
    )

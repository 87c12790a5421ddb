"""plan_sql on catalogs as PostgreSQL reports them; the SQL text it would send."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest

from setup.db import scram
from setup.db.catalog import PUBLIC, Catalog, Database, Inside, Relation, Role
from setup.db.hba import AgentAccess, pg_hba
from setup.db.names import SHARED_DATABASES, agent_role, brain_database
from setup.db.provision import DbWants, SqlChange, bootstrap_admin_sql, plan_sql
from setup.db.session import describe

PW = "Zq3-generated-Passw0rd"
WANTS = DbWants.for_agent("atlas", PW)
DB_ALL = ("CREATE", "CONNECT", "TEMPORARY")
TABLE_ALL = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def text(change: SqlChange) -> list[str]:
    return [stmt.as_string(None) for stmt in change.statements]


def superuser(name: str) -> Role:
    return Role(name, True, True, True, True, True, True, True, verifier=scram.verifier("x"))


def agent(name: str = "atlas", password: str = PW, **overrides: bool) -> Role:
    attrs = dict(
        login=True, superuser=False, createdb=False, createrole=False, inherit=True,
        replication=False, bypassrls=False,
    )  # fmt: skip
    attrs.update(overrides)
    return Role(name, verifier=scram.verifier(password), **attrs)


def owner_acl(owner: str, privs: tuple[str, ...]) -> set[tuple[str, str]]:
    return {(owner, p) for p in privs}


def empty_server() -> Catalog:
    """initdb's cluster after the bootstrap: postgres and warden, the three template dbs."""
    dbs = {
        name: Database(
            name,
            "postgres",
            frozenset(owner_acl("postgres", DB_ALL) | {(PUBLIC, "CONNECT"), (PUBLIC, "TEMPORARY")}),
        )
        for name in ("postgres", "template0", "template1")
    }
    roles = {"postgres": superuser("postgres"), "warden": superuser("warden")}
    return Catalog(roles=roles, databases=dbs, inside={})


def shared_inside(agents: tuple[str, ...] = ("atlas",)) -> Inside:
    """A shared database's schema public on PostgreSQL 15 after warden's grants."""
    schema = {("pg_database_owner", "USAGE"), ("pg_database_owner", "CREATE"), (PUBLIC, "USAGE")}
    tables: set[tuple[str, str]] = set()
    sequences: set[tuple[str, str]] = set()
    rel_table = owner_acl("warden", TABLE_ALL)
    rel_seq = owner_acl("warden", ("USAGE", "SELECT", "UPDATE"))
    for a in agents:
        schema.add((a, "USAGE"))
        tables |= owner_acl(a, ("SELECT", "INSERT", "UPDATE", "DELETE"))
        sequences |= owner_acl(a, ("USAGE", "SELECT", "UPDATE"))
    return Inside(
        public_schema=frozenset(schema),
        default_acl={"table": frozenset(tables), "sequence": frozenset(sequences)},
        relations=(
            Relation("skills", "table", frozenset(rel_table | tables)),
            Relation("skills_id_seq", "sequence", frozenset(rel_seq | sequences)),
        ),
    )


def provisioned() -> Catalog:
    """What the server holds once atlas is fully provisioned (as read back from PG 15)."""
    base = empty_server()
    dbs = dict(base.databases)
    dbs["atlas_brain"] = Database("atlas_brain", "atlas", frozenset(owner_acl("atlas", DB_ALL)))
    for name in SHARED_DATABASES:
        acl = owner_acl("warden", DB_ALL) | {("atlas", "CONNECT")}
        dbs[name] = Database(name, "warden", frozenset(acl))
    return Catalog(
        roles={**base.roles, "atlas": agent()},
        databases=dbs,
        inside={name: shared_inside() for name in SHARED_DATABASES},
    )


def with_inside(catalog: Catalog, name: str, inside: Inside) -> Catalog:
    return dataclasses.replace(catalog, inside={**catalog.inside, name: inside})


# ------------------------------------------------------------------ plan_sql


def test_an_empty_server_gets_the_role_the_brain_and_the_three_shared_databases() -> None:
    changes = plan_sql(WANTS, empty_server())
    sqls = [s for c in changes for s in text(c)]
    assert sqls[0].startswith('CREATE ROLE "atlas" WITH LOGIN NOSUPERUSER NOCREATEDB')
    assert " INHERIT " in sqls[0] and "PASSWORD 'SCRAM-SHA-256$4096:" in sqls[0]
    verifier = sqls[0].split("PASSWORD ")[1].strip("'")
    assert scram.matches(verifier, PW)
    assert sqls[1:3] == [
        'CREATE DATABASE "atlas_brain" OWNER "atlas"',
        'REVOKE ALL ON DATABASE "atlas_brain" FROM PUBLIC',
    ]
    for name in SHARED_DATABASES:
        assert f'CREATE DATABASE "{name}" OWNER "warden"' in sqls
        assert f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC' in sqls
        assert f'GRANT CONNECT ON DATABASE "{name}" TO "atlas"' in sqls
    creates = [c for c in changes if any("CREATE DATABASE" in s for s in text(c))]
    assert len(creates) == 4 and all(c.autocommit for c in creates)
    assert all(not c.autocommit for c in changes if c not in creates)
    skills = [c for c in changes if c.database == "system_skills"]
    assert [s for c in skills for s in text(c)] == [
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        'GRANT USAGE ON SCHEMA public TO "atlas"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "warden" IN SCHEMA public '
        'GRANT DELETE, INSERT, SELECT, UPDATE ON TABLES TO "atlas"',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "warden" IN SCHEMA public '
        'GRANT SELECT, UPDATE, USAGE ON SEQUENCES TO "atlas"',
    ]


def test_no_statement_carries_the_plaintext_password() -> None:
    changes = plan_sql(WANTS, empty_server())
    assert changes and all(PW not in s for c in changes for s in text(c))
    assert PW not in repr(WANTS) and PW not in repr(changes)


def test_a_fully_provisioned_server_gets_no_change() -> None:
    assert plan_sql(WANTS, provisioned()) == []


def test_a_wrong_stored_password_gets_one_alter_role_with_a_new_verifier() -> None:
    catalog = provisioned()
    catalog = dataclasses.replace(
        catalog, roles={**catalog.roles, "atlas": agent(password="an-old-password")}
    )
    [change] = plan_sql(WANTS, catalog)
    [stmt] = text(change)
    assert stmt.startswith('ALTER ROLE "atlas" WITH PASSWORD \'SCRAM-SHA-256$4096:')
    assert scram.matches(stmt.split("PASSWORD ")[1].strip("'"), PW)
    assert "password" in change.summary and change.database == "postgres"


def test_an_md5_or_missing_password_is_replaced_by_a_verifier() -> None:
    for stored in ("md5" + "a" * 32, None):
        catalog = provisioned()
        role = dataclasses.replace(agent(), verifier=stored)
        catalog = dataclasses.replace(catalog, roles={**catalog.roles, "atlas": role})
        [change] = plan_sql(WANTS, catalog)
        assert text(change)[0].startswith('ALTER ROLE "atlas" WITH PASSWORD')


def test_a_superuser_agent_role_is_brought_back_to_least_privilege_keeping_its_password() -> None:
    catalog = provisioned()
    role = agent(superuser=True, createdb=True, inherit=False)
    catalog = dataclasses.replace(catalog, roles={**catalog.roles, "atlas": role})
    [change] = plan_sql(WANTS, catalog)
    assert text(change) == [
        'ALTER ROLE "atlas" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT '
        "NOREPLICATION NOBYPASSRLS"
    ]


def test_a_missing_connect_grant_is_one_change() -> None:
    catalog = provisioned()
    db = catalog.databases["system_skills"]
    dbs = {**catalog.databases, "system_skills": dataclasses.replace(
        db, acl=db.acl - {("atlas", "CONNECT")})}  # fmt: skip
    [change] = plan_sql(WANTS, dataclasses.replace(catalog, databases=dbs))
    assert text(change) == ['GRANT CONNECT ON DATABASE "system_skills" TO "atlas"']
    assert change.database == "postgres" and not change.autocommit


def test_an_extra_temporary_grant_on_a_shared_database_is_revoked() -> None:
    catalog = provisioned()
    db = catalog.databases["system_ops"]
    dbs = {**catalog.databases, "system_ops": dataclasses.replace(
        db, acl=db.acl | {("atlas", "TEMPORARY")})}  # fmt: skip
    [change] = plan_sql(WANTS, dataclasses.replace(catalog, databases=dbs))
    assert text(change) == ['REVOKE TEMPORARY ON DATABASE "system_ops" FROM "atlas"']


def test_public_connect_on_the_brain_is_revoked_so_other_agents_cannot_open_it() -> None:
    catalog = provisioned()
    brain = catalog.databases["atlas_brain"]
    dbs = {**catalog.databases, "atlas_brain": dataclasses.replace(
        brain, acl=brain.acl | {(PUBLIC, "CONNECT")})}  # fmt: skip
    [change] = plan_sql(WANTS, dataclasses.replace(catalog, databases=dbs))
    assert text(change) == ['REVOKE ALL ON DATABASE "atlas_brain" FROM PUBLIC']


def test_a_brain_owned_by_someone_else_is_given_to_the_agent() -> None:
    catalog = provisioned()
    dbs = {**catalog.databases, "atlas_brain": Database(
        "atlas_brain", "warden", frozenset(owner_acl("warden", DB_ALL)))}  # fmt: skip
    [change] = plan_sql(WANTS, dataclasses.replace(catalog, databases=dbs))
    assert text(change) == ['ALTER DATABASE "atlas_brain" OWNER TO "atlas"']


def test_a_table_created_before_the_agent_existed_gets_its_grants_in_one_change() -> None:
    catalog = with_inside(provisioned(), "system_brain", shared_inside(agents=()))
    inside = catalog.inside["system_brain"]
    with_defaults = dataclasses.replace(inside, default_acl=shared_inside().default_acl)
    schema = (inside.public_schema or frozenset()) | {("atlas", "USAGE")}
    catalog = with_inside(catalog, "system_brain", dataclasses.replace(
        with_defaults, public_schema=schema))  # fmt: skip
    [change] = plan_sql(WANTS, catalog)
    assert change.database == "system_brain"
    assert text(change) == [
        'GRANT DELETE, INSERT, SELECT, UPDATE ON ALL TABLES IN SCHEMA public TO "atlas"',
        'GRANT SELECT, UPDATE, USAGE ON ALL SEQUENCES IN SCHEMA public TO "atlas"',
    ]


def test_extra_table_and_schema_privileges_are_revoked() -> None:
    inside = shared_inside()
    table, seq = inside.relations
    inside = dataclasses.replace(
        inside,
        public_schema=(inside.public_schema or frozenset()) | {("atlas", "CREATE")},
        relations=(dataclasses.replace(table, acl=table.acl | {("atlas", "TRUNCATE")}), seq),
    )
    changes = plan_sql(WANTS, with_inside(provisioned(), "system_ops", inside))
    assert [s for c in changes for s in text(c)] == [
        'REVOKE CREATE ON SCHEMA public FROM "atlas"',
        'REVOKE TRUNCATE ON TABLE "public"."skills" FROM "atlas"',
    ]


def test_public_create_on_schema_public_from_before_postgresql_15_is_revoked() -> None:
    inside = shared_inside()
    schema = (inside.public_schema or frozenset()) | {(PUBLIC, "CREATE")}
    catalog = with_inside(provisioned(), "system_ops", dataclasses.replace(
        inside, public_schema=schema))  # fmt: skip
    [change] = plan_sql(WANTS, catalog)
    assert text(change) == ["REVOKE CREATE ON SCHEMA public FROM PUBLIC"]


def test_a_second_agent_on_a_provisioned_server_gets_only_its_own_changes() -> None:
    orion = DbWants.for_agent("orion", "another-Passw0rd")
    changes = plan_sql(orion, provisioned())
    sqls = [s for c in changes for s in text(c)]
    assert not any('CREATE DATABASE "system' in s for s in sqls)
    assert 'CREATE DATABASE "orion_brain" OWNER "orion"' in sqls
    assert all('"atlas"' not in s for s in sqls)
    grants = [s for s in sqls if "ON ALL TABLES" in s]
    assert len(grants) == 3, "the existing skills tables get orion's grants in each database"


# ------------------------------------------------------------------ names, hba, bootstrap


def test_names_derive_from_agent_name_and_refuse_warden_and_postgres() -> None:
    assert (agent_role("atlas"), brain_database("atlas")) == ("atlas", "atlas_brain")
    for bad in ("warden", "postgres", "Atlas", "pg_x", "a-b", ""):
        with pytest.raises(ValueError):
            brain_database(bad)


def test_pg_hba_allows_the_admin_only_from_the_gateway_and_never_trusts() -> None:
    text_ = pg_hba(
        "10.0.1.1",
        [
            AgentAccess.for_agent("atlas", "10.0.1.0/24"),
            AgentAccess.for_agent("orion", "10.0.2.0/24"),
        ],
    )
    rows = [line.split() for line in text_.splitlines() if not line.startswith("#")]
    assert rows[0] == ["local", "all", "postgres", "peer"]
    assert rows[1] == ["host", "all", "warden", "10.0.1.1/32", "scram-sha-256"]
    assert rows[2] == [
        "host", "atlas_brain,system_ops,system_brain,system_skills", "atlas", "10.0.1.0/24",
        "scram-sha-256",
    ]  # fmt: skip
    assert rows[3][1:4] == ["orion_brain,system_ops,system_brain,system_skills", "orion",
                            "10.0.2.0/24"]  # fmt: skip
    assert rows[-3:] == [
        ["local", "all", "all", "reject"],
        ["host", "all", "all", "0.0.0.0/0", "reject"],
        ["host", "all", "all", "::/0", "reject"],
    ]
    assert "trust" not in [r[-1] for r in rows]


def test_the_bootstrap_sql_takes_only_a_verifier_and_sets_it_idempotently() -> None:
    with pytest.raises(ValueError, match="verifier"):
        bootstrap_admin_sql("a-plain-password")
    with pytest.raises(ValueError):
        bootstrap_admin_sql(scram.verifier("pw") + "'; DROP ROLE postgres; --")
    verifier = scram.verifier("admin-Passw0rd")
    script = bootstrap_admin_sql(verifier)
    assert script.startswith("\\set ON_ERROR_STOP on\nDO $warden$\n")
    assert script.rstrip().endswith("$warden$;")
    assert f"CREATE ROLE \"warden\" WITH SUPERUSER LOGIN PASSWORD '{verifier}'" in script
    assert "IS DISTINCT FROM" in script and "admin-Passw0rd" not in script


def test_an_error_description_never_carries_the_password() -> None:
    exc = psycopg.OperationalError('connection failed: password "hunter2-Pw" was wrong')
    assert "hunter2-Pw" not in describe(exc, "hunter2-Pw")
    assert "********" in describe(exc, "hunter2-Pw")

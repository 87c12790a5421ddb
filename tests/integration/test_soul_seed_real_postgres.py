"""Seeding system_skills and system_brain from a soul, against a real PostgreSQL 15.

The site is the db layer's (tests/postgres.py behind a real sshd test host, reached
through warden's own forward); the db step's SQL plan has given atlas and orion their
roles and the shared databases first, so the tables warden creates here get the
agents' privileges through the db layer's default privileges, as on a real host.
Souls are copies of souls/example edited per test; commits are the ids a pin gives.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from setup.db import scram, session
from setup.db.catalog import read_catalog
from setup.db.hba import AgentAccess, pg_hba
from setup.db.provision import DbWants, SqlChange, apply_sql, bootstrap_admin_sql, plan_sql
from setup.db.tunnel import forward
from setup.soul.check import load_manifest
from setup.soul.ddl import MEMORIES, SKILLS, Table
from setup.soul.seed import SeedState, plan_seed, read_seeded, soul_rows, soul_seed
from setup.transport import connect
from tests.harness.site import require_test_hosts
from tests.postgres import JailPostgres
from tests.testhost import TestNetwork, write_ssh_config

EXAMPLE = Path(__file__).resolve().parents[2] / "souls" / "example"
GATEWAY, DB_IP, SUBNET, PORT = "10.0.1.1", "10.0.1.5", "10.0.1.0/24", 5432
C1, C2, C3 = "1" * 40, "2" * 40, "3" * 40
REPO = "https://git.example.org/atlas/soul.git"


@dataclass
class Site:
    address: tuple[str, int]
    passwords: dict[str, str]

    def login(self, user: str, dbname: str) -> psycopg.Connection[Any]:
        return session.connect(self.address, user, self.passwords[user], dbname)

    def admin(self, dbname: str) -> psycopg.Connection[Any]:
        return self.login("warden", dbname)

    def state(self, agent: str, tables: tuple[Table, Table] = (SKILLS, MEMORIES)) -> SeedState:
        return read_seeded(self.admin, agent, tables)

    def seed(
        self, agent: str, soul: Path, commit: str, *, memories: bool = True
    ) -> list[SqlChange]:
        """What the soul step does for the databases: read, plan, apply."""
        skills, curated = soul_rows(soul)
        manifest, problems = load_manifest(soul / "manifest.json")
        assert not problems
        want = soul_seed(agent, REPO, commit, skills=skills, memories=curated,
                         manifest=manifest, import_memories=memories)  # fmt: skip
        changes = plan_seed(want, self.state(agent))
        apply_sql(self.admin, changes)
        return changes

    def rows(self, table: Table) -> dict[tuple[str, str], tuple[Any, ...]]:
        """(agent, path) -> (xmin, seeded_at, sha, commit) of every row, all agents."""
        with self.admin(table.database) as conn:
            found = conn.execute(
                f"SELECT agent, path, xmin::text, seeded_at, content_sha256, commit_sha"
                f" FROM public.{table.name}"
            ).fetchall()
        return {(a, p): tuple(rest) for a, p, *rest in found}


@pytest.fixture(scope="module")
def site(client_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_test_hosts(network=True)
    tmp = tmp_path_factory.mktemp("seed-site")
    passwords = {name: secrets.token_urlsafe(24) for name in ("warden", "atlas", "orion")}
    hba = pg_hba(
        GATEWAY, [AgentAccess.for_agent("atlas", SUBNET), AgentAccess.for_agent("orion", SUBNET)]
    )
    with TestNetwork(client_key=client_key) as net:
        host = net.host("dbhost", double=False)
        with JailPostgres(host, hba=hba, gateway=GATEWAY, address=DB_IP) as pg:
            pg.psql(bootstrap_admin_sql(scram.verifier(passwords["warden"])))
            config = write_ssh_config(tmp / "ssh_config", [("dbhost", host, None)],
                                      tmp / "known_hosts")  # fmt: skip
            executor = connect("dbhost", ssh_config=config)
            try:
                with forward(executor, DB_IP, PORT) as address:
                    s = Site(address, passwords)
                    for agent in ("atlas", "orion"):  # the db step, for both agents
                        with s.admin("postgres") as conn:
                            catalog = read_catalog(conn, s.admin)
                        apply_sql(s.admin, plan_sql(DbWants.for_agent(agent, passwords[agent]),
                                                    catalog))  # fmt: skip
                    yield s
            finally:
                executor.close()


@pytest.fixture(scope="module")
def souls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("souls")
    found = {}
    for agent in ("atlas", "orion"):
        found[agent] = base / agent
        shutil.copytree(EXAMPLE, found[agent])
        manifest = found[agent] / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"atlas"', f'"{agent}"'))
    return found


def test_a_first_seed_creates_the_tables_and_inserts_every_skill_and_memory_with_provenance(
    site: Site, souls: dict[str, Path]
) -> None:
    changes = site.seed("atlas", souls["atlas"], C1)
    summaries = [c.summary for c in changes]
    assert summaries[0] == "system_skills: create table soul_skills (schema 0 -> 1)"
    assert "system_brain: create table soul_memories (schema 0 -> 1)" in summaries
    with site.admin("system_skills") as conn:
        skills = conn.execute(
            "SELECT agent, path, name, repo, commit_sha, shared, content_sha256"
            " FROM soul_skills ORDER BY path"
        ).fetchall()
        comment = conn.execute("SELECT obj_description('soul_skills'::regclass)").fetchone()
    assert [(a, p, n) for a, p, n, *_ in skills] == [
        ("atlas", "skills/daily-review/SKILL.md", "daily-review"),
        ("atlas", "skills/freebsd-jail-check/SKILL.md", "freebsd-jail-check"),
    ]
    assert {(r, c, s) for *_, r, c, s, _h in skills} == {(REPO, C1, True)}
    assert comment is not None and comment[0].startswith("warden schema 1 of table soul_skills")
    with site.admin("system_brain") as conn:
        memories = conn.execute(
            "SELECT agent, path, title, commit_sha, shared FROM soul_memories"
        ).fetchall()
    assert memories == [("atlas", "memories/curated/backup-window.md", "Backup window", C1, False)]


def test_a_second_run_with_the_same_commit_plans_nothing_and_moves_no_row(
    site: Site, souls: dict[str, Path]
) -> None:
    before = site.rows(SKILLS), site.rows(MEMORIES)
    assert site.seed("atlas", souls["atlas"], C1) == []
    assert (site.rows(SKILLS), site.rows(MEMORIES)) == before


def test_another_agents_seed_leaves_atlas_rows_untouched(
    site: Site, souls: dict[str, Path]
) -> None:
    before = site.rows(SKILLS)
    changes = site.seed("orion", souls["orion"], C1)
    assert not any("create table" in c.summary for c in changes)
    after = site.rows(SKILLS)
    assert {k: v for k, v in after.items() if k[0] == "atlas"} == {
        k: v for k, v in before.items() if k[0] == "atlas"
    }
    assert {k[0] for k in after} == {"atlas", "orion"}


def test_editing_one_memory_and_reseeding_updates_exactly_that_row(
    site: Site, souls: dict[str, Path]
) -> None:
    memory = souls["atlas"] / "memories/curated/backup-window.md"
    (souls["atlas"] / "memories/curated/upgrades.md").write_text("# Upgrades\n\nAsk first.\n")
    site.seed("atlas", souls["atlas"], C2)
    skills, memories = site.rows(SKILLS), site.rows(MEMORIES)
    memory.write_text(memory.read_text() + "\nSnapshots are kept for 30 days.\n")
    changes = site.seed("atlas", souls["atlas"], C3)
    assert [c.summary for c in changes] == [
        "system_brain: update atlas's memory 'Backup window'"
        f" (memories/curated/backup-window.md at {C3[:12]})"
    ]
    after = site.rows(MEMORIES)
    changed = {k for k in after if after[k] != memories[k]}
    assert changed == {("atlas", "memories/curated/backup-window.md")}
    assert after[("atlas", "memories/curated/backup-window.md")][3] == C3
    assert after[("atlas", "memories/curated/upgrades.md")][3] == C2
    assert site.rows(SKILLS) == skills


def test_deleting_a_skill_from_the_soul_removes_its_row_and_only_its_row(
    site: Site, souls: dict[str, Path]
) -> None:
    shutil.rmtree(souls["atlas"] / "skills/daily-review")
    before = site.rows(SKILLS)
    changes = site.seed("atlas", souls["atlas"], C3)
    assert [c.summary for c in changes] == [
        "system_skills: remove atlas's skill skills/daily-review/SKILL.md (no longer in the"
        f" soul at {C3[:12]})"
    ]
    after = site.rows(SKILLS)
    assert set(before) - set(after) == {("atlas", "skills/daily-review/SKILL.md")}
    assert all(after[k] == before[k] for k in after)
    assert ("orion", "skills/daily-review/SKILL.md") in after


def test_memories_are_removed_when_importing_them_is_no_longer_allowed(
    site: Site, souls: dict[str, Path]
) -> None:
    changes = site.seed("orion", souls["orion"], C1, memories=False)
    assert [c.summary for c in changes] == [
        "system_brain: remove orion's 1 curated memories (importing them is not allowed:"
        " WARDEN_SOUL_IMPORT_MEMORIES or the soul's privacy.import_memories)"
    ]
    assert {k[0] for k in site.rows(MEMORIES)} == {"atlas"}
    assert site.seed("orion", souls["orion"], C1, memories=False) == []


def test_an_agent_reads_its_rows_and_shared_skills_but_cannot_write_them(site: Site) -> None:
    with site.login("orion", "system_skills") as conn:
        agents = {a for (a,) in conn.execute("SELECT agent FROM soul_skills").fetchall()}
        assert agents == {"atlas", "orion"}  # skills are shared (privacy.share)
        deleted = conn.execute("DELETE FROM soul_skills WHERE agent = 'atlas'").rowcount
        assert deleted == 0  # row-level security: no policy lets an agent write
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO soul_skills (agent, path, name, description, content,"
                " content_sha256, shared, repo, commit_sha)"
                f" VALUES ('orion', 'x', 'x', 'x', 'x', '{'a' * 64}', true, 'r', '{C1}')"
            )
    with site.login("orion", "system_brain") as conn:  # atlas's memories are not shared
        assert conn.execute("SELECT count(*) FROM soul_memories").fetchone() == (0,)
    with site.login("atlas", "system_brain") as conn:
        assert conn.execute("SELECT count(*) FROM soul_memories").fetchone() == (2,)


def test_a_table_at_version_1_is_upgraded_by_exactly_the_next_migration(
    site: Site, souls: dict[str, Path]
) -> None:
    v2 = Table(
        SKILLS.database,
        SKILLS.name,
        (*SKILLS.migrations, ("ALTER TABLE {table} ADD COLUMN reviewed_by text",)),
        SKILLS.fields,
    )
    state = site.state("atlas", (v2, MEMORIES))
    assert state.skills.version == 1
    skills, curated = soul_rows(souls["atlas"])
    manifest, _ = load_manifest(souls["atlas"] / "manifest.json")
    want = soul_seed("atlas", REPO, C3, skills=skills, memories=curated, manifest=manifest,
                     import_memories=True)  # fmt: skip
    changes = plan_seed(want, state, (v2, MEMORIES))
    assert [c.summary for c in changes] == [
        "system_skills: upgrade table soul_skills (schema 1 -> 2)"
    ]
    apply_sql(site.admin, changes)
    assert site.state("atlas", (v2, MEMORIES)).skills.version == 2
    assert plan_seed(want, site.state("atlas", (v2, MEMORIES)), (v2, MEMORIES)) == []
    # this warden (version 1) now refuses to touch a newer table
    newer = site.state("atlas")
    assert newer.problems == [
        "table soul_skills in database system_skills has schema version 2, newer than this"
        " warden knows (1): upgrade warden"
    ]
    with pytest.raises(ValueError, match="newer than this warden"):
        plan_seed(want, newer)

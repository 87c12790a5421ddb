"""plan_seed is pure: a soul's rows and what the tables hold in, SQL changes out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from setup.soul.check import load_manifest
from setup.soul.ddl import MEMORIES, SKILLS, parse_version
from setup.soul.seed import (
    Seeded,
    SeedRow,
    SeedState,
    SoulSeed,
    TableState,
    memory_title,
    plan_seed,
    soul_rows,
    soul_seed,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "souls" / "example"
C1 = "a" * 40
REPO = "https://git.example.org/atlas/soul.git"
SKILL = SeedRow("skills/x/SKILL.md", "x", "does x", "---\nname: x\ndescription: does x\n---\n")
MEMORY = SeedRow("memories/curated/m.md", "M", "", "# M\n")
EMPTY = SeedState(TableState(0), TableState(0))


def seed(memories: tuple[SeedRow, ...] | None = (MEMORY,)) -> SoulSeed:
    return SoulSeed("atlas", REPO, C1, (SKILL,), memories, share_skills=True)


def held(*rows: SeedRow, shared: bool = True) -> dict[str, Seeded]:
    return {r.path: Seeded(r.sha256, REPO, shared) for r in rows}


def sql_text(change: object) -> str:
    return " ".join(s.as_string(None) for s in change.statements)  # type: ignore[attr-defined]


def test_an_empty_server_gets_both_tables_then_one_insert_per_row() -> None:
    changes = plan_seed(seed(), EMPTY)
    assert [(c.database, c.summary) for c in changes] == [
        ("system_skills", "system_skills: create table soul_skills (schema 0 -> 1)"),
        ("system_skills", f"system_skills: insert atlas's skill 'x' (skills/x/SKILL.md at"
                          f" {C1[:12]})"),
        ("system_brain", "system_brain: create table soul_memories (schema 0 -> 1)"),
        ("system_brain", f"system_brain: insert atlas's memory 'M' (memories/curated/m.md at"
                         f" {C1[:12]})"),
    ]  # fmt: skip
    create = sql_text(changes[0])
    assert 'CREATE TABLE "public"."soul_skills"' in create
    assert "ENABLE ROW LEVEL SECURITY" in create
    assert "COMMENT ON TABLE" in create and "warden schema 1 of table soul_skills" in create
    insert = sql_text(changes[1])
    assert "ON CONFLICT (agent, path) DO UPDATE" in insert
    assert f"'{SKILL.sha256}'" in insert and f"'{C1}'" in insert and "'atlas'" in insert


def test_tables_that_hold_exactly_the_soul_plan_nothing() -> None:
    state = SeedState(TableState(1, held(SKILL)), TableState(1, held(MEMORY, shared=False)))
    assert plan_seed(seed(), state) == []


def test_a_changed_file_is_one_update_and_a_vanished_one_one_delete() -> None:
    old = SeedRow(MEMORY.path, "M", "", "# M\nold\n")
    gone = SeedRow("memories/curated/gone.md", "G", "", "# G\n")
    state = SeedState(TableState(1, held(SKILL)), TableState(1, held(old, gone, shared=False)))
    changes = plan_seed(seed(), state)
    assert [c.summary.split(" (")[0] for c in changes] == [
        "system_brain: update atlas's memory 'M'",
        "system_brain: remove atlas's memory memories/curated/gone.md",
    ]
    assert sql_text(changes[1]) == (
        'DELETE FROM "public"."soul_memories" WHERE agent = \'atlas\''
        " AND path = 'memories/curated/gone.md'"
    )


def test_a_new_repo_or_sharing_rewrites_the_row_but_a_new_commit_alone_does_not() -> None:
    moved = {SKILL.path: Seeded(SKILL.sha256, "https://old.example.org/soul.git", True)}
    state = SeedState(TableState(1, moved), TableState(1, held(MEMORY, shared=False)))
    assert [c.summary.split(" (")[0] for c in plan_seed(seed(), state)] == [
        "system_skills: update atlas's skill 'x'"
    ]
    later = SoulSeed("atlas", REPO, "b" * 40, (SKILL,), (MEMORY,), share_skills=True)
    same = SeedState(TableState(1, held(SKILL)), TableState(1, held(MEMORY, shared=False)))
    assert plan_seed(later, same) == []


def test_memories_not_allowed_are_removed_and_their_table_never_created() -> None:
    assert [c.summary for c in plan_seed(seed(None), EMPTY)][-1].startswith("system_skills: insert")
    state = SeedState(TableState(1, held(SKILL)), TableState(1, held(MEMORY)))
    changes = plan_seed(seed(None), state)
    assert len(changes) == 1 and sql_text(changes[0]) == (
        'DELETE FROM "public"."soul_memories" WHERE agent = \'atlas\''
    )


def test_a_table_warden_did_not_make_or_a_newer_one_is_refused() -> None:
    foreign = SeedState(TableState(-1, problem="not warden's"), TableState(0))
    with pytest.raises(ValueError, match="not warden's"):
        plan_seed(seed(), foreign)
    assert parse_version(SKILLS, SKILLS.comment(3)) == 3
    assert parse_version(SKILLS, MEMORIES.comment(1)) is None
    assert parse_version(SKILLS, "made by hand") is None


def test_memories_go_in_only_when_the_operator_and_the_soul_both_allow_it(tmp_path: Path) -> None:
    soul = tmp_path / "soul"
    shutil.copytree(EXAMPLE, soul)
    skills, memories = soul_rows(soul)
    assert [s.title for s in skills] == ["daily-review", "freebsd-jail-check"]
    assert [(m.path, m.title) for m in memories] == [
        ("memories/curated/backup-window.md", "Backup window")
    ]
    manifest, _ = load_manifest(soul / "manifest.json")

    def make(allow: bool) -> SoulSeed:
        return soul_seed("atlas", REPO, C1, skills=skills, memories=memories,
                         manifest=manifest, import_memories=allow)  # fmt: skip

    assert make(True).memories == memories and make(False).memories is None
    data = json.loads((soul / "manifest.json").read_text())
    data["privacy"]["import_memories"] = False
    (soul / "manifest.json").write_text(json.dumps(data))
    manifest, _ = load_manifest(soul / "manifest.json")
    assert make(True).memories is None
    assert make(True).share_skills and not make(True).share_memories


def test_a_memory_is_titled_by_its_first_heading_else_its_file_name() -> None:
    assert memory_title("memories/curated/a.md", "intro\n# Backups\n") == "Backups"
    assert memory_title("memories/curated/no-heading.md", "just text\n") == "no-heading"
    with pytest.raises(ValueError, match="full commit"):
        SoulSeed("atlas", REPO, "abc123", (), None)

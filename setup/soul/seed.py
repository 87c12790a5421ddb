"""Seeding the shared databases from a soul: skills into system_skills, curated
memories into system_brain, as idempotent upserts.

Structured like setup/db/provision.py: `soul_rows` reads a checked soul, `read_seeded`
reads what the tables hold for one agent (never another agent's rows), and
`plan_seed` is pure, so a plan can be shown before anything runs and a second run on
the same commit comes out empty. Rows are compared by content hash, repo and sharing:
a new commit that edits one memory updates exactly that row, a file the soul no
longer has loses its row, and an unchanged file keeps its row untouched.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ..db.provision import SqlChange
from ..errors import HostError
from .check import _front_matter
from .ddl import MEMORIES, SKILLS, Table, parse_version
from .manifest import SoulManifest

SKILL_FILE = re.compile(r"skills/(?:.+/)?SKILL\.md")  # as soul.check's skill rule
MEMORY_FILE = re.compile(r"memories/curated/[^/]+\.md")
_SHA = re.compile(r"[0-9a-f]{40}")

Opener = Callable[[str], psycopg.Connection[Any]]


@dataclass(frozen=True)
class SeedRow:
    """One file of the soul as a row: `title` is a skill's name or a memory's heading."""

    path: str
    title: str
    description: str
    content: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SoulSeed:
    """What one agent's soul at one commit wants in the tables. `memories` is None
    when importing them is not allowed (its rows are then removed)."""

    agent: str
    repo: str
    commit: str
    skills: tuple[SeedRow, ...]
    memories: tuple[SeedRow, ...] | None
    share_skills: bool = True
    share_memories: bool = False

    def __post_init__(self) -> None:
        if not _SHA.fullmatch(self.commit):
            raise ValueError(f"not a full commit hash: {self.commit!r}")


@dataclass(frozen=True)
class Seeded:
    """A row as the table holds it: what decides whether it must change."""

    sha256: str
    repo: str
    shared: bool


@dataclass(frozen=True)
class TableState:
    """One table for one agent: its schema version (0: absent) and the agent's rows."""

    version: int
    rows: Mapping[str, Seeded] = field(default_factory=dict)
    problem: str | None = None


@dataclass(frozen=True)
class SeedState:
    skills: TableState
    memories: TableState

    @property
    def problems(self) -> list[str]:
        return [t.problem for t in (self.skills, self.memories) if t.problem is not None]


def memory_title(path: str, content: str) -> str:
    """The memory's first `# ` heading, else its file name without .md."""
    for line in content.splitlines():
        if line.startswith("# ") and line[2:].strip():
            return line[2:].strip()
    return Path(path).stem


def soul_rows(root: Path) -> tuple[tuple[SeedRow, ...], tuple[SeedRow, ...]]:
    """The skills and curated memories of a soul that passed check_soul (so every
    SKILL.md has its front matter and every file is UTF-8 text)."""
    skills: list[SeedRow] = []
    memories: list[SeedRow] = []
    for path in sorted(p for p in root.rglob("*.md") if ".git" not in p.parts):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink() or not path.is_file():
            continue
        if SKILL_FILE.fullmatch(rel):
            text = path.read_text(encoding="utf-8")
            head = _front_matter(text.splitlines())
            skills.append(SeedRow(rel, head.get("name", ""), head.get("description", ""), text))
        elif MEMORY_FILE.fullmatch(rel):
            text = path.read_text(encoding="utf-8")
            memories.append(SeedRow(rel, memory_title(rel, text), "", text))
    return tuple(skills), tuple(memories)


def soul_seed(
    agent: str,
    repo: str,
    commit: str,
    *,
    skills: tuple[SeedRow, ...],
    memories: tuple[SeedRow, ...],
    manifest: SoulManifest | None,
    import_memories: bool,
) -> SoulSeed:
    """The seed of a checked soul's rows (soul_rows). Memories go in only when both the
    operator (WARDEN_SOUL_IMPORT_MEMORIES) and the soul (privacy.import_memories) allow
    it; sharing with other agents follows the manifest's privacy.share."""
    share = manifest.privacy.share if manifest is not None else []
    allowed = import_memories and manifest is not None and manifest.privacy.import_memories
    return SoulSeed(
        agent=agent,
        repo=repo,
        commit=commit,
        skills=skills,
        memories=memories if allowed else None,
        share_skills="skills" in share,
        share_memories="memories" in share,
    )


# ---- reading


def read_table(conn: psycopg.Connection[Any], table: Table, agent: str) -> TableState:
    """The table's version and *agent*'s rows (never another agent's)."""
    found = conn.execute(
        sql.SQL(
            "SELECT c.oid IS NOT NULL, obj_description(c.oid, 'pg_class')"
            " FROM (SELECT to_regclass({}) AS oid) AS c"
        ).format(sql.Literal(f"public.{table.name}"))
    ).fetchone()
    assert found is not None
    exists, comment = found
    if not exists:
        return TableState(version=0)
    version = parse_version(table, comment)
    where = f"table {table.name} in database {table.database}"
    if version is None:
        return TableState(
            version=-1,
            problem=f"{where} exists but warden did not make it (no warden schema comment);"
            " rename or drop it",
        )
    if version > table.version:
        return TableState(
            version=version,
            problem=f"{where} has schema version {version}, newer than this warden knows"
            f" ({table.version}): upgrade warden",
        )
    rows = conn.execute(
        sql.SQL("SELECT path, content_sha256, repo, shared FROM {} WHERE agent = {}").format(
            table.ident, sql.Literal(agent)
        )
    ).fetchall()
    return TableState(version=version, rows={p: Seeded(h, r, s) for p, h, r, s in rows})


def read_seeded(
    open_database: Opener, agent: str, tables: tuple[Table, Table] = (SKILLS, MEMORIES)
) -> SeedState:
    """What the skills and memories tables hold for *agent* (opened as the admin role)."""
    states = []
    for table in tables:
        conn = open_database(table.database)
        try:
            states.append(read_table(conn, table, agent))
        except psycopg.Error as exc:
            raise HostError(
                f"cannot read table {table.name} in database {table.database}: "
                f"{exc.diag.message_primary or type(exc).__name__}"
            ) from None
        finally:
            conn.close()
    return SeedState(skills=states[0], memories=states[1])


# ---- planning


def _schema(table: Table, state: TableState) -> list[SqlChange]:
    if state.problem is not None:
        raise ValueError(state.problem)
    return [
        SqlChange(
            f"{table.database}: {'create' if v == 0 else 'upgrade'} table {table.name}"
            f" (schema {v} -> {v + 1})",
            table.database,
            table.upgrade(v),
        )
        for v in range(state.version, table.version)
    ]


def _upsert(table: Table, seed: SoulSeed, row: SeedRow, shared: bool) -> tuple[sql.Composed]:
    cols = ["agent", "path", *table.fields, "content", "content_sha256", "shared", "repo"]
    cols.append("commit_sha")
    data: dict[str, Any] = {
        "agent": seed.agent,
        "path": row.path,
        "name": row.title,
        "title": row.title,
        "description": row.description,
        "content": row.content,
        "content_sha256": row.sha256,
        "shared": shared,
        "repo": seed.repo,
        "commit_sha": seed.commit,
    }
    updated = [c for c in cols if c not in ("agent", "path")]
    stmt = sql.SQL(
        "INSERT INTO {table} AS t ({cols}, seeded_at) VALUES ({values}, now())"
        " ON CONFLICT (agent, path) DO UPDATE SET {sets}, seeded_at = now()"
        " WHERE (t.content_sha256, t.repo, t.shared)"
        " IS DISTINCT FROM (EXCLUDED.content_sha256, EXCLUDED.repo, EXCLUDED.shared)"
    ).format(
        table=table.ident,
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in cols),
        values=sql.SQL(", ").join(sql.Literal(data[c]) for c in cols),
        sets=sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
            for c in updated
        ),
    )
    return (stmt,)


def _delete(table: Table, agent: str, path: str) -> tuple[sql.Composed]:
    return (
        sql.SQL("DELETE FROM {} WHERE agent = {} AND path = {}").format(
            table.ident, sql.Literal(agent), sql.Literal(path)
        ),
    )


def _rows(
    table: Table,
    seed: SoulSeed,
    rows: tuple[SeedRow, ...],
    shared: bool,
    state: TableState,
    what: str,
) -> list[SqlChange]:
    changes: list[SqlChange] = []
    short = seed.commit[:12]
    for row in rows:
        have = state.rows.get(row.path)
        if have == Seeded(row.sha256, seed.repo, shared):
            continue
        verb = "insert" if have is None else "update"
        changes.append(
            SqlChange(
                f"{table.database}: {verb} {seed.agent}'s {what} {row.title!r}"
                f" ({row.path} at {short})",
                table.database,
                _upsert(table, seed, row, shared),
            )
        )
    wanted = {row.path for row in rows}
    for path in sorted(set(state.rows) - wanted):
        changes.append(
            SqlChange(
                f"{table.database}: remove {seed.agent}'s {what} {path} (no longer in the soul"
                f" at {short})",
                table.database,
                _delete(table, seed.agent, path),
            )
        )
    return changes


def plan_seed(
    seed: SoulSeed, state: SeedState, tables: tuple[Table, Table] = (SKILLS, MEMORIES)
) -> list[SqlChange]:
    """Every change, in order, that makes the tables hold exactly this soul's rows for
    *seed.agent*: the schema first, then one upsert or delete per row that differs.
    ValueError when a table is not warden's or is newer than warden (state.problems)."""
    skills, memories = tables
    changes = _schema(skills, state.skills)
    changes += _rows(skills, seed, seed.skills, seed.share_skills, state.skills, "skill")
    if seed.memories is not None:
        changes += _schema(memories, state.memories)
        changes += _rows(
            memories, seed, seed.memories, seed.share_memories, state.memories, "memory"
        )
    elif state.memories.rows:
        if state.memories.problem is not None:
            raise ValueError(state.memories.problem)
        changes.append(
            SqlChange(
                f"{memories.database}: remove {seed.agent}'s {len(state.memories.rows)} curated"
                " memories (importing them is not allowed: WARDEN_SOUL_IMPORT_MEMORIES or the"
                " soul's privacy.import_memories)",
                memories.database,
                (
                    sql.SQL("DELETE FROM {} WHERE agent = {}").format(
                        memories.ident, sql.Literal(seed.agent)
                    ),
                ),
            )
        )
    return changes

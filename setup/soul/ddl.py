"""The tables warden owns in the shared databases, versioned by their COMMENT.

Each table lists its migrations: `migrations[i]` takes it from version i to i + 1
(version 0: the table does not exist). The version lives in the table's COMMENT,
which only the owner (warden) can change: the db layer gives agents read/write on
every table warden creates, so a version table would be theirs to edit, a comment
is not. A table of that name without warden's comment, or with a version newer than
this warden knows, is never touched (the plan is refused instead).

Agents may read rows (their own, and other agents' rows the soul marks as shared);
row-level security gives them no policy to write with, so only the soul, through
warden, changes these tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg import sql

from ..db.names import ADMIN_ROLE

_COMMENT = re.compile(r"warden schema (\d+) of table (\w+): .*")


@dataclass(frozen=True)
class Table:
    """One table warden owns: where it lives and how to get it to each version."""

    database: str
    name: str
    migrations: tuple[tuple[str, ...], ...]  # sql.SQL templates; {table} is the table
    fields: tuple[str, ...] = ("title",)  # columns beyond the provenance ones

    @property
    def version(self) -> int:
        return len(self.migrations)

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier("public", self.name)

    def comment(self, version: int) -> str:
        return (
            f"warden schema {version} of table {self.name}: made from a soul by warden"
            f" (setup/soul/ddl.py) as {ADMIN_ROLE}; do not change by hand"
        )

    def upgrade(self, version: int) -> tuple[sql.Composed, ...]:
        """The statements that take the table from *version* to *version* + 1."""
        parts = [sql.SQL(s).format(table=self.ident) for s in self.migrations[version]]
        parts.append(
            sql.SQL("COMMENT ON TABLE {} IS {}").format(
                self.ident, sql.Literal(self.comment(version + 1))
            )
        )
        return tuple(parts)


def parse_version(table: Table, comment: str | None) -> int | None:
    """The version warden's comment records, or None when the comment is not warden's."""
    match = _COMMENT.fullmatch(comment or "")
    if match is None or match.group(2) != table.name:
        return None
    return int(match.group(1))


# Columns both tables share: the agent, the row's provenance and its content hash.
# `commit_sha` is the soul commit the row's current content was seeded from: a file
# that did not change in a newer commit keeps its row (and that older commit).
_PROVENANCE = """
    agent text NOT NULL CHECK (agent ~ '^[a-z][a-z0-9]{{0,15}}$'),
    path text NOT NULL,
    content text NOT NULL,
    content_sha256 text NOT NULL CHECK (content_sha256 ~ '^[0-9a-f]{{64}}$'),
    shared boolean NOT NULL,
    repo text NOT NULL,
    commit_sha text NOT NULL CHECK (commit_sha ~ '^[0-9a-f]{{40}}$'),
    seeded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent, path)"""

_READ_POLICY = (
    "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY soul_rows_readable ON {table} FOR SELECT USING (shared OR agent = current_user)",
)

SKILLS = Table(
    database="system_skills",
    name="soul_skills",
    fields=("name", "description"),
    migrations=(
        (
            "CREATE TABLE {table} ("
            "\n    name text NOT NULL,"
            "\n    description text NOT NULL," + _PROVENANCE + "\n)",
            *_READ_POLICY,
        ),
    ),
)

MEMORIES = Table(
    database="system_brain",
    name="soul_memories",
    migrations=(
        (
            "CREATE TABLE {table} (\n    title text NOT NULL," + _PROVENANCE + "\n)",
            *_READ_POLICY,
        ),
    ),
)

"""The SQL plan: what to run so a server gives an agent exactly its least privilege.

`plan_sql` is pure (a catalog in, changes out), so a plan can be shown before anything
runs and a second run on the re-read catalog must come out empty. Every statement is
built with psycopg.sql; the only literals are SCRAM verifiers, never a password.

What an agent role gets (the README's grants table says the same):

- its role: LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION
  NOBYPASSRLS. Not NOINHERIT: warden makes the role a member of no role, and since
  PostgreSQL 15 a database owner gets its schema public through the implicit
  pg_database_owner membership, which NOINHERIT would cut off (the agent could not
  create a table in its own brain; the real-server test showed it).
- `<agent>_brain`, owned by the role; PUBLIC's CONNECT and TEMPORARY revoked, so no
  other agent can connect to it (pg_hba refuses them too).
- on each shared database (owned by warden, PUBLIC's rights on it and PUBLIC's CREATE
  on schema public revoked): CONNECT; USAGE on schema public (no CREATE: the tables
  are warden's, made by the soul seeding); SELECT, INSERT, UPDATE, DELETE on its tables
  and USAGE, SELECT, UPDATE on its sequences, both on the existing ones and, through
  ALTER DEFAULT PRIVILEGES FOR ROLE warden IN SCHEMA public, on those warden creates
  later. Any other privilege granted to the role there is revoked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from ..errors import ChangeFailed
from . import scram
from .catalog import PUBLIC, Acl, Catalog, Connect, Inside, Role, granted
from .names import ADMIN_DATABASE, ADMIN_ROLE, SHARED_DATABASES, agent_role, brain_database
from .session import describe

ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOREPLICATION NOBYPASSRLS"
DATABASE_PRIVILEGES = frozenset({"CONNECT"})
SCHEMA_PRIVILEGES = frozenset({"USAGE"})
TABLE_PRIVILEGES = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
SEQUENCE_PRIVILEGES = frozenset({"USAGE", "SELECT", "UPDATE"})

# Privilege names that may come back from the catalog and be written into a REVOKE:
# keywords only, so nothing read from a server becomes SQL text unchecked.
_KNOWN = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"}
    | {"USAGE", "CREATE", "CONNECT", "TEMPORARY"}
)
_WANT = {"table": TABLE_PRIVILEGES, "sequence": SEQUENCE_PRIVILEGES}
_ON_ALL = {"table": "TABLES", "sequence": "SEQUENCES"}


@dataclass(frozen=True)
class DbWants:
    """One agent's PostgreSQL access, as the db step wants it."""

    agent: str
    password: str = field(repr=False)
    brain: str
    shared: tuple[str, ...] = SHARED_DATABASES
    admin: str = ADMIN_ROLE

    @classmethod
    def for_agent(cls, agent: str, password: str) -> DbWants:
        return cls(agent=agent_role(agent), password=password, brain=brain_database(agent))


Statement = sql.SQL | sql.Composed  # the Composables psycopg can execute


@dataclass(frozen=True)
class SqlChange:
    """Statements run together in one database: one transaction unless *autocommit*."""

    summary: str
    database: str
    statements: tuple[Statement, ...]
    autocommit: bool = False


def _privs(names: Iterable[str]) -> sql.Composable:
    words = sorted(names)
    unknown = [w for w in words if w not in _KNOWN]
    if unknown:
        raise ValueError(f"unexpected privilege name(s) from the catalog: {unknown}")
    return sql.SQL(", ").join(sql.SQL(w) for w in words)


def _role_attributes_ok(role: Role) -> bool:
    return (
        role.login
        and not role.superuser
        and not role.createdb
        and not role.createrole
        and role.inherit
        and not role.replication
        and not role.bypassrls
    )


def _plan_role(wants: DbWants, catalog: Catalog) -> list[SqlChange]:
    name = sql.Identifier(wants.agent)
    attrs = sql.SQL(ROLE_ATTRIBUTES)
    role = catalog.roles.get(wants.agent)
    if role is None:
        verifier = sql.Literal(scram.verifier(wants.password))
        stmt = sql.SQL("CREATE ROLE {} WITH {} PASSWORD {}").format(name, attrs, verifier)
        return [
            SqlChange(
                f"create role {wants.agent} ({ROLE_ATTRIBUTES.lower()})", ADMIN_DATABASE, (stmt,)
            )
        ]
    parts: list[sql.Composable] = []
    what: list[str] = []
    if not _role_attributes_ok(role):
        parts.append(attrs)
        what.append(f"attributes to {ROLE_ATTRIBUTES.lower()}")
    if not scram.matches(role.verifier, wants.password):
        parts.append(sql.SQL("PASSWORD {}").format(sql.Literal(scram.verifier(wants.password))))
        what.append("password (a new SCRAM verifier)")
    if not parts:
        return []
    stmt = sql.SQL("ALTER ROLE {} WITH {}").format(name, sql.SQL(" ").join(parts))
    return [SqlChange(f"set role {wants.agent}'s {' and '.join(what)}", ADMIN_DATABASE, (stmt,))]


def _default_database_acl(owner: str) -> Acl:
    """What a new database's ACL is (acldefault('d', owner)): PUBLIC may connect."""
    return frozenset(
        {(PUBLIC, "CONNECT"), (PUBLIC, "TEMPORARY")}
        | {(owner, p) for p in ("CREATE", "CONNECT", "TEMPORARY")}
    )


def _plan_database(name: str, owner: str, catalog: Catalog) -> tuple[list[SqlChange], Acl]:
    """Create or re-own *name*, revoke PUBLIC's rights; return the ACL it then has."""
    db = sql.Identifier(name)
    changes: list[SqlChange] = []
    found = catalog.databases.get(name)
    if found is None:
        stmt = sql.SQL("CREATE DATABASE {} OWNER {}").format(db, sql.Identifier(owner))
        changes.append(
            SqlChange(
                f"create database {name} owned by {owner}", ADMIN_DATABASE, (stmt,), autocommit=True
            )
        )
        acl = _default_database_acl(owner)
    else:
        acl = found.acl
        if found.owner != owner:
            stmt = sql.SQL("ALTER DATABASE {} OWNER TO {}").format(db, sql.Identifier(owner))
            changes.append(
                SqlChange(
                    f"make {owner} the owner of database {name} (was {found.owner})",
                    ADMIN_DATABASE,
                    (stmt,),
                )
            )
    if granted(acl, PUBLIC):
        stmt = sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db)
        changes.append(
            SqlChange(f"revoke PUBLIC's access to database {name}", ADMIN_DATABASE, (stmt,))
        )
    return changes, acl


def _exactly(
    have: frozenset[str], want: frozenset[str], grant: str, revoke: str, **parts: sql.Composable
) -> tuple[Statement, ...]:
    """GRANT what is missing, REVOKE what is extra (templates take {privs} and *parts*)."""
    out: list[Statement] = []
    if want - have:
        out.append(sql.SQL(grant).format(privs=_privs(want - have), **parts))
    if have - want:
        out.append(sql.SQL(revoke).format(privs=_privs(have - want), **parts))
    return tuple(out)


def _plan_shared(wants: DbWants, name: str, catalog: Catalog) -> list[SqlChange]:
    changes, acl = _plan_database(name, wants.admin, catalog)
    role = sql.Identifier(wants.agent)
    db = sql.Identifier(name)
    stmts = _exactly(
        granted(acl, wants.agent),
        DATABASE_PRIVILEGES,
        "GRANT {privs} ON DATABASE {db} TO {role}",
        "REVOKE {privs} ON DATABASE {db} FROM {role}",
        db=db,
        role=role,
    )
    if stmts:
        changes.append(
            SqlChange(
                f"give {wants.agent} exactly CONNECT on database {name}", ADMIN_DATABASE, stmts
            )
        )
    inside = catalog.inside.get(name)
    changes += _plan_inside(wants, name, inside)
    return changes


def _plan_inside(wants: DbWants, name: str, inside: Inside | None) -> list[SqlChange]:
    """Schema public, default privileges and existing tables; all assumed missing when
    the database does not exist yet (every statement is harmless when already true)."""
    role = sql.Identifier(wants.agent)
    admin = sql.Identifier(wants.admin)
    changes: list[SqlChange] = []
    schema = inside.public_schema if inside is not None else None
    if inside is None or (schema is not None and "CREATE" in granted(schema, PUBLIC)):
        stmt = sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        changes.append(
            SqlChange(f"revoke PUBLIC's CREATE on schema public in {name}", name, (stmt,))
        )
    have = granted(schema, wants.agent) if schema is not None else frozenset()
    stmts = _exactly(
        have,
        SCHEMA_PRIVILEGES,
        "GRANT {privs} ON SCHEMA public TO {role}",
        "REVOKE {privs} ON SCHEMA public FROM {role}",
        role=role,
    )
    if stmts:
        changes.append(
            SqlChange(f"give {wants.agent} exactly USAGE on schema public in {name}", name, stmts)
        )
    defaults: list[Statement] = []
    for kind in ("table", "sequence"):
        acl = inside.default_acl.get(kind, frozenset()) if inside is not None else frozenset()
        defaults += _exactly(
            granted(acl, wants.agent),
            _WANT[kind],
            "ALTER DEFAULT PRIVILEGES FOR ROLE {admin} IN SCHEMA public "
            f"GRANT {{privs}} ON {_ON_ALL[kind]} TO {{role}}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {admin} IN SCHEMA public "
            f"REVOKE {{privs}} ON {_ON_ALL[kind]} FROM {{role}}",
            admin=admin,
            role=role,
        )
    if defaults:
        changes.append(
            SqlChange(
                f"give {wants.agent} read/write on the tables and sequences {wants.admin} "
                f"creates in {name} from now on",
                name,
                tuple(defaults),
            )
        )
    existing: list[Statement] = []
    relations = inside.relations if inside is not None else ()
    for kind in ("table", "sequence"):
        of_kind = [r for r in relations if r.kind == kind]
        if any(_WANT[kind] - granted(r.acl, wants.agent) for r in of_kind):
            existing.append(
                sql.SQL("GRANT {} ON ALL {} IN SCHEMA public TO {}").format(
                    _privs(_WANT[kind]), sql.SQL(_ON_ALL[kind]), role
                )
            )
        for r in of_kind:
            extra = granted(r.acl, wants.agent) - _WANT[kind]
            if extra:
                existing.append(
                    sql.SQL("REVOKE {} ON {} {} FROM {}").format(
                        _privs(extra), sql.SQL(kind.upper()), sql.Identifier("public", r.name), role
                    )
                )
    if existing:
        changes.append(
            SqlChange(
                f"give {wants.agent} exactly read/write on the existing tables and sequences "
                f"in {name}",
                name,
                tuple(existing),
            )
        )
    return changes


def plan_sql(wants: DbWants, catalog: Catalog) -> list[SqlChange]:
    """Every change, in order, that gives *wants.agent* its role, brain and shared access."""
    changes = _plan_role(wants, catalog)
    brain, _acl = _plan_database(wants.brain, wants.agent, catalog)
    changes += brain
    for name in wants.shared:
        changes += _plan_shared(wants, name, catalog)
    return changes


def apply_sql(
    connect: Connect,
    changes: Sequence[SqlChange],
    *,
    on_change: Callable[[SqlChange], None] | None = None,
) -> None:
    """Run *changes* in order, one connection per database; stop at the first failure."""
    conns: dict[str, psycopg.Connection[Any]] = {}
    try:
        for change in changes:
            conn = conns.get(change.database)
            if conn is None:
                conn = conns[change.database] = connect(change.database)
            conn.autocommit = True
            try:
                if change.autocommit:
                    for stmt in change.statements:
                        conn.execute(stmt)
                else:
                    with conn.transaction():
                        for stmt in change.statements:
                            conn.execute(stmt)
            except psycopg.Error as exc:
                raise ChangeFailed(
                    f"{change.summary} (in database {change.database}): {describe(exc)}"
                ) from None
            if on_change is not None:
                on_change(change)
    finally:
        for conn in conns.values():
            conn.close()


def bootstrap_admin_sql(verifier: str, *, admin: str = ADMIN_ROLE) -> str:
    """psql input (as postgres, on the jail's socket) that makes *admin* a SUPERUSER LOGIN
    role with *verifier* as its password; safe to run on every run.

    The password is set only when the stored one differs, so a re-run with the verifier
    it set before changes nothing. Compute the verifier once and keep it with the
    password (a fresh salt gives a different text each time, and the role's password
    would then be rewritten, to the same password, on every run).
    """
    if not scram.is_verifier(verifier):
        raise ValueError("bootstrap_admin_sql needs a SCRAM-SHA-256 verifier, not a password")
    role = sql.Identifier(admin)
    body = sql.SQL(
        "BEGIN\n"
        "  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {name}) THEN\n"
        "    CREATE ROLE {role} WITH SUPERUSER LOGIN PASSWORD {verifier};\n"
        "  ELSE\n"
        "    ALTER ROLE {role} WITH SUPERUSER LOGIN;\n"
        "    IF (SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = {name})\n"
        "        IS DISTINCT FROM {verifier} THEN\n"
        "      ALTER ROLE {role} WITH PASSWORD {verifier};\n"
        "    END IF;\n"
        "  END IF;\n"
        "END\n"
    ).format(name=sql.Literal(admin), role=role, verifier=sql.Literal(verifier))
    text = body.as_string(None)
    tag = "$warden$"
    if tag in text:  # cannot happen for a valid verifier and a role name; never guess
        raise ValueError("the bootstrap SQL would contain its own dollar-quote tag")
    return f"\\set ON_ERROR_STOP on\nDO {tag}\n{text}{tag};\n"


# The databases a dropped role may own objects or hold grants in.
DATABASES_SQL = "SELECT datname FROM pg_catalog.pg_database WHERE datallowconn ORDER BY 1"
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _soul_tables() -> dict[str, str]:
    """Soul tables that hold rows tagged with an agent, by database (setup/soul/ddl)."""
    from ..soul.ddl import MEMORIES, SKILLS

    return {table.database: table.name for table in (SKILLS, MEMORIES)}


def role_exists_sql(agent: str) -> str:
    """A query that prints 1 when the agent's role exists."""
    return (
        sql.SQL("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = {}")
        .format(sql.Literal(agent_role(agent)))
        .as_string(None)
    )


def drop_agent_sql(agent: str, databases: Sequence[str] = ()) -> str:
    """psql input (as postgres, on the socket of a server that outlives the agent)
    that removes it: its brain, its soul rows, what its role owns or was granted in
    every other database (the shared ones, and *databases*: another agent may have
    granted it something in its own brain), then the role. Safe to run again after a
    cut. Only plain names are connected to (psql's \\connect takes them as words)."""
    role = agent_role(agent)
    brain = brain_database(agent)
    ident, literal = sql.Identifier(role), sql.Literal(role)
    tables = _soul_tables()
    lines = [
        "\\set ON_ERROR_STOP on",
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE);")
        .format(sql.Identifier(brain))
        .as_string(None),
        sql.SQL(
            "SELECT count(*) = 1 AS has_role FROM pg_catalog.pg_roles WHERE rolname = {} \\gset"
        )
        .format(literal)
        .as_string(None),
        "\\if :has_role",
    ]
    shared = [d for d in SHARED_DATABASES if not databases or d in databases]
    others = [d for d in databases if d != brain and d not in SHARED_DATABASES]
    for database in [*shared, *others]:
        if not _PLAIN_NAME.fullmatch(database):
            continue
        lines.append(f"\\connect {database}")
        table = tables.get(database)
        if table is not None:
            lines.append(
                sql.SQL(
                    "DO $warden$ BEGIN IF to_regclass({table}) IS NOT NULL THEN "
                    "EXECUTE format('DELETE FROM %I WHERE agent = %L', {table}, {role}); "
                    "END IF; END $warden$;"
                )
                .format(table=sql.Literal(table), role=literal)
                .as_string(None)
            )
        lines += [
            sql.SQL("REASSIGN OWNED BY {} TO {};")
            .format(ident, sql.Identifier(ADMIN_ROLE))
            .as_string(None),
            sql.SQL("DROP OWNED BY {};").format(ident).as_string(None),
        ]
    lines += [
        "\\connect postgres",
        sql.SQL("DROP ROLE {};").format(ident).as_string(None),
        "\\endif",
    ]
    return "\n".join(lines) + "\n"

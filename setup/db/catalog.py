"""What a PostgreSQL server has, read in a few queries: the facts `plan_sql` compares.

Privileges are read as the server stores them, from the ACLs (aclexplode over
datacl, nspacl, relacl and pg_default_acl, with acldefault standing in for a NULL
ACL), not with has_*_privilege(): those fold in PUBLIC and role memberships, and the
plan needs to know what was granted to whom, PUBLIC included, to grant or revoke it.
Reading pg_authid needs a superuser: warden's admin role is one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from .names import ADMIN_ROLE, SHARED_DATABASES

PUBLIC = ""  # the grantee PUBLIC (ACL grantee oid 0); no role can be named ""

Acl = frozenset[tuple[str, str]]  # (grantee role or PUBLIC, privilege such as "CONNECT")
Connect = Callable[[str], "psycopg.Connection[Any]"]


def granted(acl: Acl, grantee: str) -> frozenset[str]:
    """The privileges *acl* gives *grantee* directly (not through PUBLIC or membership)."""
    return frozenset(priv for who, priv in acl if who == grantee)


@dataclass(frozen=True)
class Role:
    name: str
    login: bool
    superuser: bool
    createdb: bool
    createrole: bool
    inherit: bool
    replication: bool
    bypassrls: bool
    verifier: str | None = field(repr=False)  # pg_authid.rolpassword


@dataclass(frozen=True)
class Database:
    name: str
    owner: str
    acl: Acl


@dataclass(frozen=True)
class Relation:
    name: str
    kind: str  # "table" or "sequence"
    acl: Acl


@dataclass(frozen=True)
class Inside:
    """Facts read while connected to one database (schema public and what is in it)."""

    public_schema: Acl | None  # None: the database has no schema public
    default_acl: Mapping[str, Acl]  # "table"/"sequence" -> grants ADMIN_ROLE set in public
    relations: tuple[Relation, ...]


@dataclass(frozen=True)
class Catalog:
    roles: Mapping[str, Role]
    databases: Mapping[str, Database]
    inside: Mapping[str, Inside]  # for each shared database that exists


_ROLES = """
SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit,
       rolreplication, rolbypassrls, rolpassword
FROM pg_catalog.pg_authid
"""

_DATABASES = """
SELECT d.datname, pg_catalog.pg_get_userbyid(d.datdba),
       CASE WHEN a.grantee = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(a.grantee) END,
       a.privilege_type
FROM pg_catalog.pg_database d
LEFT JOIN LATERAL pg_catalog.aclexplode(
    coalesce(d.datacl, pg_catalog.acldefault('d', d.datdba))) a ON true
"""

_SCHEMA = """
SELECT CASE WHEN a.grantee = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(a.grantee)
       END, a.privilege_type
FROM pg_catalog.pg_namespace n
CROSS JOIN LATERAL pg_catalog.aclexplode(
    coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
WHERE n.nspname = 'public'
"""

_HAS_PUBLIC = "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = 'public'"

_DEFAULT_ACL = """
SELECT d.defaclobjtype::text,
       CASE WHEN a.grantee = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(a.grantee) END,
       a.privilege_type
FROM pg_catalog.pg_default_acl d
JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace
CROSS JOIN LATERAL pg_catalog.aclexplode(d.defaclacl) a
WHERE n.nspname = 'public' AND d.defaclrole = (
    SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %s)
"""

_RELATIONS = """
SELECT c.relname, c.relkind::text,
       CASE WHEN a.grantee = 0 THEN '' ELSE pg_catalog.pg_get_userbyid(a.grantee) END,
       a.privilege_type
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault(
    CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a ON true
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S')
"""

_KINDS = {"r": "table", "p": "table", "S": "sequence"}


def _rows(conn: psycopg.Connection[Any], query: str, *params: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(query, params or None)
        return list(cur.fetchall())


def _read_inside(conn: psycopg.Connection[Any], admin: str) -> Inside:
    schema: Acl | None = None
    if _rows(conn, _HAS_PUBLIC)[0][0]:
        schema = frozenset((who, priv) for who, priv in _rows(conn, _SCHEMA))
    defaults: dict[str, set[tuple[str, str]]] = {"table": set(), "sequence": set()}
    for objtype, who, priv in _rows(conn, _DEFAULT_ACL, admin):
        kind = {"r": "table", "S": "sequence"}.get(objtype)
        if kind is not None:
            defaults[kind].add((who, priv))
    relations: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for name, relkind, who, priv in _rows(conn, _RELATIONS):
        acl = relations.setdefault((name, _KINDS[relkind]), set())
        if priv is not None:
            acl.add((who, priv))
    return Inside(
        public_schema=schema,
        default_acl={kind: frozenset(acl) for kind, acl in defaults.items()},
        relations=tuple(
            Relation(name, kind, frozenset(acl)) for (name, kind), acl in sorted(relations.items())
        ),
    )


def read_catalog(
    conn: psycopg.Connection[Any],
    connect: Connect,
    *,
    shared: Iterable[str] = SHARED_DATABASES,
    admin: str = ADMIN_ROLE,
) -> Catalog:
    """Roles and databases through *conn*; each existing shared database through *connect*."""
    roles = {
        name: Role(
            name=name,
            login=bool(login),
            superuser=bool(superuser),
            createdb=bool(createdb),
            createrole=bool(createrole),
            inherit=bool(inherit),
            replication=bool(replication),
            bypassrls=bool(bypassrls),
            verifier=verifier,
        )
        for (
            name,
            login,
            superuser,
            createdb,
            createrole,
            inherit,
            replication,
            bypassrls,
            verifier,
        ) in _rows(conn, _ROLES)
    }
    owners: dict[str, str] = {}
    acls: dict[str, set[tuple[str, str]]] = {}
    for name, owner, who, priv in _rows(conn, _DATABASES):
        owners[name] = owner
        acl = acls.setdefault(name, set())
        if priv is not None:
            acl.add((who, priv))
    databases = {name: Database(name, owners[name], frozenset(acls[name])) for name in owners}
    inside: dict[str, Inside] = {}
    for name in shared:
        if name in databases:
            with connect(name) as db_conn:
                inside[name] = _read_inside(db_conn, admin)
    return Catalog(roles=roles, databases=databases, inside=inside)

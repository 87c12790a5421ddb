"""The PostgreSQL identifiers warden manages, derived from AGENT_NAME in one place.

AGENT_NAME is already validated by the configuration (lowercase letters and digits,
at most 16, never `pg_*` nor a base-system name); the checks here keep this package
safe to call on its own, and refuse the two names warden's own roles use.
"""

from __future__ import annotations

import re

ADMIN_ROLE = "warden"
BOOTSTRAP_ROLE = "postgres"
ADMIN_DATABASE = "postgres"
SHARED_DATABASES: tuple[str, ...] = ("system_ops", "system_brain", "system_skills")

_AGENT = re.compile(r"[a-z][a-z0-9]{0,15}")


def agent_role(agent: str) -> str:
    """The agent's login role: its AGENT_NAME."""
    if not _AGENT.fullmatch(agent):
        raise ValueError(f"not a valid AGENT_NAME for a PostgreSQL role: {agent!r}")
    if agent in (ADMIN_ROLE, BOOTSTRAP_ROLE):
        raise ValueError(f"AGENT_NAME {agent!r} is the name of one of warden's PostgreSQL roles")
    return agent


def brain_database(agent: str) -> str:
    """The agent's own database, `<agent>_brain`."""
    return f"{agent_role(agent)}_brain"

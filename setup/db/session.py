"""Logging in to PostgreSQL, and turning psycopg's errors into warden's.

The password goes to libpq as a keyword argument, never inside a DSN string that
could be printed, and every message warden builds from a psycopg error has it
removed, whatever libpq or the server put in it.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ..errors import HostError

CONNECT_TIMEOUT = 10  # seconds, libpq's connect_timeout
APPLICATION_NAME = "warden"
# The server is another domain's (a jail's root is its superuser): a statement of
# warden's waits for a lock, or runs, this long at most, then fails with the reason.
STATEMENT_LIMITS = "-c statement_timeout=60s -c lock_timeout=30s"


def describe(exc: psycopg.Error, *secrets: str) -> str:
    """One line about *exc*: the server's primary message when there is one."""
    primary = exc.diag.message_primary if isinstance(exc, psycopg.Error) else None
    text = primary or str(exc).strip() or type(exc).__name__
    text = " ".join(text.split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


def connect(
    address: tuple[str, int],
    user: str,
    password: str,
    dbname: str,
    *,
    timeout: int = CONNECT_TIMEOUT,
) -> psycopg.Connection[Any]:
    """An autocommit connection to *dbname* at *address* (a forward's local end, or the
    jail itself when warden runs on the host); HostError when it cannot log in."""
    host, port = address
    try:
        return psycopg.connect(
            host=host,
            port=port,
            user=user,
            password=password,
            dbname=dbname,
            connect_timeout=timeout,
            application_name=APPLICATION_NAME,
            options=STATEMENT_LIMITS,
            autocommit=True,
        )
    except psycopg.Error as exc:
        raise HostError(
            f"cannot log in to PostgreSQL at {host}:{port} as {user} (database {dbname}): "
            f"{describe(exc, password)}"
        ) from None

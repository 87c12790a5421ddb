"""The options several commands share, each checked the same way."""

from __future__ import annotations

import os

from ..apply import DEFAULT_LOCK_WAIT
from ..errors import Refused
from ..fleet import DEFAULT_WORKERS


def parallel_width(raw: str | None) -> int:
    """--parallel: how many hosts at once (a number from 1 to 64; default 8)."""
    if raw is None:
        return DEFAULT_WORKERS
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise Refused(f"--parallel {raw!r}: a number of hosts from 1 to 64")
    return int(raw)


def lock_wait() -> int:
    """Seconds a second apply waits for the host lock (WARDEN_LOCK_WAIT, default 30)."""
    raw = os.environ.get("WARDEN_LOCK_WAIT", str(DEFAULT_LOCK_WAIT))
    if not raw.isdigit() or int(raw) > 3600:
        raise Refused(f"WARDEN_LOCK_WAIT={raw!r}: a number of seconds from 0 to 3600")
    return int(raw)

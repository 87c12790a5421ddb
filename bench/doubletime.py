"""The FreeBSD double's own time, so the bench compares the tools and not the double.

The double's wrappers on a test host end in `exec client SOCKET "$PY" freebsd_double.py CMD
"$@"` (the client asks the host's double server; tests/double/install.py).
`instrument` rewrites them (in the host's overlay, after it started) to note each
call's start and end in nanoseconds. `double_seconds` adds up the time at least one
double command ran (the union of their intervals, so nested calls such as the
commands an rc.d script runs under `service` count once). `lockf` is the double too,
but its interval covers the whole step script it runs, so it counts as one median
call instead.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any

TIMES = "/var/db/freebsd-double/bench-times.log"
_EXEC = re.compile(r'^exec (?P<run>.+) (?P<command>\S+) "\$@"$', re.M)


def instrument(host: Any) -> None:
    """Rewrite every double wrapper on `host` (a tests.testhost.TestHost) to time itself."""
    from tests.testhost import DOUBLE_BIN

    bin_dir = Path(host.upper) / DOUBLE_BIN.lstrip("/")
    for wrapper in bin_dir.iterdir():
        text = wrapper.read_text()
        match = _EXEC.search(text)
        if match is None:
            continue
        timed = (
            "_bt_s=$(date +%s%N)\n"
            f'{match["run"]} {match["command"]} "$@"\n'
            "_bt_rc=$?\n"
            f'echo "{match["command"]} $_bt_s $(date +%s%N)" >> {TIMES}\n'
            'exit "$_bt_rc"'
        )
        wrapper.write_text(text[: match.start()] + timed + text[match.end() :])


def intervals(host: Any) -> list[tuple[str, int, int]]:
    if not host.exists(TIMES):
        return []
    found = []
    for line in host.read_file(TIMES).decode().splitlines():
        command, start, end = line.split()
        found.append((command, int(start), int(end)))
    return found


def reset(host: Any) -> None:
    host.exec(["rm", "-f", TIMES])


def double_seconds(calls: list[tuple[str, int, int]]) -> dict[str, float]:
    """{"seconds": the double's time, "calls": how many, "median_ms": one call}."""
    plain = sorted((s, e) for c, s, e in calls if c != "lockf")
    locks = sum(1 for c, _, _ in calls if c == "lockf")
    total = 0
    cur_s = cur_e = None
    for start, end in plain:
        if cur_e is None or start > cur_e:
            if cur_e is not None and cur_s is not None:
                total += cur_e - cur_s
            cur_s, cur_e = start, end
        else:
            cur_e = max(cur_e, end)
    if cur_e is not None and cur_s is not None:
        total += cur_e - cur_s
    median = statistics.median([e - s for s, e in plain]) if plain else 0
    total += locks * median
    return {"seconds": total / 1e9, "calls": len(calls), "median_ms": median / 1e6}

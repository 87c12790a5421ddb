"""Run inside warden's own venv by bench/run.py: warden's setup or the floor, counted.

`probe.py warden ENV COUNTS.json` runs `setup --env ENV --yes --json` in this process
with paramiko's channel opens, SFTP clients and handshakes counted;
`probe.py floor ENV COUNTS.json` is the floor: one SSH handshake and one exec of
warden's own facts script for that .env, nothing else. Both write their counts and
their in-process seconds (from before the first connection to the end) to COUNTS.json.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import paramiko

COUNTS: dict[str, Any] = {"handshakes": 0, "channels": 0, "exec": 0, "sftp": 0}


def _count(cls: Any, name: str, key: str) -> None:
    original = getattr(cls, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        COUNTS[key] += 1
        return original(*args, **kwargs)

    setattr(cls, name, counted)


_count(paramiko.Transport, "start_client", "handshakes")
_count(paramiko.Transport, "open_channel", "channels")
_count(paramiko.Channel, "exec_command", "exec")
_count(paramiko.SFTPClient, "from_transport", "sftp")


def warden(env: str) -> int:
    from setup.cli import guarded, setup_command

    return guarded(lambda: setup_command(env, None, None, False, True, True, False))


def floor(env: str) -> int:
    from setup.cli import load
    from setup.facts import build_script
    from setup.planner import facts_request
    from setup.steps import select
    from setup.transport import connect

    config = load(env)
    request = facts_request(config, select(None))
    script = build_script(request.packages, request.files, nonce="floor", probes=request.probes)[0]
    executor = connect(config.host)
    try:
        result = executor.run(script)
    finally:
        executor.close()
    return result.rc


def main() -> int:
    mode, env, out = sys.argv[1:4]
    started = time.monotonic()
    rc = {"warden": warden, "floor": floor}[mode](env)
    COUNTS["seconds"] = time.monotonic() - started
    COUNTS["rc"] = rc
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(COUNTS, handle)
    return rc


if __name__ == "__main__":
    sys.exit(main())

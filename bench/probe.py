"""Run inside warden's own venv by bench/run.py: warden's setup, plan or the floor, counted.

`probe.py warden ENV COUNTS.json [HOSTS]` runs `setup --env ENV --yes --json` (with
`--host HOSTS`, e.g. `p0,p1,p2`: warden's own parallel run over several hosts) in this
process; `probe.py plan ENV COUNTS.json` runs `plan --env ENV --json`;
`probe.py floor ENV COUNTS.json` is the floor: one SSH handshake and one exec of
warden's own facts script for that .env, nothing else.

Each writes to COUNTS.json paramiko's channel opens, SFTP clients and handshakes, its
in-process seconds (from before the first connection to the end: `seconds`), and where
that time went: `connect_s` (SSH handshakes, warden's SSHExecutor), `exec_s` (inside
SSHExecutor.run: the round trips of the scripts warden sends, the facts script first),
`read_s` (read_host: the facts exec plus parsing them) and `plan_s` (make_plan: planning
in-process on the gathered facts). Summed over threads in a parallel run.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import paramiko

from setup import job, transport
from setup.commands import guarded
from setup.commands.setup import plan_command, setup_command
from setup.config import load_or_refuse

COUNTS: dict[str, Any] = {"handshakes": 0, "channels": 0, "exec": 0, "sftp": 0}
SECONDS: dict[str, float] = {"connect_s": 0.0, "exec_s": 0.0, "read_s": 0.0, "plan_s": 0.0}
EXECS: list[float] = []
_LOCK = threading.Lock()


def _count(cls: Any, name: str, key: str) -> None:
    original = getattr(cls, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            COUNTS[key] += 1
        return original(*args, **kwargs)

    setattr(cls, name, counted)


def _time(owners: tuple[Any, ...], name: str, key: str) -> None:
    """Wrap `name` (the same function) on every owner; add its seconds to SECONDS[key]."""
    original = getattr(owners[0], name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            spent = time.monotonic() - started
            with _LOCK:
                SECONDS[key] += spent
                if key == "exec_s":
                    EXECS.append(spent)

    for owner in owners:
        setattr(owner, name, timed)


_count(paramiko.Transport, "start_client", "handshakes")
_count(paramiko.Transport, "open_channel", "channels")
_count(paramiko.Channel, "exec_command", "exec")
_count(paramiko.SFTPClient, "from_transport", "sftp")
_time((transport.SSHExecutor,), "__init__", "connect_s")
_time((transport.SSHExecutor,), "run", "exec_s")
_time((job,), "read_host", "read_s")
_time((job,), "make_plan", "plan_s")


def warden(env: str, hosts: str | None) -> int:
    return guarded(lambda: setup_command(env, None, hosts, False, True, True, False))


def plan(env: str, hosts: str | None) -> int:
    return guarded(lambda: plan_command(env, hosts, False, True, False))


def floor(env: str, hosts: str | None) -> int:
    from setup.facts import build_script
    from setup.planner import facts_request
    from setup.steps import select

    config = load_or_refuse(env)
    request = facts_request(config, select(None))
    script = build_script(request.packages, request.files, nonce="floor", probes=request.probes)[0]
    executor = transport.connect(hosts or config.host)
    try:
        result = executor.run(script)
    finally:
        executor.close()
    return result.rc


def main() -> int:
    mode, env, out = sys.argv[1:4]
    hosts = sys.argv[4] if len(sys.argv) > 4 else None
    started = time.monotonic()
    rc = {"warden": warden, "plan": plan, "floor": floor}[mode](env, hosts)
    COUNTS["seconds"] = time.monotonic() - started
    COUNTS.update(SECONDS)
    COUNTS["execs_s"] = EXECS
    COUNTS["rc"] = rc
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(COUNTS, handle)
    return rc


if __name__ == "__main__":
    sys.exit(main())

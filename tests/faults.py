"""Fault injection on a throwaway host: cut warden's SSH session at its k-th command.

"The k-th command" is the k-th FreeBSD command the double runs inside warden's step
scripts (under the host lock), not in its facts script: the double's fault hook counts
those with `"under": "lockf"` and logs every call with the lockf it ran under
(calls.lockf.log), which is how a reference run tells which step ran which command.

A case: a fresh host, a full setup of the example agent cut at command k (the double
SIGKILLs the sshd session serving it, like a network cut), setup again without the
fault, then the host must match a host that never saw a fault (`snapshot`), a plan
must find nothing left to do, and neither the faulted run's output nor its journal
may claim a change that did not complete.

The suite (tests/integration/test_faults.py) runs a spread of k; `python -m
tests.faults` runs every k (for bench/, not the suite). Needs what tests/testhost.py
needs: root, unshare, sshd.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.test_agents_on_one_host import env, operator_for, prepared
from tests.operator import Operator
from tests.testhost import DOUBLE_STATE, TestHost, generate_key

AGENT = "atlas"
#: The steps built today (README "What each step does"); the role jails are not, so a
#: full setup names these. When the jail steps are built, drop --step (or add them).
STEPS = ("preflight", "host", "network", "pf", "user", "service")
SETUP_TIMEOUT = 300

#: Files warden manages for one agent on a host (README "State on the host").
MANAGED_FILES = (
    "/etc/rc.conf",
    "/etc/rc.conf.local",
    "/etc/pf.conf",
    "/etc/pf.warden.conf",
    "/etc/sysctl.conf",
    "/etc/devfs.rules",
    "/boot/loader.conf",
    "/usr/local/etc/bastille/bastille.conf",
    f"/usr/local/etc/rc.d/{AGENT}",
    "/usr/local/etc/newsyslog.conf.d/warden.conf",
    f"/usr/local/etc/newsyslog.conf.d/{AGENT}.conf",
    f"/usr/local/libexec/warden/{AGENT}/run",
    f"/usr/local/libexec/warden/{AGENT}/log",
    f"/usr/local/etc/warden/agents/{AGENT}/agent.env",
    f"/var/db/warden/agents/{AGENT}.json",
    "/var/db/warden/pf/deadman.sh",
    "/var/db/warden/pf/stage/pf.conf",
    "/var/db/warden/pf/stage/pf.warden.conf",
)
#: Secrets: their presence, owner and mode count, their values do not.
SECRET_FILES = (f"/usr/local/etc/warden/agents/{AGENT}/credentials",)
#: Trees whose every entry (name, type, mode, owner) must match: a stray temporary
#: file, directory or mode anywhere in them is a difference.
TREES = (
    "/etc",
    "/usr/local/etc",
    "/usr/local/libexec/warden",
    "/var/db/warden",
    "/var/log/warden",
)
#: Entries whose existence counts but whose metadata changes with time on any host.
VOLATILE = re.compile(r"^/var/log/warden/[^/]+/agent\.log(\.\d+(\.bz2)?)?$")
#: warden_put's temporary names (setup/shell.py) and the registry check's (setup/apply.py).
TEMP_NAME = re.compile(
    r"/\.[^/]*\.warden\.[A-Za-z0-9]{6}$|/warden\.registry\.[A-Za-z0-9]{6}$"
    r"|^/tmp/warden\.[A-Za-z0-9]{6}$"  # a script's private directory (shell.LIBRARY)
)


# --------------------------------------------------------------------------- a host


@dataclass
class Site:
    """A prepared host (the operator's pf.conf and the fake agent) and its operator."""

    host: TestHost
    operator: Operator
    env_file: Path


@contextmanager
def fresh_site(client_key: Path, home: Path) -> Iterator[Site]:
    host = TestHost("h1", client_key=client_key).start()
    try:
        prepared(host)
        operator = operator_for(home, host)
        yield Site(host, operator, env(operator, AGENT, "10.0.1"))
    finally:
        host.stop()


def setup(site: Site, *extra: str, lock_wait: int = 30) -> subprocess.CompletedProcess[str]:
    return site.operator.warden(
        "setup",
        "--env",
        str(site.env_file),
        "--yes",
        "--json",
        "--step",
        ",".join(STEPS),
        *extra,
        lock_wait=lock_wait,
        timeout=SETUP_TIMEOUT,
    )


def setup_popen(site: Site) -> subprocess.Popen[str]:
    args = ("setup", "--env", str(site.env_file), "--yes", "--json", "--step", ",".join(STEPS))
    return site.operator.popen(*args)


def planned_changes(site: Site) -> list[str]:
    """What a plan of the same steps would still do (no side effects)."""
    result = site.operator.warden(
        "plan", "--env", str(site.env_file), "--json", "--step", ",".join(STEPS), timeout=120
    )
    if result.returncode != 0:
        return [f"plan exited {result.returncode}: {words(result.stderr)[-600:]}"]
    data = json.loads(result.stdout)
    return [f"{s['step']}: {c['summary']}" for s in data["steps"] for c in s["changes"]]


def set_fault(host: TestHost, fault: object) -> None:
    state = json.loads(host.read_file(f"{DOUBLE_STATE}/state.json"))
    state["fault"] = fault
    host.write_file(f"{DOUBLE_STATE}/state.json", json.dumps(state, indent=2) + "\n")


def locked_count(host: TestHost) -> int:
    path = f"{DOUBLE_STATE}/calls.lockf.seq"
    return int(host.read_file(path).decode().strip() or 0) if host.exists(path) else 0


def lock_is_free(host: TestHost) -> bool:
    probe = "lockf -kns -t 0 /var/db/warden/lock true"
    return host.exec(probe, check=False).returncode == 0


def words(text: str) -> str:
    """Text with rich's line wrapping (and markup-eaten brackets) undone."""
    return " ".join(re.sub(r"\[[^\]]*\]", "", text).split())


def journal(host: TestHost) -> list[dict[str, Any]]:
    path = "/var/db/warden/journal/warden.jsonl"
    if not host.exists(path):
        return []
    return [json.loads(line) for line in host.read_file(path).decode().splitlines() if line]


# --------------------------------------------------------------------------- what a host is


def snapshot(host: TestHost) -> dict[str, Any]:
    """Everything the fault tests compare: managed files (content, owner, mode), every
    entry of the managed trees, the agent's user and group, the double's kernel,
    network and pf state, and whether the service runs."""
    quoted = " ".join(MANAGED_FILES + SECRET_FILES)
    stat = host.exec(
        f"for f in {quoted}; do "
        '[ -e "$f" ] && printf "%s %s\\n" "$f" "$(stat -c "%F %a %U:%G" "$f")"; '
        "done; :"
    ).stdout.decode()
    meta = dict(line.split(" ", 1) for line in stat.splitlines())
    files: dict[str, Any] = {}
    for path in MANAGED_FILES + SECRET_FILES:
        if path not in meta:
            files[path] = None
        elif path in SECRET_FILES:
            files[path] = {"meta": meta[path]}
        else:
            files[path] = {"meta": meta[path], "text": host.read_file(path).decode()}
    listing = host.exec(
        ["find", *TREES, "-printf", "%p %y %m %u:%g\\n"], check=False
    ).stdout.decode()
    tree = {}
    for line in listing.splitlines():
        path, rest = line.split(" ", 1)
        tree[path] = "present" if VOLATILE.match(path) else rest
    accounts = host.exec(f"grep -h '^{AGENT}:' /etc/passwd /etc/group; :").stdout.decode()
    running = host.exec(f"service {AGENT} onestatus", check=False).returncode == 0
    return {
        "files": files,
        "tree": tree,
        "accounts": sorted(accounts.splitlines()),
        "double": double_state(host),
        "service running": running,
    }


def double_state(host: TestHost) -> dict[str, Any]:
    """The double's state without what differs between any two runs (load time, module
    ids, a bridge's random MAC, interface indexes) or is the fault itself."""
    state: dict[str, Any] = json.loads(host.read_file(f"{DOUBLE_STATE}/state.json"))
    state.pop("fault", None)
    state.pop("next_ifindex", None)
    state.get("pf", {}).pop("enabled_at", None)
    state["kld"] = sorted(k["name"] for k in state.get("kld", []))
    for iface in state.get("interfaces", []):
        iface.pop("index", None)
        if iface.get("kind") != "ether":
            iface.pop("ether", None)
    state["interfaces"] = sorted(state.get("interfaces", []), key=lambda i: str(i["name"]))
    return state


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Readable differences between two snapshots (empty when identical)."""
    found: list[str] = []
    for path, want in expected["files"].items():
        got = actual["files"].get(path)
        if want == got:
            continue
        if want is None or got is None:
            found.append(f"{path}: {'missing' if got is None else 'should not exist'}")
            continue
        if want["meta"] != got["meta"]:
            found.append(f"{path}: {got['meta']} instead of {want['meta']}")
        if want.get("text") != got.get("text"):
            diff = difflib.unified_diff(
                want["text"].splitlines(), got["text"].splitlines(), "expected", path, lineterm=""
            )
            found.append(f"{path} differs:\n" + "\n".join(list(diff)[:30]))
    want_tree, got_tree = expected["tree"], actual["tree"]
    for path in sorted(set(want_tree) | set(got_tree)):
        if want_tree.get(path) != got_tree.get(path):
            found.append(f"{path}: {got_tree.get(path)!r} instead of {want_tree.get(path)!r}")
    for key in ("accounts", "service running"):
        if expected[key] != actual[key]:
            found.append(f"{key}: {actual[key]!r} instead of {expected[key]!r}")
    want_double, got_double = expected["double"], actual["double"]
    for key in sorted(set(want_double) | set(got_double)):
        if want_double.get(key) != got_double.get(key):
            found.append(
                f"double state {key}: {json.dumps(got_double.get(key))} instead of "
                f"{json.dumps(want_double.get(key))}"
            )
    return found


def temp_files(host: TestHost) -> list[str]:
    """Temporary files of an interrupted placement, anywhere warden writes."""
    listing = host.exec(["find", *TREES, "/tmp", "-print"], check=False).stdout.decode()
    return [path for path in listing.splitlines() if TEMP_NAME.search(path)]


# --------------------------------------------------------------------------- the reference


@dataclass
class Reference:
    """A host that never saw a fault, and which step ran each step-script command."""

    snapshot: dict[str, Any]
    #: (step, argv) of step-script command k at index k - 1
    commands: list[tuple[str, list[str]]]
    seconds: float

    def step_of(self, k: int) -> str:
        return self.commands[k - 1][0]

    def spread(self, per_step: int = 2) -> list[int]:
        """k values covering every step: its first and last command, and evenly
        spaced ones between when per_step > 2."""
        picked: set[int] = set()
        steps = list(dict.fromkeys(step for step, _ in self.commands))
        for step in steps:
            ks = [k for k in range(1, len(self.commands) + 1) if self.step_of(k) == step]
            count = min(per_step, len(ks))
            picked.update(ks[round(i * (len(ks) - 1) / max(count - 1, 1))] for i in range(count))
        return sorted(picked)


def step_commands(calls: list[dict[str, Any]], applied: list[str]) -> list[tuple[str, list[str]]]:
    """Attribute each step-script command (calls.lockf.log) to its step.

    Each script runs under its own `lockf -k` call; a facts read (calls outside any
    lockf) comes before each step's script, none before a confirmation script (pf's),
    which belongs to the step before it. Steps are the run's applied steps, in order.
    """
    owner: dict[int, str] = {}
    pending = list(applied)
    step = ""
    facts_since = True
    commands: list[tuple[str, list[str]]] = []
    by_call = {c["call"]: c for c in calls}
    for call in sorted(calls, key=lambda c: int(c["call"])):
        argv = call["argv"]
        if call["lockf"] is None:
            if argv[:2] == ["lockf", "-k"]:
                if facts_since:
                    step = pending.pop(0)
                facts_since = False
            else:
                facts_since = True
            continue
        owner.setdefault(int(call["lockf"]), step)
    for call in sorted(calls, key=lambda c: int(c["n"] or 0)):
        if call["n"] is not None:
            commands.append((owner[int(call["lockf"])], call["argv"]))
    assert not pending, f"steps without a script: {pending} ({len(by_call)} calls)"
    return commands


def reference_run(client_key: Path, home: Path) -> Reference:
    """Set the agent up on a fresh host without faults; map every step command."""
    with fresh_site(client_key, home) as site:
        set_fault(site.host, {"at": 10**9, "under": "lockf", "action": "exit"})  # counts only
        started = time.monotonic()
        first = setup(site)
        seconds = time.monotonic() - started
        if first.returncode != 0:
            raise AssertionError(f"reference setup exited {first.returncode}: {first.stderr}")
        applied = [s["step"] for s in json.loads(first.stdout)["applied"]]
        log = site.host.read_file(f"{DOUBLE_STATE}/calls.lockf.log").decode()
        calls = [json.loads(line) for line in log.splitlines()]
        set_fault(site.host, None)
        left = planned_changes(site)
        if left:
            raise AssertionError(f"a clean setup left changes: {left}")
        return Reference(snapshot(site.host), step_commands(calls, applied), seconds)


# --------------------------------------------------------------------------- one case


@dataclass
class FaultResult:
    """What one cut at command k did, and every way the host or the run fell short."""

    k: int
    step: str
    command: list[str]
    faulted_rc: int = 0
    faulted_output: str = ""
    repair_rc: int = 0
    #: the faulted run did not fail as it should (exit 1 or 3, never reached k)
    run_problems: list[str] = field(default_factory=list)
    #: the host after the repair differs from the reference, or still has work to do
    host_problems: list[str] = field(default_factory=list)
    #: the faulted run's output or journal claims work it did not finish
    claim_problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        return self.run_problems + self.host_problems + self.claim_problems

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "step": self.step,
            "command": self.command,
            "faulted_rc": self.faulted_rc,
            "repair_rc": self.repair_rc,
            "ok": self.ok,
            "problems": self.problems,
            "seconds": round(self.seconds, 1),
        }


def check_claims(
    result: FaultResult, faulted: subprocess.CompletedProcess[str], lines: list[dict[str, Any]]
) -> None:
    """The faulted run claims nothing it did not finish: no JSON listing the cut step
    as applied, no ✓ for a change its journal does not record as ok, and no change
    journaled ok that the repair had to do again."""
    runs = list(dict.fromkeys(line["run"] for line in lines))
    faulted_run = [line for line in lines if runs and line["run"] == runs[0]]
    repair_run = [line for line in lines if len(runs) > 1 and line["run"] == runs[1]]
    ok = {(line["step"], line["change"]) for line in faulted_run if line["result"] == "ok"}
    if faulted.stdout.strip():
        data = json.loads(faulted.stdout)
        applied = [s["step"] for s in data.get("applied", [])]
        if result.step in applied:
            result.claim_problems.append(f"the JSON lists step {result.step} as applied: {applied}")
    said = words(faulted.stderr)
    for step, change in ((line["step"], line["change"]) for line in faulted_run):
        if f"✓ {step}: {words(change)}" in said and (step, change) not in ok:
            result.claim_problems.append(f"output says ✓ {step}: {change}, journal does not say ok")
    if f"✓ {result.step}:" in said and not any(step == result.step for step, _ in ok):
        result.claim_problems.append(
            f"output shows a ✓ for step {result.step} with no ok journal line"
        )
    for line in repair_run:
        if (line["step"], line["change"]) in ok:
            result.claim_problems.append(
                f"journaled ok when cut, done again by the repair: {line['step']}: {line['change']}"
            )


def run_fault_case(
    k: int,
    reference: Reference,
    client_key: Path | None = None,
    workdir: Path | None = None,
) -> FaultResult:
    """Cut the SSH session at step command k of a full setup, repair, compare."""
    workdir = Path(tempfile.mkdtemp(prefix=f"fault-{k}-", dir=workdir))
    if client_key is None:
        client_key = workdir / "id_ed25519"
        generate_key(client_key)
    step, command = reference.commands[k - 1]
    result = FaultResult(k, step, command)
    started = time.monotonic()
    with fresh_site(client_key, workdir / "home") as site:
        host = site.host
        set_fault(host, {"at": k, "under": "lockf", "action": "disconnect"})
        faulted = setup(site)
        result.faulted_rc, result.faulted_output = faulted.returncode, faulted.stderr
        if locked_count(host) < k:
            result.run_problems.append(f"the run never reached step command {k}")
        if faulted.returncode not in (1, 3):
            result.run_problems.append(f"the faulted run exited {faulted.returncode}, not 1 or 3")
        set_fault(host, None)
        repair = setup(site)
        result.repair_rc = repair.returncode
        if repair.returncode != 0:
            result.host_problems.append(
                f"the repair run exited {repair.returncode}: {words(repair.stderr)[-800:]}"
            )
        result.host_problems += differences(reference.snapshot, snapshot(host))
        result.host_problems += [f"temporary file left: {p}" for p in temp_files(host)]
        result.host_problems += [
            f"still planned after the repair: {c}" for c in planned_changes(site)
        ]
        check_claims(result, faulted, journal(host))
    result.seconds = time.monotonic() - started
    return result


def run_cases(
    ks: list[int], reference: Reference, client_key: Path, workers: int = 2
) -> list[FaultResult]:
    """Cases on hosts of their own, `workers` at a time (they wait on SSH and the double)."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda k: run_fault_case(k, reference, client_key), ks))


def main(argv: list[str] | None = None) -> int:
    """Every k of a full setup (for bench/): a JSON report on stdout, exit 1 if any fails."""
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=main.__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("-k", type=int, action="append", help="only these k (repeatable)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fault-sweep-"))
    key = work / "id_ed25519"
    generate_key(key)
    reference = reference_run(key, work / "reference")
    ks = args.k or list(range(1, len(reference.commands) + 1))
    started = time.monotonic()
    results = run_cases(ks, reference, key, args.workers)
    report = {
        "commands": len(reference.commands),
        "reference_seconds": round(reference.seconds, 1),
        "sweep_seconds": round(time.monotonic() - started, 1),
        "failed": [r.k for r in results if not r.ok],
        "cases": [r.to_json() for r in results],
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""warden against Ansible and pyinfra on throwaway test hosts; the double, start, plan,
parallel and fault-sweep figures.

Run as root from the checkout: `python3 bench/run.py --help`. It re-executes itself
with warden's venv (.venv) for the test hosts; Ansible and pyinfra run from their own
venv, bench/.venv, installed from the hashed bench/requirements.lock (pyinfra pins
paramiko<5, warden locks paramiko 5, so they cannot share one).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WARDEN_PY = ROOT / ".venv" / "bin" / "python"
VENV = BENCH / ".venv"
TOOLS = ("warden", "ansible", "pyinfra")
PHASES = ("double", "start", "compare", "plan", "parallel", "faults")


def reexec_in_warden_venv() -> None:
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        if not WARDEN_PY.exists():
            sys.exit(f"{WARDEN_PY} is missing: install warden first (README.md)")
        os.execv(str(WARDEN_PY), [str(WARDEN_PY), __file__, *sys.argv[1:]])
    sys.path.insert(0, str(ROOT))


def ensure_bench_venv() -> None:
    """bench/.venv from the hashed lock, once (uv when present, else venv + pip)."""
    marker = VENV / ".installed-lock"
    lock = (BENCH / "requirements.lock").read_text()
    if marker.exists() and marker.read_text() == lock:
        return
    shutil.rmtree(VENV, ignore_errors=True)
    req = str(BENCH / "requirements.lock")
    if shutil.which("uv"):
        subprocess.run(["uv", "venv", "-q", "-p", "python3.11", str(VENV)], check=True)
        subprocess.run(
            [
                "uv",
                "pip",
                "install",
                "-q",
                "--python",
                str(VENV / "bin" / "python"),
                "--require-hashes",
                "-r",
                req,
            ],
            check=True,
        )
    else:
        subprocess.run(["python3.11", "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "-q", "--require-hashes", "-r", req], check=True
        )
    marker.write_text(lock)


# --------------------------------------------------------------------------- a host


def bench_host_class() -> type:
    from tests.testhost import TestHost

    class BenchHost(TestHost):  # type: ignore[misc]
        """A test host whose sftp server logs every request, so they can be counted."""

        def _write_sshd_config(self) -> None:
            super()._write_sshd_config()
            path = self._sshd_dir / "sshd_config"
            path.write_text(
                path.read_text().replace(
                    "Subsystem sftp internal-sftp", "Subsystem sftp internal-sftp -l DEBUG3"
                )
            )

    return BenchHost


ENV_TEXT = """AGENT_NAME=atlas
AGENT_SUBNET_BASE=10.0.1
WARDEN_HOST={alias}
DISPLAY_LOCALE=sl-SI
ASSISTANT_LOCALE=sl-SI
SYSTEM_LOCALE=sl_SI.UTF-8
WARDEN_AGENT_COMMAND=/usr/local/bin/fake-agent
WARDEN_ROLES=none
"""


class Site:
    """One fresh test host (prepared as the end-to-end tests prepare it: the operator's
    pf.conf, the fake agent), the double timed, optionally behind a delay proxy, and
    an operator HOME whose ~/.ssh/config names it `alias`."""

    def __init__(
        self,
        work: Path,
        key: Path,
        delay_ms: float,
        alias: str = "h1",
        network: Any = None,
        time_double: bool = True,
    ) -> None:
        from bench.doubletime import instrument
        from bench.proxy import DelayProxy
        from tests.harness.site import prepared

        self.work = Path(tempfile.mkdtemp(prefix=f"{alias}-", dir=work))
        self.alias = alias
        self.time_double = time_double
        if network is not None:
            self.host = network.host(alias)
        else:
            self.host = bench_host_class()(alias, client_key=key).start()
        self.proxy = None
        try:
            prepared(self.host)
            if time_double:
                instrument(self.host)
            address, port = self.host.address, self.host.port
            if delay_ms > 0:
                self.proxy = DelayProxy((address, port), delay_ms).start()
                address, port = "127.0.0.1", self.proxy.port
        except BaseException:
            self.close()
            raise
        self.home = self.work / "home"
        ssh = self.home / ".ssh"
        ssh.mkdir(parents=True)
        self.known_hosts = ssh / "known_hosts"
        where = address if port == 22 else f"[{address}]:{port}"
        self.known_hosts.write_text(f"{where} {self.host.host_key_line().split(' ', 1)[1]}\n")
        self.ssh_config = ssh / "config"
        self.ssh_config.write_text(
            f"Host {alias}\n    HostName {address}\n    Port {port}\n    User root\n"
            f"    IdentityFile {key}\n    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {self.known_hosts}\n    GlobalKnownHostsFile /dev/null\n"
            "    StrictHostKeyChecking yes\n    BatchMode yes\n"
        )
        self.address, self.port, self.key = address, port, key
        self.env_file = self.work / "atlas.env"
        self.env_file.write_text(ENV_TEXT.format(alias=alias))
        self._log_mark = 0

    def environ(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(ROOT),
        }

    def mark(self) -> None:
        from bench.doubletime import reset

        self._log_mark = len(self.host.sshd_log())
        self._calls_mark = len(self.host.calls())
        if self.time_double:
            reset(self.host)

    def counted(self) -> dict[str, Any]:
        """sshd's view since mark(): logins, exec and sftp sessions; the double's time
        (a timed double) or its calls and how many ran in the caller's session."""
        from bench.doubletime import double_seconds, intervals
        from tests.double.server import LOCAL

        log = self.host.sshd_log()[self._log_mark :]
        counts: dict[str, Any] = {
            "logins": log.count("Accepted publickey"),
            "exec": len(re.findall(r"Starting session: command", log)),
            "sftp_sessions": len(re.findall(r"subsystem 'sftp'", log)),
        }
        if self.time_double:
            double = double_seconds(intervals(self.host))
            counts["double_s"] = double["seconds"]
            counts["double_calls"] = double["calls"]
        else:  # the double's own log: how many calls, how many ran in the caller's session
            calls = self.host.calls()[self._calls_mark :]
            counts["double_calls"] = len(calls)
            counts["session_bound_calls"] = sum(1 for c in calls if c["argv"][0] in LOCAL)
        return counts

    def close(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if getattr(self.host, "netns", None) is None:
            self.host.stop()


def timed(
    argv: list[str], env: dict[str, str], cwd: Path, timeout: float = 600, log: Path | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    seconds = time.monotonic() - started
    if log is not None:
        log.write_text(f"$ {' '.join(argv)}\nrc={done.returncode}\n{done.stdout}\n{done.stderr}")
    return seconds, done


# --------------------------------------------------------------------------- the tools


PROBE_TIMES = ("connect_s", "exec_s", "read_s", "plan_s")


def run_probe(
    mode: str, sites: list[Site], label: str, hosts: str | None = None, timeout: float = 600
) -> dict[str, Any]:
    """`bench/probe.py MODE` (warden, plan, floor) in a process of its own against the
    first site's .env (with `hosts`: `--host hosts`, every site's ssh_config alias in one
    HOME); sshd's and the double's counts summed over the sites."""
    site = sites[0]
    counts = site.work / f"{label}.counts.json"
    env = site.environ()
    if len(sites) > 1:
        home = site.work / f"home-{len(sites)}"
        (home / ".ssh").mkdir(parents=True, exist_ok=True)
        (home / ".ssh" / "config").write_text("".join(s.ssh_config.read_text() for s in sites))
        env["HOME"] = str(home)
    for each in sites:
        each.mark()
    seconds, done = timed(
        [str(WARDEN_PY), str(BENCH / "probe.py"), mode, str(site.env_file), str(counts)]
        + ([hosts] if hosts else []),
        env,
        ROOT,
        timeout=timeout,
        log=site.work / f"{label}.log",
    )
    probe = json.loads(counts.read_text()) if counts.exists() else {}
    out = json.loads(done.stdout) if mode != "floor" and done.stdout.strip() else {}
    if "hosts" in out:  # a parallel run's JSON: one plan per host
        changes = sum((h.get("plan") or {}).get("change_count") or 0 for h in out["hosts"])
        failed = [h["target"] for h in out["hosts"] if h.get("exit_code")]
    else:
        changes, failed = out.get("change_count"), []
    row: dict[str, Any] = {
        "rc": done.returncode,
        "wall_s": seconds,
        "inner_s": probe.get("seconds"),
        "channels": probe.get("channels"),
        "exec_client": probe.get("exec"),
        "sftp_client": probe.get("sftp"),
        "handshakes": probe.get("handshakes"),
        **{key: probe.get(key) for key in PROBE_TIMES},
        "changes": changes if mode != "floor" else None,
    }
    if failed:
        row["failed_hosts"] = failed
    if probe.get("seconds") is not None:
        # interpreter start and imports, before the probe's clock starts
        row["start_s"] = seconds - probe["seconds"]
        if len(sites) == 1:  # with several hosts, connect_s and exec_s add up threads
            # what the process did on its own: planning, rendering, output (no handshake,
            # no exec)
            row["in_process_s"] = probe["seconds"] - probe["connect_s"] - probe["exec_s"]
    for each in sites:
        for key, value in each.counted().items():
            row[key] = row.get(key, 0) + value
    return row


def run_warden(site: Site, label: str) -> dict[str, Any]:
    return run_probe("warden", [site], label)


def run_floor(site: Site, label: str) -> dict[str, Any]:
    return run_probe("floor", [site], label)


def rendered_files(work: Path, site: Site) -> Path:
    """warden's own rendering of every managed file of this agent (invoke render)."""
    out = work / "rendered"
    if not out.exists():
        subprocess.run(
            [
                str(WARDEN_PY),
                "-m",
                "invoke",
                "--search-root",
                str(ROOT),
                "render",
                "--env",
                str(site.env_file),
                "--out",
                str(out),
            ],
            cwd=ROOT,
            env=site.environ(),
            check=True,
            capture_output=True,
        )
    return out / "files"


def run_ansible(site: Site, label: str, files: Path) -> dict[str, Any]:
    inventory = site.work / "inventory.ini"
    inventory.write_text(
        f"{site.alias} ansible_user=root ansible_ssh_private_key_file={site.key} "
        f"ansible_ssh_common_args='-F {site.ssh_config}'\n"
    )
    env = {
        **site.environ(),
        "ANSIBLE_CONFIG": str(BENCH / "ansible" / "ansible.cfg"),
        "BENCH_FILES": str(files),
        "ANSIBLE_LOCAL_TEMP": str(site.work / "ansible-tmp"),
    }
    site.mark()
    seconds, done = timed(
        [
            str(VENV / "bin" / "ansible-playbook"),
            "-i",
            str(inventory),
            str(BENCH / "ansible" / "site.yml"),
        ],
        env,
        BENCH / "ansible",
        log=site.work / f"{label}.log",
    )
    recap = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", done.stdout)
    return {
        "rc": done.returncode,
        "wall_s": seconds,
        "changes": int(recap[2]) if recap else None,
        "failed": int(recap[4]) if recap else None,
        **site.counted(),
    }


def run_pyinfra(site: Site, label: str, files: Path) -> dict[str, Any]:
    inventory = site.work / "inventory.py"
    inventory.write_text(
        f"hosts = [({site.alias!r}, {{'ssh_hostname': {site.address!r}, 'ssh_port': {site.port},"
        f" 'ssh_user': 'root', 'ssh_key': {str(site.key)!r},"
        f" 'ssh_known_hosts_file': {str(site.known_hosts)!r},"
        " 'ssh_strict_host_key_checking': 'yes'})]\n"
    )
    env = {**site.environ(), "BENCH_FILES": str(files)}
    env.pop("PYTHONPATH")
    site.mark()
    seconds, done = timed(
        [str(VENV / "bin" / "pyinfra"), "-y", str(inventory), str(BENCH / "pyinfra" / "deploy.py")],
        env,
        site.work,
        log=site.work / f"{label}.log",
    )
    return {
        "rc": done.returncode,
        "wall_s": seconds,
        "changes": pyinfra_changes(done.stdout + done.stderr),
        **site.counted(),
    }


def pyinfra_changes(output: str) -> int | None:
    """The operations pyinfra ran (its results table's `Success` column: an operation
    with nothing to do is counted under `No Change`), from its `Grand total` row."""
    total = re.search(r"Grand total\s+(\d+)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)", output)
    if total is None:
        return None
    return 0 if total[2] == "-" else int(total[2])


# --------------------------------------------------------------------------- phases


def compare(args: argparse.Namespace, work: Path, key: Path) -> dict[str, Any]:
    """Every tool on its own fresh host: first run then no-op re-run, `runs` times."""
    rows: dict[str, list[dict[str, Any]]] = {}
    files: Path | None = None
    for run in range(args.runs):
        for tool in args.tools:
            site = Site(work, key, args.delay_ms)
            try:
                if tool == "warden":
                    rows.setdefault("warden first", []).append(run_warden(site, "first"))
                    rows.setdefault("warden no-op", []).append(run_warden(site, "noop"))
                    rows.setdefault("floor", []).append(run_floor(site, "floor"))
                else:
                    files = files or rendered_files(work, site)
                    runner = run_ansible if tool == "ansible" else run_pyinfra
                    rows.setdefault(f"{tool} first", []).append(runner(site, "first", files))
                    rows.setdefault(f"{tool} no-op", []).append(runner(site, "noop", files))
            finally:
                site.close()
            print(
                f"  run {run + 1}/{args.runs} {tool}: "
                + ", ".join(
                    f"{k} {v[-1]['wall_s']:.1f}s"
                    for k, v in rows.items()
                    if k.startswith(tool) or (tool == "warden" and k == "floor")
                ),
                flush=True,
            )
    return {name: summarize(samples) for name, samples in rows.items()}


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"runs": samples}
    for key in samples[0]:
        values = [s[key] for s in samples if isinstance(s.get(key), int | float)]
        if values:
            summary[key] = statistics.median(values)
    summary["rcs"] = sorted({s["rc"] for s in samples})
    return summary


def registry_entry(name: str, index: int) -> str:
    third, fourth = divmod(index, 250)
    subnet = f"10.{100 + third}.{fourth}"
    return (
        json.dumps(
            {
                "addresses": {},
                "agent": name,
                "agent_user": name,
                "alias_index": index,
                "config_digest": "0" * 64,
                "gateway": f"{subnet}.1",
                "jails": {},
                "roles": [],
                "runtime": "jail",
                "subnet": f"{subnet}.0/24",
                "toolkit_version": "0.1.0",
                "uid": 3000 + index,
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )


def plan_sizes(args: argparse.Namespace, work: Path, key: Path) -> dict[str, Any]:
    """`plan --json` of the example agent on a host whose registry holds N agents (N - 1
    others' entries written into /var/db/warden/agents/), in bench/probe.py: the facts
    round trip (exec_s), the handshake (connect_s) and the rest in-process apart."""
    results: dict[str, Any] = {}
    for count in args.registry_sizes:
        site = Site(work, key, args.delay_ms, time_double=False)
        try:
            entries = "".join(
                f"cat > /var/db/warden/agents/a{i}.json <<'EOF'\n{registry_entry(f'a{i}', i + 1)}EOF\n"  # noqa: E501
                for i in range(count - 1)
            )
            site.host.exec("mkdir -p /var/db/warden/agents\n" + entries)
            samples = [run_probe("plan", [site], f"plan-{count}-{i}") for i in range(args.runs)]
            results[str(count)] = summarize(samples)
        finally:
            site.close()
        row = results[str(count)]
        print(
            f"  plan with {count} agent(s) registered: {row['wall_s']:.2f}s (facts exec "
            f"{row['exec_s']:.2f}s, make_plan {row['plan_s']:.3f}s, in-process "
            f"{row['in_process_s']:.2f}s)",
            flush=True,
        )
    return results


def parallel(args: argparse.Namespace, work: Path, key: Path) -> dict[str, Any]:
    """A full setup on N hosts (TestNetwork, each behind its own delay proxy), then the
    no-op re-run, each as ONE warden process: `setup --host p0,p1,...` (warden plans and
    applies the hosts in parallel, setup/fleet.py: at most 8 at a time)."""
    from tests.testhost import TestNetwork

    results: dict[str, Any] = {}
    for count in args.hosts:
        with TestNetwork(client_key=key, base_dir=work) as network:
            started = time.monotonic()
            sites: list[Site] = []
            try:
                for i in range(count):
                    sites.append(Site(work, key, args.delay_ms, alias=f"p{i}", network=network))
                ready = time.monotonic() - started
                hosts = ",".join(site.alias for site in sites)
                first = run_probe("warden", sites, f"fleet-{count}-first", hosts, timeout=3600)
                noop = run_probe("warden", sites, f"fleet-{count}-noop", hosts, timeout=3600)
            finally:
                for site in sites:
                    site.close()
        results[str(count)] = {"hosts_ready_s": ready, "first": first, "no-op": noop}
        print(
            f"  {count} host(s), one process: first {first['wall_s']:.1f}s (rc {first['rc']}, "
            f"{first['changes']} changes), no-op {noop['wall_s']:.1f}s (rc {noop['rc']}, "
            f"{noop['changes']} changes)",
            flush=True,
        )
    return results


def double_phase(args: argparse.Namespace, work: Path, key: Path) -> dict[str, Any]:
    """One double call through the host's server against the same call run directly
    (bench/micro.py), then the facts round trip: bench/probe.py's floor (one handshake,
    one exec of warden's facts script) on a prepared host whose double is not timed
    (no wrapper rewritten), with no delay and with the proxy's."""
    from bench.micro import double_calls, script_cost
    from setup.config import load_or_refuse as load
    from setup.facts import build_script
    from setup.planner import facts_request
    from setup.steps import select

    host = bench_host_class()("dbl", client_key=key).start()
    try:
        calls = double_calls(host, rounds=args.double_rounds)
    finally:
        host.stop()
    for label, row in calls.items():
        if isinstance(row, dict) and "median_ms" in row:
            print(f"  {label}: median {row['median_ms']:.1f} ms", flush=True)
    facts: dict[str, Any] = {}
    for delay in sorted({0.0, args.delay_ms}):
        site = Site(work, key, delay, alias=f"f{delay:g}", time_double=False)
        try:
            samples = [run_floor(site, f"facts-{delay:g}-{i}") for i in range(args.runs)]
            if delay == 0:
                # the same script run inside the host, no SSH: its CPU time and processes
                config = load(str(site.env_file))
                request = facts_request(config, select(None))
                script = build_script(
                    request.packages, request.files, nonce="bench", probes=request.probes
                )[0]
                local = script_cost(site.host, script, args.runs)
        finally:
            site.close()
        row = facts[f"{delay:g}"] = summarize(samples)
        print(
            f"  facts round trip at {delay:g} ms each way: exec {row['exec_s']:.3f}s, "
            f"handshake {row['connect_s']:.3f}s, {row['double_calls']:.0f} double calls "
            f"({row['session_bound_calls']:.0f} in the caller's session)",
            flush=True,
        )
    in_host: dict[str, Any] = {k: statistics.median(r[k] for r in local) for k in local[0]}
    in_host["runs"] = local
    print(
        f"  facts script inside the host (no SSH): {in_host['wall_s']:.3f}s wall, CPU "
        f"{in_host['caller_cpu_s']:.2f}s (sh and what it runs) + {in_host['server_cpu_s']:.2f}s "
        f"(the double's server), {in_host['processes']:.0f} processes",
        flush=True,
    )
    return {"calls": calls, "facts_by_delay_ms": facts, "facts_in_host": in_host}


def start_phase(args: argparse.Namespace, work: Path, key: Path) -> dict[str, Any]:
    """warden's process start: `python -c pass`, `import setup.commands.setup` and warden's entry
    with nothing to do (`invoke --list`: tasks.py imports setup.commands), interleaved, the
    median of each; then `-X importtime` of the entry, each owner's share (bench/micro.py)."""
    from bench.micro import import_shares

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "HOME": str(work),
    }
    entry = ["-m", "invoke", "--search-root", str(ROOT), "--list"]
    commands = {
        "python -c pass": ["-c", "pass"],
        "python -c 'import setup.commands.setup'": ["-c", "import setup.commands.setup"],
        "invoke --list": entry,
    }
    for argv in commands.values():  # byte-compiled once, before anything is timed
        subprocess.run([str(WARDEN_PY), *argv], env=env, cwd=ROOT, capture_output=True, check=True)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    shares: list[dict[str, int]] = []
    for _ in range(max(args.runs * 2, 10)):
        for name, argv in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds, done = timed([str(WARDEN_PY), *argv], env, ROOT)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if done.returncode != 0:
                raise RuntimeError(f"{name}: {done.stderr}")
            samples[name].append(seconds)
            # the child's own CPU time (user + system): less sensitive to the machine's load
            cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    for _ in range(args.runs):
        done = subprocess.run(
            [str(WARDEN_PY), "-X", "importtime", *entry],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        shares.append(import_shares(done.stderr))
    owners = {owner for run in shares for owner in run}
    median_us = {o: statistics.median(run.get(o, 0) for run in shares) for o in owners}
    total = sum(median_us.values())
    out: dict[str, Any] = {name: statistics.median(v) for name, v in samples.items()}
    out["cpu_s"] = {name: statistics.median(v) for name, v in cpu.items()}
    out["samples"] = samples
    out["entry_over_bare"] = out["invoke --list"] / out["python -c pass"]
    out["imports_s"] = out["invoke --list"] - out["python -c pass"]
    out["importtime_total_s"] = total / 1e6
    out["shares"] = {
        o: {"importtime_ms": us / 1000, "share": us / total}
        for o, us in sorted(median_us.items(), key=lambda kv: -kv[1])
    }
    print(
        f"  python -c pass {out['python -c pass']:.3f}s, invoke --list "
        f"{out['invoke --list']:.3f}s; top imports: "
        + ", ".join(f"{o} {v['share']:.0%}" for o, v in list(out["shares"].items())[:6]),
        flush=True,
    )
    return out


def fault_sweep(args: argparse.Namespace, work: Path, key: Path) -> dict[str, Any]:
    try:
        from tests import faults
    except ImportError as exc:
        return {"missing": f"tests/faults.py cannot be imported: {exc}"}
    reference = faults.reference_run(key, work / "fault-reference")
    ks = list(range(1, len(reference.commands) + 1))
    if args.fault_k:
        ks = [k for k in ks if k in args.fault_k]
    started = time.monotonic()
    results = faults.run_cases(ks, reference, key, workers=args.fault_workers)
    return {
        "commands": len(reference.commands),
        "ran": len(results),
        "seconds": time.monotonic() - started,
        "failed": [r.k for r in results if not r.ok],
        "cases": [r.to_json() for r in results],
    }


# --------------------------------------------------------------------------- report


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def _f(value: Any, fmt: str = "{:.2f}") -> str:
    return "-" if not isinstance(value, int | float) else fmt.format(value)


def show(report: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console(width=200)
    double = report.get("double")
    if double:
        calls = double["calls"]
        console.print(
            _table(
                f"one double call inside a test host ({calls['rounds']} calls each, interleaved)",
                ["call", "median ms", "p10 ms", "p90 ms", "failed"],
                [
                    [label, _f(r["median_ms"]), _f(r["p10_ms"]), _f(r["p90_ms"]), str(r["failed"])]
                    for label, r in calls.items()
                    if isinstance(r, dict) and "median_ms" in r
                ],
            )
        )
        console.print(
            _table(
                f"CPU time of one call ({calls['rounds']} in a row each)",
                ["call", "caller ms", "server ms", "total ms"],
                [
                    [label, _f(r["caller_ms"]), _f(r["server_ms"]), _f(r["total_ms"])]
                    for label, r in calls["cpu_ms_per_call"].items()
                ],
            )
        )
        console.print(
            _table(
                "facts round trip (bench/probe.py floor, double not timed)",
                [
                    "ms each way",
                    "exec s",
                    "handshake s",
                    "in-process s",
                    "wall s",
                    "double calls",
                    "in caller's session",
                ],
                [
                    [
                        d,
                        _f(r["exec_s"], "{:.3f}"),
                        _f(r["connect_s"], "{:.3f}"),
                        _f(r["in_process_s"], "{:.3f}"),
                        _f(r["wall_s"]),
                        _f(r["double_calls"], "{:.0f}"),
                        _f(r["session_bound_calls"], "{:.0f}"),
                    ]
                    for d, r in double["facts_by_delay_ms"].items()
                ],
            )
        )
    if double and double.get("facts_in_host"):
        x = double["facts_in_host"]
        console.print(
            f"facts script inside the host (no SSH, median of {len(x['runs'])}): "
            f"{x['wall_s']:.3f}s wall; CPU {x['caller_cpu_s']:.2f}s (sh and what it runs, "
            f"session-bound Python included) + {x['server_cpu_s']:.2f}s (the double's server "
            f"and its workers); {x['processes']:.0f} processes started"
        )
    start = report.get("start")
    if start:
        console.print(
            _table(
                "process start (median)",
                ["command", "wall s", "x python -c pass", "CPU s (user+sys)"],
                [
                    [
                        name,
                        _f(start[name], "{:.3f}"),
                        _f(start[name] / start["python -c pass"]),
                        _f(start["cpu_s"][name], "{:.3f}"),
                    ]
                    for name in (
                        "python -c pass",
                        "python -c 'import setup.commands.setup'",
                        "invoke --list",
                    )
                ],
            )
        )
        console.print(
            _table(
                f"imports of invoke --list by owner (-X importtime, own time, total "
                f"{start['importtime_total_s']:.3f}s)",
                ["owner", "ms", "share"],
                [
                    [owner, _f(v["importtime_ms"], "{:.1f}"), f"{v['share']:.1%}"]
                    for owner, v in list(start["shares"].items())[:15]
                ],
            )
        )
    compare = report.get("compare", {})
    if compare:
        base = {
            "first": compare.get("warden first", {}).get("wall_s"),
            "no-op": compare.get("warden no-op", {}).get("wall_s"),
        }
        rows = []
        for name, row in compare.items():
            phase = "no-op" if name.endswith("no-op") or name == "floor" else "first"
            ratio = row["wall_s"] / base[phase] if base.get(phase) else None
            rows.append(
                [
                    name,
                    _f(row["wall_s"]),
                    _f(ratio),
                    _f(row.get("inner_s")),
                    _f(row.get("exec_s")),
                    _f(row.get("logins"), "{:.0f}"),
                    _f(row.get("exec"), "{:.0f}"),
                    _f(row.get("sftp_sessions"), "{:.0f}"),
                    _f(row.get("double_s")),
                    _f(row.get("double_calls"), "{:.0f}"),
                    f"{row['wall_s'] - row.get('double_s', 0):.2f}",
                    _f(row.get("changes"), "{:.0f}"),
                    ",".join(map(str, row["rcs"])),
                ]
            )
        console.print(
            _table(
                f"median of {report['args']['runs']} run(s), "
                f"{report['args']['delay_ms']} ms each way",
                [
                    "run",
                    "wall s",
                    "x warden",
                    "in-process s",
                    "in execs s",
                    "logins",
                    "exec",
                    "sftp sess",
                    "double s",
                    "double calls",
                    "wall - double s",
                    "changes",
                    "rc",
                ],
                rows,
            )
        )
    if report.get("plan"):
        console.print(
            _table(
                "plan --json by registry size (median)",
                [
                    "agents",
                    "wall s",
                    "start+imports s",
                    "handshake s",
                    "facts exec s",
                    "read_host s",
                    "make_plan s",
                    "in-process s",
                    "changes",
                    "rc",
                ],
                [
                    [
                        size,
                        _f(r["wall_s"]),
                        _f(r.get("start_s")),
                        _f(r.get("connect_s")),
                        _f(r.get("exec_s")),
                        _f(r.get("read_s")),
                        _f(r.get("plan_s"), "{:.3f}"),
                        _f(r.get("in_process_s")),
                        _f(r.get("changes"), "{:.0f}"),
                        ",".join(map(str, r["rcs"])),
                    ]
                    for size, r in report["plan"].items()
                ],
            )
        )
    if report.get("parallel"):
        rows = []
        for size, r in report["parallel"].items():
            for run in ("first", "no-op"):
                x = r[run]
                rows.append(
                    [
                        f"{size} {run}",
                        _f(x["wall_s"]),
                        _f(x.get("start_s")),
                        _f(x.get("connect_s")),
                        _f(x.get("exec_s")),
                        _f(x.get("in_process_s")),
                        _f(x.get("double_s")),
                        _f(x.get("logins"), "{:.0f}"),
                        _f(x.get("exec"), "{:.0f}"),
                        _f(x.get("changes"), "{:.0f}"),
                        str(x["rc"]),
                    ]
                )
        console.print(
            _table(
                "setup on N hosts, one warden process (--host p0,p1,...; summed over hosts "
                "and threads)",
                [
                    "hosts",
                    "wall s",
                    "start s",
                    "handshakes s",
                    "in execs s",
                    "in-process s",
                    "double s",
                    "logins",
                    "exec",
                    "changes",
                    "rc",
                ],
                rows,
            )
        )
    faults = report.get("faults")
    if faults:
        if "missing" in faults:
            console.print(f"fault sweep: {faults['missing']}")
        else:
            console.print(
                f"fault sweep: {faults['ran']} of {faults['commands']} step commands cut, "
                f"{len(faults['failed'])} failed {faults['failed']} in {faults['seconds']:.0f}s"
            )
    for line in report.get("verdict", {}).get("lines", []):
        console.print(line)
    if report.get("load"):
        console.print(
            "load average (1 min) at each phase's start and end: "
            + ", ".join(f"{k} {a:.1f}/{b:.1f}" for k, (a, b) in report["load"].items())
        )


def verdict(report: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"lines": []}

    def check(key: str, value: float, text: str, ok: bool) -> None:
        out[key] = value
        out["lines"].append(f"{text}: " + ("yes" if ok else "no"))

    double = report.get("double")
    if double:
        call = double["calls"]["server sysctl -n kern.ostype"]["median_ms"]
        direct = double["calls"]["direct/server sysctl"]
        check(
            "double_call_ms", call, f"one double call {call:.1f} ms median (wanted < 10)", call < 10
        )
        out["lines"].append(f"the same call run directly (Python per call): {direct:.1f}x")
        cpu = double["calls"]["cpu_ms_per_call"]
        server_cpu = cpu["server sysctl -n kern.ostype"]["total_ms"]
        direct_cpu = cpu["direct sysctl -n kern.ostype"]["total_ms"]
        out["double_call_cpu_ms"] = server_cpu
        out["lines"].append(
            f"CPU per call: {server_cpu:.1f} ms through the server, {direct_cpu:.1f} ms directly"
        )
        for delay, row in double["facts_by_delay_ms"].items():
            check(
                f"facts_exec_s@{delay}",
                row["exec_s"],
                f"facts round trip at {delay} ms each way {row['exec_s']:.3f}s (wanted < 0.5)",
                row["exec_s"] < 0.5,
            )
    compare = report.get("compare", {})
    noop = compare.get("warden no-op", {})
    floor = compare.get("floor", {})
    ansible = compare.get("ansible no-op", {})
    if noop and floor:
        ratio = noop["wall_s"] / floor["wall_s"]
        check(
            "noop_over_floor",
            ratio,
            f"warden no-op / floor = {ratio:.2f} (wanted <= 1.5)",
            ratio <= 1.5,
        )
    if noop and ansible:
        ratio = ansible["wall_s"] / noop["wall_s"]
        check(
            "ansible_over_noop",
            ratio,
            f"Ansible no-op / warden no-op = {ratio:.1f} (wanted >= 10)",
            ratio >= 10,
        )
        if "double_s" in noop and "double_s" in ansible:
            bare = (ansible["wall_s"] - ansible["double_s"]) / (noop["wall_s"] - noop["double_s"])
            out["ansible_over_noop_without_double"] = bare
            out["lines"].append(f"the same without the double's time: {bare:.1f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=" ".join(__doc__.split("\n\n")[0].split())
    )
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=25.0,
        help="delay added each way by the proxy (0: no proxy; default 25)",
    )
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 runs; registry sizes 1, 50; hosts 1, 5; 50 double calls; no fault sweep",
    )
    parser.add_argument("--tools", default=",".join(TOOLS), help="warden,ansible,pyinfra")
    parser.add_argument(
        "--only",
        default=",".join(PHASES),
        help="phases (comma list): " + ", ".join(PHASES),
    )
    parser.add_argument("--registry-sizes", default="1,50,250")
    parser.add_argument("--hosts", default="1,5,20", help="parallel setup sizes")
    parser.add_argument(
        "--double-rounds", type=int, default=200, help="calls of each kind in the double phase"
    )
    parser.add_argument("--fault-k", default="", help="only these k (comma list)")
    parser.add_argument("--fault-workers", type=int, default=2)
    parser.add_argument("--json-out", default=str(BENCH / "results.json"))
    args = parser.parse_args(argv)
    args.tools = [t for t in args.tools.split(",") if t]
    phases = set(args.only.split(","))
    if phases - set(PHASES):
        parser.error(f"--only: no phase {', '.join(sorted(phases - set(PHASES)))}")
    if args.quick:
        args.runs = min(args.runs, 2)
        args.registry_sizes, args.hosts = "1,50", "1,5"
        args.double_rounds = min(args.double_rounds, 50)
        phases.discard("faults")
    args.registry_sizes = [int(n) for n in args.registry_sizes.split(",")]
    args.hosts = [int(n) for n in args.hosts.split(",")]
    args.fault_k = [int(k) for k in args.fault_k.split(",") if k]

    reexec_in_warden_venv()
    from tests.testhost import generate_key, missing_preconditions

    problem = missing_preconditions(network="parallel" in phases)
    if problem and phases != {"start"}:
        sys.exit(f"bench: {problem}")
    if {"ansible", "pyinfra"} & set(args.tools) and "compare" in phases:
        ensure_bench_venv()
    work = Path(tempfile.mkdtemp(prefix="warden-bench-"))
    key = work / "id_ed25519"
    generate_key(key)
    report: dict[str, Any] = {
        "args": {k: v for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")},
        "work": str(work),
    }
    phase_fns: dict[str, Callable[[argparse.Namespace, Path, Path], dict[str, Any]]] = {
        "double": double_phase,
        "start": start_phase,
        "compare": compare,
        "plan": plan_sizes,
        "parallel": parallel,
        "faults": fault_sweep,
    }
    try:
        for name in PHASES:
            if name in phases:
                print(f"{name} ...", flush=True)
                started, load = time.monotonic(), os.getloadavg()[0]
                report[name] = phase_fns[name](args, work, key)
                report.setdefault("phase_seconds", {})[name] = time.monotonic() - started
                # the machine's 1-minute load average when the phase began and ended
                report.setdefault("load", {})[name] = [load, os.getloadavg()[0]]
                Path(args.json_out).write_text(json.dumps(report, indent=2, default=str) + "\n")
        report["verdict"] = verdict(report)
        Path(args.json_out).write_text(json.dumps(report, indent=2, default=str) + "\n")
        show(report)
        print(f"JSON: {args.json_out}; logs of every run under {work}")
    finally:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

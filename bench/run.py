#!/usr/bin/env python3
"""warden against Ansible and pyinfra on throwaway test hosts, and the fault sweep.

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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WARDEN_PY = ROOT / ".venv" / "bin" / "python"
VENV = BENCH / ".venv"
TOOLS = ("warden", "ansible", "pyinfra")


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
        self, work: Path, key: Path, delay_ms: float, alias: str = "h1", network: Any = None
    ) -> None:
        from bench.doubletime import instrument
        from bench.proxy import DelayProxy
        from tests.harness.site import prepared

        self.work = Path(tempfile.mkdtemp(prefix=f"{alias}-", dir=work))
        self.alias = alias
        if network is not None:
            self.host = network.host(alias)
        else:
            self.host = bench_host_class()(alias, client_key=key).start()
        self.proxy = None
        try:
            prepared(self.host)
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
        reset(self.host)

    def counted(self) -> dict[str, Any]:
        """sshd's view since mark(): logins, exec and sftp sessions, sftp requests; the
        double's time."""
        from bench.doubletime import double_seconds, intervals

        log = self.host.sshd_log()[self._log_mark :]
        double = double_seconds(intervals(self.host))
        return {
            "logins": log.count("Accepted publickey"),
            "exec": len(re.findall(r"Starting session: command", log)),
            "sftp_sessions": len(re.findall(r"subsystem 'sftp'", log)),
            "double_s": double["seconds"],
            "double_calls": double["calls"],
        }

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


def run_warden(site: Site, label: str) -> dict[str, Any]:
    counts = site.work / f"{label}.counts.json"
    site.mark()
    seconds, done = timed(
        [str(WARDEN_PY), str(BENCH / "probe.py"), "warden", str(site.env_file), str(counts)],
        site.environ(),
        ROOT,
        log=site.work / f"{label}.log",
    )
    probe = json.loads(counts.read_text()) if counts.exists() else {}
    changes = json.loads(done.stdout).get("change_count") if done.stdout.strip() else None
    return {
        "rc": done.returncode,
        "wall_s": seconds,
        "inner_s": probe.get("seconds"),
        "channels": probe.get("channels"),
        "exec_client": probe.get("exec"),
        "sftp_client": probe.get("sftp"),
        "handshakes": probe.get("handshakes"),
        "changes": changes,
        **site.counted(),
    }


def run_floor(site: Site, label: str) -> dict[str, Any]:
    counts = site.work / f"{label}.counts.json"
    site.mark()
    seconds, done = timed(
        [str(WARDEN_PY), str(BENCH / "probe.py"), "floor", str(site.env_file), str(counts)],
        site.environ(),
        ROOT,
        log=site.work / f"{label}.log",
    )
    probe = json.loads(counts.read_text()) if counts.exists() else {}
    return {
        "rc": done.returncode,
        "wall_s": seconds,
        "inner_s": probe.get("seconds"),
        "channels": probe.get("channels"),
        **site.counted(),
    }


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
    changed = re.search(r"Changed: (\d+)", done.stdout + done.stderr)
    return {
        "rc": done.returncode,
        "wall_s": seconds,
        "changes": int(changed[1]) if changed else None,
        **site.counted(),
    }


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
    """`plan` of the example agent on a host whose registry holds N other agents."""
    results: dict[str, Any] = {}
    for count in args.registry_sizes:
        site = Site(work, key, args.delay_ms)
        try:
            entries = "".join(
                f"cat > /var/db/warden/agents/a{i}.json <<'EOF'\n{registry_entry(f'a{i}', i + 1)}EOF\n"  # noqa: E501
                for i in range(count - 1)
            )
            site.host.exec("mkdir -p /var/db/warden/agents\n" + entries)
            samples = []
            for _ in range(args.runs):
                site.mark()
                seconds, done = timed(
                    [
                        str(WARDEN_PY),
                        "-m",
                        "invoke",
                        "--search-root",
                        str(ROOT),
                        "plan",
                        "--env",
                        str(site.env_file),
                        "--json",
                    ],
                    site.environ(),
                    ROOT,
                    log=site.work / f"plan-{count}.log",
                )
                data = json.loads(done.stdout) if done.stdout.strip() else {}
                samples.append(
                    {
                        "rc": done.returncode,
                        "wall_s": seconds,
                        "changes": data.get("change_count"),
                        **site.counted(),
                    }
                )
            results[str(count)] = summarize(samples)
        finally:
            site.close()
        print(
            f"  plan with {count} agent(s) registered: {results[str(count)]['wall_s']:.2f}s",
            flush=True,
        )
    return results


def parallel(args: argparse.Namespace, work: Path, key: Path) -> dict[str, Any]:
    """A full setup on N hosts at once (TestNetwork), one warden process per host: warden's
    own CLI runs several targets one after another."""
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
                with ThreadPoolExecutor(max_workers=count) as pool:
                    t0 = time.monotonic()
                    runs = list(pool.map(lambda s: run_warden(s, "first"), sites))
                    wall = time.monotonic() - t0
            finally:
                for site in sites:
                    site.close()
        results[str(count)] = {
            "hosts_ready_s": ready,
            "wall_s": wall,
            "per_host_median_s": statistics.median(r["wall_s"] for r in runs),
            "double_s_total": sum(r["double_s"] for r in runs),
            "rcs": sorted({r["rc"] for r in runs}),
        }
        print(f"  setup on {count} host(s) in parallel: {wall:.1f}s", flush=True)
    return results


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


def show(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    compare = report.get("compare", {})
    if compare:
        base = {
            "first": compare.get("warden first", {}).get("wall_s"),
            "no-op": compare.get("warden no-op", {}).get("wall_s"),
        }
        table = Table(
            title=f"median of {report['args']['runs']} run(s), "
            f"{report['args']['delay_ms']} ms each way",
            title_justify="left",
        )
        for col in (
            "run",
            "wall s",
            "x warden",
            "in-process s",
            "logins",
            "exec",
            "sftp sess",
            "double s",
            "double calls",
            "wall - double s",
            "changes",
            "rc",
        ):
            table.add_column(col, justify="left" if col == "run" else "right")
        for name, row in compare.items():
            phase = "no-op" if name.endswith("no-op") or name == "floor" else "first"
            ratio = row["wall_s"] / base[phase] if base.get(phase) else None

            def cell(key: str, fmt: str = "{:.2f}", row: dict[str, Any] = row) -> str:
                value = row.get(key)
                return "-" if value is None else fmt.format(value)

            table.add_row(
                name,
                cell("wall_s"),
                "-" if ratio is None else f"{ratio:.2f}",
                cell("inner_s"),
                cell("logins", "{:.0f}"),
                cell("exec", "{:.0f}"),
                cell("sftp_sessions", "{:.0f}"),
                cell("double_s"),
                cell("double_calls", "{:.0f}"),
                f"{row['wall_s'] - row.get('double_s', 0):.2f}",
                cell("changes", "{:.0f}"),
                ",".join(map(str, row["rcs"])),
            )
        console.print(table)
        verdict = report.get("verdict", {})
        for line in verdict.get("lines", []):
            console.print(line)
    for key, title in (("plan", "plan time by registry size"), ("parallel", "setup in parallel")):
        if report.get(key):
            table = Table(title=title, title_justify="left")
            table.add_column("size")
            table.add_column("result")
            for size, row in report[key].items():
                table.add_row(
                    size,
                    ", ".join(
                        f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in row.items()
                        if k != "runs"
                    ),
                )
            console.print(table)
    faults = report.get("faults")
    if faults:
        if "missing" in faults:
            console.print(f"fault sweep: {faults['missing']}")
        else:
            console.print(
                f"fault sweep: {faults['ran']} of {faults['commands']} step commands cut, "
                f"{len(faults['failed'])} failed {faults['failed']} in {faults['seconds']:.0f}s"
            )


def verdict(compare: dict[str, Any]) -> dict[str, Any]:
    noop = compare.get("warden no-op", {}).get("wall_s")
    floor = compare.get("floor", {}).get("wall_s")
    ansible = compare.get("ansible no-op", {}).get("wall_s")
    out: dict[str, Any] = {"lines": []}
    if noop and floor:
        out["noop_over_floor"] = noop / floor
        out["lines"].append(
            f"warden no-op / floor = {noop / floor:.2f} (wanted ≤ 1.5): "
            + ("yes" if noop / floor <= 1.5 else "no")
        )
    if noop and ansible:
        out["ansible_over_noop"] = ansible / noop
        out["lines"].append(
            f"Ansible no-op / warden no-op = {ansible / noop:.1f} (wanted ≥ 10): "
            + ("yes" if ansible / noop >= 10 else "no")
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n")[0])
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
        help="2 runs; registry sizes 1, 50; hosts 1, 5; no fault sweep",
    )
    parser.add_argument("--tools", default=",".join(TOOLS), help="warden,ansible,pyinfra")
    parser.add_argument(
        "--only",
        default="compare,plan,parallel,faults",
        help="phases: compare, plan, parallel, faults",
    )
    parser.add_argument("--registry-sizes", default="1,50,250")
    parser.add_argument("--hosts", default="1,5,20", help="parallel setup sizes")
    parser.add_argument("--fault-k", default="", help="only these k (comma list)")
    parser.add_argument("--fault-workers", type=int, default=2)
    parser.add_argument("--json-out", default=str(BENCH / "results.json"))
    args = parser.parse_args(argv)
    args.tools = [t for t in args.tools.split(",") if t]
    phases = set(args.only.split(","))
    if args.quick:
        args.runs = min(args.runs, 2)
        args.registry_sizes, args.hosts = "1,50", "1,5"
        phases.discard("faults")
    args.registry_sizes = [int(n) for n in args.registry_sizes.split(",")]
    args.hosts = [int(n) for n in args.hosts.split(",")]
    args.fault_k = [int(k) for k in args.fault_k.split(",") if k]

    reexec_in_warden_venv()
    from tests.testhost import generate_key, missing_preconditions

    problem = missing_preconditions(network="parallel" in phases)
    if problem:
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
        "compare": compare,
        "plan": plan_sizes,
        "parallel": parallel,
        "faults": fault_sweep,
    }
    try:
        for name in ("compare", "plan", "parallel", "faults"):
            if name in phases:
                print(f"{name} ...", flush=True)
                started = time.monotonic()
                report[name if name != "plan" else "plan"] = phase_fns[name](args, work, key)
                report.setdefault("phase_seconds", {})[name] = time.monotonic() - started
                Path(args.json_out).write_text(json.dumps(report, indent=2, default=str) + "\n")
        if "compare" in report:
            report["verdict"] = verdict(report["compare"])
        Path(args.json_out).write_text(json.dumps(report, indent=2, default=str) + "\n")
        show(report)
        print(f"JSON: {args.json_out}; logs of every run under {work}")
    finally:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

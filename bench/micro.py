"""Small measurements for bench/run.py: one double call, and warden's process start.

`double_calls(host)` times single calls of the FreeBSD double inside one test host, in
one bash loop (bash's $EPOCHREALTIME: no process started to read the clock), each
iteration running, one after the other so that they share the machine's load:
  - `true`: /bin/true, the floor of starting any program from the loop;
  - `sh wrapper`: a two-line sh script that execs /bin/true (what any wrapper costs);
  - `client sysctl`: the C client run straight from the loop, no sh wrapper (the
    wrapper's variables exported once);
  - `server CMD`: the command's own wrapper (sh, then the C client asking the host's
    double server, which forks a worker);
  - `direct CMD`: a copy of that wrapper whose last line execs the double's Python
    directly (`exec "$PY" freebsd_double.py CMD "$@"`, every call before the server);
  - `lockf`: a command that must run in the caller's own session (the client sends it
    back and execs the double's Python, as before), around /bin/true.

Then the CPU time of a call (less sensitive to the machine's load than its wall time):
`rounds` calls of one kind in a row, the CPU time (user + system) the loop's children
used (/proc/$$/stat cutime + cstime) and, for calls through the server, what the
server and its workers used (its own /proc/PID/stat, utime to cstime), per call.

`import_shares(text)` reads `python -X importtime` output and adds each module's own
(self) time to an owner: the nearest module up its import chain (itself included) that
is not in the standard library, by top-level name (setup and tasks: warden); stdlib
modules with no such importer are the interpreter's own start.
"""

from __future__ import annotations

import re
import statistics
import sys
from typing import Any

CALLS = (("sysctl", "-n kern.ostype"), ("sysrc", "-n hostname"))
DIRECT_BIN = "/tmp/bench-direct-bin"  # the host's own /tmp (a tmpfs of its namespace)
_CLIENT_EXEC = re.compile(r'^exec \S+ \S+ ("\$PY" .+)$', re.M)


def _direct_wrappers(host: Any) -> str:
    """Write the direct wrappers and the sh one; return the sysctl wrapper's text."""
    from tests.testhost import DOUBLE_BIN

    texts: dict[str, str] = {}
    for command, _ in CALLS:
        text = texts[command] = host.read_file(f"{DOUBLE_BIN}/{command}").decode()
        direct, found = _CLIENT_EXEC.subn(r"exec \1", text)
        if not found:
            raise RuntimeError(f"{command}'s wrapper does not exec the client:\n{text}")
        host.write_file(f"{DIRECT_BIN}/{command}", direct, 0o755)
    host.write_file(f"{DIRECT_BIN}/sh-true", "#!/bin/sh\nexec /bin/true\n", 0o755)
    return texts["sysctl"]


def double_calls(host: Any, rounds: int = 200) -> dict[str, Any]:
    """Median (and p10/p90) ms of one call of each kind, `rounds` calls each."""
    from tests.testhost import DOUBLE_BIN

    wrapper = _direct_wrappers(host)
    # the wrapper's own variables, then its exec line without the `exec` (sysctl's)
    exports = "".join(
        f"{line}\n"
        for line in wrapper.splitlines()
        if re.match(r"(export )?[A-Z_]+=|export ", line)
    )
    match = _CLIENT_EXEC.search(wrapper)
    assert match is not None
    client = match[0].removeprefix("exec ").replace('"$@"', CALLS[0][1])
    labels: list[tuple[str, str]] = [
        ("true", "/bin/true"),
        ("sh wrapper exec /bin/true", f"{DIRECT_BIN}/sh-true"),
        (f"client {CALLS[0][0]} {CALLS[0][1]} (no sh wrapper)", client),
    ]
    for command, args in CALLS:
        labels.append((f"server {command} {args}", f"{DOUBLE_BIN}/{command} {args}"))
        labels.append((f"direct {command} {args}", f"{DIRECT_BIN}/{command} {args}"))
    labels.append(("lockf (session-bound)", f"{DOUBLE_BIN}/lockf -t 5 /tmp/bench.lock /bin/true"))
    # the same answer both ways, before timing anything
    answers = {}
    for label, line in labels[2:-1]:
        done = host.exec(exports + line, check=False)
        answers[label] = (done.returncode, done.stdout.decode().strip())
    for command, args in CALLS:
        server, direct = answers[f"server {command} {args}"], answers[f"direct {command} {args}"]
        if server != direct or server[0] != 0:
            raise RuntimeError(f"{command} {args}: server {server!r}, direct {direct!r}")
    if answers[labels[2][0]] != answers[f"server {CALLS[0][0]} {CALLS[0][1]}"]:
        raise RuntimeError(f"{labels[2][0]}: {answers[labels[2][0]]!r}")
    body = "".join(f"t {i} {line}\n" for i, (_, line) in enumerate(labels))
    script = exports + (
        't() { local k=$1; shift; local s=$EPOCHREALTIME; "$@" >/dev/null 2>&1; local r=$?;'
        ' local e=$EPOCHREALTIME; echo "$k $r ${s/./} ${e/./}"; }\n'
        f"for ((n = 0; n < {rounds}; n++)); do\n{body}done\n"
    )
    done = host.exec(["bash", "-c", script])
    samples: dict[int, list[float]] = {}
    failed: dict[int, int] = {}
    for line in done.stdout.decode().splitlines():
        index, rc, start, end = (int(w) for w in line.split())
        samples.setdefault(index, []).append((end - start) / 1000)
        if rc:
            failed[index] = failed.get(index, 0) + 1
    out: dict[str, Any] = {"rounds": rounds, "answers": {k: v[1] for k, v in answers.items()}}
    for index, (label, _) in enumerate(labels):
        ms = sorted(samples.get(index, []))
        out[label] = {
            "n": len(ms),
            "failed": failed.get(index, 0),
            "median_ms": statistics.median(ms),
            "p10_ms": ms[len(ms) // 10],
            "p90_ms": ms[len(ms) * 9 // 10],
        }
    for command, args in CALLS:
        server = out[f"server {command} {args}"]["median_ms"]
        out[f"direct/server {command}"] = out[f"direct {command} {args}"]["median_ms"] / server
    out["cpu_ms_per_call"] = _cpu_per_call(host, exports, labels, rounds)
    return out


# bash: the clock ticks, the host's double server, CPU ticks of this shell's waited-for
# children (mine) and of the server with its workers (theirs), the last PID handed out
# in the host's PID namespace (/proc/loadavg: how many processes were started)
_CPU_PRELUDE = r"""tck=$(getconf CLK_TCK)
srv=
for p in /proc/[0-9]*; do
  case "$(tr "\0" " " < "$p/cmdline" 2>/dev/null)" in
    *freebsd-double/server.py*) srv=${p#/proc/}; break;;
  esac
done
mine() { read -r -a f < /proc/$$/stat; echo $((f[15] + f[16])); }
theirs() { read -r -a f < "/proc/$srv/stat"; echo $((f[13] + f[14] + f[15] + f[16])); }
lastpid() { read -r -a f < /proc/loadavg; echo "${f[4]}"; }
"""


def script_cost(host: Any, script: str, runs: int) -> list[dict[str, float]]:
    """Run `script` with `sh -s` inside the host `runs` times, no SSH: each run's wall
    seconds, CPU seconds of its processes and of the double's server (its workers
    included), and how many processes the host started meanwhile."""
    host.write_file("/tmp/bench-script.sh", script, 0o600)
    bash = _CPU_PRELUDE + (
        f"for ((n = 0; n < {runs}; n++)); do\n"
        "  a=$(mine); b=$(theirs); p=$(lastpid); s=$EPOCHREALTIME\n"
        "  sh -s < /tmp/bench-script.sh >/dev/null 2>&1\n"
        "  e=$EPOCHREALTIME\n"
        # less the 3 command substitutions that read the counters
        '  echo "$(( $(mine) - a )) $(( $(theirs) - b )) $(( $(lastpid) - p - 3 ))'
        ' ${s/./} ${e/./} $tck"\n'
        "done\n"
    )
    done = host.exec(["bash", "-c", bash])
    out = []
    for line in done.stdout.decode().splitlines():
        caller, server, forks, start, end, tck = (int(w) for w in line.split())
        out.append(
            {
                "wall_s": (end - start) / 1e6,
                "caller_cpu_s": caller / tck,
                "server_cpu_s": server / tck,
                "processes": forks,
            }
        )
    return out


def _cpu_per_call(host: Any, exports: str, labels: list[tuple[str, str]], rounds: int) -> Any:
    """{label: {"caller_ms", "server_ms", "total_ms"}} for true, server and direct sysctl."""
    command, args = CALLS[0]
    wanted = ["true", f"server {command} {args}", f"direct {command} {args}"]
    lines = dict(labels)
    script = exports + _CPU_PRELUDE
    for index, label in enumerate(wanted):
        script += (
            "a=$(mine); b=$(theirs)\n"
            f"for ((n = 0; n < {rounds}; n++)); do {lines[label]} >/dev/null 2>&1; done\n"
            f'echo "{index} $(( $(mine) - a )) $(( $(theirs) - b )) $tck"\n'
        )
    done = host.exec(["bash", "-c", script])
    out: dict[str, Any] = {}
    for line in done.stdout.decode().splitlines():
        index, caller, server, tck = (int(w) for w in line.split())
        caller_ms = caller * 1000 / tck / rounds
        server_ms = server * 1000 / tck / rounds
        out[wanted[index]] = {
            "caller_ms": caller_ms,
            "server_ms": server_ms,
            "total_ms": caller_ms + server_ms,
        }
    return out


def import_shares(text: str) -> dict[str, int]:
    """Microseconds of own import time by owner (see the module's docstring)."""
    stdlib = set(sys.stdlib_module_names)
    nodes: list[tuple[int, str, int, list[Any]]] = []  # pending: depth, name, self, children
    for line in text.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|( *)(\S+)", line)
        if match is None:
            continue
        own, depth, name = int(match[1]), len(match[2]) // 2, match[3]
        children: list[Any] = []
        while nodes and nodes[-1][0] > depth:  # printed after its imports, one level deeper
            children.insert(0, nodes.pop())
        nodes.append((depth, name, own, children))
    shares: dict[str, int] = {}

    def walk(node: tuple[int, str, int, list[Any]], owner: str | None) -> None:
        _depth, name, own, children = node
        top = name.split(".")[0]
        if top not in stdlib:
            owner = "warden (setup, tasks)" if top in ("setup", "tasks") else top
        key = owner or "interpreter start (stdlib)"
        shares[key] = shares.get(key, 0) + own
        for child in children:
            walk(child, owner)

    for node in nodes:
        walk(node, None)
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))

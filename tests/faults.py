"""Fault injection on a throwaway host: cut warden's SSH session at its k-th command.

"The k-th command" is the k-th FreeBSD command the double runs inside warden's step
scripts (under the host lock), not in its facts script: the double's fault hook counts
those with `"under": "lockf"` and logs every call with the lockf it ran under
(calls.lockf.log).

Two families of cases, each on a fresh host of its own (a TestNetwork host: its role
jails are real, with a real PostgreSQL in the db jail):

* setup: a full setup of the example agent cut at command k (the double SIGKILLs the
  sshd session serving it, like a network cut), setup again without the fault, then
  the host must match a host that never saw a fault (`snapshot`), a plan must find
  nothing left to do, and neither the faulted run's output nor its journal may claim
  a change that did not complete;
* teardown: a full setup (never cut), then `invoke teardown --yes` cut at its command
  k, teardown again, then the host must match a host whose teardown was never cut,
  and a third teardown must find nothing to tear down.

The cut run's script goes on running on the host until its next write to the dead
session (the change in progress ends first), holding the host lock; the repair starts
once it has ended, so a case repairs what its cut left whatever the timing
(`--at-once`: right away, as an operator may).

Every step is covered: scenario "roles" (atlas with db, git, cms and llama-cpp jails
and a soul from a hub) runs every step's commands and teardown's; ollama and
llama-cpp may not both be an agent's own jail, so scenario "ollama" (atlas with an
ollama jail only) cuts inside the ollama step only. The bhyve step (WARDEN_RUNTIME=
bhyve: a guest test host booted by a stand-in hypervisor, tests/integration/
test_bhyve.py) is not swept.

Which step ran command k: the reference host is set up step by step (`--step` with
one more step each time, in the design's order), so calls.lockf.seq after each run
bounds its step's commands; teardown's scripts run back to back and its output says
which steps ran and which waited for a confirmation. Each case checks that its cut
hit the reference's command k and that the run's error names that step.

The suite (tests/integration/test_faults.py) runs a spread of k; `python -m
tests.faults` runs every k (for bench/ and CI, not the suite). Needs what
tests/testhost.py needs for a TestNetwork: root, unshare, sshd, iproute2.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from setup.steps import BUILT, DESIGN_ORDER
from tests.harness.site import env, operator_for, prepared
from tests.operator import Operator
from tests.soulhub import soul_hub
from tests.testhost import DOUBLE_STATE, TestHost, TestNetwork, generate_key

AGENT = "atlas"
HOME = f"/home/{AGENT}"
SETUP_TIMEOUT = 900
TEARDOWN_TIMEOUT = 600
FAMILIES = ("setup", "teardown")
MODEL = "/var/db/llama/model.gguf"
JAILS = "/usr/local/bastille/jails"
#: Every built step, in the order a full setup runs them.
ALL_STEPS = tuple(step for step in DESIGN_ORDER if step in BUILT)


@dataclass(frozen=True)
class Scenario:
    """One agent's .env on a fresh host, and which steps' commands its sweep cuts."""

    name: str
    roles: tuple[str, ...]
    soul: bool
    families: tuple[str, ...]
    #: the steps whose commands are cut (None: every step); another scenario covers
    #: the rest
    cuts: frozenset[str] | None = None

    def jail(self, role: str) -> str:
        return AGENT + role.replace("-", "")

    def cuts_in(self, step: str) -> bool:
        return self.cuts is None or step in self.cuts


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("roles", ("db", "git", "cms", "llama-cpp"), soul=True, families=FAMILIES),
        Scenario(
            "ollama", ("ollama",), soul=False, families=("setup",), cuts=frozenset({"ollama"})
        ),
    )
}
ROLES = SCENARIOS["roles"]

# --------------------------------------------------------------------------- what is compared

#: Files warden manages on the host for one agent (README "State on the host"): their
#: content, owner and mode count.
HOST_FILES = (
    "/etc/rc.conf",
    "/etc/rc.conf.local",
    "/etc/pf.conf",
    "/etc/pf.warden.conf",
    "/etc/sysctl.conf",
    "/etc/devfs.rules",
    "/etc/hosts",
    "/boot/loader.conf",
    "/usr/local/etc/bastille/bastille.conf",
    f"/usr/local/etc/rc.d/{AGENT}",
    "/usr/local/etc/newsyslog.conf.d/warden.conf",
    f"/usr/local/etc/newsyslog.conf.d/{AGENT}.conf",
    f"/usr/local/libexec/warden/{AGENT}/run",
    f"/usr/local/libexec/warden/{AGENT}/log",
    f"/usr/local/etc/warden/agents/{AGENT}/agent.env",
    f"/usr/local/etc/warden/agents/{AGENT}/credentials",  # its passwords masked
    f"/var/db/warden/agents/{AGENT}.json",
    "/var/db/warden/pf/deadman.sh",
    "/var/db/warden/pf/stage/pf.conf",
    "/var/db/warden/pf/stage/pf.warden.conf",
    # the soul step's, in the agent's home (keys masked)
    f"{HOME}/CLAUDE.md",
    f"{HOME}/.ssh/config",
    f"{HOME}/.ssh/known_hosts",
    f"{HOME}/.ssh/id_ed25519.pub",
)
#: Files of every role jail: Bastille's, and the jail's rc.conf and accounts.
JAIL_FILES = (
    "jail.conf",
    "fstab",
    "settings.conf",
    "root/etc/rc.conf",
    "root/etc/passwd",
    "root/etc/group",
    "root/etc/hosts",
    "root/etc/resolv.conf",
)
#: Files warden places in a role's jail (setup/jail.py, the role's template).
ROLE_FILES: dict[str, tuple[str, ...]] = {
    "db": (
        "root/usr/local/etc/warden/pg_hba.conf",
        "root/usr/local/etc/warden/pg_hba.initial.conf",
        "root/usr/local/etc/warden/pg.conf.d/warden.conf",
    ),
    "git": (
        "root/usr/local/etc/warden/sshd_config",
        "root/etc/ssh/ssh_host_ed25519_key.pub",
        "root/srv/git/.ssh/authorized_keys",
        f"root/srv/git/{AGENT}-soul.git/HEAD",
        f"root/srv/git/{AGENT}-soul.git/config",
    ),
    "cms": (
        "root/usr/local/etc/nginx/nginx.conf",
        "root/usr/local/etc/warden/site/index.html",
        "root/usr/local/www/site/index.html",
    ),
    "ollama": (),
    "llama-cpp": (),
}
#: Secrets (generated per host): their presence, owner and mode count, their values do not.
SECRET_FILES = (
    f"/usr/local/etc/warden/secrets/{AGENT}/pg-agent",
    f"/usr/local/etc/warden/secrets/{AGENT}/pg-admin",
    f"{HOME}/.ssh/id_ed25519",
)
ROLE_SECRETS: dict[str, tuple[str, ...]] = {"git": ("root/etc/ssh/ssh_host_ed25519_key",)}
#: Generated per host, so masked before texts are compared: SSH keys, passwords in a DSN.
MASKS = (
    (re.compile(r"(ssh-ed25519 )[A-Za-z0-9+/=]+"), r"\1KEY"),
    (re.compile(r"(postgresql://[^:/@\s]+:)[^@\s]+@"), r"\1PASSWORD@"),
)
#: Trees whose every entry (name, type, mode, owner) must match: a stray temporary
#: file, directory or mode anywhere in them is a difference.
TREES = (
    "/etc",
    "/usr/local/etc",
    "/usr/local/libexec/warden",
    "/usr/local/bastille",
    "/var/db/warden",
    "/var/db/llama",
    "/var/log/warden",
    "/var/run/warden",
    HOME,
)
#: Left out of the trees (find -prune), each for its reason.
PRUNED = {
    f"{JAILS}/*/root/.bastille": "a thin jail's release: the test host's /usr, mounted",
    f"{JAILS}/*/root/dev": "the jail's devfs",
    f"{JAILS}/*/root/usr/local/libexec/freebsd-double": "the double's programs, mounted",
    f"{JAILS}/*/root/var/db/freebsd-double": "the double's state, mounted",
    f"{JAILS}/*/root/var/db/postgres": "PostgreSQL's data directory changes with every "
    "start; its catalog is compared instead",
    f"{JAILS}/*/root/srv/git/*.git/objects": "pack names depend on how the objects came; "
    "the mirror's refs are compared instead",
    f"{HOME}/soul/.git/objects": "as the mirror's: the clone's HEAD and status are compared",
}
#: Entries whose existence counts but whose metadata changes with time on any host.
VOLATILE = re.compile(r"^/var/log/warden/[^/]+/agent\.log(\.\d+(\.bz2)?)?$")
#: A dump's name carries the time it was made.
STAMP = re.compile(r"-\d{8}T\d{6}Z(?=\.dump)")
DUMPS = "/var/db/warden/dumps"
#: warden_put's temporary names (setup/shell.py, setup/ops.py), the registry check's
#: (setup/apply.py), a script's private directory (shell.LIBRARY) and the soul step's
#: bundle directory (setup/steps/soul.py), on the host or in a jail.
TEMP_NAME = re.compile(
    r"/\.[^/]*\.warden\.[A-Za-z0-9]{6}$|/warden\.registry\.[A-Za-z0-9]{6}$"
    r"|/tmp/warden\.[A-Za-z0-9]{6}$|/tmp/warden-soul\.[A-Za-z0-9]{6}$"
)


# --------------------------------------------------------------------------- a host


@dataclass
class Site:
    """A prepared host (the operator's pf.conf, the fake agent, the model) and its
    operator, with the scenario's .env."""

    host: TestHost
    operator: Operator
    env_file: Path
    scenario: Scenario


def agent_env(operator: Operator, scenario: Scenario, hub: Path | None) -> Path:
    """The example agent's .env (locales, the fake agent) with the scenario's roles and,
    when it has one, its soul (one hub per sweep: its path is part of the config the
    registry records)."""
    path = env(operator, AGENT, "10.0.1")
    text = path.read_text().replace("WARDEN_ROLES=none\n", "")
    text += f"WARDEN_ROLES={','.join(scenario.roles)}\nWARDEN_NAMESERVER=192.0.2.53\n"
    if "llama-cpp" in scenario.roles:
        text += f"WARDEN_LLAMA_MODEL={MODEL}\n"
    if scenario.soul:
        if hub is None:
            raise ValueError(f"scenario {scenario.name} needs a soul hub")
        text += f"WARDEN_SOUL_REPO={hub}\nWARDEN_SOUL_REF=main\n"
    path.write_text(text)
    return path


@contextmanager
def fresh_site(
    client_key: Path, home: Path, scenario: Scenario = ROLES, hub: Path | None = None
) -> Iterator[Site]:
    with TestNetwork(client_key=client_key) as network:
        host = network.host("h1")
        prepared(host)
        if "llama-cpp" in scenario.roles:
            host.write_file(MODEL, "not really a model\n")
        operator = operator_for(home, host)
        yield Site(host, operator, agent_env(operator, scenario, hub), scenario)


def setup(site: Site, *extra: str, lock_wait: int = 30) -> subprocess.CompletedProcess[str]:
    return site.operator.warden(
        "setup",
        "--env",
        str(site.env_file),
        "--yes",
        "--json",
        *extra,
        lock_wait=lock_wait,
        timeout=SETUP_TIMEOUT,
    )


def setup_popen(site: Site) -> subprocess.Popen[str]:
    return site.operator.popen("setup", "--env", str(site.env_file), "--yes", "--json")


def teardown(site: Site) -> subprocess.CompletedProcess[str]:
    return site.operator.warden(
        "teardown", "--env", str(site.env_file), "--yes", timeout=TEARDOWN_TIMEOUT
    )


def planned_changes(site: Site) -> list[str]:
    """What a plan would still do (no side effects)."""
    result = site.operator.warden("plan", "--env", str(site.env_file), "--json", timeout=300)
    if result.returncode != 0:
        return [f"plan exited {result.returncode}: {words(result.stderr)[-600:]}"]
    data = json.loads(result.stdout)
    return [f"{s['step']}: {c['summary']}" for s in data["steps"] for c in s["changes"]]


def left_to_tear_down(site: Site) -> list[str]:
    """What another teardown still finds (it says "nothing to tear down" or runs)."""
    result = teardown(site)
    said = words(result.stdout + result.stderr)
    if result.returncode == 0 and "nothing to tear down" in said:
        return []
    return [f"another teardown exited {result.returncode}: {said[-600:]}"]


def set_fault(host: TestHost, fault: object) -> None:
    state = json.loads(host.read_file(f"{DOUBLE_STATE}/state.json"))
    state["fault"] = fault
    host.write_file(f"{DOUBLE_STATE}/state.json", json.dumps(state, indent=2) + "\n")


#: A fault that never fires: while it is set the double counts and logs locked calls.
COUNT_ONLY = {"at": 10**9, "under": "lockf", "action": "exit"}


def restart_count(host: TestHost) -> None:
    """Number locked calls from 1 again (a teardown after its setup)."""
    set_fault(host, None)
    host.exec(f"rm -f {DOUBLE_STATE}/calls.lockf.seq {DOUBLE_STATE}/calls.lockf.log")


def locked_count(host: TestHost) -> int:
    path = f"{DOUBLE_STATE}/calls.lockf.seq"
    return int(host.read_file(path).decode().strip() or 0) if host.exists(path) else 0


def locked_calls(host: TestHost) -> list[dict[str, Any]]:
    path = f"{DOUBLE_STATE}/calls.lockf.log"
    if not host.exists(path):
        return []
    return [json.loads(line) for line in host.read_file(path).decode().splitlines() if line]


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


def managed_files(scenario: Scenario) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(files whose text counts, secrets whose metadata counts) for the scenario."""
    files, secrets = list(HOST_FILES), list(SECRET_FILES)
    for role in scenario.roles:
        base = f"{JAILS}/{scenario.jail(role)}"
        files += [f"{base}/{path}" for path in JAIL_FILES + ROLE_FILES[role]]
        files.append(f"/var/db/warden/jails/{scenario.jail(role)}.template.sha256")
        secrets += [f"{base}/{path}" for path in ROLE_SECRETS.get(role, ())]
    return tuple(files), tuple(secrets)


def masked(text: str) -> str:
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return text


def listing(host: TestHost, roots: tuple[str, ...], fmt: str) -> list[str]:
    """find over the roots that exist, without the PRUNED trees."""
    prune: list[str] = []
    for pattern in PRUNED:
        prune += [*(["-o"] if prune else []), "-path", pattern]
    present = host.exec(
        "for r in " + " ".join(roots) + '; do [ -e "$r" ] && echo "$r"; done; :'
    ).stdout.decode()
    found = present.split()
    if not found:
        return []
    argv = ["find", *found, "(", *prune, ")", "-prune", "-o", "-printf", fmt]
    return host.exec(argv, check=False).stdout.decode().splitlines()


def snapshot(host: TestHost, scenario: Scenario = ROLES) -> dict[str, Any]:
    """Everything a fault case compares: managed files (masked content, owner, mode),
    every entry of the managed trees, the agent's user and group, the double's kernel,
    network, pf and jail state, whether the service runs, the database catalog, the
    soul's clone and mirror, the dumps, and what must agree across files (the agent's
    DSN works, its known_hosts pins the git jail's key, the jail admits its key)."""
    files_, secrets = managed_files(scenario)
    quoted = " ".join(files_ + secrets)
    stat = host.exec(
        f"for f in {quoted}; do "
        '[ -e "$f" ] && printf "%s %s\\n" "$f" "$(stat -c "%F %a %U:%G" "$f")"; '
        "done; :"
    ).stdout.decode()
    meta = dict(line.split(" ", 1) for line in stat.splitlines())
    files: dict[str, Any] = {}
    for path in files_ + secrets:
        if path not in meta:
            files[path] = None
        elif path in secrets or not meta[path].startswith("regular"):
            files[path] = {"meta": meta[path]}
        else:
            text = host.read_file(path).decode(errors="replace")
            files[path] = {"meta": meta[path], "text": masked(text)}
    tree: dict[str, str] = {}
    dumps: set[str] = set()
    for line in listing(host, TREES, "%p %y %m %u:%g\\n"):
        path, rest = line.split(" ", 1)
        if path.startswith(DUMPS + "/"):
            dumps.add(STAMP.sub("-STAMP", path))
            continue
        tree[path] = "present" if VOLATILE.match(path) else rest
    accounts = host.exec(f"grep -h '^{AGENT}:' /etc/passwd /etc/group; :").stdout.decode()
    running = host.exec(f"service {AGENT} onestatus", check=False).returncode == 0
    return {
        "files": files,
        "tree": tree,
        "dumps": sorted(dumps),
        "accounts": sorted(accounts.splitlines()),
        "double": double_state(host),
        "service running": running,
        "database": catalog(host, scenario),
        "soul": soul_state(host, scenario),
        "agree": agreements(host, scenario),
    }


def double_state(host: TestHost) -> dict[str, Any]:
    """The double's state without what differs between any two runs (load time, module
    ids, a bridge's random MAC, interface indexes, jail ids and service pids, which
    count up with every start) or is the fault itself; a bridge's members and the
    jails in name order (a jail restarted by a repair rejoins at the end)."""
    state: dict[str, Any] = json.loads(host.read_file(f"{DOUBLE_STATE}/state.json"))
    for key in ("fault", "next_ifindex", "next_jid", "next_pid"):
        state.pop(key, None)
    state.get("pf", {}).pop("enabled_at", None)
    state["kld"] = sorted(k["name"] for k in state.get("kld", []))
    for iface in state.get("interfaces", []):
        iface.pop("index", None)
        if iface.get("kind") != "ether":
            iface.pop("ether", None)
        if isinstance(iface.get("members"), list):
            iface["members"] = sorted(iface["members"])
    state["interfaces"] = sorted(state.get("interfaces", []), key=lambda i: str(i["name"]))
    jails = [{k: v for k, v in j.items() if k != "jid"} for j in state.get("jails", [])]
    state["jails"] = sorted(jails, key=lambda j: str(j.get("name")))
    for data in state.get("jail_data", {}).values():
        services = data.get("services")
        if isinstance(services, dict):
            data["services"] = {name: pid is not None for name, pid in services.items()}
    return state


def in_db_jail(host: TestHost, scenario: Scenario, database: str, query: str) -> str | None:
    argv = ["jexec", "-l", "-U", "postgres", scenario.jail("db"), "psql", "-X", "-A", "-t"]
    done = host.exec([*argv, "-d", database, "-c", query], check=False)
    return done.stdout.decode() if done.returncode == 0 else None


def catalog(host: TestHost, scenario: Scenario) -> dict[str, Any] | None:
    """The db jail's roles, databases (owner, grants), their tables and the soul's
    seeded skills (None without a running db jail)."""
    if "db" not in scenario.roles:
        return None
    roles = in_db_jail(
        host,
        scenario,
        "postgres",
        "select rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin from pg_roles "
        "where rolname not like 'pg\\_%' order by 1",
    )
    if roles is None:
        return None
    databases = in_db_jail(
        host,
        scenario,
        "postgres",
        "select datname, pg_get_userbyid(datdba), datacl from pg_database order by 1",
    )
    found: dict[str, Any] = {"roles": roles.splitlines(), "databases": {}}
    for line in (databases or "").splitlines():
        name = line.split("|", 1)[0]
        if name.startswith("template"):
            continue
        tables = in_db_jail(
            host,
            scenario,
            name,
            "select schemaname, tablename, tableowner from pg_tables where schemaname "
            "not in ('pg_catalog', 'information_schema') order by 1, 2",
        )
        found["databases"][name] = {"row": line, "tables": (tables or "").splitlines()}
    skills = in_db_jail(
        host,
        scenario,
        "system_skills",
        "select agent, path, content_sha256, shared, repo, commit_sha from soul_skills "
        "order by agent, path",
    )
    found["skills"] = None if skills is None else skills.splitlines()
    return found


def git_out(host: TestHost, *args: str) -> str | None:
    done = host.exec(["git", "-c", "safe.directory=*", *args], check=False)
    return done.stdout.decode() if done.returncode == 0 else None


def soul_state(host: TestHost, scenario: Scenario) -> dict[str, Any] | None:
    """The clone's HEAD, origin and status; the mirror's refs."""
    if not scenario.soul:
        return None
    clone = f"{HOME}/soul"
    mirror = f"{JAILS}/{scenario.jail('git')}/root/srv/git/{AGENT}-soul.git"
    return {
        "clone HEAD": git_out(host, "-C", clone, "rev-parse", "HEAD"),
        "clone origin": git_out(host, "-C", clone, "remote", "-v"),
        "clone status": git_out(host, "-C", clone, "status", "--porcelain", "--branch"),
        "clone refs": git_out(host, "-C", clone, "for-each-ref"),
        "mirror refs": git_out(host, f"--git-dir={mirror}", "for-each-ref"),
    }


def agreements(host: TestHost, scenario: Scenario) -> dict[str, Any]:
    """What must hold across files with generated contents (keys and passwords are
    masked in the files themselves)."""

    def read(path: str) -> str | None:
        return host.read_file(path).decode() if host.exists(path) else None

    found: dict[str, Any] = {}
    if "db" in scenario.roles:
        credentials = read(f"/usr/local/etc/warden/agents/{AGENT}/credentials") or ""
        match = re.search(r"^WARDEN_DB_DSN='([^']*)'$", credentials, re.M)
        query = "select current_user, current_database()"
        works = None
        if match:
            done = host.exec(["psql", "-X", "-A", "-t", match[1], "-c", query], check=False)
            works = done.stdout.decode().strip() if done.returncode == 0 else "refused"
        found["the agent's DSN logs in as"] = works
    if "git" in scenario.roles and scenario.soul:
        root = f"{JAILS}/{scenario.jail('git')}/root"
        jail_key = read(f"{root}/etc/ssh/ssh_host_ed25519_key.pub")
        known = read(f"{HOME}/.ssh/known_hosts")
        agent_key = read(f"{HOME}/.ssh/id_ed25519.pub")
        allowed = read(f"{root}/srv/git/.ssh/authorized_keys")
        found["known_hosts pins the git jail's key"] = (
            None if jail_key is None or known is None else jail_key.split()[1] in known
        )
        found["the git jail admits the agent's key"] = (
            None if agent_key is None or allowed is None else allowed == "restrict " + agent_key
        )
    return found


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
                (want.get("text") or "").splitlines(),
                (got.get("text") or "").splitlines(),
                "expected",
                path,
                lineterm="",
            )
            found.append(f"{path} differs:\n" + "\n".join(list(diff)[:30]))
    want_tree, got_tree = expected["tree"], actual["tree"]
    for path in sorted(set(want_tree) | set(got_tree)):
        if want_tree.get(path) != got_tree.get(path):
            found.append(f"{path}: {got_tree.get(path)!r} instead of {want_tree.get(path)!r}")
    for key in ("dumps", "accounts", "service running"):
        if expected[key] != actual[key]:
            found.append(f"{key}: {actual[key]!r} instead of {expected[key]!r}")
    for part in ("double", "database", "soul", "agree"):
        want_part, got_part = expected[part] or {}, actual[part] or {}
        if expected[part] is None or actual[part] is None:
            if expected[part] != actual[part]:
                got, want = json.dumps(actual[part]), json.dumps(expected[part])
                found.append(f"{part}: {got} instead of {want}")
            continue
        for key in sorted(set(want_part) | set(got_part)):
            if want_part.get(key) != got_part.get(key):
                found.append(
                    f"{part} {key}: {json.dumps(got_part.get(key))} instead of "
                    f"{json.dumps(want_part.get(key))}"
                )
    return found


def temp_files(host: TestHost) -> list[str]:
    """Temporary files of an interrupted placement, anywhere warden writes (the jails'
    roots included)."""
    found = listing(host, (*TREES, "/tmp"), "%p\\n")
    return [path for path in found if TEMP_NAME.search(path)]


# --------------------------------------------------------------------------- the reference


@dataclass
class Reference:
    """A host that never saw a fault, and which step ran each step-script command."""

    snapshot: dict[str, Any]
    #: (step, argv) of step-script command k at index k - 1
    commands: list[tuple[str, list[str]]]
    #: the clean run of this family: a full setup (one by one, step by step) or a teardown
    seconds: float
    scenario: Scenario = ROLES
    family: str = "setup"
    hub: Path | None = None

    def step_of(self, k: int) -> str:
        return self.commands[k - 1][0]

    def cut_points(self) -> list[int]:
        """Every k this scenario cuts."""
        return [
            k
            for k, (step, _) in enumerate(self.commands, 1)
            if self.family != "setup" or self.scenario.cuts_in(step)
        ]

    def per_step(self) -> dict[str, int]:
        """Cut points per step."""
        counts: dict[str, int] = {}
        for k in self.cut_points():
            counts[self.step_of(k)] = counts.get(self.step_of(k), 0) + 1
        return counts

    def spread(self, per_step: int = 2) -> list[int]:
        """k values covering every step cut: its first and last command, and evenly
        spaced ones between when per_step > 2."""
        picked: set[int] = set()
        cuts = self.cut_points()
        for step in self.per_step():
            ks = [k for k in cuts if self.step_of(k) == step]
            count = min(per_step, len(ks))
            picked.update(ks[round(i * (len(ks) - 1) / max(count - 1, 1))] for i in range(count))
        return sorted(picked)

    @property
    def label(self) -> str:
        return f"{self.scenario.name}/{self.family}"


def commands_by_bounds(
    calls: list[dict[str, Any]], bounds: list[tuple[str, int]]
) -> list[tuple[str, list[str]]]:
    """Each locked command with the step whose run reached its number: bounds holds
    (step, calls.lockf.seq after that step's run), in order."""
    commands: list[tuple[str, list[str]]] = []
    for call in sorted((c for c in calls if c["n"] is not None), key=lambda c: int(c["n"])):
        step = next(s for s, end in bounds if int(call["n"]) <= end)
        commands.append((step, call["argv"]))
    return commands


def teardown_commands(calls: list[dict[str, Any]], said: str) -> list[tuple[str, list[str]]]:
    """Attribute each teardown command to its step. The engine sends one locked script
    per step with changes, then one per change that awaits a confirmation (its line says
    so), in the order its output shows them (the facts read between steps take no
    lock); a command belongs to the last locked script started before it."""
    scripts: list[str] = []
    for step, rest in re.findall(r"[✓✗…] ([a-z][a-z-]*): (.*?)(?= [✓✗…] |\n|$)", said):
        if step not in scripts:
            scripts.append(step)
        if "confirming over a new connection" in rest:
            scripts.append(step)
    starts = sorted(
        int(c["call"]) for c in calls if c["lockf"] is None and c["argv"][:2] == ["lockf", "-k"]
    )
    if len(starts) != len(scripts):
        raise AssertionError(
            f"teardown ran {len(starts)} scripts, its output shows {scripts}: {said[-800:]}"
        )
    commands: list[tuple[str, list[str]]] = []
    for call in sorted((c for c in calls if c["n"] is not None), key=lambda c: int(c["n"])):
        index = max(i for i, start in enumerate(starts) if start < int(call["call"]))
        commands.append((scripts[index], call["argv"]))
    return commands


def references(
    client_key: Path, work: Path, scenario: Scenario = ROLES, hub: Path | None = None
) -> dict[str, Reference]:
    """Set the agent up on a fresh host without faults, step by step, mapping every
    step command; then (when the scenario sweeps it) tear it down, mapping those."""
    if scenario.soul and hub is None:
        hub = soul_hub(Path(tempfile.mkdtemp(prefix=f"hub-{scenario.name}-", dir=work)))
    found: dict[str, Reference] = {}
    with fresh_site(client_key, work / f"reference-{scenario.name}", scenario, hub) as site:
        host = site.host
        set_fault(host, COUNT_ONLY)
        bounds: list[tuple[str, int]] = []
        started = time.monotonic()
        for i, step in enumerate(ALL_STEPS):
            result = setup(site, "--step", ",".join(ALL_STEPS[: i + 1]))
            if result.returncode != 0:
                raise AssertionError(
                    f"{scenario.name}: reference setup up to step {step} exited "
                    f"{result.returncode}: {result.stderr[-3000:]}"
                )
            bounds.append((step, locked_count(host)))
        seconds = time.monotonic() - started
        commands = commands_by_bounds(locked_calls(host), bounds)
        set_fault(host, None)
        again = setup(site)
        if again.returncode != 0 or json.loads(again.stdout)["change_count"] != 0:
            raise AssertionError(
                f"{scenario.name}: a full setup after the steps did more: "
                f"{again.stdout[-2000:]} {again.stderr[-2000:]}"
            )
        left = planned_changes(site)
        if left:
            raise AssertionError(f"{scenario.name}: a clean setup left changes: {left}")
        found["setup"] = Reference(
            snapshot(host, scenario), commands, seconds, scenario, "setup", hub
        )
        if "teardown" not in scenario.families:
            return found
        restart_count(host)
        set_fault(host, COUNT_ONLY)
        started = time.monotonic()
        result = teardown(site)
        seconds = time.monotonic() - started
        said = words(result.stdout + result.stderr)
        if result.returncode != 0:
            raise AssertionError(
                f"{scenario.name}: reference teardown exited {result.returncode}: {said[-3000:]}"
            )
        commands = teardown_commands(locked_calls(host), said)
        set_fault(host, None)
        left = left_to_tear_down(site)
        if left:
            raise AssertionError(f"{scenario.name}: a clean teardown left: {left}")
        found["teardown"] = Reference(
            snapshot(host, scenario), commands, seconds, scenario, "teardown", hub
        )
    return found


def reference_run(client_key: Path, home: Path) -> Reference:
    """The setup reference of scenario "roles" (bench/run.py's entry point)."""
    home.mkdir(parents=True, exist_ok=True)
    return references(client_key, home, ROLES)["setup"]


# --------------------------------------------------------------------------- one case


@dataclass
class FaultResult:
    """What one cut at command k did, and every way the host or the run fell short."""

    k: int
    step: str
    command: list[str]
    scenario: str = ROLES.name
    family: str = "setup"
    faulted_rc: int = 0
    faulted_output: str = ""
    repair_rc: int = 0
    #: the faulted run did not fail as it should (exit 1 or 3, naming the cut step,
    #: at the reference's command k)
    run_problems: list[str] = field(default_factory=list)
    #: the host after the repair differs from the reference, or still has work to do
    host_problems: list[str] = field(default_factory=list)
    #: the faulted run's output or journal claims work it did not finish
    claim_problems: list[str] = field(default_factory=list)
    #: how long the cut run's script held the host lock after the client saw the cut
    settled_seconds: float | None = None
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        return self.run_problems + self.host_problems + self.claim_problems

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "family": self.family,
            "k": self.k,
            "step": self.step,
            "command": self.command,
            "faulted_rc": self.faulted_rc,
            "repair_rc": self.repair_rc,
            "ok": self.ok,
            "problems": self.problems,
            "settled_seconds": None
            if self.settled_seconds is None
            else round(self.settled_seconds, 1),
            "seconds": round(self.seconds, 1),
        }


def check_claims(
    result: FaultResult,
    data: dict[str, Any] | None,
    said: str,
    faulted_run: list[dict[str, Any]],
    repair_run: list[dict[str, Any]],
) -> None:
    """The faulted run claims nothing it did not finish: no JSON listing the cut step
    as applied, no ✓ for a change its journal does not record as ok, and no change
    journaled ok that the repair had to do again."""
    ok = {(line["step"], line["change"]) for line in faulted_run if line["result"] == "ok"}
    if data is not None:
        applied = [s["step"] for s in data.get("applied", [])]
        if result.step in applied:
            result.claim_problems.append(f"the JSON lists step {result.step} as applied: {applied}")
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


SETTLE_SECONDS = 300


def settle(host: TestHost, seconds: float = SETTLE_SECONDS) -> float | None:
    """Wait until the host lock is free; how long that took (None: it never was)."""
    started = time.monotonic()
    while not lock_is_free(host):
        if time.monotonic() - started > seconds:
            return None
        time.sleep(0.2)
    return time.monotonic() - started


def why_failed(run: subprocess.CompletedProcess[str]) -> str:
    """A failed run's refusals (its JSON, when it printed one) and the end of its output."""
    refusals: list[str] = []
    try:
        data = json.loads(run.stdout)
    except ValueError:
        data = None
    if isinstance(data, dict):
        refusals = [r for s in data.get("steps", []) for r in s.get("refusals", [])]
        text = words(run.stderr)
    else:
        text = words(run.stdout + run.stderr)
    return "; ".join([*(f"refused: {r}" for r in refusals), text[-800:]])


def check_cut(result: FaultResult, host: TestHost, said: str, reference: Reference) -> None:
    """The cut hit the reference's command k and the run failed naming its step."""
    k = result.k
    if locked_count(host) < k:
        result.run_problems.append(f"the run never reached step command {k}")
    else:
        hit = next((c["argv"] for c in locked_calls(host) if c["n"] == k), None)
        if hit != result.command:
            result.run_problems.append(
                f"command {k} was {hit}, not the reference's {result.command}"
            )
    if result.faulted_rc not in (1, 3):
        result.run_problems.append(f"the faulted run exited {result.faulted_rc}, not 1 or 3")
    named = f"the connection was cut during step {result.step}" in said or (
        result.step == "pf" and ("could not reconnect" in said or "could not confirm" in said)
    )
    if not named:
        result.run_problems.append(f"the error does not name step {result.step}: {said[-400:]}")


def run_fault_case(
    k: int,
    reference: Reference,
    client_key: Path | None = None,
    workdir: Path | None = None,
    at_once: bool = False,
) -> FaultResult:
    """Cut the SSH session at command k of the reference's family, repair, compare.

    The repair runs once the cut run's script has ended on the host (it runs on until
    its next write to the dead session, and holds the host lock until then), so that
    every case repairs the state its cut left; with at_once it runs right away, as an
    operator may, while that script may still be changing the host."""
    with tempfile.TemporaryDirectory(prefix=f"fault-{reference.family}-{k}-", dir=workdir) as d:
        return fault_case(k, reference, client_key, Path(d), at_once)


def fault_case(
    k: int, reference: Reference, client_key: Path | None, workdir: Path, at_once: bool
) -> FaultResult:
    """run_fault_case in a directory of its own (the operator's home, a key if none)."""
    if client_key is None:
        client_key = workdir / "id_ed25519"
        generate_key(client_key)
    step, command = reference.commands[k - 1]
    scenario = reference.scenario
    result = FaultResult(k, step, command, scenario.name, reference.family)
    started = time.monotonic()
    with fresh_site(client_key, workdir / "home", scenario, reference.hub) as site:
        host = site.host
        run = setup if reference.family == "setup" else teardown
        if reference.family == "teardown":
            first = setup(site)
            if first.returncode != 0:
                result.run_problems.append(
                    f"the setup before the teardown exited {first.returncode}: {why_failed(first)}"
                )
                result.seconds = time.monotonic() - started
                return result
        before = len(journal(host))
        set_fault(host, {"at": k, "under": "lockf", "action": "disconnect"})
        faulted = run(site)
        result.faulted_rc = faulted.returncode
        result.faulted_output = faulted.stdout + faulted.stderr
        said = words(result.faulted_output)
        check_cut(result, host, said, reference)
        set_fault(host, None)
        if not at_once:
            result.settled_seconds = settle(host)
            if result.settled_seconds is None:
                result.run_problems.append(
                    f"the cut run's script still held the host lock after {SETTLE_SECONDS}s"
                )
        cut = len(journal(host))
        repair = run(site)
        result.repair_rc = repair.returncode
        if repair.returncode != 0:
            result.host_problems.append(
                f"the repair run exited {repair.returncode}: {why_failed(repair)}"
            )
        result.host_problems += differences(reference.snapshot, snapshot(host, scenario))
        result.host_problems += [f"temporary file left: {p}" for p in temp_files(host)]
        if reference.family == "setup":
            left = [f"still planned after the repair: {c}" for c in planned_changes(site)]
        else:
            left = left_to_tear_down(site)
        result.host_problems += left
        # the cut run's lines: those before the repair, and any of its runs' after
        # (its script may still write when the repair runs at once; its dead-man later)
        lines = journal(host)
        ids = {line["run"] for line in lines[before:cut]}
        faulted_run = lines[before:cut] + [line for line in lines[cut:] if line["run"] in ids]
        repair_run = [line for line in lines[cut:] if line["run"] not in ids]
        data = None
        if reference.family == "setup" and faulted.stdout.strip():
            data = json.loads(faulted.stdout)
        check_claims(result, data, said, faulted_run, repair_run)
    result.seconds = time.monotonic() - started
    return result


def run_cases(
    ks: list[int],
    reference: Reference,
    client_key: Path,
    workers: int = 2,
    log: bool = False,
    at_once: bool = False,
) -> list[FaultResult]:
    """Cases of one reference on hosts of their own, `workers` at a time."""
    return run_sweep([(reference, k) for k in ks], client_key, workers, log, at_once)


def run_sweep(
    cases: list[tuple[Reference, int]],
    client_key: Path,
    workers: int = 2,
    log: bool = False,
    at_once: bool = False,
    on_result: Callable[[list[tuple[Reference, FaultResult]]], object] | None = None,
) -> list[FaultResult]:
    """Cases of any references, `workers` at a time (one client key for every host;
    a case waits on SSH and the double, two fill two cores). A case that raises is a
    failed case (its exception is its problem). With log, a line on stderr as each
    case ends; on_result gets every result so far as each case ends."""
    lock = threading.Lock()
    done: list[tuple[Reference, FaultResult]] = []

    def one(case: tuple[Reference, int]) -> FaultResult:
        reference, k = case
        started = time.monotonic()
        try:
            result = run_fault_case(k, reference, client_key, at_once=at_once)
        except Exception as exc:  # a host that would not start: this case failed, not all
            step, command = reference.commands[k - 1]
            result = FaultResult(k, step, command, reference.scenario.name, reference.family)
            result.run_problems.append(f"the case could not run: {type(exc).__name__}: {exc}")
            result.seconds = time.monotonic() - started
        with lock:
            done.append((reference, result))
            if log:
                state = "ok" if result.ok else "FAILED: " + "; ".join(result.problems)[:300]
                print(
                    f"[{len(done)}/{len(cases)}] {reference.label} k={k} ({result.step}) "
                    f"{result.seconds:.0f}s {state}",
                    file=sys.stderr,
                    flush=True,
                )
            if on_result is not None:
                on_result(list(done))
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, cases))


def step_table(reference: Reference, results: list[FaultResult]) -> dict[str, dict[str, Any]]:
    """Per step: its cut points, the cases run, their seconds, the k that failed."""
    table: dict[str, dict[str, Any]] = {}
    for step, count in reference.per_step().items():
        mine = [r for r in results if r.step == step]
        table[step] = {
            "cut_points": count,
            "cases": len(mine),
            "seconds": round(sum(r.seconds for r in mine), 1),
            "failed": [r.k for r in mine if not r.ok],
        }
    return table


def all_references(
    client_key: Path, work: Path, scenarios: list[Scenario], workers: int = 2
) -> list[Reference]:
    """Every scenario's references, the scenarios side by side."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = list(pool.map(lambda s: references(client_key, work, s), scenarios))
    return [reference for refs in found for reference in refs.values()]


def main(argv: list[str] | None = None) -> int:
    """Every k of a full setup and of a teardown (for bench/ and CI): a line per case and
    a table per step on stderr, a JSON report on stdout (or --json), exit 1 if any fails."""
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=main.__doc__)
    parser.add_argument("--family", choices=(*FAMILIES, "all"), default="all")
    parser.add_argument("--scenario", choices=(*SCENARIOS, "all"), default="all")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("-k", type=int, action="append", help="only these k (repeatable)")
    parser.add_argument("--spread", action="store_true", help="the suite's spread of k only")
    parser.add_argument(
        "--count", action="store_true", help="the references only: cut points per step"
    )
    parser.add_argument(
        "--at-once",
        action="store_true",
        help="repair at once, while the cut run's script may still run (default: once it ended)",
    )
    parser.add_argument("--json", type=Path, help="write the JSON report here, not stdout")
    args = parser.parse_args(argv)
    families = FAMILIES if args.family == "all" else (args.family,)
    scenarios = list(SCENARIOS.values()) if args.scenario == "all" else [SCENARIOS[args.scenario]]
    scenarios = [s for s in scenarios if set(s.families) & set(families)]
    work = Path(tempfile.mkdtemp(prefix="fault-sweep-"))
    key = work / "id_ed25519"
    generate_key(key)
    started = time.monotonic()
    refs = [r for r in all_references(key, work, scenarios, args.workers) if r.family in families]
    for reference in refs:
        counts = ", ".join(f"{step} {n}" for step, n in reference.per_step().items())
        print(
            f"{reference.label}: {len(reference.cut_points())} cut points ({counts}); "
            f"clean run {reference.seconds:.0f}s",
            file=sys.stderr,
            flush=True,
        )
    cases: list[tuple[Reference, int]] = []
    if not args.count:
        for reference in refs:
            ks = reference.spread() if args.spread else reference.cut_points()
            cases += [(reference, k) for k in ks if not args.k or k in args.k]
    sweep_started = time.monotonic()

    def write(done: list[tuple[Reference, FaultResult]], final: bool = False) -> dict[str, Any]:
        report = sweep_report(refs, done, len(cases))
        report["sweep_seconds"] = round(time.monotonic() - sweep_started, 1)
        report["seconds"] = round(time.monotonic() - started, 1)
        text = json.dumps(report, indent=2) + "\n"
        if args.json is not None:
            args.json.write_text(text)  # as each case ends: a sweep cut short keeps its cases
        elif final:
            sys.stdout.write(text)
        return report

    results = run_sweep(cases, key, args.workers, log=True, at_once=args.at_once, on_result=write)
    report = write(list(zip((ref for ref, _ in cases), results, strict=True)), final=True)
    for sweep in report["sweeps"]:
        for step, row in sweep["steps"].items():
            mean = row["seconds"] / row["cases"] if row["cases"] else 0.0
            print(
                f"{sweep['scenario']}/{sweep['family']} {step}: {row['cut_points']} cut points, "
                f"{row['cases']} cases, {row['seconds']:.0f}s ({mean:.0f}s a case), "
                f"failed {row['failed']}",
                file=sys.stderr,
            )
    shutil.rmtree(work, ignore_errors=True)
    return 1 if report["failed"] else 0


def sweep_report(
    refs: list[Reference], done: list[tuple[Reference, FaultResult]], planned: int
) -> dict[str, Any]:
    """The JSON report: per reference its steps' cut points, cases, seconds and failures."""
    sweeps = []
    for reference in refs:
        mine = sorted((r for ref, r in done if ref is reference), key=lambda r: r.k)
        sweeps.append(
            {
                "scenario": reference.scenario.name,
                "family": reference.family,
                "commands": len(reference.commands),
                "cut_points": len(reference.cut_points()),
                "reference_seconds": round(reference.seconds, 1),
                "steps": step_table(reference, mine),
                "failed": [r.k for r in mine if not r.ok],
                "cases": [r.to_json() for r in mine],
            }
        )
    return {
        "sweeps": sweeps,
        "planned": planned,
        "ran": len(done),
        "failed": [f"{r.scenario}/{r.family} k={r.k}" for _, r in done if not r.ok],
    }


if __name__ == "__main__":
    sys.exit(main())

"""Put the FreeBSD test double on a PATH and give it a fresh host state.

`install_double` writes one POSIX sh wrapper per command into a bin dir (put it
first on PATH of the throwaway host; on a test host each wrapper execs client.c,
which asks the host's server.py, and runs the double itself when there is none);
`install_base_system` puts the stub /etc/rc.subr, /etc/defaults/rc.conf and stub
base rc.d scripts under a root (a test host's overlay); `seed_state` writes
state.json; `read_calls` reads back calls.log so a test can prove which commands ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.double.fbsd import dispatch
from tests.double.fbsd.state import build_default_state, deep_merge
from tests.double.fbsd.sysrc import RC_DEFAULTS

#: The entry script (`python freebsd_double.py COMMAND ARGS...`).
DOUBLE = Path(__file__).resolve().parent / "freebsd_double.py"
#: The double itself, a package next to the entry script: copied as a whole tree.
PACKAGE = DOUBLE.parent / "fbsd"
#: Loaded by the double on demand (bastille jails, jexec, a jail's kernel part, the real
#: PostgreSQL of a jail and of the host, vm-bhyve) and the server: shipped next to it.
JAILS = DOUBLE.parent / "jails.py"
MODULES = (
    JAILS,
    DOUBLE.parent / "jail_kernel.py",
    DOUBLE.parent / "jail_postgres.py",
    DOUBLE.parent / "host_postgres.py",
    DOUBLE.parent / "vm.py",
    DOUBLE.parent / "server.py",
)
#: The C client each command's wrapper execs on a test host (client.c, server.py).
CLIENT_SOURCE = DOUBLE.parent / "client.c"
#: Where a test host's server listens (its own /run, a tmpfs of its mount namespace).
SOCKET = "/run/freebsd-double/double.sock"
#: The interpreter a wrapper falls back to when its own is not there: inside a real
#: jail (tests/double/jail_kernel.py) only the host's /usr is visible, not e.g. /root.
JAIL_PYTHON = "/usr/bin/python3"
#: The stub /etc/rc.subr and the stub base-system rc.d scripts (tests/double/rc.d).
RC_SUBR = DOUBLE.parent / "rc.subr"
RC_D = DOUBLE.parent / "rc.d"

#: Every command the double answers.
COMMANDS: tuple[str, ...] = dispatch.COMMANDS


def install_double(
    bin_dir: Path,
    python: str | None = None,
    state_dir: str | None = None,
    seen_as: str | None = None,
) -> None:
    """Write an executable sh wrapper per command: `exec PYTHON freebsd_double.py CMD "$@"`.

    With `seen_as` (bin_dir's path inside a test host), the program (the entry script,
    the fbsd package and the modules they load) is copied next to bin_dir and the
    wrappers name it by that path: a test host hides /tmp, where a checkout may live.
    The interpreter is the real file behind sys.executable (a venv's python is a
    symlink into the base install), as the double needs only the stdlib.
    """
    python = python or os.path.realpath(sys.executable)
    bin_dir.mkdir(parents=True, exist_ok=True)
    program = str(DOUBLE)
    client = None
    if seen_as is not None:
        shutil.copy2(DOUBLE, bin_dir.parent / DOUBLE.name)
        package = bin_dir.parent / PACKAGE.name
        if package.exists():
            shutil.rmtree(package)  # a re-install: no module of an older tree stays
        shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__"))
        for module in MODULES:  # the package imports them (server.py: the package)
            shutil.copy2(module, bin_dir.parent / module.name)
        program = f"{Path(seen_as).parent}/{DOUBLE.name}"
        built = client_binary()
        if built is not None:
            shutil.copy2(built, bin_dir.parent / "client")
            client = f"{Path(seen_as).parent}/client"
    # `service` clears the environment of the rc.d script it runs (service.sh
    # `env -i`) but keeps these two and puts the bin dir first on PATH, so that the
    # FreeBSD commands a script runs still reach the double.
    bin_seen = seen_as if seen_as is not None else str(bin_dir)
    for command in COMMANDS:
        lines = ["#!/bin/sh", f"# {command}: FreeBSD test double (tests/double), not FreeBSD."]
        lines.append(f"FREEBSD_DOUBLE_BIN={shlex.quote(bin_seen)}")
        lines.append("export FREEBSD_DOUBLE_BIN")
        if state_dir is not None:
            lines.append(f"FREEBSD_DOUBLE_STATE={shlex.quote(state_dir)}")
            lines.append("export FREEBSD_DOUBLE_STATE")
        lines.append(f"PY={shlex.quote(python)}")
        lines.append(f'[ -x "$PY" ] || PY={JAIL_PYTHON}')
        if client is None:
            lines.append(f'exec "$PY" {shlex.quote(program)} {command} "$@"')
        else:  # the test host's server answers; without one the client execs "$PY" ...
            lines.append(
                f'exec {shlex.quote(client)} {SOCKET} "$PY" {shlex.quote(program)} {command} "$@"'
            )
        wrapper = bin_dir / command
        wrapper.write_text("\n".join(lines) + "\n", encoding="utf-8")
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def client_binary() -> Path | None:
    """client.c compiled once per machine and source (cached by its digest), or None
    without a C compiler: the wrappers then run the double directly, only slower."""
    source = CLIENT_SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    built = Path(tempfile.gettempdir()) / f"freebsd-double-client-{digest}"
    if built.exists():
        return built
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    partial = built.with_name(f"{built.name}.{os.getpid()}")
    done = subprocess.run(
        [compiler, "-O2", "-Wall", "-o", str(partial), str(CLIENT_SOURCE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"cc {CLIENT_SOURCE}: {done.stderr}")
    os.replace(partial, built)
    return built


def server_command(python: str | None = None, seen_as: str = "") -> str:
    """The sh line that starts a test host's server in the background (tests/testhost.py)."""
    python = python or os.path.realpath(sys.executable)
    server = f"{Path(seen_as).parent}/server.py"
    log = f"{Path(SOCKET).parent}/server.log"
    return f"{shlex.quote(python)} {shlex.quote(server)} {SOCKET} </dev/null >{log} 2>&1 &"


def install_base_system(root: Path) -> None:
    """Stub FreeBSD base files under `root` (a test host's overlay, never "/").

    root/etc/rc.subr (0444): tests/double/rc.subr, the rc.subr stand-in;
    root/etc/defaults/rc.conf (0444): the defaults the double's sysrc knows
    (fbsd/sysrc.py RC_DEFAULTS), so rc.subr's load_rc_config and sysrc agree;
    root/etc/rc.d/NAME (0555): every stub script of tests/double/rc.d (devfs).
    """
    etc = root / "etc"
    _install_file(RC_SUBR.read_bytes(), etc / "rc.subr", 0o444)
    _install_file(_defaults_rc_conf().encode(), etc / "defaults" / "rc.conf", 0o444)
    for script in sorted(RC_D.iterdir()):
        if script.is_file():
            _install_file(script.read_bytes(), etc / "rc.d" / script.name, 0o555)


def _install_file(data: bytes, dest: Path, mode: int) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.chmod(0o644)  # a re-install over a read-only copy
    dest.write_bytes(data)
    dest.chmod(mode)


def _defaults_rc_conf() -> str:
    """/etc/defaults/rc.conf: name="value" lines, as FreeBSD 14 libexec/rc/rc.conf writes them."""
    lines = [
        "# /etc/defaults/rc.conf: TEST DOUBLE (tests/double/install.py), not FreeBSD.",
        "# The defaults the double's sysrc knows (fbsd/sysrc.py RC_DEFAULTS).",
    ]
    for name, value in RC_DEFAULTS.items():
        quoted = "".join("\\" + c if c in '"\\$`' else c for c in value)
        lines.append(f'{name}="{quoted}"')
    return "\n".join(lines) + "\n"


Run = Callable[..., subprocess.CompletedProcess[str]]


def runner(state_dir: Path, root: Path) -> Run:
    """Run the double directly (no wrapper), with its state and root in test folders."""
    env = {**os.environ, "FREEBSD_DOUBLE_STATE": str(state_dir), "FREEBSD_DOUBLE_ROOT": str(root)}

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(DOUBLE), *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )

    return run


def default_state() -> dict[str, Any]:
    """A fresh FreeBSD 14.3-RELEASE amd64 host: testhost, vtnet0 192.0.2.10/24, no bastille."""
    return build_default_state()


def seed_state(state_dir: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Deep-merge overrides into default_state() and write state_dir/state.json."""
    state = deep_merge(default_state(), overrides or {})
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, state_dir / "state.json")
    return state


def read_calls(state_dir: Path) -> list[dict[str, Any]]:
    """Every logged invocation, oldest first: [{"argv": [...], "rc": N}, ...]."""
    log = state_dir / "calls.log"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]

"""`invoke logs`: the agent's session log, or a role jail's service log, read over the
run's one connection; `--follow` streams new lines until interrupted.

The session it replaces: `tail -n 200 /var/log/warden/atlas/agent.log`, or, for a jail,
the service's log under the jail's root, read from the host (`tail -F` to follow).
"""

from __future__ import annotations

import re
import sys

from .command import cmd
from .config import AgentConfig
from .domains import HostUser, JailUser, Location, enter
from .errors import HostError, Refused, WardenError
from .facts import RC_ABSENT, Probe, read
from .layout import home, log_file
from .registry import owned_roles
from .shell import checked_path, q
from .transport import Executor

LINES = 200
# Where each role's service writes, inside its jail (FreeBSD's defaults: PostgreSQL
# logs through syslog; the ports' rc scripts name the others).
ROLE_LOGS = {
    "db": "/var/log/messages",
    "git": "/var/log/auth.log",
    "cms": "/var/log/nginx/error.log",
    "ollama": "/var/log/ollama.log",
    "llama-cpp": "/var/log/llama_server.log",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def log_path(config: AgentConfig, role: str | None) -> Location:
    """The file to read, in its domain (a jail's log inside the jail), or Refused naming
    what is valid."""
    if role is None:
        # the agent's own file (in root's directory): read as the agent
        user = config.agent_user
        return Location(HostUser(user, user, home(user)), log_file(config.agent_name))
    if role not in ROLE_LOGS:
        raise Refused(f"--role {role!r}: not a role; roles are {', '.join(ROLE_LOGS)}")
    if config.runtime != "jail" or role not in owned_roles(config):
        mine = ", ".join(owned_roles(config)) if config.runtime == "jail" else "none"
        raise Refused(
            f"--role {role}: agent {config.agent_name} has no {role} jail of its own on this "
            f"host (its role jails: {mine or 'none'})"
        )
    return Location(JailUser(config.jail_names[role]), ROLE_LOGS[role])


def safe(line: str) -> str:
    """A host's log line, safe for a terminal: control characters shown, not acted on."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line)


def show_log(executor: Executor, where: Location, follow: bool) -> None:
    """Print the log's last lines (and, following, every new one as it comes). A jail's
    log is read inside the jail (`jexec`): a link its root planted there resolves in the
    jail, never to a host file."""

    def emit(line: str) -> None:
        sys.stdout.write(safe(line) + "\n")
        sys.stdout.flush()

    path = checked_path(where.path)
    if not follow:
        found = read(executor, probes={"log": Probe(_tail(path), where.domain)})
        section = found.probe("log")
        if section is None or section.rc == RC_ABSENT:
            missing = "does not run" if isinstance(where.domain, JailUser) else "does not exist"
            raise WardenError(f"{executor.target}: {where.domain.label()} {missing}")
        if section.rc == 66:
            raise WardenError(f"{executor.target}: no log at {where} yet")
        if section.rc != 0:
            raise HostError(
                f"{executor.target}: cannot read {where}: "
                f"{section.output.strip()[-300:] or f'exit {section.rc}'}"
            )
        for line in section.output.splitlines():
            emit(line)
        return
    # following streams until interrupted: the operator ends it (tail -F waits for a log
    # that is not there yet)
    tail = cmd("tail", "-n", LINES, "-F", path)
    script = f"exec {enter(where.domain, tail.sh()).sh()} </dev/null\n"
    result = executor.run(script, on_line=emit)
    if result.rc == 66:
        raise WardenError(f"{executor.target}: {result.stderr.strip().removeprefix('warden: ')}")
    if result.rc != 0:
        raise HostError(
            f"{executor.target}: cannot read {where}: {result.stderr.strip() or 'no message'}"
        )


def _tail(path: str) -> str:
    return f"[ -e {q(path)} ] || exit 66; exec tail -n {LINES} {q(path)}"

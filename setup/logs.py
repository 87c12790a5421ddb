"""`invoke logs`: the agent's session log, or a role jail's service log, read over the
run's one connection; `--follow` streams new lines until interrupted.

The session it replaces: `tail -n 200 /var/log/warden/atlas/agent.log`, or, for a jail,
the service's log under the jail's root, read from the host (`tail -F` to follow).
"""

from __future__ import annotations

import re
import sys

from .config import AgentConfig
from .errors import HostError, Refused, WardenError
from .layout import BASTILLE_JAILS, jail_dir, log_file
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


def log_path(config: AgentConfig, role: str | None) -> str:
    """The file to read, or Refused naming what is valid."""
    if role is None:
        return log_file(config.agent_name)
    if role not in ROLE_LOGS:
        raise Refused(f"--role {role!r}: not a role; roles are {', '.join(ROLE_LOGS)}")
    if config.runtime != "jail" or role not in owned_roles(config):
        mine = ", ".join(owned_roles(config)) if config.runtime == "jail" else "none"
        raise Refused(
            f"--role {role}: agent {config.agent_name} has no {role} jail of its own on this "
            f"host (its role jails: {mine or 'none'})"
        )
    return checked_path(f"{jail_dir(config.jail_names[role])}/root{ROLE_LOGS[role]}")


def safe(line: str) -> str:
    """A host's log line, safe for a terminal: control characters shown, not acted on."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", line)


def show_log(executor: Executor, path: str, follow: bool) -> None:
    """Print the log's last lines (and, following, every new one as it comes)."""
    target = q(path)
    # A jail's root is the jail's: a link there must not make root read a host file.
    links = ""
    if path.startswith(BASTILLE_JAILS + "/"):
        parts = path.split("/")
        below = ["/".join(parts[: i + 1]) for i in range(5, len(parts))]
        links = (
            "for _l in " + " ".join(q(p) for p in below) + "; do "
            'if [ -L "$_l" ]; then echo "warden: $_l is a symbolic link: not read" >&2; '
            "exit 65; fi; done\n"
        )
    script = (
        links
        + f'if [ ! -e {target} ]; then echo "warden: no log at {path} yet" >&2; exit 66; fi\n'
        + (f"exec tail -n {LINES} -F {target}\n" if follow else f"tail -n {LINES} {target}\n")
    )

    def emit(line: str) -> None:
        sys.stdout.write(safe(line) + "\n")
        sys.stdout.flush()

    result = executor.run(script, on_line=emit)
    if result.rc in (65, 66):
        raise WardenError(f"{executor.target}: {result.stderr.strip().removeprefix('warden: ')}")
    if result.rc != 0:
        raise HostError(
            f"{executor.target}: cannot read {path}: {result.stderr.strip() or 'no message'}"
        )

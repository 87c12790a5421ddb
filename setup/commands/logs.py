"""`invoke logs`: the agent's session log, or a role jail's service log."""

from __future__ import annotations

from ..config import load_or_refuse as load
from ..errors import EXIT_OK, Refused
from ..inventory import parse_targets
from ..logs import log_path, show_log
from ..transport import connect


def logs_command(
    env: str, host: str | None, role: str | None, follow: bool, accept_new: bool
) -> int:
    """Print the agent's log (or a role jail's service log); --follow streams it."""
    config = load(env)
    path = log_path(config, role)
    targets = parse_targets(host, config.host)
    if len(targets) != 1:
        raise Refused("logs reads one host: give one --host target")
    executor = connect(targets[0], accept_new=accept_new)
    try:
        show_log(executor, path, follow)
    finally:
        executor.close()
    return EXIT_OK

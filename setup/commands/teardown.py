"""`invoke teardown`: one agent off one host, through the engine (setup/teardown/)."""

from __future__ import annotations

from .. import engine, teardown
from ..config import load_or_refuse as load
from ..engine import Options
from ..errors import Refused
from ..inventory import parse_targets
from .options import lock_wait


def teardown_command(
    env: str, host: str | None, keep_data: bool, force: bool, yes: bool, accept_new: bool
) -> int:
    """Dump, then remove one agent from one host; show the plan and ask unless --yes."""
    config = load(env)
    targets = parse_targets(host, config.host)
    if len(targets) != 1:
        raise Refused("teardown works on one host at a time: give one --host target")
    job = teardown.TeardownJob(config, keep_data=keep_data, force=force)
    options = Options(yes=yes, accept_new=accept_new, lock_wait=lock_wait())
    return engine.on_one(targets[0], job, options)

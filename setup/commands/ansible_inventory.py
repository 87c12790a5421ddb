"""`invoke ansible.inventory`: the agents of .env files and/or hosts' registries as an
Ansible inventory (setup/ansible_inventory.py makes it), printed or placed atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from ..ansible_inventory import records_from_envs, records_from_hosts, render
from ..config import AgentConfig
from ..config import load_or_refuse as load_env
from ..errors import EXIT_OK, Refused
from ..inventory import parse_targets
from ..output import clean, console


def write(text: str, out: str | None) -> None:
    """Print the inventory, or place it at *out* atomically (0644: it holds no secret)."""
    if out is None or out == "-":
        print(text, end="")
        return
    target = Path(out)
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        raise Refused(f"--out {out}: cannot write there: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise Refused(f"--out {out}: cannot write there: {exc.strerror}") from None


def _warn(message: str) -> None:
    console(stderr=True).print(f"[yellow]warning:[/yellow] {clean(message)}", soft_wrap=True)


def inventory_command(
    envs: Sequence[str],
    host: str | None,
    out: str | None,
    accept_new: bool,
    *,
    load: Callable[[str], AgentConfig] = load_env,
    warn: Callable[[str], None] = _warn,
) -> int:
    """`--env` files and/or `--host` registries -> the inventory (stdout or --out).

    With neither, the `.env` in the current directory is exported. Everything is
    validated, and every host read, before anything is written.
    """
    records = records_from_envs(envs or ([] if host else [".env"]), load)
    if host:
        records += records_from_hosts(parse_targets(host, "local"), accept_new, warn)
    write(render(records), out)
    return EXIT_OK

"""rc.conf-style settings: what a value is now, and the sysrc that makes it right.

Value semantics, not presence: a setting is right only when its current value equals
the wanted one (pyinfra's sysrc checked presence only, so a wrong value was never
fixed). sysrc(8) replaces the last assignment in the file that holds it, so the
command is the same for "missing" and "different".
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .plan import Change
from .shell import checked_path, q

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*[+-]?")  # name, or name+ / name- (list edits)
_LINE = re.compile(r"""^[ \t]*([A-Za-z_][A-Za-z0-9_]*)=("([^"\\]*)"|'([^']*)'|([^ \t#;"']*))""")


def assignments(text: str | None) -> dict[str, str]:
    """`name=value` lines of an sh config file (bastille.conf, loader.conf), last wins.

    Only the simple forms sysrc itself writes are read; anything cleverer (command
    substitution, expansion) is taken literally, so a plan shows it as different
    rather than guessing.
    """
    values: dict[str, str] = {}
    for line in (text or "").splitlines():
        match = _LINE.match(line)
        if match:
            values[match.group(1)] = next(g for g in match.groups()[2:] if g is not None)
    return values


def sysrc_command(name: str, value: str, file: str | None = None) -> str:
    """`sysrc [-f FILE] name=value`, every word quoted."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not an rc.conf variable name: {name!r}")
    target = f"-f {q(checked_path(file))} " if file else ""
    return f"sysrc {target}{q(f'{name}={value}')}"


def setting(
    step: str,
    current: Mapping[str, str],
    name: str,
    value: str,
    *,
    file: str | None = None,
    why: str = "",
) -> Change | None:
    """A Change setting name=value when the current value differs, else None."""
    have = current.get(name)
    if have == value:
        return None
    where = file or "rc.conf"
    was = "unset" if have is None else f"was {have!r}"
    summary = f"{where}: {name}={value!r} ({was})" + (f": {why}" if why else "")
    return Change(step, summary, commands=(sysrc_command(name, value, file),))


def read_value_sh(path: str, name: str) -> str:
    """sh printing the last `name=value` of an rc.conf-style file WITHOUT running it.

    `sysrc -f FILE` sources FILE as sh; a jail's rc.conf is written by root inside the
    jail, so the host must never source it (that would run the jail's code as host
    root). This reads the assignment as text: the last one wins, quotes are dropped.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"not an rc.conf variable name: {name!r}")
    program = (
        f'index($0, "{name}=") == 1 {{ v = substr($0, {len(name) + 2}) }} '
        'END { sub(/[ \\t]*(#.*)?$/, "", v); '
        "if (v ~ /^\".*\"$/ || v ~ /^'.*'$/) v = substr(v, 2, length(v) - 2); print v }"
    )
    return f"awk {q(program)} {q(checked_path(path))} 2>/dev/null"

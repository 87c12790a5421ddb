"""rc.conf-style settings: what a value is now, and the sysrc that makes it right.

Value semantics, not presence: a setting is right only when its current value equals
the wanted one (pyinfra's sysrc checked presence only, so a wrong value was never
fixed). sysrc(8) replaces the last assignment in the file that holds it, so the
command is the same for "missing" and "different".
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .ops import sysrc_set
from .plan import Change

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
    return Change(step, summary, ops=(sysrc_set(name, value, file=file),))

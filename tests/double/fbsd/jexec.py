"""jexec(8): jails.py runs it (a jail's root, network and users; see its docstring).

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

from .common import jails_module


def cmd_jexec(args: list[str]) -> int:
    return int(jails_module().cmd_jexec(args))

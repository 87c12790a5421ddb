"""`invoke soul.new NAME`: a soul scaffolded that passes soul.check."""

from __future__ import annotations

from pathlib import Path

from ..errors import EXIT_CHANGE_FAILED, EXIT_OK
from ..output import clean, console
from ..soul.check import check_soul
from ..soul.scaffold import scaffold
from .soul_check import show_report


def new_command(name: str, dest: str | None) -> int:
    """soul.new NAME [--dest DIR]: scaffold a soul that passes soul.check."""
    target = scaffold(name, Path(dest) if dest else Path("souls") / name)
    report = check_soul(target, None)
    if not report.ok:  # the skeleton itself is broken: a bug of warden's
        show_report(report)
        return EXIT_CHANGE_FAILED
    out = console()
    out.print(
        f"created the soul of {clean(name)} in {clean(str(target))} (passes soul.check)",
        soft_wrap=True,
    )
    out.print("next: fill in SOUL.md, USER.md and IDENTITY.md, then `git init` it", soft_wrap=True)
    return EXIT_OK

"""/etc/pf.conf: warden's one include, placed where pf.conf's order allows it.

pf.conf(5) enforces statement order: options, normalization, queueing, translation,
filtering. warden's include holds NAT (translation) and pass/block rules (filtering),
so it goes after the last translation rule and before the first filter rule. A
pf.conf warden did not write is edited, never replaced: every line outside the
marked block stays byte for byte as it was.
"""

from __future__ import annotations

import re

from .layout import BRIDGE, PF_WARDEN_CONF
from .render import render

BEGIN = "# BEGIN warden"
END = "# END warden"

_FILTER = {"pass", "block", "match", "anchor", "antispoof"}


def include_block(include: str = PF_WARDEN_CONF) -> str:
    """The marked block, without a trailing newline."""
    return render("pf/include-block.j2", bridge=BRIDGE, include=include).rstrip("\n")


def minimal_pf_conf(ext_if: str, include: str = PF_WARDEN_CONF) -> str:
    """For a host without pf.conf: the include, SSH explicitly open, nothing blocked."""
    return render("pf/pf.conf.j2", ext_if=ext_if, block=include_block(include))


def _statements(lines: list[str]) -> list[tuple[int, str]]:
    """(first line index, first word) of each statement; comments and continuations skipped."""
    found: list[tuple[int, str]] = []
    continued = False
    for index, line in enumerate(lines):
        code = line.split("#", 1)[0].strip()
        starts = not continued and code
        continued = code.endswith("\\")
        if starts:
            found.append((index, code.split()[0]))
    return found


def _is_include_of(line: str, include: str) -> bool:
    return re.fullmatch(rf'\s*include\s+"{re.escape(include)}"\s*(#.*)?', line) is not None


class MarkerError(ValueError):
    """The marked block is broken: editing around it could drop the operator's rules."""


def check_markers(text: str) -> None:
    """Every BEGIN has its END, in order; else MarkerError naming the line."""
    inside: int | None = None
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith(BEGIN):
            if inside is not None:
                raise MarkerError(f"line {number}: a second '{BEGIN}' before '{END}'")
            inside = number
        elif line.startswith(END):
            if inside is None:
                raise MarkerError(f"line {number}: '{END}' without '{BEGIN}'")
            inside = None
    if inside is not None:
        raise MarkerError(f"line {inside}: '{BEGIN}' without '{END}'")


def foreign_statements(text: str | None) -> list[str]:
    """The first word of each statement outside the marked block."""
    return [word for _, word in _statements(foreign_lines(text))]


def with_include(text: str | None, ext_if: str, include: str = PF_WARDEN_CONF) -> str:
    """pf.conf with exactly one marked include block (the text itself when it has one).

    Raises MarkerError when the markers are unbalanced: the block's end is unknown.
    """
    if text is None:
        return minimal_pf_conf(ext_if, include)
    check_markers(text)
    block = include_block(include).split("\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    out: list[str] = []
    placed = False
    inside = False
    for line in lines:
        if line.startswith(BEGIN):
            inside = True
            if not placed:
                out += block
                placed = True
            continue
        if inside:
            inside = not line.startswith(END)
            continue
        if _is_include_of(line, include):
            # The guide's hand-written include: adopted into the marked block.
            if not placed:
                out += block
                placed = True
            continue
        out.append(line)
    if not placed:
        at = next((i for i, word in _statements(out) if word in _FILTER), len(out))
        out[at:at] = block
    # Always a final newline (a missing one shows in the diff): files warden writes end so.
    return "\n".join(out) + "\n"


def foreign_lines(text: str | None) -> list[str]:
    """The lines of pf.conf warden did not write (what must never change)."""
    kept: list[str] = []
    inside = False
    for line in (text or "").split("\n"):
        if line.startswith(BEGIN):
            inside = True
        elif inside:
            inside = not line.startswith(END)
        else:
            kept.append(line)
    return kept

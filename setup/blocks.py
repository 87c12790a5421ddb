"""warden's marked blocks in a file the operator or an agent also writes.

Only the lines between warden's markers for one agent (and one part, where two steps
keep blocks in one file) are ever written: every other line, and other agents' blocks,
stay byte for byte. Pure text: the operations that place the file are setup/ops.py.
"""

from __future__ import annotations


def markers(agent: str, part: str = "") -> tuple[str, str]:
    """warden's markers for one agent's block (and one part of it, where two steps keep
    blocks in the same file)."""
    label = f"agent={agent}" + (f" {part}" if part else "")
    return f"# BEGIN warden {label}", f"# END warden {label}"


def with_block(text: str | None, agent: str, lines: list[str], part: str = "") -> str:
    """The file with the agent's block replaced (or appended); an empty list removes it."""
    begin, end = markers(agent, part)
    current = (text or "").splitlines()
    if begin in current and end in current[current.index(begin) :]:
        start = current.index(begin)
        stop = current.index(end, start)
        current[start : stop + 1] = lines
    else:
        current += lines
    return "".join(f"{line}\n" for line in current)


def broken(text: str | None, agent: str, path: str, part: str = "") -> str | None:
    """Why the agent's markers in *path* cannot be trusted (a lone or repeated marker)."""
    begin, end = markers(agent, part)
    lines = (text or "").splitlines()
    if lines.count(begin) > 1 or lines.count(end) > 1:
        return f"{path} has agent {agent}'s warden markers more than once"
    if (begin in lines) != (end in lines) or (
        begin in lines and lines.index(end) < lines.index(begin)
    ):
        return f"{path} has a broken warden block for agent {agent} (a marker is missing)"
    return None

"""The facts script's output, split back into sections and files by their frames.

Works on bytes: every frame carries its byte count, so a body is taken exactly,
whatever it holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..domains import Location
from .script import MAX_READ, RC_ABSENT, RC_TOO_LARGE, locations


@dataclass(frozen=True)
class Section:
    """One command's combined output and exit code."""

    output: str
    rc: int


def split_output(
    raw: bytes | str, nonce: str, files: Iterable[str | Location] = ()
) -> tuple[dict[str, Section], dict[Location, str | None], dict[Location, str]]:
    """Split the facts script's output into sections, files, and files that could not
    be read (why). Works on bytes: every frame carries its byte count."""
    data = raw.encode() if isinstance(raw, str) else raw
    wanted = locations(files)
    # (a file holding a NUL byte is no text warden manages: unreadable, never placed back)
    marker = f"@@{nonce} ".encode()
    sections: dict[str, Section] = {}
    found: dict[Location, str | None] = {}
    unreadable: dict[Location, str] = {}
    pos = 0
    done = False
    while pos < len(data):
        end = data.find(b"\n", pos)
        if end < 0:
            end = len(data)
        line = data[pos:end]
        nxt = end + 1
        if line == marker + b"done":
            done = True
        elif line.startswith(marker):
            words = line[len(marker) :].decode(errors="replace").split(" ")
            if len(words) == 4 and words[0] in ("sec", "file") and words[3].isdigit():
                size = int(words[3])
                body = data[nxt : nxt + size].decode(errors="replace")
                nxt += size
                rc = as_int(words[2])
                if words[0] == "sec":
                    sections[words[1]] = Section(body, rc)
                elif words[1].isdigit() and int(words[1]) < len(wanted):
                    where = wanted[int(words[1])]
                    if rc == 0 and "\0" in body:
                        found[where] = None
                        unreadable[where] = "not text: it holds a NUL byte"
                    elif rc == 0:
                        found[where] = body
                    elif rc == RC_ABSENT:
                        found[where] = None
                    else:
                        found[where] = None
                        unreadable[where] = _why(rc, body)
        pos = nxt
    if not done:
        raise ValueError("the facts script did not finish")
    return sections, found, unreadable


def _why(rc: int, output: str) -> str:
    if rc == RC_TOO_LARGE:
        return f"larger than {MAX_READ} bytes"
    if rc in (124, 137):
        return "the read did not finish in time"
    text = " ".join(output.split())[-200:]
    return f"exit {rc}" + (f": {text}" if text else "")


def as_int(text: str) -> int:
    """An exit code or an id as printed; -1 when the host printed no number."""
    return int(text) if text.lstrip("-").isdigit() else -1

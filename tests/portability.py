"""A scan of the scripts warden sends for forms FreeBSD's sh and userland lack.

The test host runs Debian's userland, so a GNU-only option would pass there and fail
on the real host. Tools the FreeBSD double stands in for are checked by the double
itself (it exits 64 on any flag it does not implement); everything else must stick to
POSIX options. Each rule says why.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from tests.double.fbsd.dispatch import COMMANDS

# Only what the double really implements is exempt: it checks those flags itself. And
# programs that are the same upstream code on FreeBSD (a package, not a base tool whose
# BSD and GNU versions differ): their long options are theirs, not GNU's.
SAME_UPSTREAM = frozenset({"git", "ssh-keygen", "psql", "tmux"})
DOUBLED = frozenset(COMMANDS) | SAME_UPSTREAM
# Long options of a base tool that both FreeBSD and GNU have, each checked in the source
# named (FreeBSD's timeout.c and GNU coreutils' both take --foreground, with the same
# meaning: time the command itself, not its descendants).
VERIFIED = {("timeout", "--foreground"): "docs/freebsd/sources.md §2"}


class Rule(NamedTuple):
    pattern: re.Pattern[str]
    why: str


RULES = (
    Rule(re.compile(r"\bsed\s+(-[a-zA-Z]*\s+)*-i"), "sed -i differs between BSD and GNU"),
    Rule(re.compile(r"\bstat\s+-[cf]\b"), "stat -c is GNU, stat -f is BSD: neither is portable"),
    Rule(re.compile(r"\breadlink\s+-f\b"), "readlink -f is not POSIX"),
    Rule(re.compile(r"\b(sha256sum|md5sum|sha1sum)\b"), "GNU coreutils names; FreeBSD has sha256"),
    Rule(re.compile(r"\becho\s+-e\b"), "echo -e is not POSIX: use printf"),
    Rule(re.compile(r"\[\["), "[[ is not in POSIX sh"),
    Rule(re.compile(r"\bgrep\s+(-[a-zA-Z]*\s+)*-[a-zA-Z]*P"), "grep -P is GNU only"),
    Rule(re.compile(r"\bxargs\s+(-[a-zA-Z]*\s+)*-r\b"), "xargs -r is GNU only"),
    Rule(re.compile(r"\bdate\s+(-[a-zA-Z]*\s+)*-d\b"), "date -d is GNU only"),
    Rule(re.compile(r"\bhead\s+-c\b"), "head -c is not POSIX"),
    Rule(re.compile(r"\binstall\s+.*-S\b"), "install -S means different things on BSD and GNU"),
    Rule(re.compile(r"\$'"), "$'...' quoting is not POSIX sh"),
    Rule(re.compile(r"<\(|>\("), "process substitution is bash only"),
    Rule(re.compile(r"\bfunction\s+\w+"), "the function keyword is not POSIX sh"),
)

_SPLIT = re.compile(r"[;|&()]|\$\(|`")
_KEYWORDS = frozenset(
    [
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "do",
        "done",
        "while",
        "until",
        "for",
        "in",
        "case",
        "esac",
        "!",
        "{",
        "}",
        "exec",
    ]
)
_HEREDOC_START = re.compile(r"<<-?\s*'([A-Za-z0-9_]+)'")


def code_lines(script: str) -> list[tuple[int, str]]:
    """The script's lines that sh runs: here-document bodies (file content) left out."""
    lines: list[tuple[int, str]] = []
    until: str | None = None
    for number, line in enumerate(script.splitlines(), 1):
        if until is not None:
            if line == until:
                until = None
            continue
        lines.append((number, line))
        match = _HEREDOC_START.search(line)
        if match:
            until = match.group(1)
    return lines


def scan(script: str) -> list[str]:
    """One message per non-portable form, with its line number."""
    problems: list[str] = []
    for number, line in code_lines(script):
        code = line.split(" #", 1)[0]
        for rule in RULES:
            if rule.pattern.search(code):
                problems.append(f"line {number}: {rule.why}: {line.strip()}")
        for command in _SPLIT.split(code):
            words = [w for w in command.split() if "=" not in w.split("--")[0] or w.startswith("-")]
            while words and words[0] in _KEYWORDS:
                words.pop(0)
            if not words:
                continue
            tool = words[0]
            for option in (w for w in words[1:] if re.fullmatch(r"--[a-z][a-z-]+", w)):
                if tool not in DOUBLED and (tool, option) not in VERIFIED:
                    problems.append(f"line {number}: GNU-style {option} on {tool}: {line.strip()}")
    return problems

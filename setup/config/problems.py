"""How a bad `.env` is reported: every problem names the file, the key and the
value, so the operator can fix the file without reading warden's code."""

from pathlib import Path
from typing import NamedTuple

_REPR_LIMIT = 120


class ConfigProblem(NamedTuple):
    """One thing wrong with a `.env`, phrased so the operator can fix it unaided."""

    key: str
    value: str | None
    reason: str


class ConfigError(Exception):
    """Every problem of one `.env` at once, so a file is fixed in one pass."""

    def __init__(self, path: Path, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(path, problems)

    def __str__(self) -> str:
        return "\n".join(_format_problem(self.path, p) for p in self.problems)


def _format_problem(path: Path, problem: ConfigProblem) -> str:
    parts = [str(path)]
    if problem.key:
        key = problem.key if problem.key.isprintable() else repr(problem.key)
        if problem.value is not None:
            shown = repr(problem.value)
            if len(shown) > _REPR_LIMIT:
                shown = shown[: _REPR_LIMIT - 4] + "...'"
            key = f"{key}={shown}"
        parts.append(key)
    parts.append(problem.reason)
    return ": ".join(parts)


class _Invalid(Exception):
    """A value is wrong; `reason` says what would be valid. `secret` keeps a
    value that turned out to hold a credential out of the message."""

    def __init__(self, reason: str, *, secret: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.secret = secret

"""The few ways a run can end badly, each tied to the exit code the design promises.

Every failure an operator can cause or meet is one of these, so the command line can
map it to 1, 2 or 3 without guessing, and nothing else escapes as a traceback.
"""

from __future__ import annotations

import re

_CODE = re.compile(r"[a-z][a-z0-9-]*(?:\.[a-z][a-z0-9-]*)*")

EXIT_OK = 0
EXIT_CHANGE_FAILED = 1
EXIT_REFUSED = 2
EXIT_HOST = 3


class WardenError(Exception):
    """A failure with a message meant for the operator and a fixed exit code."""

    exit_code = EXIT_CHANGE_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Refused(WardenError):
    """Bad input or a plan warden will not carry out; nothing was touched."""

    exit_code = EXIT_REFUSED


class HostError(WardenError):
    """The host could not be reached, was locked, or changed under us."""

    exit_code = EXIT_HOST


class HostKeyRefused(HostError):
    """An unknown or changed SSH host key: never trusted silently."""


class ChangeFailed(WardenError):
    """A change was attempted and did not succeed."""

    exit_code = EXIT_CHANGE_FAILED


class Refusal(str):
    """Why a plan will not be carried out: a stable code (`step.reason`) that tests and
    tools match, and the text the operator reads. It is a str of its text, so it
    prints, joins and is shown as before; only the code is new."""

    code: str

    def __new__(cls, code: str, text: str) -> Refusal:
        if not _CODE.fullmatch(code):
            raise ValueError(f"refusal code {code!r}: lowercase words, dot-separated")
        refusal = super().__new__(cls, text)
        refusal.code = code
        return refusal

    def __reduce__(self) -> tuple[type[Refusal], tuple[str, str]]:
        """Copied and pickled as what it was made from."""
        return (Refusal, (self.code, str(self)))

"""A command whose words are quoted, and whose secret words are masked, by construction.

The model is pyinfra's StringCommand with QuoteString and MaskString, turned round: a
plain string given as a word is *always* quoted, so a value can only reach a shell
as one word; sh syntax (an operator, a redirection, `$var`) must be written as
`Raw(...)` in warden's own code; a `Secret` word runs quoted and is shown as `***`.
What a plan shows (`shown`) and what runs (`sh`) are one object rendered twice, so
they cannot drift apart.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

MASK = "***"


@dataclass(frozen=True)
class Raw:
    """sh syntax written in warden's code (`||`, `>`, `"$_t"`): never a value."""

    text: str


@dataclass(frozen=True)
class Secret:
    """A word that runs quoted and is never shown (a verifier, a key)."""

    value: str = field(repr=False)


@dataclass(frozen=True)
class Command:
    """Words joined by spaces; `sh()` is what runs, `shown()` what an operator sees."""

    words: tuple[str | int | Raw | Secret | Command, ...]
    sep: str = " "

    def sh(self) -> str:
        return self.sep.join(_word(w, reveal=True) for w in self.words)

    def shown(self) -> str:
        return self.sep.join(_word(w, reveal=False) for w in self.words)

    @property
    def secret(self) -> bool:
        """It carries a Secret word somewhere."""
        return any(
            isinstance(w, Secret) or (isinstance(w, Command) and w.secret) for w in self.words
        )

    def __str__(self) -> str:
        return self.shown()


def _word(word: object, *, reveal: bool) -> str:
    if isinstance(word, Raw):
        return word.text
    if isinstance(word, Secret):
        return shlex.quote(word.value) if reveal else MASK
    if isinstance(word, Command):
        return word.sh() if reveal else word.shown()
    if isinstance(word, bool) or not isinstance(word, str | int):
        raise TypeError(f"not a command word: {word!r}")
    return shlex.quote(str(word))


def cmd(*words: str | int | Raw | Secret | Command) -> Command:
    """A command from its words: `cmd("sysrc", f"{name}={value}")`."""
    return Command(tuple(words))


def glue(*parts: str | int | Raw | Secret | Command) -> Command:
    """One word made of parts, each quoted on its own: `glue(Raw('"$d"/'), release)`."""
    return Command(tuple(parts), sep="")

"""`.env.example` and the key table of the command-line contract (docs/cli.md), made
from the table of keys so the documents cannot drift from what the validator checks. A unit test
compares both files with what these functions make; after changing a key,
regenerate them with `python -m setup.config.document --write`.
"""

import argparse
import sys
import textwrap
from pathlib import Path

from .keys import KEYS, SECTIONS, STEPS, Key

REPO = Path(__file__).resolve().parents[2]
KEYS_HEADING = "## The `.env` keys"

_WIDTH = 79
_HEADER = """\
# warden: one agent per .env. Copy this file to .env and edit it.
#
# The keys are those of Clawdie's multi-agent deployment guide, so an
# existing Clawdie .env keeps its meaning; warden's own keys start with
# WARDEN_. Keys of other programs (API tokens, ...) may live in the same
# file: warden ignores them and never prints their values.
#
# An empty value, or a commented-out line, means "use the default" shown in
# parentheses. Every value is checked before anything touches a host;
# `invoke plan` lists every problem with the value that would work.
#
# Made from setup/config/keys.py by `python -m setup.config.document --write`.
"""


def _comment(text: str) -> list[str]:
    return textwrap.wrap(
        text,
        width=_WIDTH - 1,
        initial_indent="# ",
        subsequent_indent="# ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _example_value(key: Key) -> str:
    if key.example is not None:
        return key.example
    return key.default or ""


def env_example() -> str:
    """The whole of `.env.example`: a key's comment is its help and default,
    then its note; its line is set or commented out as the table says."""
    lines = [_HEADER.rstrip("\n")]
    for section in SECTIONS:
        lines += ["", f"# --- {section.title} ".ljust(_WIDTH, "-")]
        if section.intro:
            lines += ["", *_comment(section.intro)]
        for key in section.keys:
            lines += ["", *_comment(key.meaning)]
            if key.note:
                lines += _comment(key.note)
            lines.append(f"{'' if key.active else '#'}{key.name}={_example_value(key)}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def _default_cell(key: Key) -> str:
    if key.required is None and key.derived is None and key.default is not None:
        return f"`{key.default}`"
    return _cell(key.default_text)


def _steps_cell(key: Key) -> str:
    if set(key.steps) == set(STEPS):
        return "every step"
    return ", ".join(sorted(key.steps, key=STEPS.index))


def keys_section() -> str:
    """The contract's key section, heading included, up to the next heading."""
    rows = [
        f"| `{key.name}` | {_cell(key.help)} | {_default_cell(key)} | {_steps_cell(key)} |"
        for key in KEYS
    ]
    return "\n".join(
        [
            KEYS_HEADING,
            "",
            "`.env.example` documents every key with its default; the guide's keys keep their"
            " meaning.",
            "This table and `.env.example` are made from the table of keys in",
            "`setup/config/keys.py` (`python -m setup.config.document --write`); a unit test fails",
            "when either drifts from it.",
            "",
            "| key | meaning | default | steps that use it |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )


def with_keys_section(text: str) -> str:
    """The contract's text with its key section replaced by keys_section()."""
    start = text.index(f"\n{KEYS_HEADING}\n") + 1
    end = text.find("\n## ", start)
    end = len(text) if end < 0 else end + 1
    return text[:start] + keys_section() + "\n" + text[end:]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m setup.config.document")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--env-example", action="store_true", help="print .env.example")
    what.add_argument("--keys", action="store_true", help="print docs/cli.md's key section")
    what.add_argument("--write", action="store_true", help="rewrite both files in this tree")
    args = parser.parse_args(argv)
    if args.env_example:
        sys.stdout.write(env_example())
    elif args.keys:
        sys.stdout.write(keys_section())
    else:
        (REPO / ".env.example").write_text(env_example(), encoding="utf-8")
        contract = REPO / "docs" / "cli.md"
        contract.write_text(with_keys_section(contract.read_text(encoding="utf-8")), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""docs/cli.md is the command-line contract: every task and every flag invoke knows is
in its synopsis, and nothing there that invoke does not know."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tasks

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def synopsis() -> dict[str, str]:
    """Each task's line in the contract's first code block, by task name."""
    text = CONTRACT.read_text(encoding="utf-8")
    block = text.split("```\n", 2)[1]
    return {line.split()[1]: line for line in block.splitlines() if line.startswith("invoke ")}


def flags(name: str) -> set[str]:
    """The long flags invoke parses for the task (positional arguments left out)."""
    task = tasks.ns[name]
    return {
        f"--{argument.name.replace('_', '-')}"
        for argument in task.get_arguments()
        if not argument.positional
    }


def test_every_task_has_a_line_in_the_contract_and_no_other_task_does() -> None:
    assert sorted(synopsis()) == sorted(tasks.ns.task_names)


@pytest.mark.parametrize("name", sorted(tasks.ns.task_names))
def test_every_flag_of_a_task_is_in_its_line_and_no_unknown_one(name: str) -> None:
    line = synopsis()[name]
    assert set(re.findall(r"--[a-z][a-z-]*", line)) == flags(name)

"""The test harness keeps its shape: builders in tests/harness, fixtures in conftest.py,
and no test module borrowing from another; `invoke test --quick` leaves out the slow cases.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
from invoke import Context

import tasks

ROOT = Path(__file__).resolve().parents[2]

# Imports in files another change owns right now; each goes when its file imports from
# tests/harness instead (then delete its line here).
PENDING: set[tuple[str, str]] = set()  # none left


def _is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last.startswith("test_") or last == "conftest"


def imports_of_test_modules(path: str, source: str) -> list[tuple[str, int, str]]:
    """(path, line, module) for each import of a test_* or conftest module, inside a
    function too: there it borrows the module just as much and is easier to miss."""
    found = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if _is_test_module(base):
                modules = [base]
            else:  # `from tests.unit import test_steps` imports the module itself
                sep = "" if base.endswith(".") or not base else "."
                modules = [f"{base}{sep}{alias.name}" for alias in node.names]
        else:
            continue
        found += [(path, node.lineno, m) for m in modules if _is_test_module(m)]
    return sorted(found)


def python_files() -> list[Path]:
    return sorted(
        p
        for top in ("tests", "bench")
        for p in (ROOT / top).rglob("*.py")
        # the project's own files: not caches, not a venv (bench/.venv holds Ansible)
        if not any(part.startswith((".", "__pycache__")) for part in p.relative_to(ROOT).parts)
    )


def test_no_test_module_imports_another_test_module() -> None:
    found = []
    for path in python_files():
        name = path.relative_to(ROOT).as_posix()
        found += imports_of_test_modules(name, path.read_text(encoding="utf-8"))
    wrong = [f"{p}:{line} imports {m}" for p, line, m in found if (p, m) not in PENDING]
    assert wrong == [], (
        "a test module is not a library: move what is shared to tests/harness (builders) "
        "or a conftest.py (fixtures)\n" + "\n".join(wrong)
    )


def test_the_import_check_sees_every_way_of_importing_a_test_module() -> None:
    planted = (
        "import tests.unit.test_steps\n"
        "from tests.integration.conftest import require_test_hosts\n"
        "from tests.unit import test_steps as steps\n"
        "from .test_jail_steps import ready_host\n"
        "from . import conftest\n"
        "def later():\n"
        "    from tests.integration.test_agents_on_one_host import prepared\n"
        "import tests.harness.facts, tests.testhost\n"
        "from tests.harness.site import sh\n"
        "from tests import harness\n"
    )
    assert imports_of_test_modules("planted.py", planted) == [
        ("planted.py", 1, "tests.unit.test_steps"),
        ("planted.py", 2, "tests.integration.conftest"),
        ("planted.py", 3, "tests.unit.test_steps"),
        ("planted.py", 4, ".test_jail_steps"),
        ("planted.py", 5, ".conftest"),
        ("planted.py", 7, "tests.integration.test_agents_on_one_host"),
    ]


def test_quick_leaves_out_the_slow_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[list[str]] = []

    def call(args: list[str], env: dict[str, str]) -> int:
        ran.append(args)
        return 0

    monkeypatch.setattr(subprocess, "call", call)
    tasks.test(Context(), unit=True, pytest_args="-x")
    tasks.test(Context(), unit=True, quick=True, pytest_args="-x")
    workers = tasks.test_workers()
    assert [args[3:] for args in ran] == [
        ["tests/unit", "tests/double/tests", *workers, "-x"],
        ["tests/unit", "tests/double/tests", *workers, "-m", "not slow", "-x"],
    ]

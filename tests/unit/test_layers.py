"""The layers point one way: commands → the engine (one loop for every changing
command) → planning and reading → the steps and the vocabulary. A module that imports
from a layer above it is how two engines grew before; this keeps it from coming back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUP = ROOT / "setup"

# The engine's layer: the loop, its jobs and what drives it on one or many hosts.
ENGINE = ("setup.apply", "setup.engine", "setup.job", "setup.guest", "setup.fleet")
ENGINE_PACKAGES = ("setup.teardown",)
COMMANDS = "setup.commands"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module the file imports, absolute (relative imports resolved, and a name
    imported from a package counted as that package's submodule too)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> int:
    """0: steps, vocabulary, planning; 1: the engine; 2: the commands."""
    if module == COMMANDS or module.startswith(COMMANDS + "."):
        return 2
    if module in ENGINE or any(module == p or module.startswith(p + ".") for p in ENGINE_PACKAGES):
        return 1
    return 0


def upward_imports(root: Path) -> list[str]:
    wrong: list[str] = []
    for path in sorted(root.rglob("*.py")):
        here = module_name(path)
        for imported in imports(path):
            if imported.startswith("setup") and layer_of(imported) > layer_of(here):
                wrong.append(f"{here} imports {imported}")
            if imported == "tasks":
                wrong.append(f"{here} imports tasks")
    return wrong


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    assert upward_imports(SETUP) == []


@pytest.mark.parametrize(
    ("where", "line"),
    [
        ("setup/steps/planted.py", "from ..engine import on_one\n"),
        ("setup/steps/planted.py", "from .. import apply\n"),
        ("setup/planted.py", "from .commands.setup import setup_command\n"),
        ("setup/planted.py", "import setup.commands\n"),
        ("setup/teardown/planted.py", "from ..commands import guarded\n"),
        ("setup/db/planted.py", "from ..teardown import plan_teardown\n"),
    ],
)
def test_the_check_finds_a_planted_upward_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str, line: str
) -> None:
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    planted = tmp_path / where
    planted.parent.mkdir(parents=True, exist_ok=True)
    planted.write_text(line, encoding="utf-8")
    assert upward_imports(tmp_path / "setup") != []


def test_the_engine_is_the_only_apply_loop() -> None:
    """Only the engine calls apply_steps: no command, guest or teardown path has an
    apply loop, a prompt or a progress display of its own."""
    callers = {
        module_name(path)
        for path in SETUP.rglob("*.py")
        if "apply_steps(" in path.read_text(encoding="utf-8")
    }
    prompts = {
        module_name(path)
        for path in SETUP.rglob("*.py")
        if "input(" in path.read_text(encoding="utf-8")
    }
    assert callers == {"setup.apply", "setup.engine"}
    assert prompts == {"setup.engine"}

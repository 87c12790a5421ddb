"""Fixtures the unit tests share: pytest finds them here, so no test module has to
import another to use one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.harness.souls import EXAMPLE, git


@pytest.fixture
def hub(tmp_path: Path) -> tuple[Path, Path]:
    """(bare hub, a work tree that pushes to it) holding souls/example on main."""
    work, bare = tmp_path / "work", tmp_path / "hub.git"
    shutil.copytree(EXAMPLE, work)
    git("init", "-q", "-b", "main", str(work))
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "soul", cwd=work)
    git("init", "-q", "--bare", str(bare))
    git("push", "-q", str(bare), "main", cwd=work)
    return bare, work

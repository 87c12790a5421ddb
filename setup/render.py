"""The jinja2 environment every managed file is rendered with.

StrictUndefined turns a missing value into an error at plan time instead of an empty
string in a file on a host; autoescape is off because nothing here is HTML; trailing
newlines are kept because a managed file's bytes are compared with the host's.
Templates live at the top of the checkout: `templates/<step>/...` and `rc.d/`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from .shell import q

ROOT = Path(__file__).resolve().parent.parent
SEARCH_PATH = (ROOT / "templates", ROOT)


@cache
def environment() -> jinja2.Environment:
    """One shared environment (templates are compiled once per process)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in SEARCH_PATH]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - sh, pf.conf and rc.d files, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["sh"] = q
    return env


def render(template: str, **context: Any) -> str:
    """Render one template (a path below templates/, or `rc.d/...`)."""
    return environment().get_template(template).render(**context)

"""soul.new: a fresh soul for one agent, from souls/skeleton, that passes soul.check.

The skeleton's files are Jinja templates (agent and assistant names); the
manifest is built from the model, not templated, so it is valid by
construction. An existing directory is never touched.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, StrictUndefined

from ..config import _Invalid, _parse_agent_name
from ..errors import Refused
from .manifest import Adapter, Provenance, SoulManifest

SKELETON = Path(__file__).resolve().parents[2] / "souls" / "skeleton"


def agent_name(value: str) -> str:
    """NAME under AGENT_NAME's own rule (setup/config.py), or Refused saying why."""
    try:
        return _parse_agent_name(value)
    except _Invalid as exc:
        raise Refused(f"soul.new: NAME={value!r}: {exc.reason}") from None


def new_manifest(agent: str, now: datetime) -> SoulManifest:
    return SoulManifest(
        schema_version=1,
        agent=agent,
        assistant_name=agent.capitalize(),
        provenance=Provenance(created_by="warden soul.new", created_at=now),
        adapters={"claude-code": Adapter(source="adapters/claude-code.md", target="CLAUDE.md")},
    )


def scaffold(name: str, dest: Path, now: datetime | None = None) -> Path:
    """Create the soul of agent `name` in `dest`, which must not exist yet."""
    agent = agent_name(name)
    if dest.exists() or dest.is_symlink():
        raise Refused(f"soul.new: {dest} already exists; it is left as it is (choose --dest)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        dest.mkdir()  # claims the name: fails if something appeared meanwhile
    except FileExistsError:
        raise Refused(f"soul.new: {dest} already exists; it is left as it is") from None
    try:
        _fill(dest, agent, now or datetime.now(UTC).replace(microsecond=0))
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest


def _fill(dest: Path, agent: str, now: datetime) -> None:
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)  # noqa: S701 (Markdown, not HTML)
    values = {"agent": agent, "assistant": agent.capitalize()}
    for source in sorted(SKELETON.rglob("*")):
        target = dest / source.relative_to(SKELETON)
        if source.is_dir():
            target.mkdir(exist_ok=True)
            continue
        text = env.from_string(source.read_text(encoding="utf-8")).render(values)
        target.write_text(text, encoding="utf-8")
    manifest = new_manifest(agent, now).model_dump_json(indent=2, exclude_none=True)
    (dest / "manifest.json").write_text(manifest + "\n", encoding="utf-8")

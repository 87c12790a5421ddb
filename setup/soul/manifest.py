"""The model of a soul's manifest.json, and the JSON Schema generated from it.

The model is the single source: souls/manifest.schema.json is its
`model_json_schema()` written out (`python -m setup.soul.manifest`), and a unit
test keeps the two equal. Values are as strict as the ones in a `.env`: the
agent name follows AGENT_NAME's rule and an adapter may only name a Markdown
file at the top of the agent's work directory, so a soul cannot make the soul
step write `.ssh/authorized_keys` or `.profile`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from ..config import _Invalid, _parse_agent_name, _parse_soul_repo

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "souls" / "manifest.schema.json"

Layer = Literal["soul", "user", "identity", "agents", "adapters", "skills", "memories"]
HarnessName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]

SHARED_BY_DEFAULT: tuple[Layer, ...] = ("soul", "identity", "agents", "adapters", "skills")
SECRET_ERROR = "secret_in_value"  # noqa: S105 (an error type name)


class Provenance(BaseModel):
    """Where the soul comes from, so rows seeded from it can be traced back."""

    model_config = ConfigDict(extra="forbid")

    origin: str | None = Field(
        default=None,
        description="git URL or absolute path of the hub repository (no password or token)",
    )
    created_by: str = Field(
        min_length=1, max_length=128, description="who created the soul (a person or a tool)"
    )
    created_at: AwareDatetime = Field(description="when, ISO 8601 with a time zone")

    @field_validator("origin")
    @classmethod
    def _origin_is_a_clean_git_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return _parse_soul_repo(value)
        except _Invalid as exc:
            if exc.secret:
                raise PydanticCustomError(SECRET_ERROR, exc.reason) from None
            raise ValueError(exc.reason) from None


class Privacy(BaseModel):
    """What may leave this agent: layers others may copy, memories the host may import."""

    model_config = ConfigDict(extra="forbid")

    share: list[Layer] = Field(
        default_factory=lambda: list(SHARED_BY_DEFAULT),
        description="layers that may be copied to other agents or published",
    )
    import_memories: bool = Field(
        default=False,
        description=(
            "whether memories/curated may be imported into system_brain (the operator's"
            " WARDEN_SOUL_IMPORT_MEMORIES must allow it too)"
        ),
    )

    @field_validator("share")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists a layer twice")
        return value


class Adapter(BaseModel):
    """How one harness reads the soul: adapter file -> file the harness loads."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        pattern=r"^adapters/[a-z0-9][a-z0-9._-]{0,63}\.md$",
        description="the adapter file in the soul, e.g. adapters/claude-code.md",
    )
    target: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}\.md$",
        description="file the soul step renders for the harness, e.g. CLAUDE.md or AGENTS.md",
    )


class SoulManifest(BaseModel):
    """manifest.json: schema version, the agent, provenance, privacy, harness adapters."""

    model_config = ConfigDict(extra="forbid", title="warden soul manifest")

    schema_version: Literal[1] = Field(description="version of this manifest format")
    agent: str = Field(
        description="the AGENT_NAME this soul was made for (not a name FreeBSD already uses)",
        json_schema_extra={"pattern": "^[a-z][a-z0-9]{0,15}$"},
    )
    assistant_name: str | None = Field(
        default=None, max_length=32, description="the name the assistant shows to people"
    )
    description: str | None = Field(default=None, max_length=500)
    provenance: Provenance
    privacy: Privacy = Field(default_factory=Privacy)
    adapters: dict[HarnessName, Adapter] = Field(
        default_factory=dict, description="harness name -> adapter"
    )

    @field_validator("agent")
    @classmethod
    def _agent_name_rule(cls, value: str) -> str:
        try:
            return _parse_agent_name(value)
        except _Invalid as exc:
            raise ValueError(exc.reason) from None


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of manifest.json, exactly as souls/manifest.schema.json holds it."""
    return SoulManifest.model_json_schema()


def schema_text() -> str:
    return json.dumps(manifest_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # regenerate: python -m setup.soul.manifest
    SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
    sys.stdout.write(f"wrote {SCHEMA_PATH}\n")

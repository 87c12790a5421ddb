"""AgentConfig: one agent, fully resolved, the only thing steps read."""

import hashlib
import json
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from .keys import KEYS


class AgentConfig(BaseModel):
    """One agent, fully resolved: every default is filled in, so steps never guess."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Path
    agent_name: str
    assistant_name: str
    subnet: IPv4Network
    gateway: IPv4Address
    role_ips: dict[str, IPv4Address]
    jail_names: dict[str, str]
    roles: tuple[str, ...]
    display_locale: str
    assistant_locale: str
    system_locale: str
    host: str
    runtime: Literal["jail", "bhyve"]
    release: str | None
    ext_if: str | None
    nameserver: IPv4Address | None
    agent_user: str
    agent_command: str | None
    db_runtime: Literal["jail", "host"]
    pg_version: int
    db_agent: str | None
    llm_agent: str | None
    llama_model: str | None
    soul_repo: str | None
    soul_ref: str
    soul_key: str | None
    soul_import_memories: bool
    vm_cpus: int
    vm_memory: str
    vm_disk: str
    vm_ip: IPv4Address | None
    limits: dict[str, dict[str, str]]
    warnings: tuple[str, ...] = ()

    def env_keys(self) -> dict[str, str]:
        """Every known key with its effective value, so a render or journal shows
        what was used, not what was typed; unset optional keys are ""."""
        keys: dict[str, str] = {}
        for key in KEYS:
            value = getattr(self, key.field)
            keys[key.name] = key.show(value[key.role] if key.role else value)
        return keys

    def digest(self) -> str:
        """A fingerprint of what the agent is, for the host registry's config
        hash: where the file lives and what we merely warned about do not
        change the agent, so they are left out."""
        data = self.model_dump(mode="json", exclude={"source", "warnings"})
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()

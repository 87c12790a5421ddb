"""An agent's configuration as the step-plan tests write it, and its registration.

Built from .env text (not an AgentConfig by hand) so every test goes through the
same parsing and validation an operator's file does.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from setup.config import AgentConfig, load_config, parse_config
from setup.facts import Facts
from setup.registry import entry_for

BASE = "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=db,git\n"
MINIMAL = {"AGENT_NAME": "atlas", "AGENT_SUBNET_BASE": "10.0.1"}


def agent(tmp_path: Path, text: str = BASE, name: str = ".env") -> AgentConfig:
    env = tmp_path / name
    env.write_text(text + "WARDEN_AGENT_COMMAND=claude --resume\n")
    return load_config(env)


def config_of(**overrides: str) -> AgentConfig:
    return parse_config({**MINIMAL, **overrides}, Path("/agents/atlas/.env"))


def with_registered(facts: Facts, *configs: AgentConfig) -> Facts:
    """In order, each entry made against the ones before it, as successive setups make
    them: an agent's alias index and uid depend on who is registered already."""
    registry = dict(facts.registry)
    for one in configs:
        registry[one.agent_name] = entry_for(one, replace(facts, registry=registry)).to_json()
    return replace(facts, registry=registry)

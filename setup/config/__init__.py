"""An agent's `.env` -> a validated, immutable AgentConfig.

Everything that later reaches a host (rc.conf lines, pf rules, Bastille and
sh command lines, file names) starts here, so every value is checked against
a strict pattern before any step plans anything. The keys are the ones the
multi-agent deployment guide already uses, so an existing Clawdie `.env`
keeps its meaning; where an old value cannot work (a `-` in a VNET jail name)
we stop and say what would work instead of renaming silently.

The package: names (roles, reserved names), parsers and paths (one value
each), context (values that depend on the agent's name and /24), keys (the
table of keys), model (AgentConfig), load (reading and validating), document
(.env.example and the key table in docs/cli.md, made from the table).
"""

from .keys import KEYS, KNOWN_KEYS, Key
from .load import load_config, load_or_refuse, parse_config
from .model import AgentConfig
from .names import RESERVED_NAMES, ROLES
from .parsers import _parse_agent_name
from .paths import _parse_soul_repo
from .problems import ConfigError, ConfigProblem, _Invalid

__all__ = [
    "KEYS",
    "KNOWN_KEYS",
    "RESERVED_NAMES",
    "ROLES",
    "AgentConfig",
    "ConfigError",
    "ConfigProblem",
    "Key",
    "_Invalid",
    "_parse_agent_name",
    "_parse_soul_repo",
    "load_config",
    "load_or_refuse",
    "parse_config",
]

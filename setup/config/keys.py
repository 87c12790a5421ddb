"""Every `.env` key, declared once: its name, help, parser, default and the steps
that use it. The validator, the "did you mean" hints, env_keys(), .env.example
and the key table in docs/cli.md are all made from this table, so a key cannot be
documented one way and checked another. To add a key, add one row here (and
its field on AgentConfig); tests/unit/test_config_table.py says what else to
regenerate.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .context import (
    Parse,
    other_agent,
    plain,
    role_address,
    role_jail_name,
    same_gateway,
    same_subnet,
    vm_address,
)
from .names import ROLES
from .parsers import (
    _parse_agent_name,
    _parse_assistant_name,
    _parse_bool,
    _parse_command,
    _parse_cpus,
    _parse_db_runtime,
    _parse_ext_if,
    _parse_host,
    _parse_language_tag,
    _parse_limits,
    _parse_nameserver,
    _parse_pg_version,
    _parse_release,
    _parse_roles,
    _parse_runtime,
    _parse_size,
    _parse_subnet_base,
    _parse_system_locale,
    _parse_user,
    show,
    show_bool,
    show_limits,
    show_roles,
    show_subnet_base,
)
from .paths import _parse_abs_path, _parse_model, _parse_ref, _parse_soul_repo


@dataclass(frozen=True)
class Key:
    """One `.env` key. `default` is spelled as in a `.env` and goes through
    `parse` like a typed value, so a default can never be one the parser
    refuses; `derived` says in words what a default computed from other keys
    is (that code lives in the validator)."""

    name: str
    help: str
    parse: Parse
    field: str  # the AgentConfig attribute that holds the effective value
    steps: tuple[str, ...]  # the steps whose plans read it
    default: str | None = None
    derived: str | None = None
    required: str | None = None  # what to write, for "is required: ..."
    role: str | None = None  # for the per-role keys: field is a dict by role
    show: Callable[[Any], str] = show  # the value back in .env spelling
    example: str | None = None  # the value .env.example shows (else the default)
    active: bool = False  # set in .env.example rather than commented out
    note: str = ""  # more than one line of help, for .env.example only

    @property
    def default_text(self) -> str:
        if self.required is not None:
            return "required"
        if self.derived is not None:
            return self.derived
        if self.default is not None:
            return self.default
        return "none"

    @property
    def meaning(self) -> str:
        return f"{self.help} ({self.default_text})"


@dataclass(frozen=True)
class Section:
    """A group of keys in .env.example, with what they have in common."""

    title: str
    intro: str
    keys: tuple[Key, ...]


# The steps in design order: setup.steps.DESIGN_ORDER, which a test compares
# (importing it here would be circular: every step imports this package).
STEPS: tuple[str, ...] = (
    "preflight", "host", "network", "pf", "user", "db", "git", "cms", "ollama", "llama-cpp",
    "soul", "service", "bhyve",
)  # fmt: skip
_ROLE_JAILS = ROLES
_ALL = STEPS

SECTIONS: tuple[Section, ...] = (
    Section(
        "identity",
        intro="",
        keys=(
            Key("AGENT_NAME",
                help="runtime identity: rc.d service, tmux session, default user, jail and DB"
                " prefix", parse=plain(_parse_agent_name), field="agent_name", steps=_ALL,
                required="1-16 lowercase letters and digits, starting with a letter, e.g."
                " AGENT_NAME=atlas",
                note="1-16 lowercase letters and digits, starting with a letter; not a name"
                " FreeBSD or a package already uses (pf, sshd, postgres...).", example="atlas",
                active=True),
            Key("ASSISTANT_NAME", help="the name the assistant shows to people",
                parse=plain(_parse_assistant_name), field="assistant_name", steps=("service",),
                derived="AGENT_NAME capitalised", example="Atlas", active=True),
        ),
    ),
    Section(
        "addressing: one private /24 per agent on the warden0 bridge",
        intro="Jail addresses are not .0, .1 or .255, and no two roles share one: ollama and"
        " llama-cpp share the .4 \"local LLM\" slot, which is fine while only one of them is in"
        " WARDEN_ROLES, or with WARDEN_LLM_AGENT.",
        keys=(
            Key("AGENT_SUBNET_BASE",
                help="first three octets of the agent's private (RFC 1918) /24, e.g. 10.0.1,"
                " 172.16.50 or 192.168.72; not another agent's", parse=plain(_parse_subnet_base),
                field="subnet", steps=("network", "pf", "bhyve", *_ROLE_JAILS),
                required="three dotted octets of a private (RFC 1918) /24, e.g."
                " AGENT_SUBNET_BASE=10.0.1", show=show_subnet_base, example="10.0.1", active=True),
            Key("WARDEN_SUBNET",
                help="the agent's /24; may be left out, else it must agree with AGENT_SUBNET_BASE",
                parse=same_subnet, field="subnet", steps=("network", "pf"),
                derived="AGENT_SUBNET_BASE.0/24", example="10.0.1.0/24", active=True),
            Key("WARDEN_GATEWAY",
                help="the host's address in the agent's /24; may be left out, else it must be .1",
                parse=same_gateway, field="gateway", steps=("network", "bhyve", *_ROLE_JAILS),
                derived=".1", example="10.0.1.1", active=True),
            Key("WARDEN_GIT_IP", help="git jail address", parse=role_address("git"),
                field="role_ips", steps=("git",), derived=".2", role="git", example="10.0.1.2",
                active=True),
            Key("WARDEN_CMS_IP", help="CMS jail address", parse=role_address("cms"),
                field="role_ips", steps=("cms",), derived=".3", role="cms", example="10.0.1.3",
                active=True),
            Key("WARDEN_OLLAMA_IP", help="ollama jail address", parse=role_address("ollama"),
                field="role_ips", steps=("ollama",), derived=".4", role="ollama",
                example="10.0.1.4", active=True),
            Key("WARDEN_LLAMA_CPP_IP", help="llama.cpp jail address",
                parse=role_address("llama-cpp"), field="role_ips", steps=("llama-cpp",),
                derived=".4, the local-LLM slot shared with ollama", role="llama-cpp",
                example="10.0.1.4", active=True),
            Key("WARDEN_DB_IP", help="PostgreSQL jail address", parse=role_address("db"),
                field="role_ips", steps=("db", "soul"), derived=".5", role="db",
                example="10.0.1.5", active=True),
        ),
    ),
    Section(
        "jail names",
        intro="Bastille >= 1.4 refuses '-' and '_' in VNET jail names, so the guide's old"
        " atlas-cms must become atlascms. Names over 11 characters work, with a warning: Bastille"
        " then names the jail's epair interfaces e0a_bastilleN.",
        keys=(
            Key("GIT_JAIL_NAME", help="git jail name, letters and digits only",
                parse=role_jail_name("git"), field="jail_names", steps=("git", "soul"),
                derived="<agent>git", role="git", example="atlasgit"),
            Key("CMS_JAIL_NAME", help="CMS jail name, letters and digits only",
                parse=role_jail_name("cms"), field="jail_names", steps=("cms",),
                derived="<agent>cms", role="cms", example="atlascms", active=True),
            Key("OLLAMA_JAIL_NAME", help="ollama jail name, letters and digits only",
                parse=role_jail_name("ollama"), field="jail_names", steps=("ollama",),
                derived="<agent>ollama", role="ollama", example="atlasollama", active=True),
            Key("LLAMA_CPP_JAIL_NAME", help="llama.cpp jail name, letters and digits only",
                parse=role_jail_name("llama-cpp"), field="jail_names", steps=("llama-cpp",),
                derived="<agent>llamacpp", role="llama-cpp", example="atlasllamacpp", active=True),
            Key("DB_JAIL_NAME", help="PostgreSQL jail name, letters and digits only",
                parse=role_jail_name("db"), field="jail_names", steps=("db", "soul"),
                derived="<agent>db", role="db", example="atlasdb"),
        ),
    ),
    Section(
        "locales",
        intro="",
        keys=(
            Key("DISPLAY_LOCALE", help="BCP-47 language tag the agent displays in, with hyphens",
                parse=plain(_parse_language_tag), field="display_locale", steps=("service",),
                default="en-US", example="sl-SI", active=True),
            Key("ASSISTANT_LOCALE", help="BCP-47 language tag the assistant speaks",
                parse=plain(_parse_language_tag), field="assistant_locale", steps=("service",),
                default="en-US", example="sl-SI", active=True),
            Key("SYSTEM_LOCALE",
                help="POSIX locale of the agent's processes, UTF-8 only, in FreeBSD's spelling"
                " ll_CC.UTF-8", parse=plain(_parse_system_locale), field="system_locale",
                steps=("service",), default="en_US.UTF-8", example="sl_SI.UTF-8", active=True),
        ),
    ),
    Section(
        "where and how",
        intro="",
        keys=(
            Key("WARDEN_HOST",
                help="where the agent runs: local, an ssh_config alias or [user@]host[:port]",
                parse=plain(_parse_host), field="host", steps=("db", "service"), default="local"),
            Key("WARDEN_RUNTIME",
                help="jail, or bhyve for a whole VM per agent whose jails run inside it",
                parse=plain(_parse_runtime), field="runtime", steps=_ALL, default="jail"),
            Key("WARDEN_ROLES",
                help="service jails to create, a subset of db,git,cms,ollama,llama-cpp, or none"
                " for an agent that needs only its user and its service",
                parse=plain(_parse_roles), field="roles", steps=("bhyve", *_ROLE_JAILS),
                default="db,git", show=show_roles, example="db,git,cms,ollama", active=True),
            Key("WARDEN_RELEASE", help="FreeBSD release for jails, e.g. 14.3-RELEASE",
                parse=plain(_parse_release), field="release", steps=("preflight", *_ROLE_JAILS),
                derived="the host's", example="14.3-RELEASE"),
            Key("WARDEN_EXT_IF", help="external interface that PF NATs the /24 through",
                parse=plain(_parse_ext_if), field="ext_if", steps=("preflight", "pf"),
                derived="the default route's", example="em0"),
            Key("WARDEN_NAMESERVER",
                help="resolver given to jails, not loopback; needed when the host resolves through"
                " 127.0.0.1, which a jail cannot reach", parse=plain(_parse_nameserver),
                field="nameserver", steps=("preflight", "bhyve", *_ROLE_JAILS),
                derived="the host's", example="9.9.9.9"),
        ),
    ),
    Section(
        "the agent's service",
        intro="",
        keys=(
            Key("WARDEN_AGENT_USER", help="the agent's unprivileged Unix user",
                parse=plain(_parse_user), field="agent_user",
                steps=("user", "db", "git", "soul", "service"), derived="AGENT_NAME",
                example="atlas"),
            Key("WARDEN_AGENT_COMMAND",
                help="what the rc.d service runs in tmux, as the agent's user, with sh; required"
                " for the service step", parse=plain(_parse_command), field="agent_command",
                steps=("service",), example="claude", active=True),
        ),
    ),
    Section(
        "database",
        intro="",
        keys=(
            Key("WARDEN_DB_RUNTIME", help="jail, or host for PostgreSQL on the host itself",
                parse=plain(_parse_db_runtime), field="db_runtime", steps=("db",), default="jail",
                note="host: one cluster shared by every agent on the host that says host,"
                " listening on each one's .1."),
            Key("WARDEN_PG_VERSION", help="PostgreSQL major version, 13-18",
                parse=plain(_parse_pg_version), field="pg_version",
                steps=("preflight", "host", "db"), default="17"),
            Key("WARDEN_DB_AGENT", help="use that agent's db jail instead of creating one",
                parse=other_agent, field="db_agent", steps=("db",), example="clawdie",
                note="That agent must already be set up on this host with db in its WARDEN_ROLES;"
                " this agent's role and <agent>_brain are made on its server, and it cannot be"
                " torn down while this agent uses it."),
        ),
    ),
    Section(
        "local LLM",
        intro="",
        keys=(
            Key("WARDEN_LLM_AGENT",
                help="use that agent's LLM jail (ollama, llama-cpp) instead of creating one",
                parse=other_agent, field="llm_agent", steps=("pf", "ollama", "llama-cpp"),
                example="clawdie", note="pf lets this agent's /24 reach that jail's port only."),
            Key("WARDEN_LLAMA_MODEL",
                help="model file for llama-server, an absolute path or a file name; required when"
                " llama-cpp is a role", parse=plain(_parse_model), field="llama_model",
                steps=("llama-cpp",), example="/var/db/llama/model.gguf"),
        ),
    ),
    Section(
        "soul: the agent's portable identity repository",
        intro="",
        keys=(
            Key("WARDEN_SOUL_REPO",
                help="git URL of the agent's soul repository: https://, ssh://, user@host:path or"
                " an absolute path; no passwords or tokens", parse=plain(_parse_soul_repo),
                field="soul_repo", steps=("soul",),
                example="https://git.example.org/atlas/soul.git", active=True),
            Key("WARDEN_SOUL_REF", help="branch, tag or commit of the soul repository",
                parse=plain(_parse_ref), field="soul_ref", steps=("soul",), default="main"),
            Key("WARDEN_SOUL_KEY",
                help="absolute path of an SSH deploy key for a private soul repository",
                parse=plain(_parse_abs_path), field="soul_key", steps=("soul",),
                example="/home/operator/.ssh/atlas-soul"),
            Key("WARDEN_SOUL_IMPORT_MEMORIES",
                help="import the soul's curated memories into system_brain: yes or no",
                parse=plain(_parse_bool), field="soul_import_memories", steps=("soul",),
                default="no", show=show_bool),
        ),
    ),
    Section(
        "bhyve (WARDEN_RUNTIME=bhyve only)",
        intro="",
        keys=(
            Key("WARDEN_VM_CPUS", help="bhyve guest vCPUs", parse=plain(_parse_cpus),
                field="vm_cpus", steps=("bhyve",), default="2"),
            Key("WARDEN_VM_MEMORY", help="bhyve guest memory, a whole number with M, G or T",
                parse=plain(_parse_size), field="vm_memory", steps=("bhyve",), default="4G"),
            Key("WARDEN_VM_DISK", help="bhyve guest disk size, e.g. 20G", parse=plain(_parse_size),
                field="vm_disk", steps=("bhyve",), default="20G"),
            Key("WARDEN_VM_IP", help="bhyve guest address in the agent's /24, not a jail's",
                parse=vm_address, field="vm_ip", steps=("bhyve", "soul"),
                derived=".10 when WARDEN_RUNTIME=bhyve", example="10.0.1.10"),
        ),
    ),
    Section(
        "resource limits",
        intro="",
        keys=(
            Key("WARDEN_LIMITS",
                help="rctl(8) limits per role, role:resource=amount[,...][;role:...]; amounts are"
                " digits with an optional K, M, G or T", parse=plain(_parse_limits),
                field="limits", steps=("preflight", *_ROLE_JAILS), show=show_limits,
                example="db:memoryuse=2G,pcpu=200;git:memoryuse=512M"),
        ),
    ),
)  # fmt: skip

KEYS: tuple[Key, ...] = tuple(key for section in SECTIONS for key in section.keys)
KEY: dict[str, Key] = {key.name: key for key in KEYS}

# What an operator sees for each key in "did you mean" hints and `plan`'s help.
KNOWN_KEYS: dict[str, str] = {key.name: key.meaning for key in KEYS}

# The keys that name a per-role value, by role: the validator's collision checks.
IP_KEYS: dict[str, str] = {k.role: k.name for k in KEYS if k.role and k.field == "role_ips"}
JAIL_KEYS: dict[str, str] = {k.role: k.name for k in KEYS if k.role and k.field == "jail_names"}

"""Every `.env` key, declared once: its name, help, parser, default and the steps
that use it. The validator, the "did you mean" hints, env_keys(), .env.example
and the README's key table are all made from this table, so a key cannot be
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
    Section("identity", "", (
        Key("AGENT_NAME", "runtime identity: rc.d service, tmux session, default user, jail"
            " and DB prefix", plain(_parse_agent_name), "agent_name", _ALL,
            required="1-16 lowercase letters and digits, starting with a letter,"
            " e.g. AGENT_NAME=atlas",
            note="1-16 lowercase letters and digits, starting with a letter; not a name"
            " FreeBSD or a package already uses (pf, sshd, postgres...).",
            example="atlas", active=True),
        Key("ASSISTANT_NAME", "the name the assistant shows to people",
            plain(_parse_assistant_name), "assistant_name", ("service",),
            derived="AGENT_NAME capitalised", example="Atlas", active=True),
    )),
    Section(
        "addressing: one private /24 per agent on the warden0 bridge",
        "Jail addresses are not .0, .1 or .255, and no two roles share one: ollama and"
        " llama-cpp share the .4 \"local LLM\" slot, which is fine while only one of them is"
        " in WARDEN_ROLES, or with WARDEN_LLM_AGENT.",
        (
        Key("AGENT_SUBNET_BASE", "first three octets of the agent's private (RFC 1918) /24,"
            " e.g. 10.0.1, 172.16.50 or 192.168.72; not another agent's",
            plain(_parse_subnet_base), "subnet", ("network", "pf", "bhyve", *_ROLE_JAILS),
            required="three dotted octets of a private (RFC 1918) /24,"
            " e.g. AGENT_SUBNET_BASE=10.0.1",
            show=show_subnet_base, example="10.0.1", active=True),
        Key("WARDEN_SUBNET", "the agent's /24; may be left out, else it must agree with"
            " AGENT_SUBNET_BASE", same_subnet, "subnet", ("network", "pf"),
            derived="AGENT_SUBNET_BASE.0/24",
            example="10.0.1.0/24", active=True),
        Key("WARDEN_GATEWAY", "the host's address in the agent's /24; may be left out, else"
            " it must be .1", same_gateway, "gateway", ("network", "bhyve", *_ROLE_JAILS),
            derived=".1", example="10.0.1.1", active=True),
        Key("WARDEN_GIT_IP", "git jail address", role_address("git"), "role_ips", ("git",),
            derived=".2", role="git", example="10.0.1.2", active=True),
        Key("WARDEN_CMS_IP", "CMS jail address", role_address("cms"), "role_ips", ("cms",),
            derived=".3", role="cms", example="10.0.1.3", active=True),
        Key("WARDEN_OLLAMA_IP", "ollama jail address", role_address("ollama"), "role_ips",
            ("ollama",), derived=".4", role="ollama", example="10.0.1.4", active=True),
        Key("WARDEN_LLAMA_CPP_IP", "llama.cpp jail address", role_address("llama-cpp"),
            "role_ips", ("llama-cpp",), derived=".4, the local-LLM slot shared with ollama",
            role="llama-cpp", example="10.0.1.4", active=True),
        Key("WARDEN_DB_IP", "PostgreSQL jail address", role_address("db"), "role_ips",
            ("db", "soul"), derived=".5", role="db", example="10.0.1.5", active=True),
    )),
    Section(
        "jail names",
        "Bastille >= 1.4 refuses '-' and '_' in VNET jail names, so the guide's old"
        " atlas-cms must become atlascms. Names over 11 characters work, with a warning:"
        " Bastille then names the jail's epair interfaces e0a_bastilleN.",
        (
        Key("GIT_JAIL_NAME", "git jail name, letters and digits only", role_jail_name("git"),
            "jail_names", ("git", "soul"), derived="<agent>git", role="git",
            example="atlasgit"),
        Key("CMS_JAIL_NAME", "CMS jail name, letters and digits only", role_jail_name("cms"),
            "jail_names", ("cms",), derived="<agent>cms", role="cms", example="atlascms",
            active=True),
        Key("OLLAMA_JAIL_NAME", "ollama jail name, letters and digits only",
            role_jail_name("ollama"), "jail_names", ("ollama",), derived="<agent>ollama",
            role="ollama", example="atlasollama", active=True),
        Key("LLAMA_CPP_JAIL_NAME", "llama.cpp jail name, letters and digits only",
            role_jail_name("llama-cpp"), "jail_names", ("llama-cpp",),
            derived="<agent>llamacpp", role="llama-cpp", example="atlasllamacpp", active=True),
        Key("DB_JAIL_NAME", "PostgreSQL jail name, letters and digits only",
            role_jail_name("db"), "jail_names", ("db", "soul"), derived="<agent>db", role="db",
            example="atlasdb"),
    )),
    Section("locales", "", (
        Key("DISPLAY_LOCALE", "BCP-47 language tag the agent displays in, with hyphens",
            plain(_parse_language_tag), "display_locale", ("service",), default="en-US",
            example="sl-SI", active=True),
        Key("ASSISTANT_LOCALE", "BCP-47 language tag the assistant speaks",
            plain(_parse_language_tag), "assistant_locale", ("service",), default="en-US",
            example="sl-SI", active=True),
        Key("SYSTEM_LOCALE", "POSIX locale of the agent's processes, UTF-8 only, in"
            " FreeBSD's spelling ll_CC.UTF-8", plain(_parse_system_locale), "system_locale",
            ("service",), default="en_US.UTF-8", example="sl_SI.UTF-8", active=True),
    )),
    Section("where and how", "", (
        Key("WARDEN_HOST", "where the agent runs: local, an ssh_config alias or"
            " [user@]host[:port]", plain(_parse_host), "host", ("db", "service"),
            default="local"),
        Key("WARDEN_RUNTIME", "jail, or bhyve for a whole VM per agent whose jails run"
            " inside it", plain(_parse_runtime), "runtime", _ALL, default="jail"),
        Key("WARDEN_ROLES", "service jails to create, a subset of db,git,cms,ollama,llama-cpp,"
            " or none for an agent that needs only its user and its service",
            plain(_parse_roles), "roles", ("bhyve", *_ROLE_JAILS), default="db,git",
            show=show_roles, example="db,git,cms,ollama", active=True),
        Key("WARDEN_RELEASE", "FreeBSD release for jails, e.g. 14.3-RELEASE",
            plain(_parse_release), "release", ("preflight", *_ROLE_JAILS),
            derived="the host's", example="14.3-RELEASE"),
        Key("WARDEN_EXT_IF", "external interface that PF NATs the /24 through",
            plain(_parse_ext_if), "ext_if", ("preflight", "pf"),
            derived="the default route's", example="em0"),
        Key("WARDEN_NAMESERVER", "resolver given to jails, not loopback; needed when the host"
            " resolves through 127.0.0.1, which a jail cannot reach",
            plain(_parse_nameserver), "nameserver", ("preflight", "bhyve", *_ROLE_JAILS),
            derived="the host's", example="9.9.9.9"),
    )),
    Section("the agent's service", "", (
        Key("WARDEN_AGENT_USER", "the agent's unprivileged Unix user", plain(_parse_user),
            "agent_user", ("user", "db", "git", "soul", "service"), derived="AGENT_NAME",
            example="atlas"),
        Key("WARDEN_AGENT_COMMAND", "what the rc.d service runs in tmux, as the agent's user,"
            " with sh; required for the service step", plain(_parse_command),
            "agent_command", ("service",), example="claude", active=True),
    )),
    Section("database", "", (
        Key("WARDEN_DB_RUNTIME", "jail, or host for PostgreSQL on the host itself",
            plain(_parse_db_runtime), "db_runtime", ("db",), default="jail",
            note="host: one cluster shared by every agent on the host that says host,"
            " listening on each one's .1."),
        Key("WARDEN_PG_VERSION", "PostgreSQL major version, 13-18", plain(_parse_pg_version),
            "pg_version", ("preflight", "host", "db"), default="17"),
        Key("WARDEN_DB_AGENT", "use that agent's db jail instead of creating one",
            other_agent, "db_agent", ("db",), example="clawdie",
            note="That agent must already be set up on this host with db in its WARDEN_ROLES;"
            " this agent's role and <agent>_brain are made on its server, and it cannot be"
            " torn down while this agent uses it."),
    )),
    Section("local LLM", "", (
        Key("WARDEN_LLM_AGENT", "use that agent's LLM jail (ollama, llama-cpp) instead of"
            " creating one", other_agent, "llm_agent", ("pf", "ollama", "llama-cpp"),
            example="clawdie", note="pf lets this agent's /24 reach that jail's port only."),
        Key("WARDEN_LLAMA_MODEL", "model file for llama-server, an absolute path or a file"
            " name; required when llama-cpp is a role", plain(_parse_model), "llama_model",
            ("llama-cpp",), example="/var/db/llama/model.gguf"),
    )),
    Section("soul: the agent's portable identity repository", "", (
        Key("WARDEN_SOUL_REPO", "git URL of the agent's soul repository: https://, ssh://,"
            " user@host:path or an absolute path; no passwords or tokens",
            plain(_parse_soul_repo), "soul_repo", ("soul",),
            example="https://git.example.org/atlas/soul.git", active=True),
        Key("WARDEN_SOUL_REF", "branch, tag or commit of the soul repository",
            plain(_parse_ref), "soul_ref", ("soul",), default="main"),
        Key("WARDEN_SOUL_KEY", "absolute path of an SSH deploy key for a private soul"
            " repository", plain(_parse_abs_path), "soul_key", ("soul",),
            example="/home/operator/.ssh/atlas-soul"),
        Key("WARDEN_SOUL_IMPORT_MEMORIES", "import the soul's curated memories into"
            " system_brain: yes or no", plain(_parse_bool), "soul_import_memories",
            ("soul",), default="no", show=show_bool),
    )),
    Section("bhyve (WARDEN_RUNTIME=bhyve only)", "", (
        Key("WARDEN_VM_CPUS", "bhyve guest vCPUs", plain(_parse_cpus), "vm_cpus", ("bhyve",),
            default="2"),
        Key("WARDEN_VM_MEMORY", "bhyve guest memory, a whole number with M, G or T",
            plain(_parse_size), "vm_memory", ("bhyve",), default="4G"),
        Key("WARDEN_VM_DISK", "bhyve guest disk size, e.g. 20G", plain(_parse_size), "vm_disk",
            ("bhyve",), default="20G"),
        Key("WARDEN_VM_IP", "bhyve guest address in the agent's /24, not a jail's",
            vm_address, "vm_ip", ("bhyve", "soul"), derived=".10 when WARDEN_RUNTIME=bhyve",
            example="10.0.1.10"),
    )),
    Section("resource limits", "", (
        Key("WARDEN_LIMITS", "rctl(8) limits per role, role:resource=amount[,...][;role:...];"
            " amounts are digits with an optional K, M, G or T", plain(_parse_limits),
            "limits", ("preflight", *_ROLE_JAILS), show=show_limits,
            example="db:memoryuse=2G,pcpu=200;git:memoryuse=512M"),
    )),
)  # fmt: skip

KEYS: tuple[Key, ...] = tuple(key for section in SECTIONS for key in section.keys)
KEY: dict[str, Key] = {key.name: key for key in KEYS}

# What an operator sees for each key in "did you mean" hints and `plan`'s help.
KNOWN_KEYS: dict[str, str] = {key.name: key.meaning for key in KEYS}

# The keys that name a per-role value, by role: the validator's collision checks.
IP_KEYS: dict[str, str] = {k.role: k.name for k in KEYS if k.role and k.field == "role_ips"}
JAIL_KEYS: dict[str, str] = {k.role: k.name for k in KEYS if k.role and k.field == "jail_names"}

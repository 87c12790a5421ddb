"""Reading an agent's `.env` and checking it, key by key from the table in
keys.py, then the rules that look at several keys at once.

All problems in a file are collected and reported together, so an operator
fixes a `.env` in one pass instead of one error per run.
"""

import difflib
import io
import re
import unicodedata
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from dotenv.parser import parse_stream
from pydantic import ValidationError

from ..errors import Refused
from .context import Context, default_jail_name, default_role_address, default_vm_address
from .keys import IP_KEYS, JAIL_KEYS, KEY, KEYS, KNOWN_KEYS, Key
from .model import AgentConfig
from .names import LLM_ROLES, ROLES
from .problems import ConfigError, ConfigProblem, _Invalid

_LOOKALIKE_PREFIXES = ("WARDEN_", "AGENT_")
_LOOKALIKE_SUFFIXES = ("_IP", "_JAIL_NAME", "_LOCALE")
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_MAX_VALUE_LENGTH = 1024
_LONG_JAIL_NAME = 11


def load_config(path: Path) -> AgentConfig:
    """Read and validate one agent's `.env`.

    The file is parsed with python-dotenv's own parser, which is exactly what
    `dotenv_values(path, interpolate=False)` does, but binding by binding: that
    is the only way to see duplicate keys and the line of a broken statement,
    which dotenv_values drops silently (it keeps the last duplicate and skips
    what it cannot parse). os.environ is never read: a variable in the
    operator's shell must not change what a host gets.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            path, [ConfigProblem("", None, "no such file; start from .env.example")]
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            path, [ConfigProblem("", None, "is a directory; give the agent's .env file")]
        ) from None
    except PermissionError:
        raise ConfigError(
            path, [ConfigProblem("", None, "cannot be read: permission denied")]
        ) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(path, [ConfigProblem("", None, f"cannot be read: {reason}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            path,
            [ConfigProblem(f"line {line}", None, "is not UTF-8 text; save the file as UTF-8")],
        ) from None
    # What open() in text mode does for dotenv_values: universal newlines.
    text = text.replace("\r\n", "\n").replace("\r", "\n")

    problems: list[ConfigProblem] = []
    values: dict[str, str | None] = {}
    lines: dict[str, list[int]] = {}
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original
        leading = re.match(r"\s*", original.string)
        line = original.line + (leading.group().count("\n") if leading else 0)
        if binding.error:
            problems.append(
                ConfigProblem(
                    f"line {line}",
                    None,
                    "cannot be parsed; write KEY=value, and close every quote you open",
                )
            )
        elif binding.key is not None:
            values[binding.key] = binding.value
            lines.setdefault(binding.key, []).append(line)
    for key, seen in lines.items():
        if len(seen) > 1:
            where = ", ".join(str(n) for n in seen[:-1]) + f" and {seen[-1]}"
            problems.append(
                ConfigProblem(key, None, f"is set on lines {where}; keep only one of them")
            )
    try:
        config = parse_config(values, path)
    except ConfigError as exc:
        raise ConfigError(path, problems + exc.problems) from None
    if problems:
        raise ConfigError(path, problems)
    return config


def load_or_refuse(path: str) -> AgentConfig:
    """The validated config, or Refused listing every problem (exit 2): what
    every command that reads an operator's `.env` wants, said one way."""
    try:
        return load_config(Path(path))
    except ConfigError as exc:
        raise Refused(f"invalid configuration (nothing was sent to any host):\n{exc}") from None


def parse_config(values: Mapping[str, str | None], path: Path) -> AgentConfig:
    """Validate already-read key/value pairs (from a file, an inventory or a
    test) and fill in every default; raises ConfigError listing all problems."""
    return _Validator(values, path).run()


class _Validator:
    def __init__(self, values: Mapping[str, str | None], path: Path) -> None:
        self.values = values
        self.path = path
        self.problems: list[ConfigProblem] = []
        self.failed: set[str] = set()
        self.warnings: list[str] = []

    # ---- helpers

    def problem(self, key: str, value: str | None, reason: str) -> None:
        self.failed.add(key)
        self.problems.append(ConfigProblem(key, value, reason))

    def raw(self, key: str) -> str | None:
        """The value to validate, or None when unset: an empty value means
        "use the default", as in a shell's `${X:-default}`."""
        if key not in self.values:
            return None
        value = self.values[key]
        if value is None:
            self.problem(key, None, f"has no '='; write {key}=value, or remove the line")
            return None
        if not value:
            return None
        bad = next((c for c in value if unicodedata.category(c) in _CONTROL_CATEGORIES), None)
        if bad is not None:
            self.problem(
                key,
                value,
                f"contains the control character U+{ord(bad):04X}; no warden value may hold"
                " NUL, newlines, tabs or other control characters",
            )
            return None
        if value != value.strip():
            self.problem(key, value, "has leading or trailing whitespace; remove it")
            return None
        if len(value) > _MAX_VALUE_LENGTH:
            self.problem(key, value, f"is longer than {_MAX_VALUE_LENGTH} characters")
            return None
        return value

    def read(self, key: Key, context: Context) -> Any:
        """The key's parsed value, or None when it is unset or wrong (the
        problem is recorded, so later rules can tell the two apart)."""
        value = self.raw(key.name)
        if value is None:
            if key.required is not None and key.name not in self.failed:
                self.problem(key.name, None, f"is required: {key.required}")
            return None
        try:
            return key.parse(value, context)
        except _Invalid as exc:
            self.problem(key.name, None if exc.secret else value, exc.reason)
            return None

    # ---- the whole file

    def run(self) -> AgentConfig:
        self.check_unknown_keys()
        # The agent's name and /24 first: other keys' rules depend on them.
        agent_name: str | None = self.read(KEY["AGENT_NAME"], Context())
        subnet: IPv4Network | None = self.read(KEY["AGENT_SUBNET_BASE"], Context())
        context = Context(agent_name, subnet)
        got: dict[str, Any] = {"AGENT_NAME": agent_name, "AGENT_SUBNET_BASE": subnet}
        for key in KEYS:
            if key.name not in got:
                got[key.name] = self.read(key, context)
        for key in KEYS:
            if got[key.name] is None and key.default is not None:
                got[key.name] = key.parse(key.default, context)
        self.derive(got, context)
        self.check_agents(got)
        self.check_roles(got, IP_KEYS, agent_name or "agent")
        self.check_roles(got, JAIL_KEYS, agent_name or "agent")
        self.check_jail_name_lengths(got)
        self.check_requirements(got)
        self.check_vm_ip(got, context)
        for role in got["WARDEN_LIMITS"]:
            if role not in got["WARDEN_ROLES"]:
                self.warnings.append(
                    f"WARDEN_LIMITS sets limits for {role}, which is not in WARDEN_ROLES"
                )

        if self.problems or agent_name is None or subnet is None:
            raise ConfigError(self.path, self.problems)
        got["ASSISTANT_NAME"] = got["ASSISTANT_NAME"] or agent_name.capitalize()
        fields: dict[str, Any] = {"source": self.path, "warnings": tuple(self.warnings)}
        for key in KEYS:
            if key.role is None:
                fields[key.field] = got[key.name]
            else:
                fields.setdefault(key.field, {})[key.role] = got[key.name]
        for key in KEYS:
            if key.role is not None:  # in the order of ROLES, as steps expect
                fields[key.field] = {role: fields[key.field][role] for role in ROLES}
        try:
            return AgentConfig(**fields)
        except ValidationError as exc:  # a bug here must still surface as bad input
            raise ConfigError(
                self.path,
                [
                    ConfigProblem(
                        "", None, f"internal validation failed: {exc.error_count()} errors"
                    )
                ],
            ) from None

    # ---- defaults that follow from other keys

    def derive(self, got: dict[str, Any], context: Context) -> None:
        subnet = context.subnet
        got["WARDEN_SUBNET"] = subnet
        got["WARDEN_GATEWAY"] = subnet.network_address + 1 if subnet is not None else None
        for role, key in IP_KEYS.items():
            if got[key] is None:
                got[key] = default_role_address(role, context)
        for role, key in JAIL_KEYS.items():
            if got[key] is None:
                got[key] = default_jail_name(role, context)
        if got["WARDEN_AGENT_USER"] is None:
            got["WARDEN_AGENT_USER"] = context.agent or "agent"
        if got["WARDEN_LIMITS"] is None:
            got["WARDEN_LIMITS"] = {}

    # ---- checks that look at several keys

    def check_unknown_keys(self) -> None:
        for key in self.values:
            if key in KNOWN_KEYS:
                continue
            upper = key.upper()
            close = difflib.get_close_matches(upper, KNOWN_KEYS, n=1, cutoff=0.75)
            looks_ours = (
                upper.startswith(_LOOKALIKE_PREFIXES)
                or upper.endswith(_LOOKALIKE_SUFFIXES)
                or upper in KNOWN_KEYS
                or bool(difflib.get_close_matches(upper, KNOWN_KEYS, n=1, cutoff=0.9))
            )
            if not looks_ours:
                continue  # another program's key (an API token...): not ours to judge or show
            if upper in KNOWN_KEYS:
                hint = f"keys are case-sensitive: did you mean {upper}?"
            elif close:
                hint = f"did you mean {close[0]}?"
            else:
                hint = "warden's keys are listed in .env.example"
            self.problem(key, None, f"is not a warden key; {hint}")

    def check_agents(self, got: dict[str, Any]) -> None:
        roles, db_agent, llm_agent = (
            got["WARDEN_ROLES"],
            got["WARDEN_DB_AGENT"],
            got["WARDEN_LLM_AGENT"],
        )
        if db_agent is not None and "db" not in roles:
            self.problem(
                "WARDEN_DB_AGENT",
                db_agent,
                "names whose db jail this agent uses, but WARDEN_ROLES has no db: add db to "
                "WARDEN_ROLES or leave WARDEN_DB_AGENT out",
            )
        if llm_agent is not None and not LLM_ROLES & set(roles):
            self.problem(
                "WARDEN_LLM_AGENT",
                llm_agent,
                "names whose LLM jail this agent uses, but WARDEN_ROLES has neither ollama nor "
                "llama-cpp: add the one it uses, or leave WARDEN_LLM_AGENT out",
            )

    def check_roles(self, got: dict[str, Any], keys: dict[str, str], agent: str) -> None:
        """No two roles with a jail here on one address or one jail name."""
        roles: tuple[str, ...] = got["WARDEN_ROLES"]
        active = [r for r in ROLES if r in roles and keys[r] not in self.failed]
        for i, first in enumerate(active):
            for second in active[i + 1 :]:
                value = got[keys[second]]
                if value != got[keys[first]] or _may_share(
                    first, second, roles, got["WARDEN_LLM_AGENT"]
                ):
                    continue
                key = keys[second]
                if keys is IP_KEYS:
                    reason = (
                        f"{value} is already the {first} jail's address ({keys[first]}); give"
                        " each role its own address (ollama and llama-cpp may share one only"
                        " when one of them is in WARDEN_ROLES, or with WARDEN_LLM_AGENT)"
                    )
                else:
                    reason = (
                        f"{value} is already the {first} jail ({keys[first]}); each role"
                        f" needs its own jail, e.g. {agent}{second.replace('-', '')}"
                    )
                self.problem(key, self.values.get(key) or None, reason)

    def check_jail_name_lengths(self, got: dict[str, Any]) -> None:
        for role in ROLES:
            key = JAIL_KEYS[role]
            name = got[key]
            active = role in got["WARDEN_ROLES"] and key not in self.failed
            if active and len(name) > _LONG_JAIL_NAME:
                self.warnings.append(
                    f"{key}={name} is longer than {_LONG_JAIL_NAME} characters: Bastille"
                    " then names its epair interfaces e0a_bastilleN instead of after the jail"
                )

    def check_requirements(self, got: dict[str, Any]) -> None:
        db_agent = got["WARDEN_DB_AGENT"]
        if got["WARDEN_DB_RUNTIME"] == "host" and db_agent is not None:
            self.problem(
                "WARDEN_DB_RUNTIME",
                "host",
                f"cannot be combined with WARDEN_DB_AGENT={db_agent}: this agent's database "
                f"is then on {db_agent}'s server; leave one of the two out",
            )
        if (
            "llama-cpp" in got["WARDEN_ROLES"]
            and got["WARDEN_LLM_AGENT"] is None
            and got["WARDEN_LLAMA_MODEL"] is None
            and "WARDEN_LLAMA_MODEL" not in self.failed
            and "WARDEN_LLM_AGENT" not in self.failed
        ):
            self.problem(
                "WARDEN_LLAMA_MODEL",
                None,
                "is required when WARDEN_ROLES has llama-cpp: an absolute path or a file"
                " name, e.g. WARDEN_LLAMA_MODEL=/var/db/llama/model.gguf",
            )
        if got["WARDEN_SOUL_REPO"] is None and "WARDEN_SOUL_REPO" not in self.failed:
            for key, ignored in (
                ("WARDEN_SOUL_REF", got["WARDEN_SOUL_REF"] != KEY["WARDEN_SOUL_REF"].default),
                ("WARDEN_SOUL_KEY", got["WARDEN_SOUL_KEY"] is not None),
                ("WARDEN_SOUL_IMPORT_MEMORIES", got["WARDEN_SOUL_IMPORT_MEMORIES"]),
            ):
                if ignored:
                    self.warnings.append(f"{key} is ignored without WARDEN_SOUL_REPO")

    def check_vm_ip(self, got: dict[str, Any], context: Context) -> None:
        vm_ip: IPv4Address | None = got["WARDEN_VM_IP"]
        runtime = got["WARDEN_RUNTIME"]
        if vm_ip is not None and runtime != "bhyve":
            self.warnings.append("WARDEN_VM_IP is ignored unless WARDEN_RUNTIME=bhyve")
            return
        if runtime != "bhyve" or "WARDEN_VM_IP" in self.failed:
            return
        explicit = vm_ip is not None
        vm_ip = vm_ip if vm_ip is not None else default_vm_address(context)
        got["WARDEN_VM_IP"] = vm_ip
        for role in got["WARDEN_ROLES"]:
            if got[IP_KEYS[role]] == vm_ip:
                self.problem(
                    "WARDEN_VM_IP",
                    str(vm_ip) if explicit else None,
                    f"{vm_ip} {'is' if explicit else '(the default) is'} already the {role}"
                    f" jail's address ({IP_KEYS[role]}); pick a free address in"
                    f" {context.subnet}",
                )
                break


def _may_share(first: str, second: str, roles: tuple[str, ...], llm_agent: str | None) -> bool:
    """ollama and llama-cpp share the guide's .4 "local LLM" slot: that is fine
    while only one of them exists here, or when both name one shared jail."""
    if {first, second} != LLM_ROLES:
        return False
    return llm_agent is not None or not set(roles) >= LLM_ROLES

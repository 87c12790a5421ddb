"""An agent's `.env` -> a validated, immutable AgentConfig.

Everything that later reaches a host (rc.conf lines, pf rules, Bastille and
sh command lines, file names) starts here, so every value is checked against
a strict pattern before any step plans anything. The keys are the ones the
multi-agent deployment guide already uses, so an existing Clawdie `.env`
keeps its meaning; where an old value cannot work (a `-` in a VNET jail name)
we stop and say what would work instead of renaming silently.

All problems in a file are collected and reported together, so an operator
fixes a `.env` in one pass instead of one error per run.
"""

import difflib
import hashlib
import io
import ipaddress
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit

from dotenv.parser import parse_stream
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "KNOWN_KEYS",
    "RESERVED_NAMES",
    "ROLES",
    "AgentConfig",
    "ConfigError",
    "ConfigProblem",
    "load_config",
    "parse_config",
]

ROLES: tuple[str, ...] = ("db", "git", "cms", "ollama", "llama-cpp")
_DEFAULT_ROLES: tuple[str, ...] = ("db", "git")
_LLM_ROLES = frozenset({"ollama", "llama-cpp"})

# The guide's slot plan inside an agent's /24: .1 is the host's gateway.
_DEFAULT_HOST_PART: dict[str, int] = {"git": 2, "cms": 3, "ollama": 4, "llama-cpp": 4, "db": 5}
_DEFAULT_VM_HOST_PART = 10


def _role_key(role: str) -> str:
    return role.upper().replace("-", "_")


_IP_KEYS: dict[str, str] = {role: f"WARDEN_{_role_key(role)}_IP" for role in ROLES}
_JAIL_KEYS: dict[str, str] = {role: f"{_role_key(role)}_JAIL_NAME" for role in ROLES}


def _words(text: str) -> list[str]:
    return text.split()


# Names an agent must not take: AGENT_NAME becomes an rc.d script, a user, a
# group and a PostgreSQL role, so it must not shadow what FreeBSD 14's base
# system or common packages already install under that name.
RESERVED_NAMES: frozenset[str] = frozenset(
    # users and groups of a FreeBSD 14 base install
    _words("""
    root toor daemon operator bin tty kmem games news man sshd smmsp mailnull
    bind unbound proxy _pflogd _dhcp uucp pop auditdistd www hast nobody nogroup
    tests ntpd ntp _ypldap _tss wheel sys staff guest video realtime idletime
    network dialer mail audit authpf kmem sshd _sndio messagebus polkitd
    """)
    # /etc/rc.d of FreeBSD 14
    + _words("""
    accounting adjkerntz apm auditd automount automountd autounmountd bgfsck
    blacklistd bluetooth bootparams bridge bsnmpd bthidd ccd cfumass cleanvar
    cleartmp cron ctld ddb defaultroute devd devfs devmatch dhclient dmesg
    dumpon fsck ftpd gbde geli geli2 gptboot growfs gssd hastd hcsecd
    hostapd hostid hostname inetd iovctl ip6addrctl ipfilter ipfs ipfw ipmon
    ipnat ippool ipsec jail kadmind kdc keyserv kfd kld kldxref kpasswdd
    ldconfig local localpkg lockd lpd mdconfig mdconfig2 mixer motd
    mountcritlocal mountcritremote mountlate moused mroute6d msgs natd netif
    netoptions netwait newsyslog nfsclient nfscbd nfsd nfsuserd nisdomain nscd
    nsswitch ntpdate opensm pf pflog pfsync powerd ppp pppoed pwcheck quota
    random rarpd rctl resolv rfcomm route6d routed routing rpcbind rtadvd
    rtsold rwho savecore sdpd securelevel sendmail serial sppp statd stf swap
    swaplate sysctl syscons syslogd sysvipc tlsclntd tlsservd tmp ugidfw utx
    var virecover watchdogd ypbind ypldap yppasswdd ypserv ypset ypupdated
    ypxfrd zfs zfsbe zfsd zfskeys zpool zvol
    """)
    # packages warden installs or meets, and names that would confuse tooling
    + _words("""
    postgres pgsql postgresql git gitea forgejo gogs ollama llama llamacpp
    llamaserver tmux bastille vm bhyve vmm jails iocage ezjail cbsd pot nginx
    apache apache24 httpd caddy redis mysql mariadb dnsmasq openvpn tailscale
    tailscaled wireguard wg cupsd avahi dbus pkg warden public template0
    template1 all none admin administrator localhost host gateway lo epair
    sudo doas su
    """)
)


def _is_reserved(name: str) -> bool:
    return name in RESERVED_NAMES or name.startswith("pg_")


KNOWN_KEYS: dict[str, str] = {
    "AGENT_NAME": "runtime identity: rc.d service, tmux session, default user, jail and DB prefix",
    "ASSISTANT_NAME": "the name the assistant shows to people (AGENT_NAME capitalised)",
    "AGENT_SUBNET_BASE": "first three octets of the agent's private /24, e.g. 10.0.1",
    "WARDEN_SUBNET": "the agent's /24, always AGENT_SUBNET_BASE.0/24 (derived)",
    "WARDEN_GATEWAY": "the host's address in the agent's /24, always .1 (derived)",
    "WARDEN_GIT_IP": "git jail address (.2)",
    "WARDEN_CMS_IP": "CMS jail address (.3)",
    "WARDEN_OLLAMA_IP": "ollama jail address (.4)",
    "WARDEN_LLAMA_CPP_IP": "llama.cpp jail address (.4, the local-LLM slot shared with ollama)",
    "WARDEN_DB_IP": "PostgreSQL jail address (.5)",
    "GIT_JAIL_NAME": "git jail name, letters and digits only (<agent>git)",
    "CMS_JAIL_NAME": "CMS jail name, letters and digits only (<agent>cms)",
    "OLLAMA_JAIL_NAME": "ollama jail name, letters and digits only (<agent>ollama)",
    "LLAMA_CPP_JAIL_NAME": "llama.cpp jail name, letters and digits only (<agent>llamacpp)",
    "DB_JAIL_NAME": "PostgreSQL jail name, letters and digits only (<agent>db)",
    "DISPLAY_LOCALE": "BCP-47 language tag the agent displays in (en-US)",
    "ASSISTANT_LOCALE": "BCP-47 language tag the assistant speaks (en-US)",
    "SYSTEM_LOCALE": "POSIX locale of the agent's processes, UTF-8 only (en_US.UTF-8)",
    "WARDEN_HOST": "where the agent runs: local, an ssh_config alias or [user@]host[:port] (local)",
    "WARDEN_RUNTIME": "jail, or bhyve for a whole VM per agent (jail)",
    "WARDEN_ROLES": "service jails to create, a subset of db,git,cms,ollama,llama-cpp, "
    "or none (db,git)",
    "WARDEN_RELEASE": "FreeBSD release for jails, e.g. 14.3-RELEASE (the host's)",
    "WARDEN_EXT_IF": "external interface for NAT (the default route's)",
    "WARDEN_NAMESERVER": "resolver given to jails, not loopback (the host's)",
    "WARDEN_AGENT_USER": "the agent's unprivileged Unix user (AGENT_NAME)",
    "WARDEN_AGENT_COMMAND": "what the rc.d service runs in tmux (required for the service step)",
    "WARDEN_DB_RUNTIME": "jail, or host for PostgreSQL on the host itself (jail)",
    "WARDEN_PG_VERSION": "PostgreSQL major version, 13-18 (17)",
    "WARDEN_DB_AGENT": "use that agent's db jail instead of creating one (none)",
    "WARDEN_LLM_AGENT": "use that agent's LLM jail instead of creating one (none)",
    "WARDEN_LLAMA_MODEL": "model file for llama-server (required when llama-cpp is a role)",
    "WARDEN_SOUL_REPO": "git URL of the agent's soul repository (none)",
    "WARDEN_SOUL_REF": "branch, tag or commit of the soul repository (main)",
    "WARDEN_SOUL_KEY": "absolute path of a deploy key for a private soul repository (none)",
    "WARDEN_SOUL_IMPORT_MEMORIES": "import curated memories into system_brain: yes or no (no)",
    "WARDEN_VM_CPUS": "bhyve guest vCPUs (2)",
    "WARDEN_VM_MEMORY": "bhyve guest memory, e.g. 4G (4G)",
    "WARDEN_VM_DISK": "bhyve guest disk size, e.g. 20G (20G)",
    "WARDEN_VM_IP": "bhyve guest address in the agent's /24 (.10 when WARDEN_RUNTIME=bhyve)",
    "WARDEN_LIMITS": "rctl limits per role, e.g. db:memoryuse=2G,pcpu=200;git:memoryuse=512M",
}

_LOOKALIKE_PREFIXES = ("WARDEN_", "AGENT_")
_LOOKALIKE_SUFFIXES = ("_IP", "_JAIL_NAME", "_LOCALE")

# rctl(8) resources; anything else would be refused by rctl at apply time.
_RCTL_RESOURCES = frozenset(
    _words("""
    cputime datasize stacksize coredumpsize memoryuse memorylocked maxproc
    openfiles vmemoryuse pseudoterminals swapuse nthr msgqqueued msgqsize
    nmsgq nsem nsemop nshm shmsize wallclock pcpu readbps writebps readiops
    writeiops
    """)
)

_RFC1918 = (
    IPv4Network("10.0.0.0/8"),
    IPv4Network("172.16.0.0/12"),
    IPv4Network("192.168.0.0/16"),
)

# re.ASCII everywhere: without it [a-z] with IGNORECASE and \d accept
# look-alike Unicode characters that no shell or rc.conf expects.
_A = re.ASCII
_OCTET = r"(?:0|[1-9][0-9]{0,2})"
_SUBNET_BASE_RE = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}", _A)
_AGENT_NAME_RE = re.compile(r"[a-z][a-z0-9]{0,15}", _A)
_USER_RE = re.compile(r"[a-z][a-z0-9_-]{0,15}", _A)
_JAIL_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}", _A)
_ASSISTANT_NAME_RE = re.compile(r"[^\W\d_](?:[\w .-]{0,30}[\w.])?")
_SYSTEM_LOCALE_RE = re.compile(r"(?:[a-z]{2,3}_[A-Z]{2}|C)\.UTF-8", _A)
_POSIX_LOCALE_LOOSE_RE = re.compile(r"([a-zA-Z]{2,3})[_-]([a-zA-Z]{2})(?:\.([^@]*))?(?:@.*)?", _A)
_BCP47_RE = re.compile(
    r"""
    [a-z]{2,3}(?:-[a-z]{3}){0,3}            # language, optional extlang
    (?:-[a-z]{4})?                          # script
    (?:-(?:[a-z]{2}|[0-9]{3}))?             # region
    (?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*  # variants
    (?:-[0-9a-wyz](?:-[a-z0-9]{2,8})+)*     # extensions
    (?:-x(?:-[a-z0-9]{1,8})+)?              # private use
    """,
    re.ASCII | re.IGNORECASE | re.VERBOSE,
)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*"
_SSH_USER = r"[A-Za-z_][A-Za-z0-9._-]{0,31}"
_HOST_RE = re.compile(
    rf"(?:(?P<user>{_SSH_USER})@)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]{0,252})"
    r"(?::(?P<port>[0-9]{1,5}))?",
    _A,
)
_RELEASE_RE = re.compile(r"[1-9][0-9]\.[0-9]-RELEASE(?:-p[1-9][0-9]{0,2})?", _A)
_EXT_IF_RE = re.compile(r"[a-z][a-z0-9_.]{0,14}", _A)
_PG_VERSION_RE = re.compile(r"[0-9]{1,3}", _A)
_PATH_CHARS = r"[A-Za-z0-9._+@%,=:~/-]"
_ABS_PATH_RE = re.compile(rf"/{_PATH_CHARS}*", _A)
_FILE_NAME_RE = re.compile(r"[A-Za-z0-9._+@%,=:~][A-Za-z0-9._+@%,=:~-]*", _A)
_SCP_LIKE_RE = re.compile(
    rf"(?:{_SSH_USER}@)?(?P<host>{_HOSTNAME}):(?P<path>[A-Za-z0-9._+@%,=~][A-Za-z0-9._+@%,=:~/-]*)",
    _A,
)
_REF_RE = re.compile(r"[A-Za-z0-9._/+-]{1,255}", _A)
_CPUS_RE = re.compile(r"[1-9][0-9]{0,2}", _A)
_SIZE_RE = re.compile(r"[1-9][0-9]{0,5}[MGT]", _A)
_RCTL_AMOUNT_RE = re.compile(r"[0-9]{1,19}[KMGT]?", _A)
_BOOL_VALUES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}

_MAX_VALUE_LENGTH = 1024
_LONG_JAIL_NAME = 11
_REPR_LIMIT = 120


class ConfigProblem(NamedTuple):
    """One thing wrong with a `.env`, phrased so the operator can fix it unaided."""

    key: str
    value: str | None
    reason: str


class ConfigError(Exception):
    """Every problem of one `.env` at once, so a file is fixed in one pass."""

    def __init__(self, path: Path, problems: list[ConfigProblem]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(path, problems)

    def __str__(self) -> str:
        return "\n".join(_format_problem(self.path, p) for p in self.problems)


def _format_problem(path: Path, problem: ConfigProblem) -> str:
    parts = [str(path)]
    if problem.key:
        key = problem.key if problem.key.isprintable() else repr(problem.key)
        if problem.value is not None:
            shown = repr(problem.value)
            if len(shown) > _REPR_LIMIT:
                shown = shown[: _REPR_LIMIT - 4] + "...'"
            key = f"{key}={shown}"
        parts.append(key)
    parts.append(problem.reason)
    return ": ".join(parts)


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

        def opt(value: object) -> str:
            return "" if value is None else str(value)

        keys = {
            "AGENT_NAME": self.agent_name,
            "ASSISTANT_NAME": self.assistant_name,
            "AGENT_SUBNET_BASE": str(self.subnet.network_address).rsplit(".", 1)[0],
            "WARDEN_SUBNET": str(self.subnet),
            "WARDEN_GATEWAY": str(self.gateway),
        }
        keys.update({_IP_KEYS[role]: str(self.role_ips[role]) for role in ROLES})
        keys.update({_JAIL_KEYS[role]: self.jail_names[role] for role in ROLES})
        keys.update(
            {
                "DISPLAY_LOCALE": self.display_locale,
                "ASSISTANT_LOCALE": self.assistant_locale,
                "SYSTEM_LOCALE": self.system_locale,
                "WARDEN_HOST": self.host,
                "WARDEN_RUNTIME": self.runtime,
                "WARDEN_ROLES": ",".join(self.roles) or "none",
                "WARDEN_RELEASE": opt(self.release),
                "WARDEN_EXT_IF": opt(self.ext_if),
                "WARDEN_NAMESERVER": opt(self.nameserver),
                "WARDEN_AGENT_USER": self.agent_user,
                "WARDEN_AGENT_COMMAND": opt(self.agent_command),
                "WARDEN_DB_RUNTIME": self.db_runtime,
                "WARDEN_PG_VERSION": str(self.pg_version),
                "WARDEN_DB_AGENT": opt(self.db_agent),
                "WARDEN_LLM_AGENT": opt(self.llm_agent),
                "WARDEN_LLAMA_MODEL": opt(self.llama_model),
                "WARDEN_SOUL_REPO": opt(self.soul_repo),
                "WARDEN_SOUL_REF": self.soul_ref,
                "WARDEN_SOUL_KEY": opt(self.soul_key),
                "WARDEN_SOUL_IMPORT_MEMORIES": "yes" if self.soul_import_memories else "no",
                "WARDEN_VM_CPUS": str(self.vm_cpus),
                "WARDEN_VM_MEMORY": self.vm_memory,
                "WARDEN_VM_DISK": self.vm_disk,
                "WARDEN_VM_IP": opt(self.vm_ip),
                "WARDEN_LIMITS": ";".join(
                    f"{role}:" + ",".join(f"{k}={v}" for k, v in resources.items())
                    for role, resources in self.limits.items()
                ),
            }
        )
        return {key: keys[key] for key in KNOWN_KEYS}

    def digest(self) -> str:
        """A fingerprint of what the agent is, for the host registry's config
        hash: where the file lives and what we merely warned about do not
        change the agent, so they are left out."""
        data = self.model_dump(mode="json", exclude={"source", "warnings"})
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()


# --------------------------------------------------------------------------- reading


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


# --------------------------------------------------------------------------- validation


class _Invalid(Exception):
    """A value is wrong; `reason` says what would be valid. `secret` keeps a
    value that turned out to hold a credential out of the message."""

    def __init__(self, reason: str, *, secret: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.secret = secret


_T = TypeVar("_T")


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

    def field(self, key: str, parse: Callable[[str], _T]) -> _T | None:
        value = self.raw(key)
        if value is None:
            return None
        try:
            return parse(value)
        except _Invalid as exc:
            self.problem(key, None if exc.secret else value, exc.reason)
            return None

    # ---- the whole file

    def run(self) -> AgentConfig:
        self.check_unknown_keys()

        agent_name = self.field("AGENT_NAME", _parse_agent_name)
        if agent_name is None and "AGENT_NAME" not in self.failed:
            self.problem(
                "AGENT_NAME",
                None,
                "is required: 1-16 lowercase letters and digits, starting with a letter,"
                " e.g. AGENT_NAME=atlas",
            )
        subnet = self.field("AGENT_SUBNET_BASE", _parse_subnet_base)
        if subnet is None and "AGENT_SUBNET_BASE" not in self.failed:
            self.problem(
                "AGENT_SUBNET_BASE",
                None,
                "is required: three dotted octets of a private (RFC 1918) /24,"
                " e.g. AGENT_SUBNET_BASE=10.0.1",
            )
        name = agent_name or "agent"
        assistant_name = self.field("ASSISTANT_NAME", _parse_assistant_name)
        gateway = subnet.network_address + 1 if subnet is not None else None
        self.check_subnet_and_gateway(subnet)

        roles = self.field("WARDEN_ROLES", _parse_roles)
        if roles is None:
            roles = _DEFAULT_ROLES
        llm_agent = self.field("WARDEN_LLM_AGENT", _other_agent(agent_name))
        db_agent = self.field("WARDEN_DB_AGENT", _other_agent(agent_name))

        if db_agent is not None and "db" not in roles:
            self.problem(
                "WARDEN_DB_AGENT",
                db_agent,
                "names whose db jail this agent uses, but WARDEN_ROLES has no db: add db to "
                "WARDEN_ROLES or leave WARDEN_DB_AGENT out",
            )
        if llm_agent is not None and not _LLM_ROLES & set(roles):
            self.problem(
                "WARDEN_LLM_AGENT",
                llm_agent,
                "names whose LLM jail this agent uses, but WARDEN_ROLES has neither ollama nor "
                "llama-cpp: add the one it uses, or leave WARDEN_LLM_AGENT out",
            )

        role_ips = self.role_ips(subnet, roles, llm_agent)
        jail_names = self.jail_names(name, roles, llm_agent)

        display_locale = self.field("DISPLAY_LOCALE", _parse_language_tag) or "en-US"
        assistant_locale = self.field("ASSISTANT_LOCALE", _parse_language_tag) or "en-US"
        system_locale = self.field("SYSTEM_LOCALE", _parse_system_locale) or "en_US.UTF-8"

        host = self.field("WARDEN_HOST", _parse_host) or "local"
        runtime = self.field("WARDEN_RUNTIME", _parse_runtime) or "jail"
        release = self.field("WARDEN_RELEASE", _parse_release)
        ext_if = self.field("WARDEN_EXT_IF", _parse_ext_if)
        nameserver = self.field("WARDEN_NAMESERVER", _parse_nameserver)
        agent_user = self.field("WARDEN_AGENT_USER", _parse_user) or name
        agent_command = self.field("WARDEN_AGENT_COMMAND", _parse_command)
        db_runtime = self.field("WARDEN_DB_RUNTIME", _parse_db_runtime) or "jail"
        if db_runtime == "host" and db_agent is not None:
            self.problem(
                "WARDEN_DB_RUNTIME",
                "host",
                f"cannot be combined with WARDEN_DB_AGENT={db_agent}: this agent's database "
                f"is then on {db_agent}'s server; leave one of the two out",
            )
        pg_version = self.field("WARDEN_PG_VERSION", _parse_pg_version) or 17

        llama_model = self.field("WARDEN_LLAMA_MODEL", _parse_model)
        if (
            "llama-cpp" in roles
            and llm_agent is None
            and llama_model is None
            and "WARDEN_LLAMA_MODEL" not in self.failed
            and "WARDEN_LLM_AGENT" not in self.failed
        ):
            self.problem(
                "WARDEN_LLAMA_MODEL",
                None,
                "is required when WARDEN_ROLES has llama-cpp: an absolute path or a file"
                " name, e.g. WARDEN_LLAMA_MODEL=/var/db/llama/model.gguf",
            )

        soul_repo = self.field("WARDEN_SOUL_REPO", _parse_soul_repo)
        soul_ref = self.field("WARDEN_SOUL_REF", _parse_ref) or "main"
        soul_key = self.field("WARDEN_SOUL_KEY", _parse_abs_path)
        soul_import_memories = self.field("WARDEN_SOUL_IMPORT_MEMORIES", _parse_bool) or False
        if soul_repo is None and "WARDEN_SOUL_REPO" not in self.failed:
            for key, ignored in (
                ("WARDEN_SOUL_REF", soul_ref != "main"),
                ("WARDEN_SOUL_KEY", soul_key is not None),
                ("WARDEN_SOUL_IMPORT_MEMORIES", soul_import_memories),
            ):
                if ignored:
                    self.warnings.append(f"{key} is ignored without WARDEN_SOUL_REPO")

        vm_cpus = self.field("WARDEN_VM_CPUS", _parse_cpus) or 2
        vm_memory = self.field("WARDEN_VM_MEMORY", _parse_size) or "4G"
        vm_disk = self.field("WARDEN_VM_DISK", _parse_size) or "20G"
        vm_ip = self.vm_ip(subnet, runtime, roles, role_ips)

        limits = self.field("WARDEN_LIMITS", _parse_limits) or {}
        for role in limits:
            if role not in roles:
                self.warnings.append(
                    f"WARDEN_LIMITS sets limits for {role}, which is not in WARDEN_ROLES"
                )

        if self.problems or agent_name is None or subnet is None or gateway is None:
            raise ConfigError(self.path, self.problems)
        try:
            return AgentConfig(
                source=self.path,
                agent_name=agent_name,
                assistant_name=assistant_name or agent_name.capitalize(),
                subnet=subnet,
                gateway=gateway,
                role_ips=role_ips,
                jail_names=jail_names,
                roles=roles,
                display_locale=display_locale,
                assistant_locale=assistant_locale,
                system_locale=system_locale,
                host=host,
                runtime=runtime,
                release=release,
                ext_if=ext_if,
                nameserver=nameserver,
                agent_user=agent_user,
                agent_command=agent_command,
                db_runtime=db_runtime,
                pg_version=pg_version,
                db_agent=db_agent,
                llm_agent=llm_agent,
                llama_model=llama_model,
                soul_repo=soul_repo,
                soul_ref=soul_ref,
                soul_key=soul_key,
                soul_import_memories=soul_import_memories,
                vm_cpus=vm_cpus,
                vm_memory=vm_memory,
                vm_disk=vm_disk,
                vm_ip=vm_ip,
                limits=limits,
                warnings=tuple(self.warnings),
            )
        except ValidationError as exc:  # a bug here must still surface as bad input
            raise ConfigError(
                self.path,
                [
                    ConfigProblem(
                        "", None, f"internal validation failed: {exc.error_count()} errors"
                    )
                ],
            ) from None

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

    def check_subnet_and_gateway(self, subnet: IPv4Network | None) -> None:
        declared_subnet = self.raw("WARDEN_SUBNET")
        if declared_subnet is not None and subnet is not None and declared_subnet != str(subnet):
            self.problem(
                "WARDEN_SUBNET",
                declared_subnet,
                f"must be {subnet}, the /24 of AGENT_SUBNET_BASE (or leave it out)",
            )
        declared_gateway = self.raw("WARDEN_GATEWAY")
        if declared_gateway is not None and subnet is not None:
            expected = str(subnet.network_address + 1)
            if declared_gateway != expected:
                self.problem(
                    "WARDEN_GATEWAY",
                    declared_gateway,
                    f"must be {expected}: the gateway is always .1 of the agent's /24",
                )

    def role_ips(
        self, subnet: IPv4Network | None, roles: tuple[str, ...], llm_agent: str | None
    ) -> dict[str, IPv4Address]:
        fallback = subnet or IPv4Network("10.0.0.0/24")
        ips: dict[str, IPv4Address] = {}
        for role in ROLES:
            key = _IP_KEYS[role]
            default = fallback.network_address + _DEFAULT_HOST_PART[role]
            parsed = self.field(key, _address_in(subnet, f"the {role} jail", default))
            ips[role] = parsed if parsed is not None else default
        # Only roles that get a jail of their own here can collide.
        active = [r for r in ROLES if r in roles and _IP_KEYS[r] not in self.failed]
        for i, first in enumerate(active):
            for second in active[i + 1 :]:
                if ips[first] == ips[second] and not _may_share(first, second, roles, llm_agent):
                    key = _IP_KEYS[second]
                    self.problem(
                        key,
                        self.values.get(key) or None,
                        f"{ips[second]} is already the {first} jail's address"
                        f" ({_IP_KEYS[first]}); give each role its own address"
                        " (ollama and llama-cpp may share one only when one of them is"
                        " in WARDEN_ROLES, or with WARDEN_LLM_AGENT)",
                    )
        return ips

    def jail_names(
        self, agent: str, roles: tuple[str, ...], llm_agent: str | None
    ) -> dict[str, str]:
        names: dict[str, str] = {}
        for role in ROLES:
            key = _JAIL_KEYS[role]
            default = agent + role.replace("-", "")
            parsed = self.field(key, _jail_name(default))
            names[role] = parsed if parsed is not None else default
        active = [r for r in ROLES if r in roles and _JAIL_KEYS[r] not in self.failed]
        for i, first in enumerate(active):
            for second in active[i + 1 :]:
                if names[first] == names[second] and not _may_share(
                    first, second, roles, llm_agent
                ):
                    key = _JAIL_KEYS[second]
                    self.problem(
                        key,
                        self.values.get(key) or None,
                        f"{names[second]} is already the {first} jail ({_JAIL_KEYS[first]});"
                        f" each role needs its own jail, e.g. {agent}{second.replace('-', '')}",
                    )
        for role in active:
            if len(names[role]) > _LONG_JAIL_NAME:
                self.warnings.append(
                    f"{_JAIL_KEYS[role]}={names[role]} is longer than {_LONG_JAIL_NAME}"
                    " characters: Bastille then names its epair interfaces e0a_bastilleN"
                    " instead of after the jail"
                )
        return names

    def vm_ip(
        self,
        subnet: IPv4Network | None,
        runtime: str,
        roles: tuple[str, ...],
        role_ips: dict[str, IPv4Address],
    ) -> IPv4Address | None:
        fallback = subnet or IPv4Network("10.0.0.0/24")
        default = fallback.network_address + _DEFAULT_VM_HOST_PART
        vm_ip = self.field("WARDEN_VM_IP", _address_in(subnet, "the bhyve guest", default))
        if vm_ip is not None and runtime != "bhyve":
            self.warnings.append("WARDEN_VM_IP is ignored unless WARDEN_RUNTIME=bhyve")
            return vm_ip
        if runtime != "bhyve" or "WARDEN_VM_IP" in self.failed:
            return vm_ip
        explicit = vm_ip is not None
        vm_ip = vm_ip if vm_ip is not None else default
        for role in roles:
            if role_ips[role] == vm_ip:
                self.problem(
                    "WARDEN_VM_IP",
                    str(vm_ip) if explicit else None,
                    f"{vm_ip} {'is' if explicit else '(the default) is'} already the {role}"
                    f" jail's address ({_IP_KEYS[role]}); pick a free address in {subnet}",
                )
                break
        return vm_ip


_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _may_share(first: str, second: str, roles: tuple[str, ...], llm_agent: str | None) -> bool:
    """ollama and llama-cpp share the guide's .4 "local LLM" slot: that is fine
    while only one of them exists here, or when both name one shared jail."""
    if {first, second} != _LLM_ROLES:
        return False
    return llm_agent is not None or not set(roles) >= _LLM_ROLES


# --------------------------------------------------------------------------- one value each


def _parse_agent_name(value: str) -> str:
    if _AGENT_NAME_RE.fullmatch(value):
        if _is_reserved(value):
            raise _Invalid(
                f"{value} is already used by FreeBSD or its packages (an rc.d script, user"
                " or group); choose a name of your own, e.g. atlas"
            )
        return value
    lower = value.lower()
    if lower != value and _AGENT_NAME_RE.fullmatch(lower):
        raise _Invalid(f"must be lowercase (it names an rc.d service and a user): use {lower}")
    if len(value) > 16 and _AGENT_NAME_RE.fullmatch(value[:16]):
        raise _Invalid("must be at most 16 characters (lowercase letters and digits)")
    raise _Invalid(
        "must be 1-16 lowercase letters and digits starting with a letter (it becomes"
        " the rc.d service, user and jail prefix), e.g. atlas"
    )


def _other_agent(this_agent: str | None) -> Callable[[str], str]:
    def parse(value: str) -> str:
        name = _parse_agent_name(value)
        if name == this_agent:
            raise _Invalid("names this agent itself; give the name of another agent on the host")
        return name

    return parse


def _parse_assistant_name(value: str) -> str:
    if _ASSISTANT_NAME_RE.fullmatch(value):
        return value
    raise _Invalid(
        "must be 1-32 letters, digits, spaces, '.', '_' or '-', starting with a letter"
        " (no quotes or shell characters), e.g. Atlas"
    )


_SUBNET_BASE_HINT = (
    "must be three dotted octets of a private (RFC 1918) /24, e.g. 10.0.1 or 192.168.72"
)


def _parse_subnet_base(value: str) -> IPv4Network:
    if not _SUBNET_BASE_RE.fullmatch(value):
        head = value.split("/", 1)[0].rsplit(".", 1)[0]
        if value.count(".") == 3 and _SUBNET_BASE_RE.fullmatch(head):
            try:
                _parse_subnet_base(head)
            except _Invalid:
                pass
            else:
                raise _Invalid(f"give only the first three octets: {head}")
        raise _Invalid(f"{_SUBNET_BASE_HINT} (decimal 0-255, no leading zeros)")
    if any(int(octet) > 255 for octet in value.split(".")):
        raise _Invalid(f"{_SUBNET_BASE_HINT} (each octet is 0-255)")
    network = IPv4Network(f"{value}.0/24")
    if any(network.subnet_of(private) for private in _RFC1918):
        return network
    if network.is_loopback:
        kind = "loopback"
    elif network.is_link_local:
        kind = "link-local"
    elif network.is_multicast:
        kind = "multicast"
    elif network.network_address in IPv4Network("0.0.0.0/8"):
        kind = "in 0.0.0.0/8 (this network)"
    else:
        kind = "not private"
    raise _Invalid(
        f"{network} is {kind}; use a private (RFC 1918) /24 inside 10.0.0.0/8,"
        " 172.16.0.0/12 or 192.168.0.0/16, e.g. 10.0.1 or 192.168.72"
    )


def _address_in(
    subnet: IPv4Network | None, what: str, example: IPv4Address
) -> Callable[[str], IPv4Address]:
    span = (
        f"{subnet.network_address + 2}-{subnet.network_address + 254}"
        if subnet is not None
        else ".2-.254 of the agent's /24"
    )

    def parse(value: str) -> IPv4Address:
        try:
            address = IPv4Address(value)
        except ValueError:
            raise _Invalid(
                f"must be an IPv4 address for {what} in {span}, e.g. {example}"
            ) from None
        if subnet is None:
            return address
        if address not in subnet:
            raise _Invalid(f"is outside the agent's subnet {subnet}; use an address in {span}")
        last = int(address) & 0xFF
        if last in (0, 1, 255):
            kind = {0: "the network address", 1: "the host's gateway", 255: "the broadcast address"}
            raise _Invalid(f"is {kind[last]} of {subnet}; use an address in {span}")
        return address

    return parse


def _jail_name(default: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if _JAIL_NAME_RE.fullmatch(value):
            return value
        stripped = value.replace("-", "").replace("_", "")
        suggestion = stripped if _JAIL_NAME_RE.fullmatch(stripped) else default
        if "-" in value or "_" in value:
            raise _Invalid(
                "Bastille >= 1.4 refuses '-' and '_' in VNET jail names (they become rc.conf"
                f" variable names); use letters and digits only: suggest {suggestion}"
            )
        if len(value) > 64:
            raise _Invalid(f"must be at most 64 characters; suggest {default}")
        raise _Invalid(
            "must be letters and digits only, starting with a letter (not all digits);"
            f" suggest {suggestion}"
        )

    return parse


def _parse_roles(value: str) -> tuple[str, ...]:
    if value.strip() == "none":
        return ()  # an agent that needs no service jail: its user and its rc.d service only
    items = [item.strip() for item in value.split(",")]
    valid = ",".join(ROLES)
    seen: list[str] = []
    for item in items:
        if not item:
            raise _Invalid(f"has an empty entry; list roles separated by commas, from {valid}")
        if item not in ROLES:
            close = difflib.get_close_matches(item.lower(), ROLES, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise _Invalid(f"{item!r} is not a role{hint}; roles are {valid}")
        if item in seen:
            raise _Invalid(f"lists {item} twice; each role at most once, from {valid}")
        seen.append(item)
    return tuple(role for role in ROLES if role in seen)


def _parse_language_tag(value: str) -> str:
    if _BCP47_RE.fullmatch(value):
        return value
    hint = "must be a BCP-47 language tag such as sl-SI, en or zh-Hans-CN"
    loose = _POSIX_LOCALE_LOOSE_RE.fullmatch(value)
    if loose:
        tag = f"{loose.group(1).lower()}-{loose.group(2).upper()}"
        raise _Invalid(f"{hint} (hyphens, no encoding): did you mean {tag}?")
    raise _Invalid(hint)


def _parse_system_locale(value: str) -> str:
    if _SYSTEM_LOCALE_RE.fullmatch(value):
        return value
    loose = _POSIX_LOCALE_LOOSE_RE.fullmatch(value)
    canonical = (
        f"{loose.group(1).lower()}_{loose.group(2).upper()}.UTF-8"
        if loose
        else "a form like sl_SI.UTF-8 or C.UTF-8"
    )
    encoding = (loose.group(3) or "") if loose else ""
    if loose and encoding and encoding.replace("-", "").lower() != "utf8":
        raise _Invalid(f"legacy encoding {encoding}: SYSTEM_LOCALE must be UTF-8, e.g. {canonical}")
    raise _Invalid(
        f"must be a UTF-8 POSIX locale in FreeBSD's spelling ll_CC.UTF-8: use {canonical}"
    )


def _parse_host(value: str) -> str:
    if value == "local":
        return value
    hint = (
        "must be local, an ssh_config alias or [user@]host[:port] (letters, digits, '.', '-',"
        " '_'; no spaces or shell characters; not starting with '-')"
    )
    user, _, rest = value.rpartition("@")
    if user and not re.fullmatch(_SSH_USER, user, _A):
        raise _Invalid(hint)
    try:
        if "%" not in rest:  # a scope id is free text: keep it out of command lines
            ipaddress.IPv6Address(rest)
            return value  # a bare IPv6 address; with a port it needs [brackets]
    except ValueError:
        pass
    match = _HOST_RE.fullmatch(value)
    if not match:
        raise _Invalid(hint)
    host, port = match.group("host"), match.group("port")
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise _Invalid(
                f"{host} is not an IPv6 address in brackets, e.g. [2001:db8::5]"
            ) from None
    elif re.fullmatch(r"[0-9.]+", host, _A):
        try:
            IPv4Address(host)
        except ValueError:
            raise _Invalid(f"{host} is not an IPv4 address; {hint}") from None
    if port is not None and not 1 <= int(port) <= 65535:
        raise _Invalid(f"port {port} is out of range; use 1-65535")
    return value


def _parse_runtime(value: str) -> Literal["jail", "bhyve"]:
    if value == "jail":
        return "jail"
    if value == "bhyve":
        return "bhyve"
    raise _Invalid("must be jail or bhyve")


def _parse_db_runtime(value: str) -> Literal["jail", "host"]:
    if value == "jail":
        return "jail"
    if value == "host":
        return "host"
    raise _Invalid("must be jail (PostgreSQL in its own jail) or host")


def _parse_release(value: str) -> str:
    if _RELEASE_RE.fullmatch(value):
        return value
    if _RELEASE_RE.fullmatch(value.upper().replace("-P", "-p")):
        raise _Invalid(f"must be spelled {value.upper().replace('-P', '-p')}")
    raise _Invalid("must be a FreeBSD release like 14.3-RELEASE or 14.3-RELEASE-p2")


def _parse_ext_if(value: str) -> str:
    if _EXT_IF_RE.fullmatch(value):
        return value
    raise _Invalid(
        "must be a FreeBSD interface name: a lowercase letter, then up to 14 lowercase"
        " letters, digits, '_' or '.', e.g. em0 or vtnet0"
    )


def _parse_nameserver(value: str) -> IPv4Address:
    try:
        address = IPv4Address(value)
    except ValueError:
        raise _Invalid("must be an IPv4 address of a resolver, e.g. 9.9.9.9") from None
    if address.is_loopback:
        raise _Invalid(
            "is loopback: a jail cannot reach the host's 127.0.0.1; give a resolver the jails"
            " can reach, e.g. the host's .1 with a resolver listening there, or 9.9.9.9"
        )
    if address.is_unspecified or address.is_multicast or address == IPv4Address("255.255.255.255"):
        raise _Invalid("must be a unicast IPv4 address of a resolver, e.g. 9.9.9.9")
    return address


def _parse_user(value: str) -> str:
    if not _USER_RE.fullmatch(value):
        lower = value.lower()
        hint = f": use {lower}" if _USER_RE.fullmatch(lower) else ", e.g. atlas"
        raise _Invalid(
            "must be a Unix user name: 1-16 lowercase letters, digits, '_' or '-', starting"
            f" with a letter{hint}"
        )
    if _is_reserved(value):
        raise _Invalid(
            f"{value} is a system or package account; the agent needs a user of its own,"
            " e.g. the AGENT_NAME"
        )
    return value


def _parse_command(value: str) -> str:
    # Free text by design (sh runs it inside tmux); raw() already refused
    # control characters, the only thing quoting cannot make safe.
    return value


def _parse_pg_version(value: str) -> int:
    if _PG_VERSION_RE.fullmatch(value) and 13 <= int(value) <= 18:
        return int(value)
    raise _Invalid("must be a PostgreSQL major version from 13 to 18, e.g. 17")


def _parse_model(value: str) -> str:
    segments = value.split("/")
    if (
        (_ABS_PATH_RE.fullmatch(value) and ".." not in segments)
        or (_FILE_NAME_RE.fullmatch(value) and value not in (".", ".."))
    ) and not value.endswith("/"):
        return value
    raise _Invalid(
        "must be an absolute path or a plain file name of letters, digits and ._+@%,=:~-"
        " (no spaces or '..'), e.g. /var/db/llama/model.gguf"
    )


def _parse_abs_path(value: str) -> str:
    if _ABS_PATH_RE.fullmatch(value) and ".." not in value.split("/") and value != "/":
        return value
    raise _Invalid(
        "must be an absolute path of letters, digits and ._+@%,=:~-/ (no spaces or '..'),"
        " e.g. /home/operator/.ssh/atlas-soul"
    )


_SOUL_REPO_HINT = (
    "must be a git URL: https://host/path, ssh://[user@]host[:port]/path, user@host:path,"
    " file:///path or an absolute path"
)


_URL_PASSWORD_RE = re.compile(r"[^/]*://[^/@]*:[^/@]*@")


def _parse_soul_repo(value: str) -> str:
    if _URL_PASSWORD_RE.match(value):
        raise _Invalid(
            "must not carry a password or token (it would be logged); use WARDEN_SOUL_KEY"
            " with an ssh:// or user@host:path URL for a private repository",
            secret=True,
        )
    if value.startswith("/"):
        return _repo_path(value)
    if "://" not in value:
        scp = _SCP_LIKE_RE.fullmatch(value)
        if scp and ".." not in scp.group("path").split("/"):
            return value
        raise _Invalid(_SOUL_REPO_HINT)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise _Invalid(_SOUL_REPO_HINT) from None
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise _Invalid(f"{_SOUL_REPO_HINT}, without ?query or #fragment")
    if parts.scheme == "file":
        if parts.netloc:
            raise _Invalid("must be file:///absolute/path: a file:// URL has no host")
        _repo_path(parts.path)
        return value
    if parts.scheme not in ("https", "ssh"):
        raise _Invalid(f"{_SOUL_REPO_HINT} (scheme {parts.scheme!r} is not allowed)")
    if parts.password is not None:
        raise _Invalid("must not carry a password or token", secret=True)
    if parts.username is not None and not re.fullmatch(_SSH_USER, parts.username, _A):
        raise _Invalid(_SOUL_REPO_HINT)
    host = parts.hostname or ""
    if not re.fullmatch(_HOSTNAME, host, _A):
        raise _Invalid(_SOUL_REPO_HINT)
    if port == 0:
        raise _Invalid("port must be 1-65535")
    if not parts.path.startswith("/") or len(parts.path) < 2:
        raise _Invalid(f"{_SOUL_REPO_HINT} (the path is missing)")
    _repo_path(parts.path)
    return value


def _repo_path(path: str) -> str:
    if _ABS_PATH_RE.fullmatch(path) and ".." not in path.split("/") and path != "/":
        return path
    raise _Invalid(f"{_SOUL_REPO_HINT}; the path may hold letters, digits and ._+@%,=:~-/")


def _parse_ref(value: str) -> str:
    """git check-ref-format, simplified to what a branch, tag or sha needs."""
    components = value.split("/")
    if (
        _REF_RE.fullmatch(value)
        and not value.startswith("-")
        and not value.endswith((".", "/"))
        and ".." not in value
        and value != "@"
        and all(c and not c.startswith(".") and not c.endswith(".lock") for c in components)
    ):
        return value
    raise _Invalid(
        "must be a git branch, tag or commit: letters, digits and ._/+-, no '..', no"
        " component starting with '.' or ending in .lock, e.g. main or v1.2"
    )


def _parse_bool(value: str) -> bool:
    try:
        return _BOOL_VALUES[value.lower()]
    except KeyError:
        raise _Invalid("must be yes or no (true/false and 1/0 are accepted too)") from None


def _parse_cpus(value: str) -> int:
    if _CPUS_RE.fullmatch(value) and int(value) <= 256:
        return int(value)
    raise _Invalid("must be a whole number of vCPUs from 1 to 256, e.g. 2")


def _parse_size(value: str) -> str:
    if _SIZE_RE.fullmatch(value):
        return value
    if _SIZE_RE.fullmatch(value.upper()):
        raise _Invalid(f"must use an upper-case unit: {value.upper()}")
    raise _Invalid("must be a whole number with a unit M, G or T, e.g. 512M, 4G or 1T")


_LIMITS_HINT = (
    "must be role:resource=amount[,resource=amount][;role:...], e.g."
    " db:memoryuse=2G,pcpu=200;git:memoryuse=512M"
)


def _parse_limits(value: str) -> dict[str, dict[str, str]]:
    limits: dict[str, dict[str, str]] = {}
    for section in value.split(";"):
        section = section.strip()
        if not section:
            continue  # a trailing ';' is harmless
        role, colon, body = section.partition(":")
        role = role.strip()
        if not colon:
            raise _Invalid(_LIMITS_HINT)
        if role not in ROLES:
            raise _Invalid(f"{role!r} is not a role; roles are {','.join(ROLES)}")
        if role in limits:
            raise _Invalid(f"sets {role} twice; put all of a role's limits in one section")
        resources: dict[str, str] = {}
        for item in body.split(","):
            resource, equals, amount = (part.strip() for part in item.partition("="))
            if not equals or not resource:
                raise _Invalid(_LIMITS_HINT)
            if resource not in _RCTL_RESOURCES:
                close = difflib.get_close_matches(resource, _RCTL_RESOURCES, n=1)
                hint = f"did you mean {close[0]}?" if close else "see rctl(8) for the names"
                raise _Invalid(f"{resource!r} is not an rctl(8) resource; {hint}")
            if resource in resources:
                raise _Invalid(f"sets {role}:{resource} twice")
            if not _RCTL_AMOUNT_RE.fullmatch(amount):
                raise _Invalid(
                    f"{role}:{resource} amount {amount!r} must be digits with an optional"
                    " K, M, G or T suffix, e.g. 512M or 200"
                )
            resources[resource] = amount
        limits[role] = resources
    return {role: limits[role] for role in ROLES if role in limits}

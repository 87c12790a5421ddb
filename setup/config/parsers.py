"""One parser per kind of value: each takes the text of a `.env` value and
returns it typed, or raises _Invalid saying what would be valid, so a message
can always name the key, the value and a fix."""

import difflib
import ipaddress
import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from .names import (
    RCTL_RESOURCES,
    RFC1918,
    ROLES,
    is_reserved,
)
from .problems import _Invalid

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
_CPUS_RE = re.compile(r"[1-9][0-9]{0,2}", _A)
_SIZE_RE = re.compile(r"[1-9][0-9]{0,5}[MGT]", _A)
_RCTL_AMOUNT_RE = re.compile(r"[0-9]{1,19}[KMGT]?", _A)
_BOOL_VALUES = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}


def _parse_agent_name(value: str) -> str:
    if _AGENT_NAME_RE.fullmatch(value):
        if is_reserved(value):
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
    if any(network.subnet_of(private) for private in RFC1918):
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
    if is_reserved(value):
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
            if resource not in RCTL_RESOURCES:
                close = difflib.get_close_matches(resource, RCTL_RESOURCES, n=1)
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


# --------------------------------------------------------------------------- and back
# env_keys() writes each value as a parser reads it, so a rendered `.env` loads
# back to the same configuration.


def show(value: object) -> str:
    return "" if value is None else str(value)


def show_subnet_base(subnet: IPv4Network) -> str:
    return str(subnet.network_address).rsplit(".", 1)[0]


def show_roles(roles: tuple[str, ...]) -> str:
    return ",".join(roles) or "none"


def show_bool(value: bool) -> str:
    return "yes" if value else "no"


def show_limits(limits: dict[str, dict[str, str]]) -> str:
    return ";".join(
        f"{role}:" + ",".join(f"{k}={v}" for k, v in resources.items())
        for role, resources in limits.items()
    )

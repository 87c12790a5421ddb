"""Parsers whose rule depends on the agent's own name and /24. The validator
reads those two keys first and hands them to every parser, so the key table
names one parser per key, in one signature, whether it needs them or not."""

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any, TypeVar

from .names import DEFAULT_HOST_PART, DEFAULT_VM_HOST_PART
from .parsers import _address_in, _jail_name, _other_agent
from .problems import _Invalid


@dataclass(frozen=True)
class Context:
    """What a value's rule may depend on; None where that key is missing or bad."""

    agent: str | None = None
    subnet: IPv4Network | None = None


Parse = Callable[[str, Context], Any]
_T = TypeVar("_T")


def plain(parse: Callable[[str], _T]) -> Callable[[str, Context], _T]:
    """A parser that needs no context, in the table's one signature."""

    def in_context(value: str, context: Context) -> _T:
        return parse(value)

    return in_context


def other_agent(value: str, context: Context) -> str:
    return _other_agent(context.agent)(value)


def _fallback(context: Context) -> IPv4Network:
    return context.subnet or IPv4Network("10.0.0.0/24")


def default_role_address(role: str, context: Context) -> IPv4Address:
    return _fallback(context).network_address + DEFAULT_HOST_PART[role]


def default_vm_address(context: Context) -> IPv4Address:
    return _fallback(context).network_address + DEFAULT_VM_HOST_PART


def default_jail_name(role: str, context: Context) -> str:
    return (context.agent or "agent") + role.replace("-", "")


def role_address(role: str) -> Parse:
    def parse(value: str, context: Context) -> IPv4Address:
        default = default_role_address(role, context)
        return _address_in(context.subnet, f"the {role} jail", default)(value)

    return parse


def role_jail_name(role: str) -> Parse:
    def parse(value: str, context: Context) -> str:
        return _jail_name(default_jail_name(role, context))(value)

    return parse


def vm_address(value: str, context: Context) -> IPv4Address:
    return _address_in(context.subnet, "the bhyve guest", default_vm_address(context))(value)


def same_subnet(value: str, context: Context) -> str:
    """WARDEN_SUBNET only restates AGENT_SUBNET_BASE: it may agree or be left out."""
    if context.subnet is not None and value != str(context.subnet):
        raise _Invalid(f"must be {context.subnet}, the /24 of AGENT_SUBNET_BASE (or leave it out)")
    return value


def same_gateway(value: str, context: Context) -> str:
    """WARDEN_GATEWAY only restates .1 of the agent's /24."""
    if context.subnet is not None and value != str(context.subnet.network_address + 1):
        raise _Invalid(
            f"must be {context.subnet.network_address + 1}: the gateway is always .1 of the"
            " agent's /24"
        )
    return value

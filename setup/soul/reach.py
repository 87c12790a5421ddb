"""Where soul.sync finds the agent's clone: on the host itself, or inside its VM.

A jail agent's clone is in its home on the host. A bhyve agent's is in its home
inside the guest (the soul step runs there: setup/guest.py), so soul.sync goes
through the host to the guest exactly as setup does: the host's own SSH connection
as the jump, the guest's host key the one warden pinned (setup/vm.py connect_guest;
an unpinned or different key is refused, never learnt). One VM per agent, so a
bhyve agent takes one host, as setup does.
"""

from __future__ import annotations

from collections.abc import Callable

from ..config import AgentConfig
from ..errors import Refused
from ..transport import Executor, LineHandler, Result, connect
from ..vm import connect_guest

Connector = Callable[[str], Executor]


class ThroughHost(Executor):
    """The guest's connection and the host's connection it rides on, closed together."""

    def __init__(self, host: Executor, guest: Executor) -> None:
        self.host = host
        self.guest = guest
        self.target = guest.target

    def execute(self, command: str, stdin: bytes, on_line: LineHandler | None) -> Result:
        return self.guest.execute(command, stdin, on_line)

    def close(self) -> None:
        try:
            self.guest.close()
        finally:
            self.host.close()

    def reconnect(self) -> Executor:
        """A new guest connection over the same host connection: closing it closes the
        guest connection only; the host connection closes with this executor."""
        return self.guest.reconnect()


def host_connector(target: str) -> Executor:
    """The host; unknown host keys refused (soul.sync has no --accept-new)."""
    return connect(target)


def guest_connector(address: str, to_host: Connector = host_connector) -> Connector:
    """Connect to the host, then to the guest at *address* through it."""

    def connect_one(target: str) -> Executor:
        host = to_host(target)
        try:
            guest = connect_guest(host, address)
        except BaseException:
            host.close()
            raise
        return ThroughHost(host, guest)

    return connect_one


def connector_for(config: AgentConfig, targets: list[str]) -> Connector:
    """How soul.sync reaches each target's clone, by the agent's runtime."""
    if config.runtime != "bhyve":
        return host_connector
    if len(targets) > 1:
        raise Refused(
            f"soul.sync: agent {config.agent_name} runs in a bhyve VM (WARDEN_RUNTIME=bhyve):"
            f" give one --host target, the host of its VM (got {len(targets)})"
        )
    assert config.vm_ip is not None  # the config requires WARDEN_VM_IP for bhyve
    return guest_connector(str(config.vm_ip))

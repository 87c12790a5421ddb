"""A bhyve guest's SSH identity, and reaching the guest through its host.

warden makes the guest's SSH host key itself (ed25519, with `cryptography`) and pins
its public half in the operator's known_hosts under WARDEN_VM_IP before the VM first
boots, so the first connection to the guest already knows which key to expect: no
trust on first use. The private half goes to the host only as a secret file, and to
the guest only inside the cloud-init user-data (nuageinit's `ssh_keys`).

The guest is reached through the host's own SSH connection (a direct-tcpip channel,
like ProxyJump), as root, with the operator's identities for the host and only the
pinned key accepted; from `local` (warden run on the host itself) directly.
"""

from __future__ import annotations

import base64
import os
import socket
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .errors import HostError, HostKeyRefused, Refused
from .facts import read
from .layout import secrets_dir
from .transport import Executor, Login, SSHExecutor, _refuse_markers, login, resolve_target

SSH_PORT = 22
DEFAULT_KEYS = ("~/.ssh/id_ed25519.pub", "~/.ssh/id_ecdsa.pub", "~/.ssh/id_rsa.pub")


def host_key_path(agent: str) -> str:
    """The guest's private host key on the host (root, 0600): kept so that a VM made
    again (after a failed create) gets the key already pinned."""
    return f"{secrets_dir(agent)}/vm_ssh_host_ed25519_key"


def host_pub_path(agent: str) -> str:
    """Its public half: read with the facts, so a re-run can check the pin."""
    return host_key_path(agent) + ".pub"


@dataclass(frozen=True)
class GuestKey:
    """The guest's host key pair (OpenSSH formats). Never printed: repr hides it."""

    private: str
    public: str

    def __repr__(self) -> str:
        return f"GuestKey(public={self.public!r})"


@dataclass(frozen=True)
class GuestSecrets:
    """What the bhyve step's plan needs beyond the sh facts to create the guest."""

    key: GuestKey
    operator_keys: tuple[str, ...]

    def __repr__(self) -> str:
        return f"GuestSecrets(key={self.key!r}, operator_keys={self.operator_keys!r})"


def generate_key(agent: str) -> GuestKey:
    """A fresh ed25519 host key for the agent's guest."""
    private = Ed25519PrivateKey.generate()
    text = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return GuestKey(text, f"{public.decode('ascii')} warden-vm-{agent}")


# One key per connection and agent until the host holds it: the re-reads of one apply
# (after each step) must plan the key that was pinned before the apply began.
_RUN_KEYS: weakref.WeakKeyDictionary[Executor, dict[str, GuestKey]] = weakref.WeakKeyDictionary()


def guest_key(executor: Executor, agent: str, pub_on_host: str | None) -> GuestKey:
    """The key the host already keeps for the guest, else this run's new one."""
    if pub_on_host is not None:
        private = read(executor, files=[host_key_path(agent)]).file(host_key_path(agent))
        if private is not None:
            return GuestKey(private.strip() + "\n", pub_on_host.strip())
    keys = _RUN_KEYS.setdefault(executor, {})
    if agent not in keys:
        keys[agent] = generate_key(agent)
    return keys[agent]


def _resolved(executor: Executor) -> Any:
    if isinstance(executor, SSHExecutor):
        return resolve_target(executor.target, executor.ssh_config)
    return None


def operator_keys(executor: Executor) -> tuple[str, ...]:
    """The public keys root in the guest accepts: those of the identities the operator
    uses for the host (IdentityFile + .pub), else the default ~/.ssh/id_*.pub."""
    where = _resolved(executor)
    candidates = [f"{path}.pub" for path in where.identity_files] if where else []
    if not candidates:
        candidates = [os.path.expanduser(p) for p in DEFAULT_KEYS]
    keys: list[str] = []
    for path in candidates:
        try:
            line = Path(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if line and line not in keys:
            keys.append(line)
    return tuple(keys)


def known_hosts_file(executor: Executor) -> str:
    """Where the pin goes: the file the host's own key is checked against."""
    where = _resolved(executor)
    if where is not None:
        return str(where.known_hosts_files[0])
    return os.path.expanduser("~/.ssh/known_hosts")


def _key_of(public: str) -> paramiko.PKey:
    kind, blob = public.split()[:2]
    return paramiko.PKey.from_type_string(kind, base64.b64decode(blob))


def pin(path: str, address: str, public: str) -> bool:
    """Record the guest's key under its address; True when the file changed. Another
    key already recorded for that address is refused (exit 2), never replaced."""
    wanted = _key_of(public)
    if os.path.isfile(path):
        _refuse_markers(path)
        known = paramiko.HostKeys(path)
        have = known.lookup(address)
        if have is not None:
            for kind, key in have.items():
                if kind == wanted.get_name() and key == wanted:
                    return False
            raise Refused(
                f"{path}: holds another SSH host key for {address}, not the one warden made "
                f"for this agent's VM ({wanted.fingerprint}); if that address belonged to a "
                f"VM that is gone, remove it (ssh-keygen -R {address} -f {path}) and run again"
            )
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    line = paramiko.hostkeys.HostKeyEntry([address], wanted).to_line() or ""
    with open(path, "a", encoding="ascii") as handle:
        handle.write(line)
    return True


class _Refuse(paramiko.MissingHostKeyPolicy):
    """The guest's key must be the pinned one; nothing is ever learned on connect."""

    def __init__(self, path: str) -> None:
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        raise HostKeyRefused(
            f"{hostname}: no SSH host key is pinned for this guest in {self.path} "
            f"(it offered {key.fingerprint}); run setup for its agent to pin it"
        )


class GuestExecutor(SSHExecutor):
    """The guest, as root, through its host's connection (or directly from `local`)."""

    def __init__(
        self,
        host: Executor,
        address: str,
        *,
        known_hosts: str,
        identities: tuple[str, ...] = (),
        timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.address = address
        self.known_hosts = known_hosts
        self.identities = identities
        self.target = f"{address} (guest, via {host.target})"
        self.accept_new = False
        self.ssh_config = None
        self.timeout = timeout
        self._jump = None
        self._seen = (self.target,)
        self.client = self._open()
        transport = self.client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)

    def _socket(self) -> Any:
        if isinstance(self.host, SSHExecutor):
            transport = self.host.client.get_transport()
            if transport is None or not transport.is_active():
                raise HostError(f"{self.host.target}: the SSH connection was lost")
            try:
                return transport.open_channel(
                    "direct-tcpip", (self.address, SSH_PORT), ("127.0.0.1", 0), timeout=self.timeout
                )
            except (paramiko.SSHException, OSError) as exc:
                raise HostError(
                    f"{self.target}: {self.host.target} cannot reach {self.address}:{SSH_PORT}: "
                    f"{exc}"
                ) from None
        try:
            return socket.create_connection((self.address, SSH_PORT), timeout=self.timeout)
        except OSError as exc:
            raise HostError(f"{self.target}: cannot connect: {exc}") from None

    def _open(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if os.path.isfile(self.known_hosts):
            _refuse_markers(self.known_hosts)
            client.load_host_keys(self.known_hosts)
        client.set_missing_host_key_policy(_Refuse(self.known_hosts))
        sock = self._socket()

        def mismatch(fingerprint: str) -> HostKeyRefused:
            return GuestKeyMismatch(
                f"{self.target}: the guest offered SSH host key {fingerprint}, not the "
                f"one warden pinned for {self.address} in {self.known_hosts}; refusing to connect"
            )

        login(
            client,
            Login(self.target, self.address, SSH_PORT, "root", self.identities),
            timeout=self.timeout,
            sock=sock,
            key_changed=mismatch,
            auth_failed=GuestAuthError,
        )
        return client

    def close(self) -> None:
        self.client.close()

    def reconnect(self) -> Executor:
        return GuestExecutor(
            self.host,
            self.address,
            known_hosts=self.known_hosts,
            identities=self.identities,
            timeout=self.timeout,
        )


class GuestKeyMismatch(HostKeyRefused):
    """The guest offered a key other than the pinned one: never "not up yet"."""


class GuestAuthError(HostError):
    """The guest answered with the pinned key but refused the operator's key (during
    the first boot, before nuageinit has given root its keys)."""


def connect_guest(host: Executor, address: str, *, timeout: float = 10.0) -> GuestExecutor:
    """One connection to the guest with the pinned key and the host's identities."""
    where = _resolved(host)
    identities = tuple(where.identity_files) if where is not None else ()
    return GuestExecutor(
        host, address, known_hosts=known_hosts_file(host), identities=identities, timeout=timeout
    )


def wait_for_guest(
    host: Executor,
    address: str,
    *,
    deadline: float,
    report: Callable[[float, str], None] | None = None,
    pause: float = 1.0,
) -> GuestExecutor:
    """Connect once the guest answers, retrying until `deadline` (time.monotonic()).

    A guest that is still booting refuses or drops connections, or does not yet accept
    root's key: tried again. A host key other than the pinned one is refused at once:
    that is never "not up yet".
    """
    start = time.monotonic()
    last = "no answer yet"
    while True:
        try:
            return connect_guest(host, address, timeout=min(10.0, max(1.0, deadline - start)))
        except HostKeyRefused:
            raise
        except HostError as exc:
            last = exc.message
        now = time.monotonic()
        if report is not None:
            report(now - start, last)
        if now >= deadline:
            raise HostError(
                f"{address}: the guest did not answer SSH within {int(now - start)}s (last: {last})"
            )
        time.sleep(min(pause, max(0.0, deadline - now)))


__all__ = [
    "GuestExecutor",
    "GuestKey",
    "GuestSecrets",
    "connect_guest",
    "generate_key",
    "guest_key",
    "host_key_path",
    "host_pub_path",
    "known_hosts_file",
    "operator_keys",
    "pin",
    "wait_for_guest",
]

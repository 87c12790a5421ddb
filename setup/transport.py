"""Run a script on a host as root, locally or over SSH, in one exec.

Every script is sent on the standard input of one `/bin/sh -s`, so a step costs one
round trip whatever it does. The command line that starts that shell becomes root
first (doas or `sudo -n` when the login user is not root) and is written so that a
root login shell of csh can read it too: one line, single quotes, no `!`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import paramiko

from .errors import HostError, HostKeyRefused
from .ops import put
from .shell import LIBRARY, RC_NOT_ROOT, q

LineHandler = Callable[[str], None]

# paramiko logs a full traceback for every failed handshake when no logging is set up;
# warden reports such failures itself, in one line.
_paramiko_log = logging.getLogger("paramiko")
_paramiko_log.addHandler(logging.NullHandler())
_paramiko_log.propagate = False

# Becomes root, then runs "$@". Exit 97 names the reason when it cannot.
_BECOME = (
    'if [ "$(id -u)" -eq 0 ]; then :; '
    "elif command -v doas >/dev/null 2>&1 && doas -n true >/dev/null 2>&1; "
    'then set -- doas -n "$@"; '
    "elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; "
    'then set -- sudo -n "$@"; '
    "else echo 'warden: the login user is not root, and neither doas -n nor sudo -n "
    f"lets it run commands as root without a password' >&2; exit {RC_NOT_ROOT}; fi; "
    'exec "$@"'
)


def remote_command(inner: str = "/bin/sh -s") -> str:
    """The exec line: become root, then run *inner* (a sh command line) as root."""
    return f"/bin/sh -c {q(_BECOME)} warden /bin/sh -c {q(inner)}"


@dataclass(frozen=True)
class Result:
    """What a script left behind: its exit code, stdout as raw bytes, stderr decoded."""

    rc: int
    out: bytes
    stderr: str

    @property
    def stdout(self) -> str:
        """stdout decoded (undecodable bytes replaced)."""
        return self.out.decode(errors="replace")


class Executor(ABC):
    """A host warden can run scripts on. One instance holds one connection."""

    target: str

    def run(
        self,
        script: str,
        *,
        inner: str = "/bin/sh -s",
        on_line: LineHandler | None = None,
    ) -> Result:
        """Run *script* (sent on stdin to *inner*) as root; never raises on rc != 0.
        Every executor starts *inner* through the same become-root line."""
        return self.execute(remote_command(inner), script.encode(), on_line)

    @abstractmethod
    def execute(self, command: str, stdin: bytes, on_line: LineHandler | None) -> Result:
        """Run the exec line *command* with *stdin*, each stdout line to *on_line*."""

    def put(
        self, path: str, content: str, *, mode: int, owner: str = "root", group: str = "wheel"
    ) -> None:
        """Place a host file of root's atomically with the given mode and owner."""
        result = self.run(LIBRARY + put(path, content, mode, owner, group).sh() + "\n")
        if result.rc != 0:
            raise HostError(f"{self.target}: could not place {path}: {result.stderr.strip()}")

    def close(self) -> None:  # noqa: B027 - optional: a local executor holds nothing
        """Release the connection, if any."""

    @abstractmethod
    def reconnect(self) -> Executor:
        """A new, separate connection to the same host (this one stays open)."""


class LocalExecutor(Executor):
    """This machine, through a local /bin/sh."""

    def __init__(self) -> None:
        self.target = "local"

    def execute(self, command: str, stdin: bytes, on_line: LineHandler | None) -> Result:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return _communicate(proc, stdin, on_line)

    def reconnect(self) -> Executor:
        """Nothing to reconnect: this machine is always here."""
        return LocalExecutor()


def _communicate(proc: subprocess.Popen[bytes], data: bytes, on_line: LineHandler | None) -> Result:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    err_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    try:
        proc.stdin.write(data)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    out = _read_lines(proc.stdout.readline, on_line)
    reader.join()
    rc = proc.wait()
    return Result(rc, out, b"".join(err_chunks).decode(errors="replace"))


def _read_lines(readline: Callable[[], bytes], on_line: LineHandler | None) -> bytes:
    lines: list[bytes] = []
    while True:
        raw = readline()
        if not raw:
            break
        lines.append(raw)
        if on_line is not None:
            on_line(raw.decode(errors="replace").rstrip("\n"))
    return b"".join(lines)


# ---------------------------------------------------------------------------- SSH


@dataclass(frozen=True)
class SSHTarget:
    """Where to connect, after ~/.ssh/config has had its say."""

    alias: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...]
    known_hosts_files: tuple[str, ...]
    proxy_jump: str | None


def parse_target(target: str) -> tuple[str | None, str, int | None]:
    """Split `[user@]host[:port]` (IPv6 in brackets) into its parts."""
    user: str | None = None
    rest = target
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
    port: int | None = None
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port = int(tail[1:])
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
        port = int(port_text)
    else:
        host = rest
    return user, host, port


def resolve_target(target: str, ssh_config: Path | None = None) -> SSHTarget:
    """Apply ~/.ssh/config (HostName, User, Port, IdentityFile, ProxyJump, UserKnownHostsFile)."""
    try:
        user, host, port = parse_target(target)
    except ValueError:
        raise HostError(f"{target}: not a valid [user@]host[:port]") from None
    config_path = ssh_config if ssh_config is not None else Path("~/.ssh/config").expanduser()
    options: dict[str, object] = {}
    if config_path.is_file():
        try:
            options = dict(paramiko.SSHConfig.from_path(str(config_path)).lookup(host))
        except (OSError, ValueError, paramiko.SSHException) as exc:
            raise HostError(f"{config_path}: cannot be read: {exc}") from None
    if "proxycommand" in options:
        raise HostError(
            f"{target}: {config_path} sets ProxyCommand for it, which warden does not run; "
            "use ProxyJump"
        )
    port_text = str(options.get("port", 22))
    if port is None and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        raise HostError(f"{config_path}: Port {port_text!r} for {target} is not a port number")
    known = options.get("userknownhostsfile")
    known_files = (
        tuple(str(known).split()) if known else ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
    )
    identities = options.get("identityfile") or []
    assert isinstance(identities, list)
    jump = options.get("proxyjump")
    return SSHTarget(
        alias=target,
        hostname=str(options.get("hostname", host)),
        port=port or int(port_text),
        user=user or str(options.get("user", "root")),
        identity_files=tuple(os.path.expanduser(str(i)) for i in identities),
        known_hosts_files=tuple(os.path.expanduser(k) for k in known_files),
        proxy_jump=None if jump in (None, "none") else str(jump),
    )


def _refuse_markers(path: str) -> None:
    """paramiko skips @revoked and @cert-authority lines; warden will not guess either way."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if line.startswith("@"):
                raise HostError(
                    f"{path}:{number}: {line.split()[0]} entries are not supported by warden; "
                    "keep them in a file that UserKnownHostsFile for warden's hosts does not name"
                )


class _KnownHostsPolicy(paramiko.MissingHostKeyPolicy):
    """Refuse unknown host keys, or with accept_new record them (OpenSSH's accept-new).

    A key that differs from a recorded one never reaches this policy: paramiko raises
    BadHostKeyException for it, and warden reports that as refused too.
    """

    def __init__(self, accept_new: bool, record_to: str) -> None:
        self.accept_new = accept_new
        self.record_to = record_to

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        fingerprint = key.fingerprint
        if not self.accept_new:
            raise HostKeyRefused(
                f"{hostname}: unknown SSH host key {fingerprint}. Verify it out of band, then "
                f"add it to {self.record_to} or run again with --accept-new."
            )
        os.makedirs(os.path.dirname(self.record_to) or ".", exist_ok=True)
        entry = paramiko.hostkeys.HostKeyEntry([hostname], key)
        with open(self.record_to, "a", encoding="ascii") as handle:
            handle.write(entry.to_line() or "")
        client.get_host_keys().add(hostname, key.get_name(), key)


@dataclass(frozen=True)
class Login:
    """Who logs in where: *target* names the host in every message."""

    target: str
    hostname: str
    port: int
    user: str
    identities: tuple[str, ...]


def login(
    client: paramiko.SSHClient,
    where: Login,
    *,
    timeout: float,
    sock: Any,
    key_changed: Callable[[str], HostKeyRefused],
    auth_failed: type[HostError] = HostError,
) -> None:
    """Log *client* in as every warden connection does (its identities, else the default
    keys; the agent; one timeout for the TCP connect, the banner and the auth), and turn
    paramiko's failures into warden's: a host key that differs from the recorded one
    (*key_changed*, given its fingerprint), a refused login, an unreachable host. A
    failed login closes the client."""
    try:
        client.connect(
            where.hostname,
            port=where.port,
            username=where.user,
            key_filename=cast(Any, list(where.identities) or None),
            look_for_keys=not where.identities,
            allow_agent=True,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            sock=sock,
        )
    except HostKeyRefused:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise key_changed(exc.key.fingerprint) from None
    except paramiko.AuthenticationException as exc:
        client.close()
        raise auth_failed(f"{where.target}: SSH authentication failed: {exc}") from None
    except (OSError, paramiko.SSHException, EOFError) as exc:
        client.close()
        raise HostError(f"{where.target}: cannot connect: {exc}") from None


class SSHExecutor(Executor):
    """A host over SSH (paramiko): one connection for the whole run."""

    def __init__(
        self,
        target: str,
        *,
        accept_new: bool = False,
        ssh_config: Path | None = None,
        timeout: float = 10.0,
        _seen: tuple[str, ...] = (),
    ) -> None:
        self.target = target
        self.accept_new = accept_new
        self.ssh_config = ssh_config
        self.timeout = timeout
        self._jump: SSHExecutor | None = None
        if target in _seen:
            raise HostError(f"{target}: ProxyJump loops back to itself ({' -> '.join(_seen)})")
        self._seen = (*_seen, target)
        try:
            self.client = self._connect(resolve_target(target, ssh_config))
        except BaseException:
            if self._jump is not None:
                self._jump.close()
            raise
        transport = self.client.get_transport()
        if transport is not None:
            # A dead peer is noticed instead of hanging a run forever on a half-open link.
            transport.set_keepalive(15)

    def _connect(self, where: SSHTarget) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        for path in ("/etc/ssh/ssh_known_hosts",):
            if os.path.isfile(path):
                client.load_system_host_keys(path)
        for path in where.known_hosts_files:
            if os.path.isfile(path):
                _refuse_markers(path)
                client.load_host_keys(path)
        client.set_missing_host_key_policy(
            _KnownHostsPolicy(self.accept_new, where.known_hosts_files[0])
        )
        sock: paramiko.Channel | None = None
        if where.proxy_jump:
            sock = self._through_jump(where)

        def changed(fingerprint: str) -> HostKeyRefused:
            return HostKeyRefused(
                f"{self.target}: the SSH host key of {where.hostname} CHANGED "
                f"(now {fingerprint}); refusing to connect. If the host was "
                "reinstalled, remove its old key from known_hosts after checking."
            )

        login(
            client,
            Login(self.target, where.hostname, where.port, where.user, where.identity_files),
            timeout=self.timeout,
            sock=sock,
            key_changed=changed,
        )
        return client

    def _through_jump(self, where: SSHTarget) -> paramiko.Channel:
        """Open a direct-tcpip channel to the target through its ProxyJump chain."""
        assert where.proxy_jump is not None
        hops = where.proxy_jump.split(",")
        if len(hops) != 1:
            raise HostError(f"{self.target}: ProxyJump chains of several hops are not supported")
        jump = SSHExecutor(
            hops[-1],
            accept_new=self.accept_new,
            ssh_config=self.ssh_config,
            timeout=self.timeout,
            _seen=self._seen,
        )
        self._jump = jump
        transport = jump.client.get_transport()
        assert transport is not None
        try:
            return transport.open_channel(
                "direct-tcpip",
                (where.hostname, where.port),
                ("127.0.0.1", 0),
                timeout=self.timeout,
            )
        except (paramiko.SSHException, OSError) as exc:
            raise HostError(
                f"{self.target}: jump host {hops[-1]} cannot reach "
                f"{where.hostname}:{where.port}: {exc}"
            ) from None

    def execute(self, command: str, stdin: bytes, on_line: LineHandler | None) -> Result:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise HostError(f"{self.target}: the SSH connection was lost")
        try:
            channel = transport.open_session(timeout=self.timeout)
            channel.exec_command(command)
            channel.sendall(stdin)
            channel.shutdown_write()
            err_chunks: list[bytes] = []
            stderr = channel.makefile_stderr("rb")
            reader = threading.Thread(target=lambda: err_chunks.append(stderr.read()))
            reader.start()
            out = _read_lines(channel.makefile("rb").readline, on_line)
            reader.join()
            rc = channel.recv_exit_status()
        except (TimeoutError, paramiko.SSHException, OSError) as exc:
            raise HostError(f"{self.target}: the SSH session failed: {exc}") from None
        return Result(rc, out, b"".join(err_chunks).decode(errors="replace"))

    def close(self) -> None:
        self.client.close()
        if self._jump is not None:
            self._jump.close()

    def reconnect(self) -> Executor:
        """A fresh handshake (through the same jump host, if any); the host key is
        checked against known_hosts as for the first connection."""
        return SSHExecutor(
            self.target, accept_new=False, ssh_config=self.ssh_config, timeout=self.timeout
        )


def connect(target: str, *, accept_new: bool = False, ssh_config: Path | None = None) -> Executor:
    """The executor for a target: `local` runs here, anything else goes over SSH."""
    if target == "local":
        return LocalExecutor()
    return SSHExecutor(target, accept_new=accept_new, ssh_config=ssh_config)

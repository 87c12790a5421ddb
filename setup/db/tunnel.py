"""A local port that leads to the db jail's PostgreSQL over warden's SSH connection.

psycopg (libpq) needs a socket it can connect to; when warden runs remotely the jail's
address is only reachable from the host, so a listener on 127.0.0.1 bridges each
connection to a paramiko `direct-tcpip` channel on the run's one SSH connection (no
second login, no `ssh -L`). The host's sshd then connects to the jail from the host's
own address on warden0 (the agent's .1), which is the only address pg_hba lets the
admin role in from.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Iterator
from typing import Any

import paramiko

from ..errors import HostError
from ..transport import Executor, LocalExecutor, SSHExecutor

_POLL = 0.2  # seconds: how soon the threads notice the forward is closing
_CHUNK = 65536


def _pump(sock: socket.socket, chan: paramiko.Channel, stop: threading.Event) -> None:
    """Copy bytes both ways until either side closes or the forward stops."""
    both: list[Any] = [sock, chan]
    try:
        while not stop.is_set():
            readable, _, _ = select.select(both, [], [], _POLL)
            if sock in readable:
                data = sock.recv(_CHUNK)
                if not data:
                    break
                chan.sendall(data)
            if chan in readable:
                data = chan.recv(_CHUNK)
                if not data:
                    break
                sock.sendall(data)
    except (OSError, paramiko.SSHException):
        pass
    finally:
        chan.close()
        with contextlib.suppress(OSError):
            sock.close()


class _Forward:
    def __init__(self, transport: paramiko.Transport, dest: tuple[str, int], timeout: float):
        self.transport = transport
        self.dest = dest
        self.timeout = timeout
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(_POLL)
        self.address: tuple[str, int] = self.listener.getsockname()

    def open_channel(self, origin: tuple[str, int]) -> paramiko.Channel:
        return self.transport.open_channel("direct-tcpip", self.dest, origin, timeout=self.timeout)

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                sock, origin = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                chan = self.open_channel(origin)
            except (paramiko.SSHException, OSError):
                sock.close()  # libpq reports the closed connection; the probe said why
                continue
            pump = threading.Thread(
                target=_pump, args=(sock, chan, self.stop), name="warden-db-forward", daemon=True
            )
            self.threads.append(pump)
            pump.start()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(timeout=2 * _POLL + 1)


@contextlib.contextmanager
def forward(
    executor: Executor, host: str, port: int, *, timeout: float = 10.0
) -> Iterator[tuple[str, int]]:
    """(address, port) where psycopg reaches *host*:*port* as seen from the executor's host.

    Locally that is (host, port) itself. Over SSH, a listener on 127.0.0.1:<free port>
    that lives as long as the `with` block; its threads end with it.
    """
    if isinstance(executor, LocalExecutor):
        yield (host, port)
        return
    if not isinstance(executor, SSHExecutor):
        raise HostError(f"{executor.target}: cannot forward a port over this kind of connection")
    where = f"the db jail {host}:{port} through {executor.target}"
    transport = executor.client.get_transport()
    if transport is None or not transport.is_active():
        raise HostError(f"cannot reach {where}: the SSH connection was lost")
    fwd = _Forward(transport, (host, port), timeout)
    try:
        # One probe channel first, so an unreachable jail is reported with sshd's reason
        # instead of as a connection libpq saw closed. PostgreSQL logs nothing for a
        # connection that sends no bytes.
        fwd.open_channel(("127.0.0.1", 0)).close()
    except (paramiko.SSHException, OSError) as exc:
        fwd.close()
        raise HostError(f"cannot reach {where}: {exc}") from None
    server = threading.Thread(target=fwd.serve, name="warden-db-listener", daemon=True)
    server.start()
    try:
        yield fwd.address
    finally:
        fwd.close()
        server.join(timeout=2 * _POLL + 1)

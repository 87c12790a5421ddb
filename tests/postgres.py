"""A real PostgreSQL where a db jail would be, for the integration tests.

The "jail" is a network namespace of its own, linked by a veth pair to a test host's
namespace only: the host side holds the agent's gateway (10.0.1.1/24, warden0's alias
on FreeBSD), the jail side the db jail's address (10.0.1.5/24), and PostgreSQL listens
there. Nothing else on the machine can reach it; the test host's sshd can, so a
`direct-tcpip` channel through that sshd arrives from 10.0.1.1, as on FreeBSD.

The recipe (initdb as postgres, fsync off, ~1.5 s) is the one verified in
/work/shared/reference/test-host.md. Namespaces are named like TestNetwork's, so a run
that dies has them swept by the next one; the postmaster dies with the test process.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.testhost import _PID, _SEQ, TestHost, TestHostError, _run

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
READY_TIMEOUT = 20.0


def pg_bin() -> Path:
    """The newest PostgreSQL server binaries Debian installed (postgresql-NN)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise TestHostError("no PostgreSQL server installed: apt-get install postgresql")
    return Path(found[-1]).parent


class JailPostgres:
    """PostgreSQL in its own network namespace behind *host*; `with` stops everything."""

    __test__ = False

    def __init__(
        self,
        host: TestHost,
        *,
        hba: str,
        gateway: str = "10.0.1.1",
        address: str = "10.0.1.5",
        prefix: int = 24,
        port: int = 5432,
        settings: dict[str, str] | None = None,
    ) -> None:
        if host.netns is None:
            raise TestHostError(f"{host!r} has no network namespace (use TestNetwork.host)")
        self.host = host
        self.hba = hba
        self.gateway = gateway
        self.address = address
        self.prefix = prefix
        self.port = port
        self.settings = settings or {}
        self.netns: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix=f"testhost-{_PID}-pg-"))
        self.data = self.tmp / "data"
        self.sockets = self.tmp / "sockets"
        self.log_path = self.tmp / "postgres.log"
        self.bin = pg_bin()
        self._pw = pwd.getpwnam("postgres")

    # ---- life cycle

    def start(self) -> Self:
        try:
            self._network()
            self._initdb()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def _network(self) -> None:
        seq = next(_SEQ)
        ns = f"wd{_PID}n{seq}"
        _run(["ip", "netns", "add", ns])
        self.netns = ns
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        near = f"jail{seq}"
        hns = str(self.host.netns)
        _run(["ip", "-n", hns, "link", "add", near, "type", "veth", "peer", "name", "eth0",
              "netns", ns])  # fmt: skip
        _run(["ip", "-n", hns, "addr", "add", f"{self.gateway}/{self.prefix}", "dev", near])
        _run(["ip", "-n", hns, "link", "set", near, "up"])
        _run(["ip", "-n", ns, "addr", "add", f"{self.address}/{self.prefix}", "dev", "eth0"])
        _run(["ip", "-n", ns, "link", "set", "eth0", "up"])

    def _as_postgres(self, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return _run(["runuser", "-u", "postgres", "--", *argv], **kwargs)

    def _initdb(self) -> None:
        for d in (self.tmp, self.sockets):
            d.mkdir(exist_ok=True)
            os.chown(d, self._pw.pw_uid, self._pw.pw_gid)
        self._as_postgres(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--no-sync",
             "--auth-local=peer", "--auth-host=reject", "-E", "UTF8", "--locale=C"]
        )  # fmt: skip
        hba = self.data / "pg_hba.conf"
        hba.write_text(self.hba)
        os.chown(hba, self._pw.pw_uid, self._pw.pw_gid)

    def _launch(self) -> None:
        netns_path = f"/run/netns/{self.netns}"
        uid, gid = self._pw.pw_uid, self._pw.pw_gid

        def enter() -> None:  # in the child, before exec: the jail's network, then postgres
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(netns_path, os.O_RDONLY)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            os.close(fd)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it

        options = {
            "listen_addresses": self.address,
            "port": str(self.port),
            "unix_socket_directories": str(self.sockets),
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            "logging_collector": "off",
            **self.settings,
        }
        argv = [str(self.bin / "postgres"), "-D", str(self.data)]
        for key, value in options.items():
            argv += ["-c", f"{key}={value}"]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.tmp,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                start_new_session=True,
                preexec_fn=enter,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if "ready to accept connections" in self.log():
                return
            if self.proc.poll() is not None:
                raise TestHostError(f"postgres exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.02)
        raise TestHostError(f"postgres not ready after {READY_TIMEOUT}s:\n{self.log()}")

    def stop(self) -> None:
        """Stop the server (fast shutdown), then remove its namespace, veth and files."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.netns is not None:  # the veth pair goes with it
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, check=False)
            self.netns = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Self:
        return self if self.proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- using it

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def psql(self, script: str, *, dbname: str = "postgres") -> str:
        """Run *script* with psql as the postgres user on the local socket (peer auth)."""
        done = self._as_postgres(
            [str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", str(self.sockets), "-p", str(self.port), "-d", dbname, "-f", "-"],
            input=script,
        )  # fmt: skip
        return done.stdout

    def in_jail(
        self, argv: list[str], *, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the jail's network namespace (its only address: the jail's)."""
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{self.netns}", "--", *argv],
            capture_output=True,
            text=True,
            check=False,
            env={"PATH": f"{self.bin}:/usr/bin:/bin", "LANG": "C.UTF-8", **(env or {})},
        )

    def reload(self) -> None:
        """Re-read pg_hba.conf (SIGHUP), as `service postgresql reload` would."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.2)

    def write_hba(self, text: str) -> None:
        (self.data / "pg_hba.conf").write_text(text)
        self.reload()

"""Throwaway "FreeBSD hosts" on Linux: real OpenSSH sshd, a private view of the disk.

A `TestHost` is sshd running in its own mount and PID namespaces with overlayfs
over /etc, /usr/local, /var, /root, /home and /srv (writes land in upper dirs under the host's
temp dir, the machine stays clean), tmpfs on /run and /tmp, its own /proc, and
the FreeBSD command double (tests/double) first on PATH.  Inside, as on FreeBSD,
gid 0 is named `wheel`, a `www` user and group (80) exist and root's shell is
/bin/sh.  The toolkit talks to it over SSH exactly as it would to a real host
and writes its real absolute paths.  sshd is the init of the host's PID
namespace: whatever a session leaves running ends with the host. Beside it runs
the double's server (tests/double/server.py): the double imported once, a call is
a fork of it, not a new Python.

A `TestNetwork` gives hosts their own addresses in network namespaces, including
a host reachable only through another one (a jump host, a guest behind its host).

The double's Bastille jails are real inside a host (tests/double/jail_kernel.py):
/run/freebsd-double/kernel says "chroot" in a plain TestHost (it shares the
machine's network namespace: jails get a real root, no network of their own) and
"vnet" in a TestNetwork host (also a network namespace per jail on a real bridge,
and a real PostgreSQL in the db jail).  All of it ends with the host.

Recipes verified in /work/shared/reference/test-host.md.  Needs root, util-linux
(unshare, nsenter, mount), openssh-server and, for `TestNetwork`, iproute2.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import importlib
import ipaddress
import itertools
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SSHD = "/usr/sbin/sshd"
DOUBLE_BIN = "/usr/local/libexec/freebsd-double/bin"
DOUBLE_STATE = "/var/db/freebsd-double"
DOUBLE_SOCKET = "/run/freebsd-double/double.sock"  # tests/double/install.py SOCKET
HOST_PATH = f"{DOUBLE_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OVERLAYS = ("etc", "usr/local", "var", "root", "home", "srv")
READY_TIMEOUT = 5.0
INSTALL_HINT = "apt-get install util-linux openssh-server iproute2"

# FreeBSD users and groups that Debian lacks: (name, id) as in FreeBSD's /etc/group.
FREEBSD_GROUPS = (("wheel", 0, "root"), ("www", 80, ""))
FREEBSD_USERS = (("www", 80, 80, "World Wide Web Owner", "/nonexistent"),)

_PID = os.getpid()
_SEQ = itertools.count(1)


class TestHostError(RuntimeError):
    """A throwaway host could not be started or driven."""


# --------------------------------------------------------------------------- preconditions


@functools.cache
def _overlay_works() -> str | None:
    """Mount an overlay in a scratch mount namespace: the only honest test."""
    with tempfile.TemporaryDirectory(prefix="testhost-probe-") as d:
        for sub in ("lower", "upper", "work", "merged"):
            os.mkdir(os.path.join(d, sub))
        opts = f"lowerdir={d}/lower,upperdir={d}/upper,workdir={d}/work"
        probe = subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                opts,
                f"{d}/merged",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            return f"overlayfs cannot be mounted: {probe.stderr.strip()}"
    return None


def missing_preconditions(network: bool = False) -> str | None:
    """Say what this machine lacks to run throwaway hosts, or None when it has it all."""
    if os.geteuid() != 0:
        return "throwaway test hosts need root (mount namespaces, overlayfs, network namespaces)"
    tools = ["unshare", "nsenter", "mount"] + (["ip"] if network else [])
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not os.access(SSHD, os.X_OK):
        missing.append(SSHD)
    if missing:
        return f"missing {', '.join(missing)}: {INSTALL_HINT}"
    overlay = _overlay_works()
    if overlay:
        return f"{overlay} (needs a kernel with overlayfs: modprobe overlay)"
    return None


# --------------------------------------------------------------------------- small helpers


def generate_key(path: Path) -> str:
    """Write an ed25519 private key (OpenSSH format, 0600) and `path.pub`; return the pub line."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private)
    path.with_name(path.name + ".pub").write_text(f"{public} warden-test\n")
    return public


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Runs in the child before exec: sshd dies if the test process is killed outright."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _run(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise TestHostError(f"{shlex.join(argv)} failed ({result.returncode}): {result.stderr}")
    return result


def _pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _ns_id(pid: int, kind: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    return [child for child in _pids() if _parent(child) == pid]


def _parent(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = list(pids)
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = [pid for pid in left if _alive(pid)]
    return left


def _double() -> ModuleType | None:
    """tests/double/install.py when it exists (another part of the suite provides it)."""
    try:
        return importlib.import_module("tests.double.install")
    except ModuleNotFoundError as e:
        if e.name in ("tests", "tests.double", "tests.double.install"):
            return None
        raise


@functools.cache
def _sweep_stale_dirs(base_dir: Path | None) -> None:
    """Remove host dirs left by test runs that were killed (their pid is gone)."""
    for entry in Path(base_dir or tempfile.gettempdir()).glob("testhost-*-*"):
        pid = entry.name.split("-")[1]
        if pid.isdigit() and int(pid) != _PID and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(entry, ignore_errors=True)


def _copy_with_lines(src: str, dst: Path, lines: Iterable[str]) -> None:
    """Copy a passwd-style file into the overlay upper dir, adding the entries it lacks.

    They go first, so that gid 0 is named `wheel` (as on FreeBSD: `stat -c %G` and
    `ls -l` say wheel) while the name `root` still resolves.
    """
    if not os.path.exists(src):
        return
    text = Path(src).read_text()
    names = {line.split(":", 1)[0] for line in text.splitlines()}
    extra = "".join(f"{line}\n" for line in lines if line.split(":", 1)[0] not in names)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)
    st = os.stat(src)
    os.chown(dst, st.st_uid, st.st_gid)
    dst.write_text(extra + text)


# --------------------------------------------------------------------------- one host


class TestHost:
    """sshd in its own mount namespace (and optionally network namespace) over overlays.

    `TestHost("web").start()` or `with TestHost("web") as host:`.  Without `netns`
    it listens on `address` (127.0.0.1) on a free port; in a network namespace it
    listens on port 22 of the namespace's address, like a real host.
    """

    __test__ = False

    def __init__(
        self,
        name: str = "host",
        *,
        address: str = "127.0.0.1",
        port: int | None = None,
        netns: str | None = None,
        client_key: Path | None = None,
        state: dict[str, Any] | None = None,
        double: bool = True,
        via: TestHost | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.address = address
        self.port = port if port is not None else (22 if netns else 0)
        self._pick_port = port is None and netns is None
        self.netns = netns
        self.via = via  # the host this one is reachable through, if any
        _sweep_stale_dirs(base_dir)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"testhost-{_PID}-{name}-", dir=base_dir))
        self.upper = self.tmp / "upper"
        self.has_double = False
        #: the sh line starting the double's server, if its client could be built
        self._double_server = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._mnt_ns: str | None = None
        self._sshd_pid: int | None = None
        self._state = state
        self._want_double = double
        self._sshd_dir = self.tmp / "sshd"
        self._log = self.tmp / "sshd.log"
        self.client_key = client_key or self._sshd_dir / "client_ed25519_key"
        self._host_key_public = ""

    # ---- life cycle

    def start(self) -> Self:
        try:
            self._prepare()
            for _attempt in range(5):
                if self._pick_port:
                    self.port = _free_port(self.address)
                self._write_sshd_config()
                if self._launch():
                    return self
            raise TestHostError(f"{self.name}: no free port found\n{self.sshd_log()}")
        except BaseException:
            self.stop()
            raise

    def _prepare(self) -> None:
        for d in OVERLAYS:
            (self.upper / d).mkdir(parents=True, exist_ok=True)
            (self.tmp / "work" / d).mkdir(parents=True, exist_ok=True)
        self._sshd_dir.mkdir()
        self._host_key_public = generate_key(self._sshd_dir / "host_ed25519_key")
        if not self.client_key.exists():
            generate_key(self.client_key)
        client_pub = self.client_key.with_name(self.client_key.name + ".pub").read_text()
        (self._sshd_dir / "authorized_keys").write_text(client_pub)

        etc = self.upper / "etc"
        _copy_with_lines(
            "/etc/group",
            etc / "group",
            [f"{n}:x:{gid}:{members}" for n, gid, members in FREEBSD_GROUPS],
        )
        _copy_with_lines(
            "/etc/gshadow",
            etc / "gshadow",
            [f"{n}:!::{members}" for n, _, members in FREEBSD_GROUPS],
        )
        _copy_with_lines(
            "/etc/passwd",
            etc / "passwd",
            [
                f"{n}:x:{uid}:{gid}:{gecos}:{home}:/usr/sbin/nologin"
                for n, uid, gid, gecos, home in FREEBSD_USERS
            ],
        )
        _copy_with_lines(
            "/etc/shadow", etc / "shadow", [f"{n}:*:19000:0:99999:7:::" for n, *_ in FREEBSD_USERS]
        )
        # root's shell is sh, as on FreeBSD 14 (and the machine's ~/.bashrc stays out of it)
        passwd = etc / "passwd"
        passwd.write_text(
            re.sub(
                r"^(root:[^\n]*:)[^:\n]*$", r"\1/bin/sh", passwd.read_text(), count=1, flags=re.M
            )
        )
        profile_d = etc / "profile.d"
        profile_d.mkdir(exist_ok=True)
        (profile_d / "freebsd-double.sh").write_text(f'PATH="{HOST_PATH}"\nexport PATH\n')

        install = _double() if self._want_double else None
        if install is not None:
            install.install_double(
                self.upper / DOUBLE_BIN.lstrip("/"), state_dir=DOUBLE_STATE, seen_as=DOUBLE_BIN
            )
            install.seed_state(self.upper / DOUBLE_STATE.lstrip("/"), self._state)
            # stub /etc/rc.subr, /etc/defaults/rc.conf, /etc/rc.d/devfs for `service`
            install.install_base_system(self.upper)
            self.has_double = True
            if (self.upper / DOUBLE_BIN.lstrip("/")).parent.joinpath("client").exists():
                self._double_server = install.server_command(seen_as=DOUBLE_BIN)

    def _write_sshd_config(self) -> None:
        run = "/run/testhost"  # self._sshd_dir, bind-mounted inside the host
        (self._sshd_dir / "sshd_config").write_text(
            f"Port {self.port}\n"
            f"ListenAddress {self.address}\n"
            f"HostKey {run}/host_ed25519_key\n"
            f"PidFile {run}/sshd.pid\n"
            f"AuthorizedKeysFile {run}/authorized_keys\n"
            "PermitRootLogin prohibit-password\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "StrictModes no\n"
            "UseDNS no\n"
            "PrintMotd no\n"
            "PrintLastLog no\n"
            "AllowTcpForwarding yes\n"
            "AllowStreamLocalForwarding yes\n"
            "MaxStartups 100\n"
            "MaxSessions 100\n"
            "LogLevel VERBOSE\n"
            "Subsystem sftp internal-sftp\n"
            f"SetEnv PATH={HOST_PATH}\n"
        )

    def _host_script(self) -> str:
        t = shlex.quote(str(self.tmp))
        mounts = "".join(
            f"mount -t overlay overlay -o lowerdir=/{d},upperdir={t}/upper/{d},"
            f"workdir={t}/work/{d} /{d}\n"
            for d in OVERLAYS
        )
        return (
            "set -eu\n"
            f"{mounts}"
            # drop this namespace's copies of /run/netns/* so deleted netns do not linger
            "umount -R -l /run/netns 2>/dev/null || true\n"
            "mount -t tmpfs -o mode=0755 tmpfs /run\n"
            "mkdir -p /run/sshd /run/testhost /run/freebsd-double\n"
            # the double's jails may act on the kernel here (tests/double/jail_kernel.py):
            # mounts in this mount namespace; network namespaces only in a host of its own
            f"echo {'vnet' if self.netns else 'chroot'} > /run/freebsd-double/kernel\n"
            f"mount --bind {t}/sshd /run/testhost\n"
            "mount -t tmpfs -o mode=1777 tmpfs /tmp\n"
            "mount -t proc proc /proc\n"  # ps, pgrep: this host's processes only
            # the double's server (tests/double/server.py): one import for every call
            f"{self._double_server}\n"
            f"exec {SSHD} -D -e -f /run/testhost/sshd_config\n"
        )

    def _launch(self) -> bool:
        """Start sshd; True once it listens, False if the port was taken (retry)."""
        script = self.tmp / "host.sh"
        script.write_text(self._host_script())
        # its own PID namespace too: sshd is its init, reaps orphans, and when it ends
        # the kernel ends everything a session left running
        argv = [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--pid",
            "--fork",
            "--kill-child",
            "sh",
            str(script),
        ]
        if self.netns:
            argv = ["nsenter", f"--net=/run/netns/{self.netns}", *argv]
        with self._log.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if "Server listening on" in self.sshd_log() and self._double_server_ready():
                self._mnt_ns = _ns_id(self.proc.pid, "mnt")
                self._sshd_pid = _children(self.proc.pid)[0]
                return True
            if self.proc.poll() is not None:
                log_text = self.sshd_log()
                if "Address already in use" in log_text and self._pick_port:
                    return False
                raise TestHostError(
                    f"sshd for test host {self.name!r} exited with {self.proc.returncode}:\n"
                    f"{log_text}"
                )
            time.sleep(0.003)
        raise TestHostError(
            f"sshd for test host {self.name!r} not listening on {self.address}:{self.port} "
            f"after {READY_TIMEOUT}s:\n{self.sshd_log()}"
        )

    def _double_server_ready(self) -> bool:
        """The double's server listens (it makes its socket whole, by a rename)."""
        if not self._double_server or self.proc is None:
            return True
        sshd = _children(self.proc.pid)
        return bool(sshd) and os.path.exists(f"/proc/{sshd[0]}/root{DOUBLE_SOCKET}")

    def stop(self) -> None:
        """End sshd and everything started inside the host, then remove its files."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            self._stop_postgres()
            sshd = _children(proc.pid)  # unshare -> sshd (init of the host's PID namespace)
            # per-connection children first, so that sshd reaps them (no zombies left over)
            children = [c for pid in sshd for c in _children(pid) if _comm(c) == "sshd"]
            left = _wait_gone(children, 0.5)
            for pid in left:
                _kill(pid, signal.SIGTERM)
            left = _wait_gone(left, 1.0)
            for pid in left:
                _kill(pid, signal.SIGKILL)
            _wait_gone(left, 1.0)
            # what `exec` left running inside the host's mounts (outside its PID namespace)
            if self._mnt_ns:
                strays = [
                    p
                    for p in _pids()
                    if p != proc.pid and p not in sshd and _ns_id(p, "mnt") == self._mnt_ns
                ]
                for pid in strays:
                    _kill(pid, signal.SIGKILL)
                _wait_gone(strays, 2.0)
            for pid in sshd:
                _kill(pid, signal.SIGTERM)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()  # --kill-child: sshd and its PID namespace go with it
                proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _stop_postgres(self) -> None:
        """Immediate shutdown (SIGQUIT) of every postmaster the double started in this host
        (the host's and its jails'), before the PID namespace ends: a SIGKILLed one would
        leave its SysV shared memory segment in the machine's IPC namespace."""
        if not self._mnt_ns:
            return
        postmasters = [
            pid
            for pid in _pids()
            if _comm(pid) == "postgres"
            and _ns_id(pid, "mnt") == self._mnt_ns
            and _comm(_parent(pid)) != "postgres"
        ]
        for pid in postmasters:
            _kill(pid, signal.SIGQUIT)
        _wait_gone(postmasters, 5.0)

    def __enter__(self) -> Self:
        return self if self.proc is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<TestHost {self.name} {self.address}:{self.port} netns={self.netns}>"

    # ---- looking inside

    @property
    def pid(self) -> int:
        """`unshare`, parent of sshd, in the host's mount (and network) namespaces."""
        if self.proc is None or self.proc.poll() is not None:
            raise TestHostError(f"test host {self.name!r} is not running")
        return self.proc.pid

    @property
    def sshd_pid(self) -> int:
        """The listening sshd: init of the host's PID namespace, for nsenter -t."""
        if self._sshd_pid is None or self.proc is None or self.proc.poll() is not None:
            raise TestHostError(f"test host {self.name!r} is not running")
        return self._sshd_pid

    def exec(
        self, cmd: list[str] | str, input: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a command inside the host (its mounts, its network), as an SSH session would."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        # its PID namespace too: what it leaves running is reaped by sshd and ends with the host
        ns = ["-m", "-p", "-n"] if self.netns else ["-m", "-p"]
        result = subprocess.run(
            ["nsenter", "-t", str(self.sshd_pid), *ns, "--", *argv],
            input=input,
            capture_output=True,
            check=False,
            env={
                "PATH": HOST_PATH,
                "HOME": "/root",
                "USER": "root",
                "LOGNAME": "root",
                "SHELL": "/bin/sh",
                "LANG": "C.UTF-8",
            },
        )
        if check and result.returncode != 0:
            raise TestHostError(
                f"{self.name}: {argv!r} exited {result.returncode}: "
                f"{result.stderr.decode(errors='replace')}"
            )
        return result

    def read_file(self, path: str) -> bytes:
        return self.exec(["cat", "--", path]).stdout

    def exists(self, path: str) -> bool:
        return self.exec(["test", "-e", path], check=False).returncode == 0

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        """Create a file inside the host (test setup), parents included."""
        payload = data.encode() if isinstance(data, str) else data
        self.exec(
            [
                "sh",
                "-c",
                'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"',
                "sh",
                path,
                f"{mode:o}",
            ],
            input=payload,
        )

    def sshd_log(self) -> str:
        try:
            return self._log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def accepted_logins(self) -> int:
        return self.sshd_log().count("Accepted publickey")

    def calls(self) -> list[dict[str, Any]]:
        """The double's log of every FreeBSD command run on this host."""
        install = _double()
        if install is None or not self.has_double:
            return []
        return list(install.read_calls(self.upper / DOUBLE_STATE.lstrip("/")))

    def host_key_line(self) -> str:
        """known_hosts line for this host, as ssh and paramiko look it up."""
        where = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{where} {self._host_key_public}"


# --------------------------------------------------------------------------- client files


def write_known_hosts(path: Path, hosts: Iterable[TestHost]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{host.host_key_line()}\n" for host in hosts))
    return path


def write_ssh_config(
    path: Path,
    hosts: Sequence[tuple[str, TestHost, str | None]],
    known_hosts: Path | None = None,
) -> Path:
    """OpenSSH client config: one `Host ALIAS` block per (alias, host, jump alias or None).

    Also writes the known_hosts file it names (default: next to `path`).
    """
    known_hosts = known_hosts or path.with_name("known_hosts")
    write_known_hosts(known_hosts, [host for _, host, _ in hosts])
    blocks = []
    for alias, host, jump in hosts:
        lines = [
            f"Host {alias}",
            f"    HostName {host.address}",
            f"    Port {host.port}",
            "    User root",
            f"    IdentityFile {host.client_key}",
            "    IdentitiesOnly yes",
            f"    UserKnownHostsFile {known_hosts}",
            "    GlobalKnownHostsFile /dev/null",
            "    StrictHostKeyChecking yes",
            "    BatchMode yes",
        ]
        if jump:
            lines.append(f"    ProxyJump {jump}")
        blocks.append("\n".join(lines) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(blocks))
    return path


# --------------------------------------------------------------------------- several hosts

LOCK_DIR = Path("/run/lock/warden-testnet")
SUBNETS = ipaddress.IPv4Network("10.231.0.0/16")


def _lock_subnet(index: int) -> int | None:
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK_DIR / f"{index}.lock", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class _Subnet:
    """A /30 of 10.231.0.0/16 held by a lock file: free again when this process ends."""

    def __init__(self) -> None:
        for index, net in enumerate(SUBNETS.subnets(new_prefix=30)):
            fd = _lock_subnet(index)
            if fd is not None:
                self.fd = fd
                self.net = str(net)
                self.near = str(net.network_address + 1)
                self.far = str(net.network_address + 2)
                return
        raise TestHostError("no free /30 left in 10.231.0.0/16")

    def release(self) -> None:
        os.close(self.fd)


def _sweep_stale() -> None:
    """Remove namespaces and veths left by test runs that died (their pid is gone)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    for match in re.finditer(r"^(wd(\d+)n\d+)", listed.stdout, re.M):
        if int(match[2]) != _PID and not os.path.exists(f"/proc/{match[2]}"):
            subprocess.run(["ip", "netns", "del", match[1]], capture_output=True, check=False)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False)
    for match in re.finditer(r"^\d+: (wd(\d+)r\d+)@", links.stdout, re.M):
        if int(match[2]) != _PID and not os.path.exists(f"/proc/{match[2]}"):
            subprocess.run(["ip", "link", "del", match[1]], capture_output=True, check=False)
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "type", "unreachable"],
        capture_output=True,
        text=True,
        check=False,
    )
    for match in re.finditer(r"^unreachable (10\.231\.\d+\.\d+/30)", routes.stdout, re.M):
        net = ipaddress.IPv4Network(match[1])
        index = (int(net.network_address) - int(SUBNETS.network_address)) // 4
        fd = _lock_subnet(index)
        if fd is not None:  # nobody holds it: left by a run that died
            subprocess.run(
                ["ip", "route", "del", "unreachable", match[1]], capture_output=True, check=False
            )
            os.close(fd)


class TestNetwork:
    """Hosts in network namespaces, each with its own 10.231.x.y address.

    `net.host("web")` is reachable from here; `net.host("guest", behind=web)` lives
    in a namespace linked only to web's, so only web (e.g. its sshd, as a jump
    host) can reach it.  `close()` stops the hosts and removes every namespace,
    veth and address lock, also after a failure half way.
    """

    __test__ = False

    def __init__(self, client_key: Path | None = None, base_dir: Path | None = None) -> None:
        self.client_key = client_key
        self.base_dir = base_dir
        self.hosts: list[TestHost] = []
        self._netns: list[str] = []
        self._links: list[str] = []
        self._routes: list[str] = []
        self._subnets: list[_Subnet] = []
        self._ifaces: dict[str, int] = {}
        _sweep_stale()

    def host(
        self,
        name: str,
        *,
        behind: TestHost | None = None,
        state: dict[str, Any] | None = None,
        double: bool = True,
    ) -> TestHost:
        seq = next(_SEQ)
        ns = f"wd{_PID}n{seq}"
        _run(["ip", "netns", "add", ns])
        self._netns.append(ns)
        self._ifaces[ns] = 0
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        subnet = _Subnet()
        self._subnets.append(subnet)
        if behind is None:
            near = f"wd{_PID}r{seq}"
            _run(["ip", "link", "add", near, "type", "veth", "peer", "name", "eth0", "netns", ns])
            self._links.append(near)
            _run(["ip", "addr", "add", f"{subnet.near}/30", "dev", near])
            _run(["ip", "link", "set", near, "up"])
        else:
            if behind.netns not in self._ifaces:
                raise TestHostError(f"{behind!r} is not a host of this network")
            near_ns = behind.netns
            self._ifaces[near_ns] += 1
            near = f"eth{self._ifaces[near_ns]}"
            _run(
                [
                    "ip",
                    "-n",
                    near_ns,
                    "link",
                    "add",
                    near,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    ns,
                ]
            )
            _run(["ip", "-n", near_ns, "addr", "add", f"{subnet.near}/30", "dev", near])
            _run(["ip", "-n", near_ns, "link", "set", near, "up"])
            # from here, the guest's address must not be reachable, nor routed off the machine
            _run(["ip", "route", "replace", "unreachable", subnet.net])
            self._routes.append(subnet.net)
        _run(["ip", "-n", ns, "addr", "add", f"{subnet.far}/30", "dev", "eth0"])
        _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        host = TestHost(
            name,
            address=subnet.far,
            netns=ns,
            client_key=self.client_key,
            state=state,
            double=double,
            via=behind,
            base_dir=self.base_dir,
        )
        self.hosts.append(host)
        return host.start()

    def close(self) -> None:
        errors: list[str] = []
        for host in reversed(self.hosts):
            try:
                host.stop()
            except Exception as e:  # keep tearing down the rest
                errors.append(f"{host!r}: {e}")
        self.hosts.clear()
        for ns in reversed(self._netns):
            done = subprocess.run(
                ["ip", "netns", "del", ns], capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                errors.append(done.stderr.strip())
        for link in self._links:  # gone with its namespace normally; make sure
            subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
        for net in self._routes:
            subprocess.run(
                ["ip", "route", "del", "unreachable", net], capture_output=True, check=False
            )
        for subnet in self._subnets:
            subnet.release()
        self._netns.clear()
        self._links.clear()
        self._routes.clear()
        self._subnets.clear()
        if errors:
            raise TestHostError("test network teardown: " + "; ".join(errors))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


if __name__ == "__main__":  # a quick manual check: python -m tests.testhost
    problem = missing_preconditions(network=True)
    if problem:
        sys.exit(problem)
    t0 = time.monotonic()
    with TestHost("manual") as h:
        print(f"{h!r} up in {time.monotonic() - t0:.3f}s")
        print(h.exec("uname -s; id; echo $PATH").stdout.decode())

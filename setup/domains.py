"""Trust domains: whose a path is, and how warden acts on it.

Three domains, and every path operation and every read names one of them:
- `Host`: root on the host. Root touches directly only paths root's domain owns
  (/etc, /usr/local/etc/warden, /var/db/warden, a jail's Bastille directory *outside*
  its root/).
- `HostUser`: an unprivileged user on the host: an agent (untrusted: it runs whatever
  it is told) or a service account such as postgres. Warden acts there *as that user*,
  through chroot(8)'s -u/-g/-G onto / (docs/freebsd/sources.md: it sets the groups, the
  gid and the uid and execs the command; no login shell, no startup file, no
  login.conf), with an environment warden sets from nothing (`env -i`).
- `JailUser`: a user inside a jail (root there is untrusted too): warden acts there
  through `jexec -l -U USER JAIL`, so every path resolves inside the jail.

Whatever runs outside the host domain runs bounded (`timeout`), with stdin from
/dev/null (a file put's content is the one exception) and its output in a file that
root reads after the wait: a descendant that keeps a pipe open, or a hook that reads
stdin, can neither stall warden nor eat the rest of root's script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .command import Command, cmd
from .shell import checked_name, checked_path

# What a user's process finds on PATH when warden runs it (login.conf's default
# class path, FreeBSD's base and packages).
USER_PATH = "/usr/local/bin:/usr/bin:/bin"
# How long a read outside the host domain may take (a probe, a file), and a change.
READ_SECONDS = 60
CHANGE_SECONDS = 600
# a release bootstrap, a package download on a slow link, a large database dumped
SLOW_SECONDS = 6 * 3600
_JAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.]{0,62}")


@dataclass(frozen=True)
class Host:
    """root on the host."""

    def label(self) -> str:
        return "host"


@dataclass(frozen=True)
class HostUser:
    """An unprivileged user of the host, acted on as that user."""

    user: str
    group: str
    home: str

    def __post_init__(self) -> None:
        checked_name(self.user)
        checked_name(self.group)
        checked_path(self.home)

    def label(self) -> str:
        return f"user {self.user}"


@dataclass(frozen=True)
class JailUser:
    """A user inside a jail (root by default), acted on from inside the jail."""

    jail: str
    user: str = "root"

    def __post_init__(self) -> None:
        if not _JAIL.fullmatch(self.jail):
            raise ValueError(f"unsafe jail name: {self.jail!r}")
        checked_name(self.user)

    def label(self) -> str:
        return f"jail {self.jail}" + ("" if self.user == "root" else f" as {self.user}")


Domain = Host | HostUser | JailUser
HOST = Host()


@dataclass(frozen=True)
class Location:
    """A path in a domain: for a jail, the path inside the jail."""

    domain: Domain
    path: str

    def __post_init__(self) -> None:
        checked_path(self.path)

    def __str__(self) -> str:
        if isinstance(self.domain, JailUser):
            return f"{self.domain.jail}:{self.path}"
        return self.path


def at(path: str, domain: Domain = HOST) -> Location:
    return Location(domain, path)


def enter(domain: Domain, body: str) -> Command:
    """The command that runs the sh text *body* in *domain* (unbounded: see `bounded`)."""
    shell = cmd("/bin/sh", "-c", body)
    if isinstance(domain, Host):
        return shell
    if isinstance(domain, HostUser):
        return cmd(
            "chroot",
            "-u",
            domain.user,
            "-g",
            domain.group,
            "-G",
            domain.group,
            "/",
            "/usr/bin/env",
            "-i",
            f"HOME={domain.home}",
            f"USER={domain.user}",
            f"LOGNAME={domain.user}",
            "SHELL=/bin/sh",
            f"PATH={USER_PATH}",
            shell,
        )
    return cmd("jexec", "-l", "-U", domain.user, domain.jail, shell)


def bounded(
    domain: Domain, body: str, seconds: int, label: str, stdout: str | None = None
) -> Command:
    """The warden_run line (shell.LIBRARY) that runs *body* in *domain* within *seconds*
    (its stdout into root's file *stdout*, when given); the caller gives its stdin
    (</dev/null, or a file put's content)."""
    if stdout is not None:
        return cmd("warden_run_to", int(seconds), label, checked_path(stdout), enter(domain, body))
    return cmd("warden_run", int(seconds), label, enter(domain, body))

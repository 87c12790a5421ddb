"""The operations steps are written in: each one knows its domain, its sh, and how it
is shown, so a plan shows exactly what runs.

A step reads like the shell session it replaces:

    Change("network", "forward IPv4 now", ops=(sysctl_set("net.inet.ip.forwarding", "1"),))

Three kinds of operation:
- `Run`: a command (setup/command.py) in a domain (setup/domains.py); outside the host
  domain it runs bounded, stdin from /dev/null, its output in a file.
- `Put`: a whole file placed atomically in a domain (the one operation whose stdin is
  not /dev/null: its content, from warden).
- `Script`: a root script rendered from a template whose parts are other operations
  (the pf load): rendered once to run and once to show, from the same parts.
Everything else here builds those: sysrc, pkg, pw, service, a directory, a marked
block or a line in a file.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .blocks import with_block
from .command import Command, Raw, cmd
from .domains import (
    CHANGE_SECONDS,
    HOST,
    Domain,
    Host,
    HostUser,
    JailUser,
    Location,
    at,
    bounded,
)
from .render import render
from .shell import checked_name, checked_path, checked_rc_name, heredoc, q


class Op:
    """An operation: what it runs (`sh`), how a plan shows it (`shown`)."""

    domain: Domain = HOST

    def sh(self) -> str:
        raise NotImplementedError

    def shown(self) -> str:
        raise NotImplementedError

    @property
    def secret(self) -> bool:
        return False

    def puts(self) -> tuple[Put, ...]:
        """The files it places (each shown as a diff)."""
        return ()


@dataclass(frozen=True)
class Run(Op):
    """A command in a domain (the host's by default). Its stdin is /dev/null, or
    *stdin*: text from warden (SQL for psql, the soul's bundle), which a plan shows by its
    size (a secret one says so)."""

    command: Command
    domain: Domain = HOST
    seconds: int = CHANGE_SECONDS
    label: str = ""
    stdin: str | None = field(default=None, repr=False)
    stdin_secret: bool = False
    # a file of root's that gets the command's stdout (a dump): opened by root
    stdout: str | None = None

    def _render(self, reveal: bool) -> str:
        text = self.command.sh() if reveal else self.command.shown()
        if not isinstance(self.domain, Host):
            label = self.label or self.domain.label()
            line = bounded(self.domain, text, self.seconds, label, self.stdout)
            text = line.sh() if reveal else line.shown()
        elif self.stdout is not None:
            text = f"{text} > {q(checked_path(self.stdout))}"
        if self.stdin is None:
            return text if isinstance(self.domain, Host) else f"{text} </dev/null"
        if not reveal:
            lines = len(self.stdin.splitlines())
            what = "with a secret, not shown" if self.stdin_secret else "from warden"
            return f"{text}  # (its stdin: {lines} lines {what})"
        delimiter, body = heredoc(self.stdin if self.stdin.endswith("\n") else self.stdin + "\n")
        return f"{text} <<'{delimiter}'\n{body}{delimiter}"

    def sh(self) -> str:
        return self._render(True)

    def shown(self) -> str:
        return self._render(False)

    @property
    def secret(self) -> bool:
        return self.command.secret or self.stdin_secret


@dataclass(frozen=True)
class Put(Op):
    """A whole file, placed atomically (a temporary name beside it, then a rename) in
    its location's domain: by root's warden_put on the host, as the user for a user's
    file, from inside the jail for a jail's."""

    location: Location
    content: str
    mode: int
    owner: str = "root"
    group: str = "wheel"
    before: str | None = None
    secret: bool = False
    seconds: int = CHANGE_SECONDS
    # shown as a diff (a scratch file of a script, such as pf's staged ruleset, is not:
    # the file it becomes is)
    diffed: bool = True

    @property
    def domain(self) -> Domain:  # type: ignore[override]
        return self.location.domain

    @property
    def path(self) -> str:
        return self.location.path

    def puts(self) -> tuple[Put, ...]:
        return (self,) if self.diffed else ()

    def diff(self) -> str:
        """A unified diff from the current file; a secret's content is never shown."""
        if self.secret:
            return f"(secret file {self.location}: content not shown)\n"
        old = [] if self.before is None else self.before.splitlines(keepends=True)
        new = self.content.splitlines(keepends=True)
        label = "/dev/null" if self.before is None else f"a{self.location}"
        return "".join(difflib.unified_diff(old, new, label, f"b{self.location}"))

    def _line(self) -> Command:
        domain = self.location.domain
        path = checked_path(self.location.path)
        if isinstance(domain, Host):
            return cmd(
                "warden_put", path, f"{self.mode:04o}", checked_name(self.owner),
                checked_name(self.group),
            )  # fmt: skip
        directory, base = path.rsplit("/", 1)
        directory = directory or "/"
        steps = [
            "umask 077" if isinstance(domain, HostUser) else "umask 022",
            "set -e",
            f"mkdir -p {q(directory)}",
            f"_t=$(mktemp {q(directory.rstrip('/') + '/.' + base + '.warden.XXXXXX')})",
            'cat > "$_t"',
            f'chmod {self.mode:04o} "$_t"',
        ]
        if isinstance(domain, JailUser) and domain.user == "root":
            steps.append(f'chown {checked_name(self.owner)}:{checked_name(self.group)} "$_t"')
        steps.append(f'mv -f "$_t" {q(path)}')
        return bounded(domain, "; ".join(steps), self.seconds, f"write {self.location}")

    def sh(self) -> str:
        line = self._line().sh()
        if not self.content:
            return f"{line} </dev/null"
        delimiter, body = heredoc(self.content)
        return f"{line} <<'{delimiter}'\n{body}{delimiter}"

    def shown(self) -> str:
        what = (
            "secret, not shown"
            if self.secret
            else "its diff is shown"
            if self.diffed
            else "staged: the file it becomes is diffed"
        )
        return f"{self._line().shown()}  # (its content on stdin: {what})"


@dataclass(frozen=True)
class Script(Op):
    """A root script from a template; `parts` are operations it places by name
    (rendered with their own sh to run, and their own shown form to show)."""

    template: str
    parts: Mapping[str, Op] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)

    def _render(self, reveal: bool) -> str:
        rendered = {k: (p.sh() if reveal else p.shown()) for k, p in self.parts.items()}
        return render(self.template, **self.context, **rendered).rstrip("\n")

    def sh(self) -> str:
        return self._render(True)

    def shown(self) -> str:
        return self._render(False)

    def puts(self) -> tuple[Put, ...]:
        return tuple(p for part in self.parts.values() for p in part.puts())

    @property
    def secret(self) -> bool:
        return any(p.secret for p in self.parts.values())


# ---- building blocks of a command line


def when(condition: Command, *then: Command) -> Command:
    """`if CONDITION; then THEN; fi` as one line."""
    return cmd(Raw("if"), condition, Raw(";"), Raw("then"), *_each(then), Raw("fi"))


def unless(condition: Command, *then: Command) -> Command:
    """`if ! CONDITION; then THEN; fi` as one line."""
    return cmd(Raw("if !"), condition, Raw(";"), Raw("then"), *_each(then), Raw("fi"))


def _each(commands: Iterable[Command]) -> list[Command | Raw]:
    words: list[Command | Raw] = []
    for one in commands:
        words += [one, Raw(";")]
    return words


def either(first: Command, second: Command | Raw) -> Command:
    """`FIRST || SECOND`."""
    return cmd(first, Raw("||"), second)


def both(first: Command, second: Command) -> Command:
    """`FIRST && SECOND`."""
    return cmd(first, Raw("&&"), second)


def negate(command: Command) -> Command:
    """`! COMMAND`."""
    return cmd(Raw("!"), command)


def quiet(command: Command) -> Command:
    """COMMAND with its output thrown away."""
    return cmd(command, Raw(">/dev/null 2>&1"))


def fail(message: str) -> Command:
    """Stop the change with a message naming what is wrong."""
    return cmd(Raw("{"), cmd("echo", f"warden: {message}"), Raw(">&2; exit 1; }"))


def check(condition: Command, message: str) -> Run:
    """Read back what a change was meant to make: CONDITION, or stop with MESSAGE."""
    return Run(either(quiet(condition), fail(message)))


# ---- operations steps do again and again


def run(*words: str | int | Raw | Command, domain: Domain = HOST) -> Run:
    """A command, its words quoted."""
    return Run(cmd(*words), domain)


def put(
    path: str | Location,
    content: str,
    mode: int,
    owner: str = "root",
    group: str = "wheel",
    *,
    before: str | None = None,
    secret: bool = False,
) -> Put:
    location = path if isinstance(path, Location) else at(path)
    return Put(location, content, mode, owner, group, before, secret)


def directory(
    location: str | Location, mode: int, owner: str = "root", group: str = "wheel"
) -> Run:
    """A directory with its owner and mode, made in its domain."""
    where = location if isinstance(location, Location) else at(location)
    path = checked_path(where.path)
    steps = [cmd("mkdir", "-p", path), cmd("chmod", f"{mode:04o}", path)]
    if not isinstance(where.domain, HostUser):
        steps.insert(1, cmd("chown", f"{checked_name(owner)}:{checked_name(group)}", path))
    line = steps[0]
    for step in steps[1:]:
        line = both(line, step)
    return Run(line, where.domain)


def block(
    location: str | Location,
    before: str | None,
    agent: str,
    lines: list[str],
    mode: int,
    owner: str = "root",
    group: str = "wheel",
    part: str = "",
) -> Put | None:
    """The agent's marked block in a file (hostsfile.markers), the rest kept byte for
    byte; None when it is already right. The whole file is placed in its domain."""
    content = with_block(before, agent, lines, part)
    if content == before:
        return None
    return put(location, content, mode, owner, group, before=before)


def line_in_file(location: Location, line: str) -> Run:
    """LINE in the file (appended when it is missing), in the file's domain, decided when
    it runs: for a file an earlier change of the same run makes (initdb's
    postgresql.conf), which a plan cannot have read."""
    path = checked_path(location.path)
    append = cmd(cmd("printf", "%s\n", line), Raw(">>"), path)
    return Run(either(cmd("grep", "-qxF", line, path), append), location.domain)


def sysrc(*operands: str, file: str | None = None, jail: str | None = None) -> Run:
    """`sysrc [-f FILE] OPERAND...`; with *jail*, sysrc runs inside that jail."""
    words: list[str] = ["sysrc"]
    if file is not None:
        words += ["-f", checked_path(file)]
    words += list(operands)
    return Run(cmd(*words), HOST if jail is None else JailUser(jail))


def sysrc_set(name: str, value: str, *, file: str | None = None, jail: str | None = None) -> Run:
    return sysrc(f"{checked_rc_name(name)}={value}", file=file, jail=jail)


def sysrc_add(name: str, word: str, *, file: str | None = None) -> Run:
    """Add one word to a list variable, keeping the others (sysrc(8) `+=`)."""
    return sysrc(f"{checked_rc_name(name)}+={word}", file=file)


def sysrc_remove(name: str, word: str, *, file: str | None = None) -> Run:
    """Take one word out of a list variable (sysrc(8) `-=`)."""
    return sysrc(f"{checked_rc_name(name)}-={word}", file=file)


def sysrc_delete(name: str, *, file: str | None = None) -> Run:
    words = ["sysrc"] + (["-f", checked_path(file)] if file else []) + ["-x", checked_rc_name(name)]
    return Run(cmd(*words))


def sysctl_set(*pairs: tuple[str, str]) -> Run:
    return Run(cmd("sysctl", *(f"{name}={value}" for name, value in pairs)))


def pkg_install(packages: Iterable[str], *, jail: str | None = None) -> Run:
    """`pkg install -y` on the host, or `pkg -j JAIL install -y` (pkg attaches to the
    jail first: its scripts and configuration are the jail's)."""
    names = [_package(p) for p in packages]
    words = ["pkg"] + (["-j", jail] if jail else []) + ["install", "-y", *names]
    return Run(cmd(*words))


def _package(name: str) -> str:
    if not name or not all(c.isalnum() or c in "-_.+" for c in name) or name[0] == "-":
        raise ValueError(f"not a package name: {name!r}")
    return name


def pw_groupadd(group: str, gid: int) -> Run:
    """`pw groupadd GROUP -g GID`, unless it exists (another run may have made it)."""
    name = checked_name(group)
    return Run(either(quiet(cmd("pw", "groupshow", name)), cmd("pw", "groupadd", name, "-g", gid)))


def pw_useradd(user: str, uid: int, group: str, comment: str, home: str, shell: str) -> Run:
    """`pw useradd USER -u UID -g GROUP -c COMMENT -d HOME -m -M 0750 -s SHELL`, unless
    it exists."""
    name = checked_name(user)
    add = cmd("pw", "useradd", name, "-u", uid, "-g", checked_name(group), "-c", comment,
              "-d", checked_path(home), "-m", "-M", "0750", "-s", checked_path(shell))  # fmt: skip
    return Run(either(quiet(cmd("pw", "usershow", name)), add))


def keygen(path: str, comment: str, domain: Domain) -> Run:
    """An ed25519 key pair at PATH (no passphrase), made in its domain unless it is there."""
    key = checked_path(path)
    make = cmd("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key)
    return Run(either(cmd("test", "-f", key), make), domain)

"""warden's command line: `invoke --list`, `invoke setup --help`, ...

Thin on purpose: each task checks invoke's own flags, then hands its options to
its module in setup/commands/, which returns the exit code (docs/cli.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.parser.argument import Argument
from invoke.tasks import Task, task

from setup.commands import agents as agents_cmd
from setup.commands import ansible_inventory as ansible_inventory_cmd
from setup.commands import guarded, options
from setup.commands import logs as logs_cmd
from setup.commands import render as render_cmd
from setup.commands import setup as setup_cmd
from setup.commands import soul_check as soul_check_cmd
from setup.commands import soul_new as soul_new_cmd
from setup.commands import soul_sync as soul_sync_cmd
from setup.commands import status as status_cmd
from setup.commands import teardown as teardown_cmd

ENV_HELP = ".env file of the agent (default: .env)"
HOST_HELP = "target(s): local, an ssh_config alias, [user@]host[:port], a,b,c or @inventory.toml"
JSON_HELP = "print JSON on stdout instead of tables"
ACCEPT_HELP = "record an unknown SSH host key instead of refusing it (like accept-new)"
PARALLEL_HELP = "how many hosts are worked on at once (1 to 64, default 8)"


def _run(c: Context, command: Callable[[], int]) -> None:
    """Refuse invoke's --dry (it would only echo, and this is no shell-command task)."""
    if getattr(c.config.run, "dry", False):
        print("error: invoke's --dry/-R does not apply to warden; use --dry-run", file=sys.stderr)
        raise Exit(code=2)
    code = guarded(command)
    if code:
        raise Exit(code=code)


@task(
    iterable=["step"],
    help={
        "env": ENV_HELP,
        "step": "run only this step (repeat, or a,b); default: every built step",
        "host": HOST_HELP,
        "dry-run": "show the plan and stop",
        "yes": "apply without asking",
        "json": JSON_HELP,
        "accept-new": ACCEPT_HELP,
        "parallel": PARALLEL_HELP,
    },
)
def setup(
    c: Context,
    env: str = ".env",
    step: list[str] | None = None,
    host: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    json: bool = False,
    accept_new: bool = False,
    parallel: str | None = None,
) -> None:
    """Provision the agent: read the host, show the plan, then apply it (safe to re-run)."""
    _run(
        c,
        lambda: setup_cmd.setup_command(
            env, step, host, dry_run, yes, json, accept_new, options.parallel_width(parallel)
        ),
    )


@task(
    iterable=["step"],
    help={
        "env": ENV_HELP,
        "host": HOST_HELP,
        "offline": "make no connection: plan for a fresh FreeBSD host",
        "json": JSON_HELP,
        "accept-new": ACCEPT_HELP,
        "step": "plan only this step (repeat, or a,b)",
        "parallel": PARALLEL_HELP,
    },
)
def plan(
    c: Context,
    env: str = ".env",
    host: str | None = None,
    offline: bool = False,
    json: bool = False,
    accept_new: bool = False,
    step: list[str] | None = None,
    parallel: str | None = None,
) -> None:
    """Show what setup would change, and change nothing (setup --dry-run)."""
    _run(
        c,
        lambda: setup_cmd.plan_command(
            env, host, offline, json, accept_new, step or None, options.parallel_width(parallel)
        ),
    )


@task(help={"env": ENV_HELP, "out": "directory to write into (default: render-out)"})
def render(c: Context, env: str = ".env", out: str = "render-out") -> None:
    """Write every script and file an offline plan would send, for review."""
    _run(c, lambda: render_cmd.render_command(env, out))


@task(help={"host": HOST_HELP, "json": JSON_HELP, "accept-new": ACCEPT_HELP})
def agents(
    c: Context, host: str | None = None, json: bool = False, accept_new: bool = False
) -> None:
    """List the agents registered on the host(s)."""
    _run(c, lambda: agents_cmd.agents_command(host, json, accept_new))


@task(
    help={
        "env": ENV_HELP + "; the agent to report on",
        "all": "every agent registered on the host(s), instead of --env's",
        "host": HOST_HELP,
        "json": JSON_HELP,
        "accept-new": ACCEPT_HELP,
        "parallel": PARALLEL_HELP,
    }
)
def status(
    c: Context,
    env: str = ".env",
    all: bool = False,
    host: str | None = None,
    json: bool = False,
    accept_new: bool = False,
    parallel: str | None = None,
) -> None:
    """Show what runs for each agent and whether it comes back at boot (exit 1: unhealthy)."""
    _run(
        c,
        lambda: status_cmd.status_command(
            env, all, host, json, accept_new, options.parallel_width(parallel)
        ),
    )


@task(
    help={
        "env": ENV_HELP,
        "host": "the one target to read (default: the .env's WARDEN_HOST)",
        "role": "a role jail's service log instead: db, git, cms, ollama or llama-cpp",
        "follow": "keep printing new lines until interrupted (Ctrl-C)",
        "accept-new": ACCEPT_HELP,
    }
)
def logs(
    c: Context,
    env: str = ".env",
    host: str | None = None,
    role: str | None = None,
    follow: bool = False,
    accept_new: bool = False,
) -> None:
    """Show the agent's session log, or a role jail's service log (--role)."""
    _run(c, lambda: logs_cmd.logs_command(env, host, role, follow, accept_new))


@task(
    help={
        "env": ENV_HELP,
        "host": "the one target (default: the .env's WARDEN_HOST)",
        "keep-data": "keep the db jail (stopped), the user, its home and its soul clone",
        "force": "tear down even when the soul has commits not pushed anywhere",
        "yes": "tear down without asking",
        "accept-new": ACCEPT_HELP,
    }
)
def teardown(
    c: Context,
    env: str = ".env",
    host: str | None = None,
    keep_data: bool = False,
    force: bool = False,
    yes: bool = False,
    accept_new: bool = False,
) -> None:
    """Remove the agent from the host: dump its database, then its service, jails, alias,
    NAT entry, secrets and registry entry (the plan is shown first)."""
    _run(c, lambda: teardown_cmd.teardown_command(env, host, keep_data, force, yes, accept_new))


@task(
    help={
        "unit": "only the unit tests (no root, no sshd)",
        "quick": "leave out the slow end-to-end cases (marked slow); CI runs everything",
        "pytest-args": "extra arguments for pytest, e.g. '-k config -x'",
    }
)
def test(c: Context, unit: bool = False, quick: bool = False, pytest_args: str = "") -> None:
    """Run the tests: all of them on Linux (integration needs root); unit + freebsd on FreeBSD."""
    if getattr(c.config.run, "dry", False):
        print("error: invoke's --dry/-R does not apply to warden; use --dry-run", file=sys.stderr)
        raise Exit(code=2)
    if unit:
        paths = ["tests/unit", "tests/double/tests"]  # the double's own tests: no root either
    elif sys.platform.startswith("linux"):
        paths = ["tests"]
    else:  # FreeBSD: no throwaway Linux hosts; the real-host cases instead
        paths = ["tests/unit", "tests/double/tests", "tests/freebsd"]
    marks = ["-m", "not slow"] if quick else []
    args = [sys.executable, "-m", "pytest", *paths, *test_workers(), *marks, *pytest_args.split()]
    env = dict(os.environ)
    code = subprocess.call(args, env=env)
    if code:
        raise Exit(code=code)


def test_workers() -> list[str]:
    """pytest-xdist: one worker per core and one more, each taking whole files (a module's
    test hosts stay together); the end-to-end cases wait on SSH and sshd as much as they
    compute. `--pytest-args "-n 0"` runs them in this process."""
    return ["-n", str((os.cpu_count() or 1) + 1), "--dist", "loadfile"]


def _refuse_help_as_value(name: str, value: str | None) -> None:
    """invoke hands a missing positional the next token, --help included."""
    if value in ("-h", "--help"):
        print(f"usage: invoke --help {name}", file=sys.stderr)
        raise Exit(code=2)


class _PathOrEnv(Argument):
    """soul.check's PATH: positional, yet optional once --env has a value. invoke has
    no optional positionals; it calls a positional missing while its value is None,
    so with --env given an absent PATH reads as "" (the task's "not given")."""

    def __init__(self, env: Argument, like: Argument) -> None:
        super().__init__(
            names=like.names,
            kind=like.kind,
            default=like.default,
            help=like.help,
            positional=True,
            attr_name=like.attr_name,
        )
        self.env = env

    @property
    def value(self) -> Any:
        if self._value is None and self.env.value is not None:
            return ""
        return self._value if self._value is not None else self.default

    @value.setter
    def value(self, arg: str) -> None:
        self.set_value(arg, cast=True)


class _SoulCheckTask(Task[Callable[..., None]]):
    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Argument]:
        args: list[Argument] = super().get_arguments(ignore_unknown_help=ignore_unknown_help)
        env = next(a for a in args if a.name == "env")
        return [_PathOrEnv(env, a) if a.name == "path" else a for a in args]


@task(
    klass=_SoulCheckTask,
    positional=["path"],
    help={
        "path": "the soul's directory (required unless --env names a local WARDEN_SOUL_REPO)",
        "env": ".env of the agent: its AGENT_NAME picks the identity file, and without PATH"
        " its WARDEN_SOUL_REPO (a local path) is the soul checked",
        "json": JSON_HELP,
    },
)
def soul_check(
    c: Context, path: str | None = None, env: str | None = None, json: bool = False
) -> None:
    """Check a soul: required files, manifest, identity file, no secrets, logs, locks or caches."""
    _refuse_help_as_value("soul.check", path)
    _run(c, lambda: soul_check_cmd.check_command(path or None, env, json))


@task(
    positional=["name"],
    help={
        "name": "the agent's name (AGENT_NAME's rule: 1-16 lowercase letters and digits)",
        "dest": "directory to create; it must not exist (default: souls/NAME)",
    },
)
def soul_new(c: Context, name: str, dest: str | None = None) -> None:
    """Scaffold a new soul for agent NAME that passes soul.check."""
    _refuse_help_as_value("soul.new", name)
    _run(c, lambda: soul_new_cmd.new_command(name, dest))


@task(help={"env": ENV_HELP, "host": HOST_HELP, "json": JSON_HELP})
def soul_sync(c: Context, env: str = ".env", host: str | None = None, json: bool = False) -> None:
    """Fetch the soul on every host, fast-forward or push (after soul.check) what can be."""
    _run(c, lambda: soul_sync_cmd.sync_command(env, host, json))


@task(
    iterable=["env"],
    help={
        "env": ".env of an agent to export (repeat for several; default: .env without --host)",
        "host": HOST_HELP + "; their registries are exported",
        "out": "file to write (default: print it)",
        "accept-new": ACCEPT_HELP,
    },
)
def ansible_inventory(
    c: Context,
    env: list[str] | None = None,
    host: str | None = None,
    out: str | None = None,
    accept_new: bool = False,
) -> None:
    """Export the agents (from .env files and/or the hosts' registries) as an Ansible inventory."""
    _run(
        c,
        lambda: ansible_inventory_cmd.inventory_command(env or [], host, out, accept_new),
    )


# An explicit namespace: the top-level tasks stay where they were, soul.* is added.
soul = Collection("soul")
soul.add_task(soul_check, name="check")
soul.add_task(soul_new, name="new")
soul.add_task(soul_sync, name="sync")
ansible = Collection("ansible")
ansible.add_task(ansible_inventory, name="inventory")
ns = Collection(setup, plan, render, agents, status, logs, teardown, test, soul, ansible)

"""warden's command line: `invoke --list`, `invoke setup --help`, ...

Thin on purpose: each task checks invoke's own flags, then hands its options to
setup/cli.py, which returns the exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

from setup import cli

ENV_HELP = ".env file of the agent (default: .env)"
HOST_HELP = "target(s): local, an ssh_config alias, [user@]host[:port], a,b,c or @inventory.toml"
JSON_HELP = "print JSON on stdout instead of tables"
ACCEPT_HELP = "record an unknown SSH host key instead of refusing it (like accept-new)"


def _run(c: Context, command: Callable[[], int]) -> None:
    """Refuse invoke's --dry (it would only echo, and this is no shell-command task)."""
    if getattr(c.config.run, "dry", False):
        print("error: invoke's --dry/-R does not apply to warden; use --dry-run", file=sys.stderr)
        raise Exit(code=2)
    code = cli.guarded(command)
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
) -> None:
    """Provision the agent: read the host, show the plan, then apply it (safe to re-run)."""
    _run(c, lambda: cli.setup_command(env, step, host, dry_run, yes, json, accept_new))


@task(
    iterable=["step"],
    help={
        "env": ENV_HELP,
        "host": HOST_HELP,
        "offline": "make no connection: plan for a fresh FreeBSD host",
        "json": JSON_HELP,
        "accept-new": ACCEPT_HELP,
        "step": "plan only this step (repeat, or a,b)",
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
) -> None:
    """Show what setup would change, and change nothing (setup --dry-run)."""
    _run(c, lambda: cli.plan_command(env, host, offline, json, accept_new, step or None))


@task(help={"env": ENV_HELP, "out": "directory to write into (default: render-out)"})
def render(c: Context, env: str = ".env", out: str = "render-out") -> None:
    """Write every script and file an offline plan would send, for review."""
    _run(c, lambda: cli.render_command(env, out))


@task(help={"host": HOST_HELP, "json": JSON_HELP, "accept-new": ACCEPT_HELP})
def agents(
    c: Context, host: str | None = None, json: bool = False, accept_new: bool = False
) -> None:
    """List the agents registered on the host(s)."""
    _run(c, lambda: cli.agents_command(host, json, accept_new))


@task(
    help={
        "unit": "only the unit tests (no root, no sshd)",
        "pytest-args": "extra arguments for pytest, e.g. '-k config -x'",
    }
)
def test(c: Context, unit: bool = False, pytest_args: str = "") -> None:
    """Run the tests: all of them on Linux (integration needs root); unit + freebsd on FreeBSD."""
    if getattr(c.config.run, "dry", False):
        print("error: invoke's --dry/-R does not apply to warden; use --dry-run", file=sys.stderr)
        raise Exit(code=2)
    if unit:
        paths = ["tests/unit"]
    elif sys.platform.startswith("linux"):
        paths = ["tests"]
    else:  # FreeBSD: no throwaway Linux hosts; the real-host cases instead
        paths = ["tests/unit", "tests/freebsd"]
    args = [sys.executable, "-m", "pytest", *paths, *pytest_args.split()]
    env = dict(os.environ)
    code = subprocess.call(args, env=env)
    if code:
        raise Exit(code=code)

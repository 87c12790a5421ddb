"""An agent attacks the run that provisions it, on a test host: it swaps its files for
links to root-only files while warden plans, applies, reads status and tears it down, and
it plants git hooks that read stdin or keep a descendant holding the output open.

Nothing root-only may reach any file, diff or output; no hook may break or stall a plan.
(The git jail's and the role jails' attacks are in test_role_jails.py and
test_jail_attacks.py: they need jails.)
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from setup.domains import READ_SECONDS
from tests.harness.site import operator_for
from tests.operator import Operator
from tests.soulhub import soul_hub
from tests.testhost import TestHost

pytestmark = pytest.mark.slow

AGENT = "atlas"
HOME = f"/home/{AGENT}"


@pytest.fixture
def h1(make_test_host) -> TestHost:  # type: ignore[no-untyped-def]
    return make_test_host("h1")


@pytest.fixture
def operator(tmp_path: Path, h1: TestHost) -> Operator:
    return operator_for(tmp_path / "home", h1)


@pytest.fixture
def env(operator: Operator, tmp_path: Path) -> Path:
    hub = soul_hub(tmp_path)
    return operator.env_file(AGENT, extra=f"WARDEN_SOUL_REPO={hub}\nWARDEN_SOUL_REF=main\n")


def as_agent(host: TestHost, script: str) -> str:
    result = host.exec(["su", AGENT, "-s", "/bin/sh", "-c", script], check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def canaries(host: TestHost) -> str:
    """A root-only file and a line of the host's shadow file, both marked."""
    mark = f"warden-canary-{secrets.token_hex(6)}"
    host.exec(
        f"umask 077; printf '%s\\n' {mark} > /root/canary; "
        f"printf '%s:*:19000:0:99999:7:::\\n' {mark} >> /etc/shadow"
    )
    return mark


def leaked(host: TestHost, mark: str) -> str:
    """Where the mark is on the host outside the two root-only files (nothing, we hope)."""
    found = host.exec(
        f"grep -rl {mark} /home /var/log /var/db /usr/local/etc /tmp 2>/dev/null; :", check=False
    )
    return found.stdout.decode()


SWAPPER = """
cd /home/atlas || exit 1
while :; do
    ln -sfn /etc/shadow CLAUDE.md.l && mv -f CLAUDE.md.l CLAUDE.md
    ln -sfn /root/canary .ssh/known_hosts.l && mv -f .ssh/known_hosts.l .ssh/known_hosts
    printf 'mine\\n' > CLAUDE.md.f && mv -f CLAUDE.md.f CLAUDE.md
    printf 'mine\\n' > .ssh/known_hosts.f && mv -f .ssh/known_hosts.f .ssh/known_hosts
done
"""


def test_links_an_agent_plants_and_swaps_never_bring_a_root_only_byte_anywhere(
    h1: TestHost, operator: Operator, env: Path
) -> None:
    first = operator.warden("setup", "--env", str(env), "--yes", timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    mark = canaries(h1)
    # a link planted before the run, then a swapper running through every command
    as_agent(h1, "cd /home/atlas && mkdir -p .ssh && ln -sfn /etc/shadow CLAUDE.md")
    planted = operator.warden("plan", "--env", str(env), "--json", timeout=300)
    assert planted.returncode == 2, planted.stdout[-2000:]  # refused: cannot be read as atlas
    assert "CLAUDE.md cannot be read as atlas" in planted.stdout
    h1.exec(f"nohup su {AGENT} -s /bin/sh -c {SWAPPER!r} >/dev/null 2>&1 &")
    outputs = [planted.stdout + planted.stderr]
    for args in (
        ("plan", "--env", str(env), "--json"),
        ("setup", "--env", str(env), "--yes", "--json"),
        ("plan", "--env", str(env)),
        ("status", "--env", str(env), "--json"),
    ):
        result = operator.warden(*args, timeout=300)
        assert result.returncode in (0, 1, 2), result.stderr[-2000:]  # never a crash, never 3
        outputs.append(result.stdout + result.stderr)
    assert mark not in "\n".join(outputs)
    assert leaked(h1, mark) == ""
    down = operator.warden("teardown", "--env", str(env), "--yes", "--force", timeout=300)
    outputs.append(down.stdout + down.stderr)
    assert down.returncode == 0, down.stdout[-2000:] + down.stderr[-2000:]
    # nothing of the agent's outlives it (its uid may be given to the next agent)
    assert h1.exec("ps -U 2001 -o pid=", check=False).stdout == b""
    assert mark not in "\n".join(outputs)
    assert leaked(h1, mark) == ""


def hooked(h1: TestHost, operator: Operator, env: Path, hook: str) -> None:
    """Setup, then the agent makes HOOK its clone's fsmonitor (git status runs it)."""
    first = operator.warden("setup", "--env", str(env), "--yes", timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    h1.write_file(f"{HOME}/hook.sh", hook, mode=0o755)
    h1.exec(f"chown {AGENT} {HOME}/hook.sh")
    as_agent(h1, f"git -C {HOME}/soul config core.fsmonitor {HOME}/hook.sh")


def test_a_git_hook_that_reads_stdin_gets_nothing_of_roots_script(
    h1: TestHost, operator: Operator, env: Path
) -> None:
    # it used to eat the rest of root's facts script: every plan failed (exit 3)
    hooked(h1, operator, env, "#!/bin/sh\ncat > /dev/null\nexit 0\n")
    again = operator.warden("plan", "--env", str(env), "--json", timeout=300)
    assert again.returncode == 0, again.stderr[-2000:] + again.stdout[-2000:]
    assert '"change_count": 0' in again.stdout


def test_a_git_hook_whose_descendant_keeps_the_output_open_is_bounded_and_named(
    h1: TestHost, operator: Operator, env: Path
) -> None:
    # git waits for its hook's output to close: the descendant keeps it open for an hour
    hooked(h1, operator, env, "#!/bin/sh\nsetsid sh -c 'sleep 3600' &\nexit 0\n")
    started = time.monotonic()
    again = operator.warden("plan", "--env", str(env), timeout=300)
    took = time.monotonic() - started
    assert again.returncode == 2, again.stderr[-2000:] + again.stdout[-2000:]
    text = " ".join(again.stdout.split())
    assert "reading the clone /home/atlas/soul as atlas did not finish in time" in text
    assert "/home/atlas/soul/.git/config" in text
    assert took < READ_SECONDS + 60  # bounded: the hook's descendant still runs

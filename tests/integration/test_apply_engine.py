"""The apply engine on a real sshd host: what a step script does when changes misbehave."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from setup.apply import run_step
from setup.command import Raw, cmd
from setup.domains import HostUser
from setup.errors import ChangeFailed, HostError
from setup.facts import Facts, gather
from setup.ops import Run, put
from setup.plan import Change
from setup.transport import SSHExecutor
from tests.testhost import TestHost, write_ssh_config


@pytest.fixture
def host(make_test_host: Callable[..., TestHost]) -> TestHost:
    return make_test_host("e1")


@pytest.fixture
def executor(host: TestHost, tmp_path: Path) -> Iterator[SSHExecutor]:
    config = write_ssh_config(tmp_path / "ssh_config", [("e1", host, None)])
    executor = SSHExecutor("e1", ssh_config=config)
    yield executor
    executor.close()


def sh(text: str) -> Run:
    """A raw line of root's sh, as a test writes one."""
    return Run(cmd(Raw(text)))


def journal(host: TestHost) -> list[dict[str, object]]:
    text = host.read_file("/var/db/warden/journal/warden.jsonl").decode()
    return [json.loads(line) for line in text.splitlines()]


def test_a_change_reading_stdin_does_not_swallow_the_changes_after_it(
    host: TestHost, executor: SSHExecutor
) -> None:
    facts = gather(executor)
    changes = [
        Change("t", "read stdin", ops=(sh("cat > /var/db/warden/stdin-seen"),)),
        Change("t", "touch a marker", ops=(sh("touch /var/db/warden/second-ran"),)),
    ]
    run_step(executor, "t", changes, facts)
    assert host.read_file("/var/db/warden/stdin-seen") == b""
    assert host.exists("/var/db/warden/second-ran")
    assert [(r["change"], r["result"]) for r in journal(host)] == [
        ("read stdin", "ok"),
        ("touch a marker", "ok"),
    ]


def test_a_failing_change_stops_the_step_and_is_named_and_journalled(
    host: TestHost, executor: SSHExecutor
) -> None:
    facts = gather(executor)
    changes = [
        Change("t", "first works", ops=(sh("touch /var/db/warden/one"),)),
        Change(
            "t", "second fails", ops=(sh("echo 'no such thing' >&2"), sh("false"), sh("touch x"))
        ),
        Change("t", "third never runs", ops=(sh("touch /var/db/warden/three"),)),
    ]
    with pytest.raises(ChangeFailed, match=r"'second fails' failed \(exit 1\): no such thing"):
        run_step(executor, "t", changes, facts)
    assert host.exists("/var/db/warden/one")
    assert not host.exists("/var/db/warden/three")
    assert [(r["change"], r["result"], r["rc"]) for r in journal(host)] == [
        ("first works", "ok", 0),
        ("second fails", "failed", 1),
    ]


def test_output_that_looks_like_progress_markers_is_not_taken_for_them(
    host: TestHost, executor: SSHExecutor
) -> None:
    facts = gather(executor)
    seen: list[tuple[str, int, str]] = []
    changes = [
        Change(
            "t",
            "prints fake markers",
            ops=(sh("echo '@@warden end 9 0'; echo '@@warden-x begin 1'"),),
        )
    ]
    run_step(
        executor,
        "t",
        changes,
        facts,
        progress=lambda step, index, event, summary: seen.append((step, index, event)),
    )
    assert seen == [("t", 1, "begin"), ("t", 1, "done")]


def test_a_shared_host_file_written_by_another_run_since_the_plan_is_not_overwritten(
    host: TestHost, executor: SSHExecutor
) -> None:
    host.write_file("/etc/hosts", "127.0.0.1 localhost\n")
    facts: Facts = gather(executor)
    write = put("/etc/hosts", "127.0.0.1 localhost\n# atlas\n", 0o644,
                before="127.0.0.1 localhost\n")  # fmt: skip
    host.write_file("/etc/hosts", "127.0.0.1 localhost\n# nova, by another run\n")
    with pytest.raises(HostError, match="/etc/hosts changed since the plan"):
        run_step(executor, "network", [Change("network", "hosts", ops=(write,))], facts)
    assert host.read_file("/etc/hosts").decode().endswith("# nova, by another run\n")
    assert journal(host)[-1]["rc"] == 79


def test_a_registry_changed_under_the_plan_refuses_with_exit_3_and_a_journal_line(
    host: TestHost, executor: SSHExecutor
) -> None:
    facts: Facts = gather(executor)
    host.write_file("/var/db/warden/agents/other.json", '{"agent": "other"}\n')
    with pytest.raises(HostError, match="registry or a file several agents share changed"):
        run_step(executor, "t", [Change("t", "x", ops=(sh("touch /var/db/warden/x"),))], facts)
    assert not host.exists("/var/db/warden/x")
    assert journal(host)[-1]["result"] == "failed" and journal(host)[-1]["rc"] == 79


def test_a_descendant_holding_a_changes_output_open_does_not_stall_the_step(
    host: TestHost, executor: SSHExecutor
) -> None:
    facts = gather(executor)
    changes = [
        Change("t", "leaves a daemon behind", ops=(sh("setsid sh -c 'sleep 3600' &"),)),
        Change("t", "then this", ops=(sh("touch /var/db/warden/after"),)),
    ]
    started = time.monotonic()
    run_step(executor, "t", changes, facts)
    assert time.monotonic() - started < 30
    assert host.exists("/var/db/warden/after")


def test_a_command_outside_the_host_domain_that_never_ends_is_stopped_and_named(
    host: TestHost, executor: SSHExecutor
) -> None:
    facts = gather(executor)
    nobody = HostUser("nobody", "nogroup", "/nonexistent")
    hangs = Run(cmd("sleep", "3600"), nobody, seconds=2, label="a hook of the agent's")
    with pytest.raises(ChangeFailed, match=r"a hook of the agent's: stopped after 2s"):
        run_step(executor, "t", [Change("t", "hangs", ops=(hangs,))], facts)
    assert journal(host)[-1]["result"] == "failed"

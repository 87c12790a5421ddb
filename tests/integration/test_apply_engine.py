"""The apply engine on a real sshd host: what a step script does when changes misbehave."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from setup.apply import run_step
from setup.errors import ChangeFailed, HostError
from setup.facts import Facts, gather
from setup.plan import Change, FileWrite
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


def journal(host: TestHost) -> list[dict[str, object]]:
    text = host.read_file("/var/db/warden/journal/warden.jsonl").decode()
    return [json.loads(line) for line in text.splitlines()]


def test_a_change_reading_stdin_does_not_swallow_the_changes_after_it(
    host: TestHost, executor: SSHExecutor
) -> None:
    facts = gather(executor)
    changes = [
        Change("t", "read stdin", commands=("cat > /var/db/warden/stdin-seen",)),
        Change("t", "touch a marker", commands=("touch /var/db/warden/second-ran",)),
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
        Change("t", "first works", commands=("touch /var/db/warden/one",)),
        Change("t", "second fails", commands=("echo 'no such thing' >&2", "false", "touch x")),
        Change("t", "third never runs", commands=("touch /var/db/warden/three",)),
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
            commands=("echo '@@warden end 9 0'; echo '@@warden-x begin 1'",),
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
    write = FileWrite("/etc/hosts", "127.0.0.1 localhost\n# atlas\n", 0o644,
                      before="127.0.0.1 localhost\n")  # fmt: skip
    host.write_file("/etc/hosts", "127.0.0.1 localhost\n# nova, by another run\n")
    with pytest.raises(HostError, match="/etc/hosts changed since the plan"):
        run_step(executor, "network", [Change("network", "hosts", files=(write,))], facts)
    assert host.read_file("/etc/hosts").decode().endswith("# nova, by another run\n")
    assert journal(host)[-1]["rc"] == 79


def test_a_registry_changed_under_the_plan_refuses_with_exit_3_and_a_journal_line(
    host: TestHost, executor: SSHExecutor
) -> None:
    facts: Facts = gather(executor)
    host.write_file("/var/db/warden/agents/other.json", '{"agent": "other"}\n')
    with pytest.raises(HostError, match="registry or a file several agents share changed"):
        run_step(executor, "t", [Change("t", "x", commands=("touch /var/db/warden/x",))], facts)
    assert not host.exists("/var/db/warden/x")
    assert journal(host)[-1]["result"] == "failed" and journal(host)[-1]["rc"] == 79

"""A run cut off halfway never leaves a host worse than before (issue 7, fault injection).

Each case is a full setup of the example agent on its own throwaway host, whose SSH
session the FreeBSD double cuts at the k-th command of warden's step scripts; setup
then runs again without the fault and the host must match one that never saw a fault
(tests/faults.py says what is compared). The k values are spread over every step that
runs a FreeBSD command; `python -m tests.faults` runs every k (bench/).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults import (
    FaultResult,
    Reference,
    differences,
    fresh_site,
    lock_is_free,
    locked_count,
    reference_run,
    run_cases,
    set_fault,
    setup,
    setup_popen,
    snapshot,
    temp_files,
    words,
)
from tests.integration.conftest import require_test_hosts

#: Built steps whose scripts run FreeBSD commands (register's and preflight's do not).
STEPS_WITH_COMMANDS = {"host", "network", "pf", "user", "service"}


@pytest.fixture(scope="module")
def reference(client_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    require_test_hosts()
    return reference_run(client_key, tmp_path_factory.mktemp("reference") / "home")


@pytest.fixture(scope="module")
def sweep(reference: Reference, client_key: Path) -> Iterator[list[FaultResult]]:
    """First and last command of each step (and one between for the long ones)."""
    ks = reference.spread(per_step=2)
    # the bridge being created (one command: created and named warden0 at once)
    create = [k for k, (_, argv) in enumerate(reference.commands, 1) if "create" in argv]
    ks = sorted(set(ks) | set(create))
    yield run_cases(ks, reference, client_key, workers=2)


def report(results: list[FaultResult], problems: str) -> str:
    return "\n".join(
        f"k={r.k} ({r.step}: {' '.join(r.command)}): " + "; ".join(getattr(r, problems))
        for r in results
        if getattr(r, problems)
    )


def test_the_spread_of_k_cuts_inside_every_step_that_runs_a_command(
    reference: Reference, sweep: list[FaultResult]
) -> None:
    assert {step for step, _ in reference.commands} == STEPS_WITH_COMMANDS
    assert {r.step for r in sweep} == STEPS_WITH_COMMANDS
    assert len(sweep) >= 10


def test_a_cut_session_fails_the_run_with_exit_1_or_3_naming_the_cut_step(
    sweep: list[FaultResult],
) -> None:
    assert report(sweep, "run_problems") == ""
    for result in sweep:
        said = words(result.faulted_output)
        assert f"the connection was cut during step {result.step}" in said or (
            result.step == "pf" and "could not reconnect" in said
        ), f"k={result.k}: {said[-400:]}"


def test_after_a_cut_and_a_rerun_the_host_is_identical_to_one_never_cut(
    sweep: list[FaultResult],
) -> None:
    assert report(sweep, "host_problems") == ""


def test_no_run_claims_a_change_that_the_cut_left_unfinished(sweep: list[FaultResult]) -> None:
    assert report([r for r in sweep if r.step != "pf"], "claim_problems") == ""


def test_a_pf_load_cut_before_its_confirmation_is_not_journaled_ok(
    sweep: list[FaultResult],
) -> None:
    assert report([r for r in sweep if r.step == "pf"], "claim_problems") == ""


# Edited a line at a time by changes in several steps (sysrc): cut between two steps, it
# is rightly neither the old file nor the finished one, but every line is whole.
LINE_EDITED = {"/etc/rc.conf"}


def old_or_new(before: dict[str, Any], after: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Managed files whose content is neither the pre-setup nor the finished one (for a
    line-edited file: holding a line that is in neither)."""
    torn = []
    for path, state in now["files"].items():
        old, new = before["files"][path], after["files"][path]
        if state in (old, new):
            continue
        if path in LINE_EDITED and state is not None and new is not None:
            known = set((old or {}).get("text", "").splitlines()) | set(
                new.get("text", "").splitlines()
            )
            if state["meta"] == new["meta"] and set(state["text"].splitlines()) <= known:
                continue
        torn.append(path)
    return torn


def test_a_client_killed_mid_apply_leaves_whole_files_and_the_lock_free_and_a_rerun_repairs(
    reference: Reference, client_key: Path, tmp_path: Path
) -> None:
    # Killed while pfctl loads the staged rules: files were placed before it in this
    # step and by the steps before; pf.conf is swapped only after a confirmation.
    k = next(
        i for i, (step, argv) in enumerate(reference.commands, 1) if argv[:2] == ["pfctl", "-f"]
    )
    with fresh_site(client_key, tmp_path / "home") as site:
        host = site.host
        before = snapshot(host)
        set_fault(host, {"at": k, "under": "lockf", "action": "sleep", "seconds": 3})
        client = setup_popen(site)
        try:
            deadline = time.monotonic() + 120
            while locked_count(host) < k:
                assert client.poll() is None, client.communicate()
                assert time.monotonic() < deadline, "the run never reached the pf load"
                time.sleep(0.05)
        finally:
            client.kill()  # SIGKILL: no cleanup of any kind on the client's side
            client.communicate()
        assert old_or_new(before, reference.snapshot, snapshot(host)) == []
        # The script the dead client started ends at its next write to the closed
        # session; its lockf ends with it and so does the lock.
        deadline = time.monotonic() + 30
        while not lock_is_free(host):
            assert time.monotonic() < deadline, "the host lock outlived the dead client"
            time.sleep(0.2)
        assert temp_files(host) == []
        assert old_or_new(before, reference.snapshot, snapshot(host)) == []
        set_fault(host, None)
        repair = setup(site, lock_wait=1)
        assert repair.returncode == 0, repair.stderr
        assert differences(reference.snapshot, snapshot(host)) == []
        assert temp_files(host) == []

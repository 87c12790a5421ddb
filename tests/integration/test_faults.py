"""A run cut off halfway never leaves a host worse than before (issue 7, fault injection).

Each case runs on a throwaway host of its own, whose SSH session the FreeBSD double
cuts at the k-th command of warden's step scripts:

* setup: a full setup of the example agent (role jails db, git, cms and llama-cpp and
  a soul; or an ollama jail) cut at k, then setup again without the fault: the host
  must match one that never saw a fault, and a plan must find nothing to do;
* teardown: a full setup, then a teardown cut at k, then teardown again: the host
  must match one whose teardown was never cut, and nothing is left to tear down.

tests/faults.py says what is compared. The k values are the first and last command of
every step that runs one, in both families; `python -m tests.faults` runs every k.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from setup.steps import DESIGN_ORDER
from tests.faults import (
    ROLES,
    SCENARIOS,
    FaultResult,
    Reference,
    all_references,
    differences,
    fresh_site,
    lock_is_free,
    locked_count,
    run_sweep,
    set_fault,
    setup,
    setup_popen,
    snapshot,
    temp_files,
)
from tests.harness.site import require_test_hosts

#: a spread of cut cases on hosts with real role jails: minutes (`invoke test --quick` skips)
pytestmark = pytest.mark.slow

#: Steps whose scripts run FreeBSD commands (register's and preflight's do not; bhyve's
#: only for a VM agent), and teardown's (unregister's removes a file only).
SETUP_STEPS_WITH_COMMANDS = set(DESIGN_ORDER) - {"preflight", "bhyve"}
TEARDOWN_STEPS_WITH_COMMANDS = {"teardown", "pf"}


@pytest.fixture(scope="module")
def references(client_key: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Reference]:
    require_test_hosts(network=True)
    work = tmp_path_factory.mktemp("fault-references")
    return all_references(client_key, work, list(SCENARIOS.values()), workers=2)


def reference(references: list[Reference], family: str, scenario: str = "roles") -> Reference:
    return next(r for r in references if r.family == family and r.scenario.name == scenario)


@pytest.fixture(scope="module")
def sweep(references: list[Reference], client_key: Path) -> Iterator[list[FaultResult]]:
    """First and last command of each step cut, in both families; and the bridge being
    created (one command: created and named warden0 at once)."""
    cases = [(r, k) for r in references for k in r.spread(per_step=2)]
    setup_roles = reference(references, "setup")
    create = [
        k
        for k, (step, argv) in enumerate(setup_roles.commands, 1)
        if step == "network" and argv[:3] == ["ifconfig", "bridge", "create"]
    ]
    cases += [(setup_roles, k) for k in create if (setup_roles, k) not in cases]
    yield run_sweep(cases, client_key, workers=2, log=True)


def report(results: list[FaultResult], problems: str) -> str:
    return "\n".join(
        f"{r.scenario}/{r.family} k={r.k} ({r.step}: {' '.join(r.command)[:200]}): "
        + "; ".join(getattr(r, problems))
        for r in results
        if getattr(r, problems)
    )


def test_the_spread_of_k_cuts_inside_every_step_that_runs_a_command(
    references: list[Reference], sweep: list[FaultResult]
) -> None:
    setups = [r for r in references if r.family == "setup"]
    assert {step for r in setups for step in r.per_step()} == SETUP_STEPS_WITH_COMMANDS
    assert {step for step, _ in reference(references, "setup").commands} == (
        SETUP_STEPS_WITH_COMMANDS - {"ollama"}
    )
    assert set(reference(references, "teardown").per_step()) == TEARDOWN_STEPS_WITH_COMMANDS
    assert {r.step for r in sweep if r.family == "setup"} == SETUP_STEPS_WITH_COMMANDS
    assert {r.step for r in sweep if r.family == "teardown"} == TEARDOWN_STEPS_WITH_COMMANDS
    for r in references:  # each step's first and last command
        cut = {x.k for x in sweep if x.scenario == r.scenario.name and x.family == r.family}
        for step in r.per_step():
            ks = [k for k in r.cut_points() if r.step_of(k) == step]
            assert {ks[0], ks[-1]} <= cut, (r.label, step)


def test_a_cut_session_fails_the_run_with_exit_1_or_3_naming_the_cut_step(
    sweep: list[FaultResult],
) -> None:
    assert report(sweep, "run_problems") == ""


def test_after_a_cut_setup_and_a_rerun_the_host_is_identical_to_one_never_cut(
    sweep: list[FaultResult],
) -> None:
    assert report([r for r in sweep if r.family == "setup"], "host_problems") == ""


def test_after_a_cut_teardown_and_a_rerun_the_host_is_identical_to_one_torn_down_once(
    sweep: list[FaultResult],
) -> None:
    assert report([r for r in sweep if r.family == "teardown"], "host_problems") == ""


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
    references: list[Reference], client_key: Path, tmp_path: Path
) -> None:
    # Killed while pfctl loads the staged rules: files were placed before it in this
    # step and by the steps before; pf.conf is swapped only after a confirmation.
    ref = reference(references, "setup")
    k = next(i for i, (step, argv) in enumerate(ref.commands, 1) if argv[:2] == ["pfctl", "-f"])
    with fresh_site(client_key, tmp_path / "home", ROLES, ref.hub) as site:
        host = site.host
        before = snapshot(host)
        set_fault(host, {"at": k, "under": "lockf", "action": "sleep", "seconds": 3})
        client = setup_popen(site)
        try:
            deadline = time.monotonic() + 300
            while locked_count(host) < k:
                assert client.poll() is None, client.communicate()
                assert time.monotonic() < deadline, "the run never reached the pf load"
                time.sleep(0.05)
        finally:
            client.kill()  # SIGKILL: no cleanup of any kind on the client's side
            client.communicate()
        assert old_or_new(before, ref.snapshot, snapshot(host)) == []
        # The script the dead client started ends at its next write to the closed
        # session; its lockf ends with it and so does the lock.
        deadline = time.monotonic() + 30
        while not lock_is_free(host):
            assert time.monotonic() < deadline, "the host lock outlived the dead client"
            time.sleep(0.2)
        assert temp_files(host) == []
        assert old_or_new(before, ref.snapshot, snapshot(host)) == []
        set_fault(host, None)
        repair = setup(site, lock_wait=1)
        assert repair.returncode == 0, repair.stderr
        assert differences(ref.snapshot, snapshot(host)) == []
        assert temp_files(host) == []

"""Carry out a plan: one script per step, under the host lock, journalled, then checked.

Each step's changes go to the host as one script on one exec, run by lockf(1) holding
/var/db/warden/lock, so two applies on one host never interleave and a dead client's
lock is dropped by the kernel. Under the lock the script first compares the registry
with what the plan saw and stops (exit 3) if another run changed it. Every change
appends a JSON line to the journal. After the step, facts are read again and the step
re-planned: anything still to do means the step did not do what it said.
"""

from __future__ import annotations

import getpass
import json
import re
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import AgentConfig
from .domains import CHANGE_SECONDS, SLOW_SECONDS, at
from .errors import ChangeFailed, HostError, WardenError
from .facts import Facts, registry_snapshot_sh
from .job import Job
from .layout import JOURNAL_DIR, JOURNAL_FILE, LOCK_FILE, LOCK_HOLDER_FILE, SHARED_FILES, WARDEN_DIR
from .plan import Change
from .shell import LIBRARY, RC_LOCKED, RC_NOT_ROOT, RC_REGISTRY_CHANGED, heredoc, q
from .steps import BUILT
from .transport import Executor

DEFAULT_LOCK_WAIT = 30
SHARED_LOCATIONS = frozenset(at(path) for path in SHARED_FILES)

Progress = Callable[[str, int, str, str], None]  # (step, index, event, summary)

_JOURNAL_FN = rf"""
warden_journal() {{
    _wj_end=$(date +%s)
    _wj_result=${{4:-ok}}
    [ "$2" -eq 0 ] || _wj_result=failed
    mkdir -p {JOURNAL_DIR} && chmod 0700 {JOURNAL_DIR} || return 0
    printf '%s,"ts":"%s","result":"%s","rc":%d,"seconds":%d}}\n' "$1" \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$_wj_result" "$2" "$((_wj_end - $3))" \
        >> {JOURNAL_FILE}
}}
"""


def who() -> str:
    """The operator as the journal records it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def locked_command(lock_wait: int) -> str:
    """The remote command: lockf holds the host lock while sh runs the step's script."""
    return (
        f"mkdir -p {WARDEN_DIR} && "
        f"{{ lockf -k -t {int(lock_wait)} {LOCK_FILE} /bin/sh -s; rc=$?; "
        f'if [ "$rc" -eq {RC_LOCKED} ]; then '
        f"printf '@@holder %s\\n' \"$(cat {LOCK_HOLDER_FILE} 2>/dev/null)\" >&2; fi; "
        'exit "$rc"; }'
    )


# A change runs as its own script, bounded (shell.LIBRARY: warden_run) with stdin from
# /dev/null and its output in a file: nothing it starts (a jail's rc, an agent's hook, a
# daemon) can stall the run or write into this script's output.
_CHANGE_FN = r"""
warden_change() {
    _wc_f="$_w_tmp/change.$1"
    cat > "$_wc_f" || return 1
    warden_run "$2" "$3" /bin/sh -e "$_wc_f" </dev/null
}
"""


def change_script(sh: str, run_id: str) -> str:
    """The script one change (or its confirmation) runs as."""
    return f"{LIBRARY}set -u\n_w_run={run_id}\n{sh}\n"


def step_script(
    step: str,
    changes: list[Change],
    registry_snapshot: str,
    *,
    run_id: str,
    operator: str,
    redact: bool = False,
    agent: str = "",
) -> str:
    """The script for one step: holder note, registry check, then each change (with
    redact, secrets' contents left out: for review, never for a host)."""
    delimiter, body = heredoc(registry_snapshot)
    holder = f"{operator}, warden run {run_id}, step {step}"
    lines = [
        LIBRARY + _JOURNAL_FN + _CHANGE_FN,
        "set -u",
        "umask 022",
        f"_w_run={run_id}",
        "warden_tmp || exit 1",
        f'printf \'%s (pid %s) since %s\\n\' {q(holder)} "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"'
        f" > {LOCK_HOLDER_FILE}",
        f"warden_on_exit ': > {LOCK_HOLDER_FILE}; warden_cleanup'",
        f'( {registry_snapshot_sh()} ) > "$_w_tmp/registry"',
        f"if cmp -s \"$_w_tmp/registry\" - <<'{delimiter}'",
        f"{body}{delimiter}",
        "then :",
        'else echo "warden: the registry changed since the plan" >&2; '
        "warden_journal "
        f"{q(_record(run_id, operator, step, 'refused: the registry changed', agent))} "
        f'{RC_REGISTRY_CHANGED} "$(date +%s)"; exit {RC_REGISTRY_CHANGED}; fi',
        *_unchanged_guards(changes, run_id, operator, step, agent),
    ]
    for index, change in enumerate(changes, 1):
        seconds = SLOW_SECONDS if change.slow else CHANGE_SECONDS
        end, text = heredoc(change_script(change.sh(redact), run_id))
        lines += [
            f'echo "{marker(run_id)} begin {index}"',
            "_w_start=$(date +%s)",
            f"warden_change {index} {seconds} {q(change.summary)} <<'{end}'",
            f"{text}{end}",
            "_w_rc=$?",
            f'warden_journal {q(_record(run_id, operator, step, change.summary, agent))} "$_w_rc" '
            # A change that a later confirmation completes is not done yet: the confirm
            # script journals its "ok" (setup/apply.py: confirm).
            '"$_w_start"' + (" pending" if change.confirm is not None else ""),
            f'echo "{marker(run_id)} end {index} $_w_rc"',
            'if [ "$_w_rc" -ne 0 ]; then exit 1; fi',
        ]
    return "\n".join(lines) + "\n"


def _unchanged_guards(
    changes: list[Change], run_id: str, operator: str, step: str, agent: str
) -> list[str]:
    """sh checking, under the lock, that each host file several agents' runs write
    (/etc/hosts, the pf files, the host PostgreSQL's settings) is still what this plan
    saw: the lock is held per step, so another agent's run may have written one since
    (its new content would be lost). Like a changed registry: exit 3, nothing done."""
    lines: list[str] = []
    seen: set[str] = set()
    for change in changes:
        for write in change.files:
            if write.location not in SHARED_LOCATIONS or write.path in seen:
                continue
            seen.add(write.path)
            path = q(write.path)
            if write.before is None:
                test = f"[ ! -e {path} ]"
            else:
                delimiter, body = heredoc(write.before)
                test = f"cmp -s {path} - <<'{delimiter}'\n{body}{delimiter}"
                if not body:
                    test = f"[ -f {path} ] && [ ! -s {path} ]"
            refused = _record(run_id, operator, step, f"refused: {write.path} changed", agent)
            lines += [
                f"if ! {test}",
                f"then echo {q(f'warden: {write.path} changed since the plan')} >&2; "
                f'warden_journal {q(refused)} {RC_REGISTRY_CHANGED} "$(date +%s)"; '
                f"exit {RC_REGISTRY_CHANGED}; fi",
            ]
    return lines


def marker(run_id: str) -> str:
    """The progress marker of one run: output of a change cannot fake it."""
    return f"@@warden-{run_id}"


def _record(run_id: str, operator: str, step: str, change: str, agent: str = "") -> str:
    """The journal line's known fields, as an unclosed JSON object the script completes."""
    fields = {"run": run_id, "who": operator, "step": step, "change": change}
    if agent:
        fields["agent"] = agent
    return json.dumps(fields, sort_keys=True)[:-1]


@dataclass
class Applied:
    """What a run applied, step by step, and the host as its last check read it."""

    steps: list[StepOutcome]
    facts: Facts


@dataclass
class StepOutcome:
    """What happened to one step."""

    step: str
    applied: list[str] = field(default_factory=list)


def _progress_reader(
    step: str, changes: list[Change], progress: Progress | None, run_id: str
) -> Callable[[str], None]:
    pattern = re.compile(rf"^{re.escape(marker(run_id))} (begin|end) (\d+)(?: (\d+))?$")

    def on_line(line: str) -> None:
        match = pattern.match(line)
        if match and progress is not None and 1 <= int(match.group(2)) <= len(changes):
            index = int(match.group(2))
            event = match.group(1)
            if event == "end":
                event = "done" if match.group(3) == "0" else "failed"
                if event == "done" and changes[index - 1].confirm is not None:
                    event = "awaiting confirmation"
            progress(step, index, event, changes[index - 1].summary)

    return on_line


def run_step(
    executor: Executor,
    step: str,
    changes: list[Change],
    facts: Facts,
    *,
    lock_wait: int = DEFAULT_LOCK_WAIT,
    progress: Progress | None = None,
    run_id: str | None = None,
    agent: str = "",
) -> None:
    """Send one step's changes; raise with the operator-facing reason when it fails."""
    run_id = run_id or secrets.token_hex(4)
    script = step_script(
        step, changes, facts.registry_snapshot, run_id=run_id, operator=who(), agent=agent
    )
    result = executor.run(
        script,
        inner=locked_command(lock_wait),
        on_line=_progress_reader(step, changes, progress, run_id),
    )
    target = executor.target
    if result.rc == 0:
        return
    if result.rc == RC_LOCKED:
        holder = (
            next(
                (
                    line[len("@@holder ") :]
                    for line in result.stderr.splitlines()
                    if line.startswith("@@holder ")
                ),
                "",
            ).strip()
            or "unknown (no holder note)"
        )
        raise HostError(
            f"{target}: another apply holds the host lock ({LOCK_FILE}) after waiting "
            f"{lock_wait}s: {holder}"
        )
    if result.rc == RC_REGISTRY_CHANGED:
        raise HostError(
            f"{target}: the host registry or a file several agents share changed since the "
            f"plan was made (another run registered or changed an agent); step {step} did "
            f"nothing: plan again ({result.stderr.strip() or 'no message'})"
        )
    if result.rc == RC_NOT_ROOT:
        raise HostError(f"{target}: cannot run as root: {result.stderr.strip()}")
    if result.rc < 0:
        hint = (
            "; if it was cut by new pf rules, the host restores the previous ones by itself"
            if any(c.confirm is not None for c in changes)
            else ""
        )
        raise HostError(f"{target}: the connection was cut during step {step}{hint}; run again")
    detail = result.stderr.strip()[-800:] or "no message"
    tag = re.escape(marker(run_id))
    if not re.search(rf"^{tag} begin 1$", result.stdout, re.MULTILINE):
        raise HostError(
            f"{target}: step {step}: the script failed before its first change "
            f"(exit {result.rc}); nothing was changed: {detail}"
        )
    done = re.findall(rf"^{tag} end \d+ 0$", result.stdout, re.MULTILINE)
    summary = changes[len(done)].summary if len(done) < len(changes) else "(after the last change)"
    if len(done) < len(changes) and changes[len(done)].secret:
        # its commands carry a secret (a verifier): a tool's error can quote them
        detail = "(the output of a change with a secret is not shown)"
    raise ChangeFailed(f"{target}: step {step}: '{summary}' failed (exit {result.rc}): {detail}")


def confirm(
    executor: Executor,
    step: str,
    change: Change,
    *,
    run_id: str,
    lock_wait: int,
    agent: str = "",
) -> None:
    """Prove the host is still reachable after a change that could cut it off, over a
    NEW connection (an open session survives rules that refuse new ones), and disarm
    the change's dead-man switch. Only then is the change journaled ok."""
    try:
        fresh = executor.reconnect()
    except WardenError as exc:
        raise HostError(
            f"{executor.target}: step {step}: could not reconnect after '{change.summary}' "
            f"({exc.message}); the host restores its previous state by itself"
        ) from None
    record = q(_record(run_id, who(), step, change.summary, agent))
    assert change.confirm is not None
    delimiter, body = heredoc(change_script(change.confirm.sh(), run_id))
    script = (
        f"{LIBRARY}{_JOURNAL_FN}{_CHANGE_FN}set -u\n_w_run={run_id}\n_w_start=$(date +%s)\n"
        "warden_tmp || exit 1\nwarden_on_exit warden_cleanup\n"
        f"warden_change confirm {CHANGE_SECONDS} {q('confirm: ' + change.summary)} "
        f"<<'{delimiter}'\n{body}{delimiter}\n_w_rc=$?\n"
        f'warden_journal {record} "$_w_rc" "$_w_start"\nexit "$_w_rc"\n'
    )
    try:
        result = fresh.run(script, inner=locked_command(lock_wait))
    finally:
        fresh.close()
    if result.rc != 0:
        raise HostError(
            f"{executor.target}: step {step}: reconnected but could not confirm "
            f"'{change.summary}': {result.stderr.strip() or 'no message'}"
        )


def apply_steps(
    executor: Executor,
    job: Job,
    facts: Facts,
    steps: list[str],
    *,
    lock_wait: int = DEFAULT_LOCK_WAIT,
    progress: Progress | None = None,
) -> Applied:
    """Apply the steps in order, each planned against the facts its predecessor left,
    then read the host again and plan the step once more: anything still to do, or a
    refusal, means the step did not do what it said, and the steps after it are not run.

    A step may take several rounds (the job's `rounds`): the db step can plan its SQL
    only once the server its first round made is up.
    """
    run_id = secrets.token_hex(4)
    config = job.config
    outcomes: list[StepOutcome] = []
    for step in steps:
        applied: list[str] = []
        for _ in range(job.rounds(step)):
            planned = job.plan_step(step, facts)
            if planned.refusals:
                # planned again against what the steps before it left: refused now, it
                # sends nothing
                raise ChangeFailed(
                    f"{executor.target}: step {step}: " + "; ".join(planned.refusals)
                )
            changes = [c for c in planned.changes if not c.deferred]
            if not changes:
                break
            _apply_round(executor, config, facts, step, changes, lock_wait, progress, run_id)
            applied += [c.summary for c in changes]
            facts = job.read(executor)
        if applied:
            outcomes.append(StepOutcome(step, applied))
        final = job.plan_step(step, facts)
        if final.refusals:
            raise ChangeFailed(f"{executor.target}: step {step}: " + "; ".join(final.refusals))
        left = final.changes
        if left:
            raise ChangeFailed(
                f"{executor.target}: step {step} ran but the host still differs: "
                + "; ".join(c.summary for c in left)
            )
    return Applied(outcomes, facts)


def _apply_round(
    executor: Executor,
    config: AgentConfig,
    facts: Facts,
    step: str,
    changes: list[Change],
    lock_wait: int,
    progress: Progress | None,
    run_id: str,
) -> None:
    """One round of a step: its sh changes in one script, then its SQL changes."""
    shell = [c for c in changes if c.runs_as_sh]
    if shell:
        run_step(
            executor,
            step,
            shell,
            facts,
            lock_wait=lock_wait,
            progress=progress,
            run_id=run_id,
            agent=config.agent_name,
        )
        for change in shell:
            if change.confirm is not None:
                confirm(
                    executor,
                    step,
                    change,
                    run_id=run_id,
                    lock_wait=lock_wait,
                    agent=config.agent_name,
                )
                if progress is not None:
                    progress(step, shell.index(change) + 1, "confirmed", change.summary)
    sql = [c for c in changes if c.sql is not None]
    if sql:
        apply_sql = BUILT[step].apply_sql
        apply_sql(
            executor,
            config,
            facts,
            sql,
            progress=progress,
            journal=_sql_journal(executor, step, run_id, config.agent_name),
        )


def _sql_journal(
    executor: Executor, step: str, run_id: str, agent: str
) -> Callable[[str, int, float], None]:
    """Journal lines for changes warden made itself (SQL), as the step script writes
    them for sh changes."""
    operator = who()

    def record(summary: str, rc: int, started: float) -> None:
        script = (
            LIBRARY
            + _JOURNAL_FN
            + f"warden_journal {q(_record(run_id, operator, step, summary, agent))} {int(rc)} "
            f"{int(started)}\n"
        )
        executor.run(script)

    return record

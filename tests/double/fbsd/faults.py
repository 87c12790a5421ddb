"""The fault hook: a call that fails, cuts its SSH session or sleeps, on request.

TEST DOUBLE, not FreeBSD.  Off unless state["fault"] is set (see
`maybe_inject_fault`); main() (dispatch.py) runs it before every command.  The
server (server.py) sets `CALLER_PID` in each worker, so the caller's ancestors are
looked up from the client's process rather than the server's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator

from .common import ENTRY, EX_SOFTWARE, Exit, Unsupported, err, out
from .state import atomic_write, locked, mutate_state, read_state, state_dir


def maybe_inject_fault(call_index: int) -> None:
    """Fault hook, off unless state["fault"] is set; it runs before the command acts.

    state["fault"] is one spec or a list of specs. Which call a spec picks:

    * "at": k: the k-th call (calls.seq);
    * "at": k with "under": "lockf": the k-th call that runs under the double's
      lockf (an ancestor process is `lockf`): the commands of scripts run under a
      lock (warden's step scripts), not those of a script that only probes the
      lock (its facts). While such a spec is set, calls.lockf.seq counts them and
      calls.lockf.log gets one JSON line per call, in start order:
      {"call": calls.seq, "lockf": pid of that lockf or null, "n": k or null,
      "argv": [...]}, so a test can tell which script ran which call;
    * "argv": ["pfctl", "-nf"]: a call whose argv (command name, then its
      arguments, as in calls.log) starts with that prefix, word for word ("-nf"
      does not match "-n -f"); "times" (default: unlimited) counts down in
      state.json, at 0 the spec no longer fires. The argv is read from sys.argv,
      as main() sees it.

    What it does ("action"):

    * "exit": prints stdout/stderr (a newline is added to non-empty text) and
      exits rc (default 1); an "at" spec without them prints
      "freebsd-double: injected fault at call k" and exits 70 (EX_SOFTWARE).
    * "disconnect": a network cut under this command. The sshd processes serving
      this call's SSH connection (every sshd ancestor below the topmost one, the
      listener: OpenSSH 9.2's "[priv]" monitor and its "user@notty" child) are
      SIGKILLed and awaited, so the client sees the connection die and this
      command's stdout/stderr lead nowhere. The command then runs as it would,
      with SIGPIPE at its default action: like a C program on FreeBSD, it dies
      when it writes to the dead session (sshd does not signal an exec session's
      command when the connection drops: it just closes the pipes). Outside an
      SSH session it exits 64.
    * "sleep": waits "seconds", then the command runs as it would (a slow
      command, to cut the client while it runs).

    Any other action or key exits 64.
    """
    from .dispatch import HANDLERS  # dispatch imports this module

    fault = read_state().get("fault")
    if not fault:
        return
    prog = os.path.basename(sys.argv[0])
    argv = [prog, *sys.argv[1:]] if prog in HANDLERS else sys.argv[1:]
    specs = fault if isinstance(fault, list) else [fault]
    keys = {"at", "under", "argv", "action", "rc", "stderr", "stdout", "times", "seconds"}
    for spec in specs:
        if (
            not isinstance(spec, dict)
            or set(spec) - keys
            or spec.get("action") not in ("exit", "disconnect", "sleep")
            or ("at" in spec) == ("argv" in spec)
            or ("argv" in spec and not isinstance(spec["argv"], list))
            or ("under" in spec and (spec["under"] != "lockf" or "at" not in spec))
            or (("seconds" in spec) != (spec["action"] == "sleep"))
            or (spec["action"] != "exit" and {"rc", "stderr", "stdout"} & set(spec))
        ):
            raise Unsupported(f"fault spec {spec!r}")
    locked_index = (
        _fault_lockf_index(call_index, argv) if any("under" in s for s in specs) else None
    )
    for index, spec in enumerate(specs):
        if "at" in spec:
            wanted = locked_index if "under" in spec else call_index
            if wanted is None or int(spec["at"]) != wanted:
                continue
        else:
            prefix = [str(word) for word in spec["argv"]]
            if argv[: len(prefix)] != prefix or spec.get("times", 1) <= 0:
                continue
            if "times" in spec:
                with mutate_state() as state:
                    current = state["fault"]
                    stored = current[index] if isinstance(current, list) else current
                    if stored.get("times", 0) <= 0:
                        continue
                    stored["times"] -= 1
        if spec["action"] == "sleep":
            time.sleep(float(spec["seconds"]))
            return
        if spec["action"] == "disconnect":
            _fault_cut_ssh_session()
            return
        if "at" in spec and not ({"rc", "stderr", "stdout"} & set(spec)):
            err(f"freebsd-double: injected fault at call {call_index}")
            raise Exit(EX_SOFTWARE)
        if spec.get("stdout"):
            out(spec["stdout"])
        if spec.get("stderr"):
            err(spec["stderr"])
        raise Exit(int(spec.get("rc", 1)))


#: The process that called this command: this process, or a client of the double's
#: server (server.py), which sets it from the socket's peer credentials.
CALLER_PID: int | None = None


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


def _fault_ancestors() -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of the caller's ancestors, nearest first (Linux /proc: the
    double runs on a Linux test host)."""
    try:
        pid = os.getppid() if CALLER_PID is None else _parent_of(CALLER_PID)
    except (OSError, ValueError, IndexError):
        return
    while pid > 0:
        try:
            ppid = _parent_of(pid)
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = [w.decode(errors="replace") for w in fh.read().split(b"\0") if w]
        except (OSError, ValueError, IndexError):
            return
        yield pid, cmdline
        pid = ppid


def _fault_lockf_index(call_index: int, argv: list[str]) -> int | None:
    """This call's number among the calls run under the double's lockf, or None;
    logged with the lockf's pid in calls.lockf.log."""

    def is_lockf(cmdline: list[str]) -> bool:
        words = [os.path.basename(w) for w in cmdline[:3]]
        return words[:1] == ["lockf"] or words[1:3] == [os.path.basename(ENTRY), "lockf"]

    lockf = next((pid for pid, cmdline in _fault_ancestors() if is_lockf(cmdline)), None)
    with locked(exclusive=True):
        n = None
        if lockf is not None:
            path = os.path.join(state_dir(), "calls.lockf.seq")
            try:
                with open(path, encoding="utf-8") as fh:
                    n = int(fh.read().strip() or 0) + 1
            except FileNotFoundError:
                n = 1
            atomic_write(path, f"{n}\n")
        line = {"call": call_index, "lockf": lockf, "n": n, "argv": argv}
        with open(os.path.join(state_dir(), "calls.lockf.log"), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
        return n


def _fault_cut_ssh_session() -> None:
    """SIGKILL the sshd processes of this call's connection (not the listener), wait
    until they are gone, and let SIGPIPE kill this command on its next write."""
    sshd = [
        pid
        for pid, cmdline in _fault_ancestors()
        if cmdline and os.path.basename(cmdline[0].split()[0].rstrip(":")) == "sshd"
    ]
    session = sshd[:-1]  # the farthest sshd ancestor is the listener
    if not session:
        raise Unsupported("fault action 'disconnect' outside an SSH session")
    for pid in session:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    for pid in session:
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
                    if fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                        break  # a zombie holds no descriptors: the socket is closed
            except OSError:
                break
            time.sleep(0.01)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

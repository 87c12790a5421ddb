"""The double's state: state.json, its lock, atomic writes, the call log and counter.

TEST DOUBLE, not FreeBSD.  State lives in $FREEBSD_DOUBLE_STATE (default
/var/db/freebsd-double): ``state.json`` (kernel, network, packages, jails ...),
``state.lock`` (flock serialising every read-modify-write; writes are temp file +
os.replace), ``calls.log`` (one JSON line {"argv": [...], "rc": N} per invocation) and
``calls.seq`` (the invocation counter used by the fault hook, faults.py).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from typing import Any

from .common import State


def state_dir() -> str:
    return os.environ.get("FREEBSD_DOUBLE_STATE", "/var/db/freebsd-double")


def build_default_state() -> State:
    """A fresh FreeBSD 14.3-RELEASE amd64 host (install.default_state returns this)."""
    return {
        # freebsd-version(1) -k/-r/-u; reference/outputs.md §8 (14.3 transcript).
        "freebsd_version": {
            "kernel": "14.3-RELEASE",
            "running": "14.3-RELEASE",
            "userland": "14.3-RELEASE",
        },
        # uname -a of the 14.3 transcript, reference/outputs.md §8.
        "uname": {
            "sysname": "FreeBSD",
            "nodename": "testhost",
            "release": "14.3-RELEASE",
            "version": "FreeBSD 14.3-RELEASE releng/14.3-n271432-8c9ce319fef7 GENERIC",
            "machine": "amd64",
            "processor": "amd64",
        },
        # access: rw | ro | tunable (read-only tunable, reference/outputs.md §8);
        # module: the oid exists only while that kernel module is loaded.
        "sysctl": {
            "kern.racct.enable": {"value": "0", "access": "tunable", "module": None},
            "net.inet.ip.forwarding": {"value": "0", "access": "rw", "module": None},
            # if_bridge.c defaults (reference/freebsd.md §1.6): 1/1/1, present only with
            # if_bridge loaded.
            "net.link.bridge.pfil_member": {"value": "1", "access": "rw", "module": "if_bridge"},
            "net.link.bridge.pfil_bridge": {"value": "1", "access": "rw", "module": "if_bridge"},
            "net.link.bridge.pfil_onlyip": {"value": "1", "access": "rw", "module": "if_bridge"},
        },
        # kldstat(8) rows; "modules" are the module names modfind() knows in that file.
        "kld": [
            {
                "id": 1,
                "name": "kernel",
                "refs": 14,
                "address": "0xffffffff80200000",
                "size": 0x1F3E2D0,
                "modules": ["kernel"],
            },
        ],
        "packages": {"pkg": "2.1.2"},
        "interfaces": [
            {
                "name": "vtnet0",
                "kind": "ether",
                "index": 1,
                "up": True,
                "mtu": 1500,
                "ether": "bc:24:11:6a:e4:09",
                "inet": [{"addr": "192.0.2.10", "prefixlen": 24}],
                "members": [],
                "groups": [],
                "description": None,
            },
            {
                "name": "lo0",
                "kind": "loopback",
                "index": 2,
                "up": True,
                "mtu": 16384,
                "ether": None,
                "inet": [{"addr": "127.0.0.1", "prefixlen": 8}],
                "members": [],
                "groups": ["lo"],
                "description": None,
            },
        ],
        "next_ifindex": 3,
        "routes": [
            {
                "destination": "default",
                "gateway": "192.0.2.1",
                "interface": "vtnet0",
                "flags": "UGS",
            },
        ],
        # pf is "loaded" when a kld provides module "pf".
        "pf": {"enabled": False, "enabled_at": None},
        "bastille": None,  # or {"version": "1.4.4"}
        "jails": [],  # running jails: {"jid", "name", "hostname", "path", "ip4": [..]}
        "fault": None,  # {"at": k, "action": "exit"}
    }


@contextlib.contextmanager
def locked(exclusive: bool) -> Iterator[None]:
    directory = state_dir()
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "state.lock"), "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _load_unlocked() -> State:
    path = os.path.join(state_dir(), "state.json")
    try:
        with open(path, encoding="utf-8") as fh:
            data: State = json.load(fh)
            return data
    except FileNotFoundError:
        return build_default_state()


def atomic_write(path: str, text: str, mode: int | None = None) -> None:
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _save_unlocked(state: State) -> None:
    atomic_write(os.path.join(state_dir(), "state.json"), json.dumps(state, indent=2) + "\n")


def read_state() -> State:
    with locked(exclusive=False):
        return _load_unlocked()


@contextlib.contextmanager
def mutate_state() -> Iterator[State]:
    """Read-modify-write under the exclusive lock; saved only if the body succeeds."""
    with locked(exclusive=True):
        state = _load_unlocked()
        yield state
        _save_unlocked(state)


def next_call_index() -> int:
    with locked(exclusive=True):
        path = os.path.join(state_dir(), "calls.seq")
        try:
            with open(path, encoding="utf-8") as fh:
                n = int(fh.read().strip() or 0)
        except FileNotFoundError:
            n = 0
        n += 1
        atomic_write(path, f"{n}\n")
        return n


def log_call(argv: list[str], rc: int) -> None:
    os.makedirs(state_dir(), exist_ok=True)
    line = json.dumps({"argv": argv, "rc": rc}) + "\n"
    fd = os.open(
        os.path.join(state_dir(), "calls.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
    )
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_state_unlocked() -> State:
    return _load_unlocked()


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged

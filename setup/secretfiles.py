"""Reading warden's secret files back from a host, for warden's own use only.

The facts never carry a secret (they can be printed, and they travel with a plan);
the few steps that need one (the db step logs in with the admin password and
computes the agent's verifier) read it here, over their own exec, and keep it in
memory. Nothing here prints, logs or raises with a file's content.
"""

from __future__ import annotations

import secrets

from .errors import HostError
from .shell import checked_path, q
from .transport import Executor


def read_secrets(executor: Executor, paths: list[str]) -> dict[str, str | None]:
    """{path: content, or None when the file is absent}."""
    nonce = secrets.token_hex(8)
    lines = []
    for path in paths:
        p = q(checked_path(path))
        parent = q(path.rsplit("/", 1)[0])
        # never through a link: root would read (and warden compare) what it points to
        lines.append(
            f"if [ -f {p} ] && [ ! -L {p} ] && [ ! -L {parent} ]; then "
            f'echo "@@{nonce} begin"; cat {p}; echo; '
            f'echo "@@{nonce} end"; else echo "@@{nonce} absent"; fi'
        )
    result = executor.run("\n".join(lines) + "\n")
    if result.rc != 0:
        raise HostError(f"{executor.target}: cannot read warden's secret files (exit {result.rc})")
    return _parse(result.stdout, nonce, paths, executor.target)


def _parse(stdout: str, nonce: str, paths: list[str], target: str) -> dict[str, str | None]:
    """Each path's answer, in order: `absent`, or its content between begin and end
    (the `echo` before `end` makes the content end where the end marker's line starts)."""
    found: dict[str, str | None] = {}
    lines = stdout.split("\n")
    i = 0
    for path in paths:
        if i < len(lines) and lines[i] == f"@@{nonce} absent":
            found[path] = None
            i += 1
            continue
        if i >= len(lines) or lines[i] != f"@@{nonce} begin":
            raise HostError(f"{target}: garbled answer while reading warden's secret files")
        if f"@@{nonce} end" not in lines[i + 1 :]:
            raise HostError(f"{target}: garbled answer while reading warden's secret files")
        end = lines.index(f"@@{nonce} end", i + 1)
        found[path] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return found

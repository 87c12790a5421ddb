"""uname(1) (usr.bin/uname/uname.c).

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

from .common import Unsupported, out, parse_opts
from .state import read_state


def cmd_uname(args: list[str]) -> int:
    # usr.bin/uname/uname.c: -a = -mnrsv; print order s n r v m p; no flag = -s.
    opts, rest = parse_opts(args, "amnoprsv", "uname")
    if rest:
        raise Unsupported(f"uname: operand {rest[0]!r}")
    flags: set[str] = set()
    for flag, _ in opts:
        flags |= set("mnrsv") if flag == "-a" else {"s" if flag == "-o" else flag[1]}
    flags = flags or {"s"}
    u = read_state()["uname"]
    fields = {
        "s": u["sysname"],
        "n": u["nodename"],
        "r": u["release"],
        "v": u["version"],
        "m": u["machine"],
        "p": u["processor"],
    }
    out(" ".join(fields[k] for k in "snrvmp" if k in flags))
    return 0

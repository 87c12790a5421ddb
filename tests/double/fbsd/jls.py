"""jls(8) (usr.sbin/jls/jls.c): the running jails of state["jails"].

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

from typing import Any

from .common import die, out, parse_opts
from .state import read_state

JLS_HEADER = "   JID  IP Address      Hostname                      Path"


def _jail_param(jail: dict[str, Any], param: str) -> str:
    if param == "jid":
        return str(jail["jid"])
    if param == "name":
        return str(jail["name"])
    if param == "host.hostname":
        return str(jail.get("hostname", jail["name"]))
    if param == "path":
        return str(jail["path"])
    if param == "ip4.addr":
        return ",".join(jail.get("ip4", [])) or "-"  # reference/outputs.md §5: the address or "-"
    die(f"jls: unknown parameter: {param}")


def cmd_jls(args: list[str]) -> int:
    # usr.sbin/jls/jls.c; formats in reference/outputs.md §5.
    opts, params = parse_opts(args, "j:", "jls")
    jails = read_state()["jails"]
    if opts:
        wanted = opts[0][1]
        key = "jid" if wanted.isdigit() else "name"
        jails = [j for j in jails if str(j[key]) == wanted]
        if not jails:
            if not params:
                out(JLS_HEADER)  # the header is printed before the error (reference/outputs.md §5)
            die(f'jls: jail "{wanted}" not found')
    if params:
        for jail in jails:
            out(" ".join(_jail_param(jail, p) for p in params))
        return 0
    out(JLS_HEADER)
    for jail in jails:
        ip = ",".join(jail.get("ip4", []))
        host = jail.get("hostname", jail["name"])
        out(f"{jail['jid']:6d}  {ip:<15.15} {host:<29.29} {jail['path']}")
    return 0

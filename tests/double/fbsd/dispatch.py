"""The double's dispatch table: COMMANDS, HANDLERS and main().

TEST DOUBLE, not FreeBSD.  main() numbers the call (calls.seq), runs the fault hook
(faults.py), the command's handler, and logs argv and status in calls.log.  THE EXIT-64
RULE: a command, subcommand, flag or argument form that is not modelled raises
Unsupported, which main() reports as "freebsd-double: not modelled (exit 64): ..." on
stderr with status 64 (EX_USAGE).
"""

from __future__ import annotations

import os
import sys

from .bastille import cmd_bastille
from .chroot import cmd_chroot
from .common import EX_SOFTWARE, EX_USAGE, Exit, Unsupported, err
from .faults import maybe_inject_fault
from .freebsd_version import cmd_freebsd_version
from .ifconfig import cmd_ifconfig
from .jexec import cmd_jexec
from .jls import cmd_jls
from .kldload import cmd_kldload
from .kldstat import cmd_kldstat
from .lockf import cmd_lockf
from .netstat import cmd_netstat
from .newsyslog import cmd_newsyslog
from .pfctl import cmd_pfctl
from .pkg import cmd_pkg
from .pw import cmd_pw
from .route import cmd_route
from .service import cmd_service
from .state import log_call, next_call_index
from .sysctl import cmd_sysctl
from .sysrc import cmd_sysrc
from .uname import cmd_uname
from .vm import cmd_vm

COMMANDS: tuple[str, ...] = (
    "freebsd-version",
    "uname",
    "sysctl",
    "kldstat",
    "pkg",
    "lockf",
    "bastille",
    "sysrc",
    "ifconfig",
    "netstat",
    "route",
    "jls",
    "pfctl",
    "kldload",
    "service",
    "pw",
    "newsyslog",
    "jexec",
    "vm",  # vm-bhyve: tests/double/vm.py
    "chroot",  # FreeBSD's -u/-g/-G (Debian's chroot has --userspec instead)
)


HANDLERS = {
    "chroot": cmd_chroot,
    "freebsd-version": cmd_freebsd_version,
    "uname": cmd_uname,
    "sysctl": cmd_sysctl,
    "kldstat": cmd_kldstat,
    "pkg": cmd_pkg,
    "lockf": cmd_lockf,
    "bastille": cmd_bastille,
    "sysrc": cmd_sysrc,
    "ifconfig": cmd_ifconfig,
    "netstat": cmd_netstat,
    "route": cmd_route,
    "jls": cmd_jls,
    "pfctl": cmd_pfctl,
    "kldload": cmd_kldload,
    "service": cmd_service,
    "pw": cmd_pw,
    "newsyslog": cmd_newsyslog,
    "jexec": cmd_jexec,
    "vm": cmd_vm,
}


def main(argv: list[str]) -> int:
    prog = os.path.basename(argv[0])
    if prog in HANDLERS:
        command, args = prog, argv[1:]
    elif len(argv) >= 2:
        command, args = argv[1], argv[2:]
    else:
        err("freebsd-double: usage: freebsd_double.py COMMAND [ARGS...]")
        return EX_USAGE
    rc = EX_USAGE
    try:
        call_index = next_call_index()
        maybe_inject_fault(call_index)
        handler = HANDLERS.get(command)
        if handler is None:
            raise Unsupported(f"unknown command {command!r}")
        rc = handler(args)
    except Unsupported as exc:
        err(f"freebsd-double: not modelled (exit 64): {exc}")
        rc = EX_USAGE
    except Exit as exc:
        rc = exc.rc
    except Exception:  # a bug in the double, not a FreeBSD behaviour
        import traceback

        traceback.print_exc()
        rc = EX_SOFTWARE
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        log_call([command, *args], rc)
    return rc

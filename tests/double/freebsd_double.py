#!/usr/bin/env python3
"""freebsd-double's entry script: ``freebsd_double.py COMMAND ARGS...``. Not FreeBSD.

The double itself is the package fbsd/ next to this file (see its __init__.py and
README.md here).  This script puts their directory on sys.path and runs
fbsd.dispatch.main: the sh wrappers written by install.py run it, as do the C
client's fallback when a test host has no server, jails.py inside a jail, the unit
tests, and a symlink to this file whose basename is the command.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
    from fbsd.dispatch import main

    sys.exit(main(sys.argv))

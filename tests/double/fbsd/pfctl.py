"""pfctl(8): -e/-d, -f [-n] [-v] [-P], -s, -t TABLE -T show (sbin/pfctl/pfctl.c main()).

TEST DOUBLE, not FreeBSD.  The pf.conf parser is pfctl_lexer.py and pfctl_parser.py,
what is printed pfctl_show.py.
"""

from __future__ import annotations

import time
from typing import Any

from .common import Unsupported, die, err, parse_opts
from .kldstat import loaded_modules
from .pfctl_parser import pf_parse_ruleset
from .pfctl_show import PF_EMPTY_RULESET, show, table_show
from .state import mutate_state, read_state


def _pfctl_rules(path: str, noaction: bool, verbose: bool, numeric: bool) -> dict[str, Any] | None:
    """pfctl.c pfctl_rules() for the main ruleset, "load anchor" files included."""
    state = read_state()
    loaded = state["pf"].get("ruleset") or PF_EMPTY_RULESET
    ruleset = pf_parse_ruleset(state, path, verbose, numeric, loaded["tables"])
    if ruleset is None:
        if not noaction:
            err("pfctl: Syntax error in config file: pf rules not loaded")
        return None
    anchors = {}
    for name, file in ruleset.pop("load_anchors"):
        # pfctl_load_anchors(): each file is a fresh parse_config() for that anchor.
        if verbose:
            err("")
            err(f"Loading anchor {name} from {file}")
        old = loaded.get("anchors", {}).get(name, PF_EMPTY_RULESET)["tables"]
        sub = pf_parse_ruleset(state, file, verbose, numeric, old)
        if sub is None:
            if not noaction:
                err("pfctl: Syntax error in config file: pf rules not loaded")
            err("pfctl: load anchors")
            return None
        sub.pop("load_anchors")
        anchors[name] = sub
    ruleset["anchors"] = anchors
    return ruleset


def _pfctl_enable_disable(enable: bool, quiet: bool) -> int:
    with mutate_state() as state:
        pf = state["pf"]
        if enable:
            if pf["enabled"]:
                die("pfctl: pf already enabled")  # reference/outputs.md §3.4
            pf["enabled"], pf["enabled_at"] = True, time.time()
            message = "pf enabled"
        else:
            if not pf["enabled"]:
                die("pfctl: pf not enabled")  # reference/outputs.md §3.4
            pf["enabled"], pf["enabled_at"] = False, None
            message = "pf disabled"
    if not quiet:
        err(message)  # on stderr (reference/outputs.md §3.4)
    return 0


def cmd_pfctl(args: list[str]) -> int:
    # sbin/pfctl/pfctl.c main() (FreeBSD 14); reference/outputs.md §3. Modelled flags: -d -e
    # -f -n -P -q -s -t -T -v; the rest of "a:AdD:eqf:F:ghi:k:K:mMnNOo:Pp:rRs:St:T:vx:z"
    # exits 64.
    opts, rest = parse_opts(args, "def:nPqs:t:T:v", "pfctl")
    given = dict(opts)  # a repeated flag: the last one wins, as in the getopt loop
    modes = {f for f in given if f in ("-d", "-e", "-f", "-s", "-t", "-T")}
    noaction, verbose = "-n" in given, "-v" in given
    quiet, numeric = "-q" in given, "-P" in given
    if "-t" in given or "-T" in given:
        if modes != {"-t", "-T"} or noaction or verbose:
            raise Unsupported(f"pfctl: {' '.join(args)}")
        if "pf" not in loaded_modules(read_state()):
            die("pfctl: /dev/pf: No such file or directory")
        return table_show(given["-t"], given["-T"], rest)
    if rest or not modes:
        raise Unsupported(f"pfctl: {' '.join(args)}")
    if "-f" in given:
        if modes - {"-f", "-e"}:
            raise Unsupported(f"pfctl: {' '.join(args)}")
        state = read_state()
        if not noaction:
            if "pf" not in loaded_modules(state):
                die("pfctl: /dev/pf: No such file or directory")  # open(/dev/pf): err(1)
            if verbose:
                # pfctl_test_altqsupport(): GENERIC has no ALTQ (reference/outputs.md §3.1).
                err("No ALTQ support in kernel")
                err("ALTQ related functions disabled")
        # Under -n pfctl.c opens /dev/pf only if it can (PF_OPT_DUMMYACTION), so a parse
        # check works without pf.ko in FreeBSD <= 14.0's pfctl.c.  [unverified for 14.3:
        # later pfctl.c also calls pfctl_open(), which fails without /dev/pf]
        ruleset = _pfctl_rules(given["-f"], noaction, verbose, numeric)
        if ruleset is None:
            return 1  # pfctl_rules() _error: exit(1) -- -e is not reached
        if not noaction:
            # Loading replaces the ruleset and never enables pf (pfctl.8).
            with mutate_state() as fresh:
                fresh["pf"]["ruleset"] = ruleset
            if "-e" in given:
                return _pfctl_enable_disable(True, quiet)  # -e runs after -f in main()
        return 0
    if noaction or verbose or (numeric and "-s" not in given):
        raise Unsupported(f"pfctl: {' '.join(args)}")
    if len(modes) != 1:
        raise Unsupported(f"pfctl: {' '.join(args)}")
    if "pf" not in loaded_modules(read_state()):
        die("pfctl: /dev/pf: No such file or directory")  # open(/dev/pf) fails: err(1, ...)
    if "-e" in given or "-d" in given:
        return _pfctl_enable_disable("-e" in given, quiet)
    return show(given["-s"], numeric)

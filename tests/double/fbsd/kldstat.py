"""kldstat(8) and the kernel's list of loaded files (sbin/kldstat/kldstat.c).

TEST DOUBLE, not FreeBSD.  `load_module` is what ifconfig's clone autoload, kldload
and vm init do to state["kld"].
"""

from __future__ import annotations

from .common import State, Unsupported, err, out, parse_opts
from .state import read_state


def loaded_modules(state: State) -> set[str]:
    return {m for kld in state["kld"] for m in kld.get("modules", [])}


def cmd_kldstat(args: list[str]) -> int:
    # sbin/kldstat/kldstat.c (main): -q -m MOD / -n FILE probes; table otherwise.
    opts, rest = parse_opts(args, "qm:n:", "kldstat")
    if rest:
        raise Unsupported(f"kldstat: operand {rest[0]!r}")
    flags = dict(opts)
    quiet = "-q" in flags
    state = read_state()
    if "-m" in flags:
        mod = flags["-m"]
        for kld in state["kld"]:
            if mod in kld.get("modules", []):
                if not quiet:
                    out("Id  Refs Name")
                    out(f"{kld['id']:3d} {kld['refs']:4d} {mod}")
                return 0
        if not quiet:
            err(f"kldstat: can't find module {mod}: No such file or directory")
        return 1
    klds = state["kld"]
    if "-n" in flags:
        name = flags["-n"]
        klds = [k for k in klds if k["name"] in (name, name + ".ko")]
        if not klds:
            if not quiet:
                err(f"kldstat: can't find file {name}: No such file or directory")
            return 1
        if quiet:
            return 0
    # Right-aligned %8x size as in the 13-CURRENT sample, reference/outputs.md §8.
    out("Id Refs Address                Size Name")
    for kld in klds:
        out(f"{kld['id']:2d} {kld['refs']:4d} {kld['address']} {kld['size']:8x} {kld['name']}")
    return 0


def load_module(state: State, filename: str, module: str) -> None:
    """What ifconfig's clone autoload does (sbin/ifconfig/ifconfig.c ifmaybeload)."""
    if module in loaded_modules(state):
        return
    last = max(state["kld"], key=lambda k: k["id"])
    address = int(last["address"], 16) + last["size"] + 0x1000
    state["kld"].append(
        {
            "id": last["id"] + 1,
            "name": filename,
            "refs": 1,
            "address": f"0x{address:016x}",
            "size": 0x9C38,
            "modules": [module],
        }
    )

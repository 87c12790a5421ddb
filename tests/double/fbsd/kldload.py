"""kldload(8) of the kernel modules the double knows (sbin/kldload/kldload.c).

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

from .common import Unsupported, die, err, out, parse_opts
from .kldstat import load_module, loaded_modules
from .state import mutate_state

# kld file -> module it provides, for the modules the double knows (sys/modules/*).
KLD_KNOWN = {
    "pf": "pf.ko",
    "pflog": "pflog.ko",
    "if_bridge": "if_bridge.ko",
    "if_epair": "if_epair.ko",
    "vmm": "vmm.ko",
    "nmdm": "nmdm.ko",
}


def cmd_kldload(args: list[str]) -> int:
    # sbin/kldload/kldload.c main(): getopt "nqv"; one kldload(2) per operand, rc 1 if any
    # failed.  A bare NAME or NAME.ko is looked up in kern.module_path; paths and the
    # path_check() "loaded from ..., not the current directory" warning are not modelled.
    opts, rest = parse_opts(args, "nqv", "kldload")
    quiet = verbose = check_loaded = False
    for flag, _ in opts:
        if flag == "-q":
            quiet, verbose = True, False  # kldload.c: -q and -v cancel each other
        elif flag == "-v":
            verbose, quiet = True, False
        else:
            check_loaded = True
    if not rest:
        die("usage: kldload [-nqv] file ...")  # kldload.c usage(): exit(1)
    errors = 0
    for name in rest:
        if "/" in name:
            raise Unsupported(f"kldload: a path ({name})")
        module = name[: -len(".ko")] if name.endswith(".ko") else name
        with mutate_state() as state:
            loaded = module in loaded_modules(state) or any(
                kld["name"] in (name, module + ".ko") for kld in state["kld"]
            )
            if not loaded and module in KLD_KNOWN:
                load_module(state, KLD_KNOWN[module], module)
                fileid = max(kld["id"] for kld in state["kld"])
        if loaded:
            # kern_linker.c: EEXIST for a loaded file or a module already in the kernel.
            if check_loaded:
                if verbose:
                    out(f"{name} is already loaded")
                continue
            if not quiet:
                err(f"kldload: can't load {name}: module already loaded or in kernel")
            errors += 1
        elif module not in KLD_KNOWN:
            # No such file in kern.module_path: ENOENT, warn("can't load %s").
            if not quiet:
                err(f"kldload: can't load {name}: No such file or directory")
            errors += 1
        elif verbose:
            out(f"Loaded {name}, id={fileid}")
    return 1 if errors else 0

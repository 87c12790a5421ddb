"""vm(8) of vm-bhyve: the sibling module vm.py (next to this package) runs it.

TEST DOUBLE, not FreeBSD, not bhyve.
"""

from __future__ import annotations

from .common import vm_module


def cmd_vm(args: list[str]) -> int:
    return int(vm_module().cmd_vm(args))

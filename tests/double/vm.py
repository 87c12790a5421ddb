"""freebsd-double, vm-bhyve part: the `vm` command of vm-bhyve 1.7.x.

TEST DOUBLE, not FreeBSD, not bhyve.  The double (fbsd/vm.py) loads this module for `vm`.
Sources, named next to each behaviour:
  reference/freebsd.md §3.N  tests/double/reference/freebsd.md §3 (vm-bhyve read from
                            source)
  reference/outputs.md §9   tests/double/reference/outputs.md §9 (real `vm` outputs)
  vm-core      freebsd/vm-bhyve lib/vm-core (core::create, create_cloud_init, list)
  vm-util      freebsd/vm-bhyve lib/vm-util (util::setup, util::check_name, util::err)
  vm-cmd       freebsd/vm-bhyve lib/vm-cmd (init = util::setup + switch::init)

What a guest is here.  The `$vm_dir` layout is real (files under FREEBSD_DOUBLE_ROOT):
`$vm_dir/.templates/T.conf`, `$vm_dir/.img/`, `$vm_dir/.config/system.conf` (the
switches, sh-style, as vm-bhyve keeps them), `$vm_dir/NAME/NAME.conf` (the template
copy with uuid, network0_mac, cpu/memory overrides and the seed.iso disk) and
`$vm_dir/NAME/.cloud-init/{meta-data,user-data}`.  Files are created with the
caller's umask, as vm-bhyve's `cp`/`mkdir` do.  Only plain-directory datastores
(`vm_dir=/path`) are modelled; `zfs:` exits 64.

NOTHING BOOTS.  `vm start` marks the guest running in state["vm"]["running"] (a fake
pid) and appends {"name", "user_data"} to state["vm"]["boots"]; seed.iso is a copy of
user-data (the real one is a cd9660 image made by makefs, reference/freebsd.md §3.4: built at first
start, never rebuilt).  A test that needs a guest to come up plays the hypervisor: it
reads the boot record and brings its own guest host up from that user-data.

Not modelled (exit 64): datastores (-d), -k, -n, standard/vale/netgraph/vxlan
switches and every other switch subcommand, install, console, destroy, clone,
image, iso, snapshot, configure, startall/stopall, `vm start -f/-i`.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from typing import Any

from fbsd.common import Exit, Unsupported, die, err, host_path, make_mac, out, parse_opts
from fbsd.kldload import KLD_KNOWN
from fbsd.kldstat import load_module
from fbsd.state import mutate_state, read_state
from fbsd.sysrc import RcConf, sh_value

PROG = "/usr/local/sbin/vm"
# vm-util util::check_name: egrep -i '^[a-z0-9][.a-z0-9_-]{0,229}[a-z0-9]$'
NAME_RE = re.compile(r"[a-z0-9][.a-z0-9_-]{0,229}[a-z0-9]", re.IGNORECASE)
SWITCH_CONF = ".config/system.conf"
_SIZE = re.compile(r"(\d+)([KMGT]?)", re.IGNORECASE)


def _err(message: str) -> None:
    """vm-util util::err: `$0: ERROR: message` on stderr, exit 1 (reference/outputs.md §9)."""
    die(f"{PROG}: ERROR: {message}", 1)


def _vm_dir() -> str:
    """$vm_dir from rc.conf; the `vm` script refuses to run without a directory there
    [vm main script; wording unconfirmed]."""
    value = RcConf(None).get("vm_dir") or ""
    if value.startswith("zfs:"):
        raise Unsupported("vm: a zfs: datastore")
    if not value or not os.path.isdir(host_path(value)):
        _err("$vm_dir has not been configured or is not a valid directory")
    return value


def _path(vm_dir: str, *parts: str) -> str:
    return host_path(os.path.join(vm_dir, *parts))


def _read_conf(path: str) -> dict[str, str]:
    """A sh-style key="value" file (templates, guest confs, system.conf),
    reference/freebsd.md §3.3."""
    values: dict[str, str] = {}
    env: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
        if match:
            raw = match.group(2).strip()
            value, _ = sh_value(raw, 0, env) if raw else ("", 0)
            values[match.group(1)] = value
    return values


def _set_conf(path: str, name: str, value: str) -> None:
    """vm-core config::set: sysrc -inqf FILE name=value (replace or append)."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        lines = []
    new = f'{name}="{value}"'
    for i, line in enumerate(lines):
        if line.startswith(f"{name}="):
            lines[i] = new
            break
    else:
        lines.append(new)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _delete_conf(path: str, name: str) -> None:
    """`sysrc -inxqf FILE disk0_size`: the size is create-time only (vm-core)."""
    with open(path, encoding="utf-8") as fh:
        lines = [line for line in fh.read().splitlines() if not line.startswith(f"{name}=")]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


def _state_vm(state: dict[str, Any]) -> dict[str, Any]:
    vm: dict[str, Any] = state.setdefault("vm", {})
    vm.setdefault("running", {})
    vm.setdefault("boots", [])
    return vm


def cmd_vm(args: list[str]) -> int:
    state = read_state()
    if not state.get("packages", {}).get("vm-bhyve"):
        die("vm: not found", 127)  # what sh prints for a missing command
    if not args:
        raise Unsupported("vm: (no subcommand)")
    command, rest = args[0], args[1:]
    handlers = {
        "init": _init,
        "switch": _switch,
        "img": _img,
        "create": _create,
        "start": _start,
        "stop": _stop,
        "list": _list,
        "info": _info,
    }
    if command not in handlers:
        raise Unsupported(f"vm {command}")
    return handlers[command](rest)


# ------------------------------------------------------------------------- host


def _init(args: list[str]) -> int:
    """vm-cmd: init = util::setup (nmdm, if_bridge, if_tuntap; tap up_on_open) +
    switch::init; util::check_bhyve_support loads vmm first (vm-util).  The .config,
    .templates, .iso and .img directories are made by the `vm` script when missing
    [vm main script; unconfirmed which command makes them]."""
    if args:
        raise Unsupported(f"vm init {' '.join(args)}")
    vm_dir = _vm_dir()
    for sub in (".config", ".templates", ".iso", ".img"):
        os.makedirs(_path(vm_dir, sub), exist_ok=True)
    with mutate_state() as state:
        for module in ("vmm", "nmdm", "if_bridge"):
            load_module(state, KLD_KNOWN[module], module)
        switches = _read_conf(_path(vm_dir, SWITCH_CONF))
        for name in switches.get("switch_list", "").split():
            bridge = switches.get(f"bridge_{name}")
            _group(state, bridge)
    return 0


def _group(state: dict[str, Any], bridge: str | None) -> bool:
    """A manual switch adds its bridge to group vm-switch (reference/freebsd.md §3.2)."""
    for iface in state["interfaces"]:
        if iface["name"] == bridge:
            if "vm-switch" not in iface["groups"]:
                iface["groups"].append("vm-switch")
            return True
    return False


def _switch(args: list[str]) -> int:
    if args == ["list"]:
        return _switch_list()
    if args[:1] == ["create"]:
        return _switch_create(args[1:])
    raise Unsupported(f"vm switch {' '.join(args)}")


def _switch_list() -> int:
    """reference/outputs.md §9: NAME TYPE IFACE ADDRESS PRIVATE MTU VLAN PORTS through column -t."""
    vm_dir = _vm_dir()
    conf = _read_conf(_path(vm_dir, SWITCH_CONF))
    rows = [["NAME", "TYPE", "IFACE", "ADDRESS", "PRIVATE", "MTU", "VLAN", "PORTS"]]
    for name in conf.get("switch_list", "").split():
        rows.append(
            [
                name,
                conf.get(f"type_{name}", "standard"),
                conf.get(f"bridge_{name}", "-"),
                *("-", "no", "-", "-", "-"),
            ]
        )
    _column(rows)
    return 0


def _column(rows: list[list[str]]) -> None:
    """column -t: each column as wide as its widest cell, two spaces between."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _switch_create(args: list[str]) -> int:
    """`vm switch create -t manual -b BRIDGE NAME` (reference/freebsd.md §3.2): the bridge
    joins group vm-switch; members and addresses stay the operator's.  An existing name gives
    "switch NAME already exists" (exit 1).  Name at most 12 characters (vm.8)."""
    opts, rest = parse_opts(args, "t:b:", "vm switch create")
    flags = dict(opts)
    if flags.get("-t") != "manual" or "-b" not in flags or len(rest) != 1:
        raise Unsupported(f"vm switch create {' '.join(args)}")
    name, bridge = rest[0], flags["-b"]
    vm_dir = _vm_dir()
    path = _path(vm_dir, SWITCH_CONF)
    conf = _read_conf(path)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,11}", name):
        _err(f"invalid switch name - '{name}'")
    if name in conf.get("switch_list", "").split():
        _err(f"switch {name} already exists")
    with mutate_state() as state:
        if not _group(state, bridge):
            _err(f"bridge interface {bridge} does not exist")  # [wording unconfirmed]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _set_conf(path, "switch_list", " ".join([*conf.get("switch_list", "").split(), name]))
    _set_conf(path, f"type_{name}", "manual")
    _set_conf(path, f"bridge_{name}", bridge)
    return 0


def _img(args: list[str]) -> int:
    """`vm img URL`: download into $vm_dir/.img, decompressing .xz (reference/freebsd.md §3.4).  The
    double downloads nothing: it writes a stand-in file of that name."""
    if len(args) != 1 or not re.fullmatch(r"https?://\S+/[^/\s]+", args[0]):
        raise Unsupported(f"vm img {' '.join(args)}")
    vm_dir = _vm_dir()
    name = args[0].rsplit("/", 1)[1]
    for suffix in (".xz", ".gz"):
        name = name.removesuffix(suffix)
    os.makedirs(_path(vm_dir, ".img"), exist_ok=True)
    with open(_path(vm_dir, ".img", name), "w", encoding="utf-8") as fh:
        fh.write(f"freebsd-double: stand-in for the disk image {args[0]}\n")
    out(f"Fetching {args[0]}")  # [wording unconfirmed]
    return 0


# ------------------------------------------------------------------------- guests


def _size(text: str) -> int:
    match = _SIZE.fullmatch(text)
    if not match:
        _err(f"invalid size {text}")
    number, unit = int(match.group(1)), match.group(2).upper()
    return number * 1024 ** " KMGT".index(unit or " ")


def _create(args: list[str]) -> int:
    """core::create (vm-core), in its order: name check, existing guest, template,
    -u needs -C and a readable file; then NAME/NAME.conf from the template with uuid,
    network0_mac, -c/-m overrides; disk0 (a sparse file, written from -i IMG with
    qemu-img, so qemu-tools is needed: reference/freebsd.md §3.4); disk0_size scrubbed; with -C the
    .cloud-init files and the seed.iso disk."""
    opts, rest = parse_opts(args, "t:s:c:m:i:Cu:", "vm create")
    flags = dict(opts)
    if len(rest) != 1:
        raise Unsupported(f"vm create {' '.join(args)}")
    name = rest[0]
    vm_dir = _vm_dir()
    if not NAME_RE.fullmatch(name):
        _err(f"invalid virtual machine name - '{name}'")
    guest = _path(vm_dir, name)
    if os.path.isfile(os.path.join(guest, f"{name}.conf")):
        _err(f"virtual machine already exists in {vm_dir}/{name}")
    template = flags.get("-t", "default")
    template_path = _path(vm_dir, ".templates", f"{template}.conf")
    if not os.path.isfile(template_path):
        _err(f"unable to find template {vm_dir}/.templates/{template}.conf")
    conf = _read_conf(template_path)
    if not conf.get("disk0_name"):
        _err("template is missing disk0_name specification")
    user_data = flags.get("-u")
    if user_data is not None:
        if "-C" not in flags:
            _err("cloud-init is required for user-data file. Use -C to enable it.")
        if not os.access(host_path(user_data), os.R_OK):
            _err(f"can't read user-data file ({user_data})")
    image = flags.get("-i")
    if image is not None and not os.path.isfile(_path(vm_dir, ".img", image)):
        # datastore::img_find fails only once the disk exists; the double checks first.
        _err(f"unable to locate img file - '{image}'")
    if image is not None and not read_state().get("packages", {}).get("qemu-tools"):
        err("qemu-img: not found")
        _err("failed to write img file with qemu-img")
    os.makedirs(guest, exist_ok=True)
    conf_path = os.path.join(guest, f"{name}.conf")
    shutil.copyfile(template_path, conf_path)
    _set_conf(conf_path, "uuid", str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{vm_dir}/{name}")))
    _set_conf(conf_path, "network0_mac", make_mac(name, "58:9c:fc"))
    if "-c" in flags:
        _set_conf(conf_path, "cpu", flags["-c"])
    if "-m" in flags:
        _set_conf(conf_path, "memory", flags["-m"])
    size = flags.get("-s") or conf.get("disk0_size") or "20G"
    disk = os.path.join(guest, conf["disk0_name"])
    with open(disk, "wb") as fh:
        fh.truncate(_size(size))
    os.chmod(disk, 0o600)  # vm-core: "make sure only owner can read the disk image"
    _delete_conf(conf_path, "disk0_size")
    if "-C" in flags:
        cloud = os.path.join(guest, ".cloud-init")
        os.makedirs(cloud, exist_ok=True)
        with open(os.path.join(cloud, "meta-data"), "w", encoding="utf-8") as fh:
            fh.write(f"instance-id: {_read_conf(conf_path)['uuid']}\nlocal-hostname: {name}\n")
        target = os.path.join(cloud, "user-data")
        if user_data is not None:
            with open(host_path(user_data), "rb") as src, open(target, "wb") as dst:
                dst.write(src.read())  # cp: a new file, the caller's umask
        else:
            with open(target, "w", encoding="utf-8") as fh:
                fh.write("#cloud-config\nresize_rootfs: True\nmanage_etc_hosts: localhost\n")
        number = 1
        while _read_conf(conf_path).get(f"disk{number}_name"):
            number += 1
        _set_conf(conf_path, f"disk{number}_type", "ahci-cd")
        _set_conf(conf_path, f"disk{number}_name", "seed.iso")
        _set_conf(conf_path, f"disk{number}_dev", "file")
    return 0


def _guests(vm_dir: str) -> list[str]:
    """core::list: every directory of the datastore holding NAME/NAME.conf."""
    root = host_path(vm_dir)
    return sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, f"{n}.conf")))


def _start(args: list[str]) -> int:
    """core::start (reference/outputs.md §9): `Starting NAME`, `  * found guest in PATH`; running
    already: `  ! guest appears to be running already`, rc 1; unknown: `  ! NAME does
    not seem to be a valid virtual machine`, rc 1.  Runs in the background: returns at
    once (reference/freebsd.md §3.5)."""
    if len(args) != 1 or args[0].startswith("-"):
        raise Unsupported(f"vm start {' '.join(args)}")
    name = args[0]
    vm_dir = _vm_dir()
    out(f"Starting {name}")
    if name not in _guests(vm_dir):
        out(f"  ! {name} does not seem to be a valid virtual machine")
        return 1
    out(f"  * found guest in {vm_dir}/{name}")
    with mutate_state() as state:
        vm = _state_vm(state)
        if name in vm["running"]:
            out("  ! guest appears to be running already")
            raise Exit(1)
        conf = _read_conf(_path(vm_dir, name, f"{name}.conf"))
        switch = conf.get("network0_switch")
        if switch:
            switches = _read_conf(_path(vm_dir, SWITCH_CONF))
            if switch not in switches.get("switch_list", "").split():
                out(f"  ! failed to find virtual switch '{switch}'")  # [unconfirmed]
                raise Exit(1)
        cloud = _path(vm_dir, name, ".cloud-init")
        seed = _path(vm_dir, name, "seed.iso")
        user_data = os.path.join(cloud, "user-data")
        if os.path.isdir(cloud) and not os.path.exists(seed):
            # a stand-in for makefs -t cd9660 (reference/freebsd.md §3.4)
            shutil.copyfile(user_data, seed)
        vm["running"][name] = 40000 + len(vm["boots"])
        vm["boots"].append({"name": name, "user_data": f"{vm_dir}/{name}/.cloud-init/user-data"})
    return 0


def _stop(args: list[str]) -> int:
    """core::stop: an ACPI shutdown, returns at once; not running: a warning, rc 0
    (reference/freebsd.md §3.5).  The double's guest is down when stop returns."""
    if len(args) != 1 or args[0].startswith("-"):
        raise Unsupported(f"vm stop {' '.join(args)}")
    name = args[0]
    vm_dir = _vm_dir()
    if name not in _guests(vm_dir):
        out(f"  ! {name} does not seem to be a valid virtual machine")
        return 1
    with mutate_state() as state:
        vm = _state_vm(state)
        if vm["running"].pop(name, None) is None:
            err(f"{PROG}: WARNING: {name} doesn't appear to be a running virtual machine")
            return 0
    out(f"Sending ACPI shutdown to {name}")
    return 0


def _list(args: list[str]) -> int:
    """core::list (reference/outputs.md §9): NAME DATASTORE LOADER CPU MEMORY VNC AUTO STATE;
    AUTO is `Yes [N]` for the N-th name of rc.conf's vm_list, STATE `Running (pid)` or
    `Stopped`."""
    if args:
        raise Unsupported(f"vm list {' '.join(args)}")
    vm_dir = _vm_dir()
    running = _state_vm(read_state())["running"]
    auto = (RcConf(None).get("vm_list") or "").split()
    rows = [["NAME", "DATASTORE", "LOADER", "CPU", "MEMORY", "VNC", "AUTO", "STATE"]]
    for name in _guests(vm_dir):
        conf = _read_conf(_path(vm_dir, name, f"{name}.conf"))
        rows.append(
            [
                name,
                "default",
                conf.get("loader", "none"),
                conf.get("cpu", ""),
                conf.get("memory", ""),
                "-",
                f"Yes [{auto.index(name) + 1}]" if name in auto else "No",
                f"Running ({running[name]})" if name in running else "Stopped",
            ]
        )
    _column(rows)
    return 0


def _info(args: list[str]) -> int:
    """info::guest, its first lines (reference/outputs.md §9)."""
    if len(args) != 1:
        raise Unsupported(f"vm info {' '.join(args)}")
    name = args[0]
    vm_dir = _vm_dir()
    if name not in _guests(vm_dir):
        _err(f"{name} does not exist")  # [wording unconfirmed]
    conf = _read_conf(_path(vm_dir, name, f"{name}.conf"))
    running = _state_vm(read_state())["running"]
    state = f"running ({running[name]})" if name in running else "stopped"
    out("------------------------")
    out(f"Virtual Machine: {name}")
    out("------------------------")
    for key, value in (
        ("state", state),
        ("datastore", "default"),
        ("loader", conf.get("loader", "none")),
        ("uuid", conf.get("uuid", "")),
        ("cpu", conf.get("cpu", "")),
        ("memory", conf.get("memory", "")),
    ):
        out(f"  {key}: {value}")
    return 0

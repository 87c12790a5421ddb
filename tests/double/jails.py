"""freebsd-double, jails part: Bastille 1.4.4 jails, jexec, and what runs inside a jail.

TEST DOUBLE, not FreeBSD.  The double (fbsd/) loads this module for `bastille` (every
subcommand but --version, list jails and bootstrap), `jexec`, `pkg -j`, and for `pkg`,
`service` and `sysrc` run inside a jail.  Sources, named next to each behaviour:
  reference/freebsd.md §N  tests/double/reference/freebsd.md (Bastille 1.4.4 read from
                           source)
  reference/outputs.md §N  tests/double/reference/outputs.md (what Bastille prints)
  create.sh   BastilleBSD/bastille usr/local/share/bastille/create.sh, a 1.x revision
              (option loop, check order, "Valid"/"[WARNING]" texts); where its wording
              differs from reference/freebsd.md §1.2 / reference/outputs.md §4.3 (which
              pin 1.4.4), those win.
  common.sh   the same repository's common.sh (set_target, jail_autocomplete texts).

What a jail is here.  A jail is DEFINED when /usr/local/bastille/jails/NAME/jail.conf
exists under FREEBSD_DOUBLE_ROOT, and RUNNING while state["jails"] holds it (jls reads
that).  Per jail, state["jail_data"][NAME] keeps its package set and its running
services ({"packages": {...}, "services": {svc: pid}}).  A running VNET jail owns the
host-side epair e0a_NAME (e0a_bastilleN for names over 11 characters), a member of the
bridge in the double's ifconfig state; the jail side (e0b_) lives in the jail's vnet,
so the host does not list it.

Two kinds of jail, by where the double runs (jail_kernel.mode()):
  * INSIDE A TEST HOST (tests/testhost.py), THE JAIL IS REAL.  `bastille start` (and the
    starts inside create and RESTART) mounts a thin root (jail_kernel.py: the test host's
    userland read-only, its own /usr/local, /dev, the fstab's nullfs lines), unmounted
    at stop/destroy; jexec chroots into it (and, in a "vnet" host, into the jail's
    network namespace: vnet0 with ifconfig_vnet0's address on a veth whose host side
    e0a_NAME is in the real bridge, default route via defaultrouter), -U takes the
    uid/gid/groups of the JAIL's /etc/passwd and /etc/group, PATH is searched inside.
    The double's own commands work in there (FREEBSD_DOUBLE_ROOT=/ and the one state),
    every other command sees the jail's files.  In a "vnet" host the db jail's
    `service postgresql` is Debian's real PostgreSQL 15 (jail_postgres.py), and a
    jail's `service sshd` is the machine's real OpenSSH sshd (the git jail's, with
    `pkg install git`'s git-shell as its user's shell).
  * ELSEWHERE (the unit tests) JEXEC CANNOT ENTER A JAIL: COMMAND runs on the machine
    with FREEBSD_DOUBLE_ROOT set to the jail's root directory and FREEBSD_DOUBLE_JAIL=
    NAME, so only the double's own commands (sysrc, pkg, service, pw ...) act on the
    jail's files; EVERY OTHER COMMAND (sh, test, cat, git, psql ...) SEES THE MACHINE'S
    FILESYSTEM; -U runs it through setpriv(1) with the numeric uid/gid of the jail's
    passwd.  PostgreSQL is modelled (PG_VERSION, postmaster.pid, pg_ctl's texts).
A double command named bare or by its FreeBSD path (/usr/sbin/pkg) is run as the double.

Not modelled (exit 64): non-VNET, -V, thick/clone/empty/Linux jails, DHCP/SLAAC/IPv6,
INCLUDE/TAGS/RDR/HPKG hooks, --arg-file, `bastille limits` clear/stats and cpu limits,
jexec -u/-d and jexec without a command, nested jails.  rctl(8) itself is not modelled:
limits only edit the jail's rctl.conf.
"""

from __future__ import annotations

import contextlib
import glob
import ipaddress
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from typing import Any, NoReturn

import jail_kernel as jk
from fbsd.common import (
    ENTRY,
    EX_SOFTWARE,
    Exit,
    State,
    Unsupported,
    die,
    err,
    host_path,
    make_mac,
    out,
    parse_opts,
    root_dir,
)
from fbsd.dispatch import COMMANDS
from fbsd.ifconfig import find_iface, new_iface
from fbsd.pkg import cmd_pkg
from fbsd.service import SERVICE_KEEP, SERVICE_YES, service_rc_conf
from fbsd.state import atomic_write, mutate_state, read_state, state_dir
from fbsd.sysctl import sysctl_table
from fbsd.sysrc import RcConf, source_rc

PREFIX = "/usr/local/bastille"
JAILSDIR = f"{PREFIX}/jails"
RELEASESDIR = f"{PREFIX}/releases"
LOGSDIR = "/var/log/bastille"
CONF = "/usr/local/etc/bastille/bastille.conf"
# login.conf(5) "default" class path (jexec -l sets it; ~/bin left out).
LOGIN_PATH = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"
# Where FreeBSD keeps the commands the double stands in for (jexec maps them).
FREEBSD_BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")
# A fresh jail's /etc/passwd and /etc/group (FreeBSD base etc/master.passwd, reduced to
# what tests need), in the Linux format the double's pw writes (fbsd/pw.py).
BASE_PASSWD = (
    "root:x:0:0:Charlie &:/root:/bin/sh\n"
    "daemon:x:1:1:Owner of many system processes:/root:/usr/sbin/nologin\n"
    "sshd:x:22:22:Secure Shell Daemon:/var/empty:/usr/sbin/nologin\n"
    "www:x:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:Unprivileged user:/nonexistent:/usr/sbin/nologin\n"
)
# FreeBSD base etc/hosts (localhost lines) and etc/nsswitch.conf (files first; "compat"
# written as "files", which glibc reads the same for these Linux-format files).
# The IPv4 line first: glibc's files backend returns only the first match ("multi off"),
# and PostgreSQL's listen_addresses=localhost should bind 127.0.0.1 as on FreeBSD.
BASE_HOSTS = "127.0.0.1\t\tlocalhost localhost.my.domain\n::1\t\t\tlocalhost localhost.my.domain\n"
BASE_NSSWITCH = "group: files\nhosts: files dns\nnetworks: files\npasswd: files\nservices: files\n"
BASE_GROUP = (
    "wheel:x:0:root\ndaemon:x:1:\nsshd:x:22:\nwww:x:80:\nnogroup:x:65533:\nnobody:x:65534:\n"
)


class Svc:
    """An rc.d service a jail can run: its script, the packages that ship it, its rc.d traits."""

    def __init__(
        self,
        script: str,
        packages: tuple[str, ...],
        extra: tuple[str, ...] = (),
        pidfile: str | None = None,
        required_var: str | None = None,
    ) -> None:
        self.script, self.packages, self.extra = script, packages, extra
        self.pidfile, self.required_var = pidfile, required_var


PG_SERVERS = tuple(f"postgresql{v}-server" for v in (15, 16, 17, 18))
# reference/freebsd.md §2.8 (rc names, rcvars); extra_commands from each port's rc script [sshd: F14
# libexec/rc/rc.d/sshd; nginx: www/nginx files/nginx.in; postgresql: files/postgresql.in].
SERVICES: dict[str, Svc] = {
    "postgresql": Svc("/usr/local/etc/rc.d/postgresql", PG_SERVERS, ("reload", "initdb")),
    "nginx": Svc("/usr/local/etc/rc.d/nginx", ("nginx",), ("reload",), "/var/run/nginx.pid"),
    "sshd": Svc("/etc/rc.d/sshd", (), ("reload",), "/var/run/sshd.pid"),
    "ollama": Svc("/usr/local/etc/rc.d/ollama", ("ollama",)),
    # reference/freebsd.md §2.8: llama_server_model is required and must be a file [how the
    # port checks it is unconfirmed; modelled as rc.subr required_files].
    "llama_server": Svc(
        "/usr/local/etc/rc.d/llama_server", ("llama-cpp",), required_var="llama_server_model"
    ),
    "git_daemon": Svc("/usr/local/etc/rc.d/git_daemon", ("git",)),
}
RC_PLACEHOLDER = (
    "#!/bin/sh\n# {name}: TEST DOUBLE placeholder (tests/double/jails.py), not the port's script.\n"
    "# The double's `service` models it; running it directly is not modelled.\n"
    'echo "freebsd-double: not modelled (exit 64): {path} run directly" >&2\nexit 64\n'
)


# --------------------------------------------------------------------------- helpers


def info(text: str) -> None:
    err(text)  # reference/outputs.md §4: 1.4.x info/warn/errors go to stderr


def bail(*lines: str) -> NoReturn:
    """error_exit (reference/outputs.md §4): message(s) on stderr, a blank line on stdout,
    exit 1."""
    for line in lines:
        err(line)
    out("")
    raise Exit(1)


def jail_dir(name: str) -> str:
    return host_path(f"{JAILSDIR}/{name}")


def jail_root(name: str) -> str:
    return host_path(f"{JAILSDIR}/{name}/root")


def defined_jails() -> list[str]:
    """`bastille list jails` (reference/freebsd.md §1.4): the jails that have a jail.conf."""
    pattern = host_path(f"{JAILSDIR}/*/jail.conf")
    return sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(pattern))


def running(state: State, name: str) -> dict[str, Any] | None:
    return next((j for j in state["jails"] if j["name"] == name), None)


def jail_data(state: State, name: str) -> dict[str, Any]:
    return state.setdefault("jail_data", {}).setdefault(name, {"packages": {}, "services": {}})


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return str(fh.read())
    except FileNotFoundError:
        return ""


def _write(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, text, mode)


def _settings(name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    source_rc(f"{JAILSDIR}/{name}/settings.conf", env)
    return env


def _conf_value(text: str, key: str) -> str | None:
    match = re.search(rf"^\s*{re.escape(key)}\s*=\s*(.*?);\s*$", text, re.M)
    return match.group(1).strip().strip('"') if match else None


def jail_ip(name: str) -> str:
    """The IPv4 of ifconfig_vnet0 in the jail's rc.conf (Bastille reads it live via jexec)."""
    env: dict[str, str] = {}
    source_rc(f"{JAILSDIR}/{name}/root/etc/rc.conf", env)
    match = re.search(r"inet\s+([0-9.]+)", env.get("ifconfig_vnet0", ""))
    return match.group(1) if match else ""


# --------------------------------------------------------------------------- TARGET


def resolve(target: str) -> list[str]:
    """set_target (reference/freebsd.md §1.3, common.sh): ALL, names, JIDs, unique prefix,
    then tags."""
    names = defined_jails()
    if target in ("ALL", "all"):
        found = list(names)
    else:
        found = []
        state = read_state()
        for word in target.split():
            if re.fullmatch(r"[0-9]+", word) and not os.path.isdir(jail_dir(word)):
                jail = next((j for j in state["jails"] if str(j["jid"]) == word), None)
                if jail is None:
                    bail(f'Error: JID "{word}" not found. Is jail running?')
                found.append(jail["name"])
                continue
            if word in names:
                found.append(word)
                continue
            # jail_autocomplete: `grep -E "^TARGET"` over `bastille list jails`.
            try:
                prefix = [n for n in names if re.match(word, n)]
            except re.error:
                prefix = [n for n in names if n.startswith(word)]
            if len(prefix) > 1:
                bail(f"Multiple jails found for {word}:", *prefix)
            if prefix:
                found.append(prefix[0])
                continue
            tagged = [n for n in names if word in _read(f"{jail_dir(n)}/tags").split()]
            if not tagged:
                bail(f'Jail not found "{word}"')  # reference/outputs.md §4.3 (#1575, real)
            found += tagged
    unique = list(dict.fromkeys(found))
    # list_jail_priority: ascending priority (settings.conf, default 99).
    return sorted(unique, key=lambda n: int(_settings(n).get("priority", "99") or 99))


def _loop_opts(args: list[str], cmd: str, extra: str = "") -> tuple[set[str], list[str]]:
    """Leading -a/--auto (and the extra one-letter flags) of cmd/pkg/service/...; else 64."""
    flags: set[str] = set()
    while args and args[0].startswith("-"):
        word = args[0]
        if word in ("-a", "--auto"):
            flags.add("-a")
        elif word == "-y" and "y" in extra:
            flags.add("-y")
        elif word == "-H" and "H" in extra:
            flags.add("-H")
        else:
            raise Unsupported(f"bastille {cmd}: option {word}")
        args = args[1:]
    return flags, args


def _each_running(target: str, auto: bool) -> list[str]:
    """The TARGET jails that are (or, with -a, get) running; a stopped one without -a is
    skipped with "Jail is not running." and NOT counted (reference/freebsd.md §1.4: the exit
    stays 0)."""
    result = []
    for name in resolve(target):
        if running(read_state(), name) is None:
            if not auto:
                info(f"\n[{name}]:")
                info("Jail is not running.")  # reference/outputs.md §4.3
                info("Use [-a|--auto] to auto-start the jail.")
                continue
            start_jail(name)
        result.append(name)
    return result


# --------------------------------------------------------------------------- network


def _jail_conf(name: str) -> str:
    return _read(f"{jail_dir(name)}/jail.conf")


def _epair_for(name: str, state: State) -> str:
    """generate_vnet_jail_netblock (reference/freebsd.md §1.2): e0a_NAME when it fits 15 chars, else
    e0a_bastilleN with N the first number free across jail.conf files and live epairs."""
    if len(f"e0a_{name}") < 16:
        return f"e0a_{name}"
    used: set[int] = set()
    for conf in glob.glob(host_path(f"{JAILSDIR}/*/jail.conf")):
        used |= {int(n) for n in re.findall(r"bastille([0-9]+)", _read(conf))}
    for iface in state["interfaces"]:
        match = re.fullmatch(r"e0a_bastille([0-9]+)", iface["name"])
        if match:
            used.add(int(match.group(1)))
    number = 0
    while number in used:
        number += 1
    return f"e0a_bastille{number}"


def _netblock(name: str) -> tuple[str, str]:
    """(host epair, bridge) from a jail.conf written by create -B."""
    conf = _jail_conf(name)
    jail_side = _conf_value(conf, "vnet.interface") or f"e0b_{name}"
    bridge = re.search(r'exec\.prestart \+= "ifconfig (\S+) addm ', conf)
    return "e0a_" + jail_side.removeprefix("e0b_"), bridge.group(1) if bridge else ""


def start_jail(name: str) -> None:
    """jail -c NAME with the -B prestart lines (reference/freebsd.md §1.2), or its failure,
    which `bastille start` does not propagate (reference/freebsd.md §1.4): the caller's exit
    stays 0.  Inside a test host the jail also gets its real root and network
    (jail_kernel.py)."""
    host_epair, bridge_name = _netblock(name)
    conf = _jail_conf(name)
    try:
        with mutate_state() as state:
            if running(state, name):
                info("Jail is already running.")  # reference/outputs.md §4.3
                return
            bridge = find_iface(state, bridge_name)
            problem = None
            if find_iface(state, host_epair):
                # reference/freebsd.md §1.7: a leftover e0a_NAME makes the prestart rename fail.
                problem = "ifconfig: ioctl SIOCSIFNAME (set name): File exists"
            elif bridge is None:
                problem = f"ifconfig: interface {bridge_name} does not exist"
            if problem:
                err(problem)
                err(f"jail: {name}: exec.prestart failed")  # [unconfirmed wording]
                return
            assert bridge is not None
            iface = new_iface(state, host_epair, "epair", ["epair"])
            iface["up"] = True
            iface["description"] = f"vnet0 host interface for Bastille jail {name}"
            bridge["members"].append(host_epair)
            jid = int(state.get("next_jid", 1))
            state["next_jid"] = jid + 1
            path = _conf_value(conf, "path") or f"{JAILSDIR}/{name}/root"
            state["jails"].append(
                {
                    "jid": jid,
                    "name": name,
                    "hostname": _conf_value(conf, "host.hostname") or name,
                    "path": path,
                    "ip4": [],  # reference/outputs.md §5: a VNET jail has no ip4 on the host side
                    "vnet": True,
                }
            )
            data = jail_data(state, name)
            data.pop("kernel", None)
            kernel = jk.mode()
            if kernel:
                _kernel_start(name, kernel, host_path(path), host_epair, bridge)
                data["kernel"] = kernel
    except jk.KernelError as exc:
        err(f"jail: {name}: {exc}")  # the jail is not created [wording of ours]
        return
    err(f"{name}: created")  # jail(8) -c


def check_path(name: str, path: str) -> None:
    """jail(8)'s check_path() on a mount point (usr.sbin/jail/command.c; docs/freebsd/
    sources.md §5): every component below the jail's path is lstat'ed, and a symbolic
    link (or a missing component) refuses the jail, before anything is mounted."""
    jail_path = f"{JAILSDIR}/{name}/root"
    if not path.startswith(jail_path + "/"):
        return
    walked = jail_path
    for part in path[len(jail_path) + 1 :].split("/"):
        walked = f"{walked}/{part}"
        try:
            st = os.lstat(host_path(walked))
        except OSError as exc:
            raise jk.KernelError(f"mount.fstab: {walked}: {exc.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            raise jk.KernelError(f"mount.fstab: {walked} is a symbolic link")


def _fstab_mounts(name: str, root: str) -> list[tuple[str, str, bool]]:
    """The jail's fstab nullfs lines but the release's (jail_kernel mounts the base)."""
    mounts = []
    for line in _read(f"{jail_dir(name)}/fstab").splitlines():
        words = line.split()
        if len(words) < 4 or words[0].startswith("#"):
            continue
        check_path(name, words[1])
        target = host_path(words[1])
        if os.path.realpath(target) == os.path.realpath(f"{root}/.bastille"):
            continue
        if words[2] != "nullfs":
            raise Unsupported(f"jail fstab: a {words[2]} mount (only nullfs)")
        mounts.append((host_path(words[0]), target, "ro" in words[3].split(",")))
    return mounts


def _kernel_start(name: str, kernel: str, root: str, host_epair: str, bridge: Any) -> None:
    """The real part of jail -c (jail_kernel.py): root mounts, then the VNET."""
    bin_dir = os.environ.get("FREEBSD_DOUBLE_BIN", "")
    double_dir = os.path.dirname(os.path.realpath(bin_dir)) if bin_dir else ""
    state_path = os.path.realpath(state_dir())
    jk.mount_root(root, _fstab_mounts(name, root), double_dir, state_path)
    if kernel != "vnet":
        return
    try:
        jail_side = _conf_value(_jail_conf(name), "vnet.interface") or f"e0b_{name}"
        rc: dict[str, str] = {}
        source_rc(f"{JAILSDIR}/{name}/root/etc/rc.conf", rc)
        ifname = rc.get(f"ifconfig_{jail_side}_name", "") or jail_side
        router = rc.get("defaultrouter", "")
        jk.sync_bridge(bridge["name"], bridge["inet"], create=True)
        jk.net_up(name, host_epair, jail_side, bridge["name"], ifname,
                  _cidr(rc.get(f"ifconfig_{ifname}", "")),
                  "" if router.upper() in ("", "NO") else router)  # fmt: skip
    except BaseException:
        jk.unmount_root(root)
        raise


def _cidr(ifconfig_value: str) -> str:
    """rc.conf ifconfig_IF "inet A/P" or "inet A netmask M" -> "A/P" ("" if none)."""
    match = re.search(r"inet\s+([0-9.]+)(?:/([0-9]+))?(?:\s+netmask\s+(\S+))?", ifconfig_value)
    if not match:
        return ""
    if match.group(2):
        return f"{match.group(1)}/{match.group(2)}"
    mask = match.group(3) or "255.255.255.255"
    value = int(mask, 16) if mask.startswith("0x") else int(ipaddress.IPv4Address(mask))
    return f"{match.group(1)}/{bin(value).count('1')}"


def _kernel_stop(name: str) -> None:
    """The real part of jail -r: rc.shutdown stops the jail's PostgreSQL (pg_ctl stop
    -m fast), what still runs is killed, the VNET and the mounts go."""
    state = read_state()
    jail = running(state, name)
    data = jail_data(state, name)
    kernel = data.get("kernel")
    if jail is None or not kernel:
        return
    root = host_path(jail["path"])
    if kernel == "vnet" and "postgresql" in data["services"]:
        run_in_jail(name, ["/usr/sbin/service", "postgresql", "onestop"], True, "root", quiet=True)
    jk.kill_jail_processes(root)
    if kernel == "vnet":
        jk.net_down(name, _netblock(name)[0])
    jk.unmount_root(root)


def stop_jail(name: str) -> None:
    host_epair, _bridge = _netblock(name)
    _kernel_stop(name)
    with mutate_state() as state:
        if not running(state, name):
            info("Jail is already stopped.")  # reference/outputs.md §4.3
            return
        state["jails"] = [j for j in state["jails"] if j["name"] != name]
        # exec.poststop: ifconfig e0a_NAME destroy (the bridge loses the member).
        state["interfaces"] = [i for i in state["interfaces"] if i["name"] != host_epair]
        for iface in state["interfaces"]:
            iface["members"] = [m for m in iface["members"] if m != host_epair]
        data = jail_data(state, name)
        for svc in list(data["services"]):
            _drop_pidfile(name, svc)
        data["services"] = {}  # the jail's processes die with it
        data.pop("kernel", None)
    err(f"{name}: removed")  # jail(8) -r


# --------------------------------------------------------------------------- create


def _validate_name(name: str, vnet: bool) -> None:
    """validate_name (create.sh 1.x texts; the VNET rule of reference/freebsd.md §1.2 /
    reference/outputs.md §4.3)."""
    sane = re.sub(r"[^a-zA-Z0-9_-]", "", name)
    if sane[:1] in ("-", "_"):
        bail("[ERROR]: Jail names may not begin with (-|_) characters!")
    if sane != name:
        bail("[ERROR]: Jail names may not contain special characters!")
    if re.fullmatch(r"[0-9]+", name):
        bail("[ERROR]: Jail names may not contain only digits.")
    if vnet and re.search(r"[-_]", name):
        bail("[ERROR]: VNET jail names may not contain (-|_) characters.")


def _valid_ip4(text: str) -> bool:
    # create.sh validate_ip: dotted quad, optional /0-32.
    octet = r"([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])"
    return re.fullmatch(rf"({octet}\.){{3}}{octet}(/([0-9]|[1-2][0-9]|3[0-2]))?", text) is not None


CREATE_USAGE = "Usage: bastille create [option(s)] NAME RELEASE IP [INTERFACE]"


def create(args: list[str]) -> int:
    """bastille create -B (reference/freebsd.md §1.2; option loop and check order of create.sh)."""
    opts: dict[str, str] = {}
    flags: set[str] = set()
    while args and args[0].startswith("-"):
        word = args.pop(0)
        if word in ("-g", "--gateway", "--defaultrouter", "-n", "--nameserver", "-p",
                    "--priority", "--tags"):  # fmt: skip
            if not args:
                bail(CREATE_USAGE)
            value = args.pop(0)
            key = {"--gateway": "-g", "--defaultrouter": "-g", "--nameserver": "-n",
                   "--priority": "-p"}.get(word, word)  # fmt: skip
            if key == "-g" and not _valid_ip4(value):
                bail(f"[ERROR]: Not a valid gateway: {value}")
            if key == "-n" and not all(_valid_ip4(v) for v in value.split(",")):
                bail(f"[ERROR]: Not a valid nameserver: {value}")
            if key == "-p" and not re.fullmatch(r"[0-9]+", value):
                bail(f'Not a valid priority value: "{value}"')
            opts[key] = value
        elif word in ("--bridge",):
            flags.add("B")
        elif word in ("--static-mac",):
            flags.add("M")
        elif word == "--no-boot":
            flags.add("no-boot")
        elif re.fullmatch(r"-[BM]+", word):
            flags |= set(word[1:])
        else:
            raise Unsupported(f"bastille create: option {word}")
    if "B" not in flags:
        raise Unsupported("bastille create without -B (only bridged VNET jails)")
    if len(args) not in (3, 4):
        bail(CREATE_USAGE)
    name, release, ip = args[0], args[1], args[2]
    interface = args[3] if len(args) == 4 else ""
    info(f"\nCreating jail: {name}...")  # reference/outputs.md §4.2 (1.4.4 wording)
    _validate_name(name, vnet=True)
    state = read_state()
    bridges = [i["name"] for i in state["interfaces"] if "bridge" in i["groups"]]
    if interface not in bridges:  # `ifconfig -g bridge | grep -owq IF`
        bail(f"[ERROR]: Interface is not a bridge: {interface}")
    if not re.fullmatch(r"[1-9][0-9]\.[0-9](-RELEASE|-RC[1-9]|-BETA[1-9])", release, re.I):
        err("Unknown Release.")
        bail(CREATE_USAGE)
    release = release.upper()
    if not os.path.isdir(host_path(f"{RELEASESDIR}/{release}")):
        bail("[ERROR]: Release must be bootstrapped first.", "See 'bastille bootstrap'.")
    if not _valid_ip4(ip):
        if ip.upper() in ("DHCP", "SYNCDHCP", "SLAAC", "0.0.0.0") or ":" in ip:
            raise Unsupported(f"bastille create: IP {ip} (only IPv4 addresses)")
        bail(f"[ERROR]: Invalid: ({ip}).")
    if "/" not in ip:
        ip += "/24"  # reference/freebsd.md §1.2: a VNET jail's missing mask is /24
    address = ip.split("/")[0]
    in_use = any(a["addr"] == address for i in state["interfaces"] for a in i["inet"])
    if in_use:
        info(f"[WARNING]: IP address in use ({address}).")  # create.sh
    info(f"\nValid IP: {ip}")
    if name in defined_jails():
        bail(f"[ERROR]: Jail already exists: {name}")  # reference/outputs.md §4.3
    gateway = opts.get("-g") or _conf_gateway() or _default_gateway(state)
    _make_jail(name, release, ip, interface, gateway, opts, flags, state)
    start_jail(name)
    info(f"\n[{name}]:")
    info("Applying template: default/vnet...")
    info("Template applied: default/vnet")
    info(f"\n[{name}]:")
    info("Applying template: default/thin...")
    info("Template applied: default/thin")
    info(f"\n[{name}]:")
    stop_jail(name)  # create ends with a restart (reference/freebsd.md §1.2)
    start_jail(name)
    if running(read_state(), name) is None:
        # reference/freebsd.md §1.2: a jail that did not come up is destroyed, "Failed to
        # create jail".
        info(f"\n[{name}]:")
        info("Destroying jail...")
        _remove_jail(name)
        bail(f"[ERROR]: Failed to create jail: {name}")
    return 0


def _conf_gateway() -> str:
    env: dict[str, str] = {}
    source_rc(CONF, env)
    return env.get("bastille_network_gateway", "")


def _default_gateway(state: State) -> str:
    """reference/freebsd.md §1.2 (the trap): without -g, the host's default gateway
    (netstat -4rn)."""
    route = next((r for r in state["routes"] if r["destination"] == "default"), None)
    return str(route["gateway"]) if route else ""


def _make_jail(
    name: str,
    release: str,
    ip: str,
    bridge: str,
    gateway: str,
    opts: dict[str, str],
    flags: set[str],
    state: State,
) -> None:
    base = jail_dir(name)
    root = jail_root(name)
    host_epair = _epair_for(name, state)
    jail_epair = "e0b_" + host_epair.removeprefix("e0a_")
    info("\nCreating a thinjail...")
    for sub in (".bastille", ".template", "usr/local", "etc", "var/db", "var/run", "tmp"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    # FreeBSD's etc/mtree/BSD.root.dist: "tmp mode=01777" (every user may make its files)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    os.chmod(base, 0o700)  # reference/freebsd.md §1.1
    prefix, path = f"{JAILSDIR}/{name}", f"{JAILSDIR}/{name}/root"
    mac = ""
    if "M" in flags:
        bridge_iface = find_iface(state, bridge) or {}
        mac = make_mac(str(bridge_iface.get("ether", "")) + bridge + name)[:-1]
    lines = [
        f"{name} {{",
        "  enforce_statfs = 2;",
        "  devfs_ruleset = 13;",
        "  exec.clean;",
        f"  exec.consolelog = {LOGSDIR}/{name}_console.log;",
        "  exec.start = '/bin/sh /etc/rc';",
        "  exec.stop = '/bin/sh /etc/rc.shutdown';",
        f"  host.hostname = {name};",
        "  mount.devfs;",
        f"  mount.fstab = {prefix}/fstab;",
        f"  path = {path};",
        "  securelevel = 2;",
        f'  osrelease = "{release}";',
        "",
        "  vnet;",
        f"  vnet.interface = {jail_epair};",
        f'  exec.prestart += "epair0=\\$(ifconfig epair create) && ifconfig \\${{epair0}} up '
        f'name {host_epair} && ifconfig \\${{epair0%a}}b up name {jail_epair}";',
        f'  exec.prestart += "ifconfig {bridge} addm {host_epair}";',
    ]
    if mac:
        lines += [
            f'  exec.prestart += "ifconfig {host_epair} ether {mac}a";',
            f'  exec.prestart += "ifconfig {jail_epair} ether {mac}b";',
        ]
    lines += [
        f'  exec.prestart += "ifconfig {host_epair} description \\"vnet0 host interface for '
        f'Bastille jail {name}\\"";',
        f'  exec.poststop += "ifconfig {host_epair} destroy";',
        "}",
    ]
    _write(f"{base}/jail.conf", "\n".join(lines) + "\n")
    _write(f"{base}/fstab", f"{RELEASESDIR}/{release} {path}/.bastille nullfs ro 0 0\n")
    boot = "off" if "no-boot" in flags else "on"
    _write(f"{base}/settings.conf", f'boot="{boot}"\npriority="{opts.get("-p", "99")}"\n')
    if "--tags" in opts:
        _write(f"{base}/tags", "\n".join(t for t in opts["--tags"].split(",") if t) + "\n")
    rc_conf = {
        # default/vnet + default/base (reference/freebsd.md §1.2)
        f"ifconfig_{jail_epair}_name": "vnet0",
        "ifconfig_vnet0": f"inet {ip}",
        "defaultrouter": gateway,
        "ipv6_defaultrouter": "NO",
        "syslogd_flags": "-ss",
        "sendmail_enable": "NO",
        "sendmail_submit_enable": "NO",
        "sendmail_outbound_enable": "NO",
        "sendmail_msp_queue_enable": "NO",
        "cron_flags": "-J 60",
    }
    _write(f"{root}/etc/rc.conf", "".join(f'{k}="{v}"\n' for k, v in rc_conf.items()))
    _write(f"{root}/etc/periodic.conf", 'daily_status_world_kernel="NO"\n')
    if "-n" in opts:
        resolv = "".join(f"nameserver {ns}\n" for ns in opts["-n"].split(","))
    else:
        # reference/freebsd.md §1.2: a copy of the host's
        resolv = _read(host_path("/etc/resolv.conf"))
    _write(f"{root}/etc/resolv.conf", resolv)
    _write(f"{root}/etc/hosts", BASE_HOSTS)
    _write(f"{root}/etc/nsswitch.conf", BASE_NSSWITCH)
    _write(f"{root}/etc/passwd", BASE_PASSWD)
    _write(f"{root}/etc/group", BASE_GROUP)
    sshd = SERVICES["sshd"].script
    _write(root + sshd, RC_PLACEHOLDER.format(name="sshd", path=sshd), 0o555)


def _remove_jail(name: str) -> None:
    if jk.mounted_under(jail_dir(name)):
        jk.unmount_root(jail_dir(name))
        if jk.mounted_under(jail_dir(name)):  # never rmtree through a mount (/dev!)
            die(f"freebsd-double: {jail_dir(name)} has mounts left; kept", EX_SOFTWARE)
    shutil.rmtree(jail_dir(name), ignore_errors=True)
    with mutate_state() as state:
        state.get("jail_data", {}).pop(name, None)


# --------------------------------------------------------------------------- start/stop/destroy


def start_stop(cmd: str, args: list[str]) -> int:
    if len(args) != 1 or args[0].startswith("-"):
        raise Unsupported(f"bastille {cmd} {' '.join(args)}")
    for name in resolve(args[0]):
        info(f"\n[{name}]:")
        if cmd in ("stop", "restart"):
            stop_jail(name)
        if cmd in ("start", "restart"):
            start_jail(name)
    return 0  # reference/freebsd.md §1.4: jail -c's result is not propagated


def destroy(args: list[str]) -> int:
    flags: set[str] = set()
    while args and re.fullmatch(r"-[afy]+", args[0]):
        flags |= set(args.pop(0)[1:])
    if len(args) != 1:
        raise Unsupported(f"bastille destroy {' '.join(args)}")
    for name in resolve(args[0]):
        if running(read_state(), name):
            if "a" not in flags:
                info(f"\n[{name}]:")
                err("Jail is running.")
                bail("Use [-a|--auto] to auto-stop the jail.")
            info(f"\n[{name}]:")
            stop_jail(name)
        if "y" not in flags:
            # reference/freebsd.md §1.4: without -y a y/n is read from stdin; anything else (an
            # empty stdin included) is "Invalid input", exit 1.  [prompt wording unconfirmed]
            sys.stdout.write("Are you sure you want to continue? [y|n]:")
            sys.stdout.flush()
            answer = sys.stdin.readline().strip() if sys.stdin else ""
            if answer in ("n", "N", "no", "NO"):
                return 0
            if answer not in ("y", "Y", "yes", "YES"):
                bail("[ERROR]: Invalid input. Please answer 'y' or 'n'.")
        info(f"\n[{name}]:")
        info("Destroying jail...")
        _remove_jail(name)
    return 0


# --------------------------------------------------------------------------- jexec


def _passwd(root: str, user: str) -> tuple[int, int, str, str] | None:
    for line in _read(os.path.join(root, "etc/passwd")).splitlines():
        parts = line.split(":")
        if len(parts) >= 7 and parts[0] == user:
            return int(parts[2]), int(parts[3]), parts[5], parts[6]
    return None


def _argv(argv: list[str]) -> list[str]:
    """A double command (bare, or by its FreeBSD path) runs as the double."""
    base = os.path.basename(argv[0])
    if base in COMMANDS and ("/" not in argv[0] or os.path.dirname(argv[0]) in FREEBSD_BIN_DIRS):
        bin_dir = os.environ.get("FREEBSD_DOUBLE_BIN")
        if bin_dir:
            return [os.path.join(bin_dir, base), *argv[1:]]
        return [sys.executable, ENTRY, base, *argv[1:]]
    return argv


def _groups(root: str, user: str, gid: int) -> list[int]:
    """The user's primary and supplementary gids from the jail's /etc/group (initgroups)."""
    found = {gid}
    for line in _read(os.path.join(root, "etc/group")).splitlines():
        parts = line.split(":")
        if len(parts) >= 4 and user in parts[3].split(",") and parts[2].isdigit():
            found.add(int(parts[2]))
    return sorted(found)


def run_in_jail(
    name: str,
    argv: list[str],
    login: bool = False,
    user: str | None = None,
    extra_env: dict[str, str] | None = None,
    quiet: bool = False,
) -> int:
    """jexec [-l] [-U user] NAME argv (see the module docstring: a real jail inside a
    test host, else the host's filesystem with FREEBSD_DOUBLE_ROOT at the jail root)."""
    if os.environ.get("FREEBSD_DOUBLE_JAIL"):
        raise Unsupported("jexec inside a jail (nested jails)")
    state = read_state()
    jail = running(state, name)
    if jail is None:
        die(f'jexec: jail "{name}" not found')  # jexec.c: errx(1, "%s", jail_errmsg)
    kernel = jail_data(state, name).get("kernel")
    root = host_path(jail["path"])
    account = _passwd(root, user or "root")
    if account is None:
        if user is None:
            account = (0, 0, "/root", "/bin/sh")
        else:
            die(f"jexec: {user}: no such user")  # jexec.c get_user_info [from memory]
    uid, gid, home, shell = account
    if login:
        # jexec -l: a clean environment but HOME SHELL TERM USER, plus login.conf's path.
        env = {k: os.environ[k] for k in ("TERM",) if k in os.environ}
        env.update(HOME=home, SHELL=shell, USER=user or "root", PATH=LOGIN_PATH)
    else:
        env = dict(os.environ)
    for key in SERVICE_KEEP:
        if key in os.environ:
            env[key] = os.environ[key]
    if env.get("FREEBSD_DOUBLE_BIN"):
        env["PATH"] = f"{env['FREEBSD_DOUBLE_BIN']}:{env.get('PATH', LOGIN_PATH)}"
    env["FREEBSD_DOUBLE_ROOT"] = "/" if kernel else root
    env["FREEBSD_DOUBLE_JAIL"] = name
    env.update(extra_env or {})
    command = _argv(argv)
    sink = subprocess.DEVNULL if quiet else None
    sys.stdout.flush()
    sys.stderr.flush()
    if kernel:
        netns = jk.netns_name(name) if kernel == "vnet" else None
        groups = _groups(root, user or "root", gid)
        entry = jk.Entry(os.path.realpath(root), netns, uid, gid, groups)
        try:
            done = subprocess.run(command, env=env, preexec_fn=entry, stdout=sink, stderr=sink,
                                  check=False)  # fmt: skip
        except OSError as exc:
            err(f"jexec: execvp: {argv[0]}: {os.strerror(exc.errno or 2)}")  # jexec.c err(1)
            return 1
        finally:
            entry.close()
        return 128 - done.returncode if done.returncode < 0 else done.returncode
    if uid != os.geteuid():
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        command = [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *command]
    try:
        done = subprocess.run(command, env=env, cwd=root, stdout=sink, stderr=sink, check=False)
    except OSError as exc:
        err(f"jexec: execvp: {argv[0]}: {os.strerror(exc.errno or 2)}")
        return 1
    return 128 - done.returncode if done.returncode < 0 else done.returncode


def cmd_jexec(args: list[str]) -> int:
    # usr.sbin/jexec/jexec.c: jexec [-l] [-d dir] [[-u user] | [-U user]] jail command ...
    opts, rest = parse_opts(args, "lU:", "jexec")
    if len(rest) < 2:
        raise Unsupported("jexec without a command")
    user = next((v for f, v in opts if f == "-U"), None)
    name = rest[0]
    state = read_state()
    if re.fullmatch(r"[0-9]+", name):
        jail = next((j for j in state["jails"] if str(j["jid"]) == name), None)
        name = jail["name"] if jail else name
    return run_in_jail(name, rest[1:], login=any(f == "-l" for f, _ in opts), user=user)


# --------------------------------------------------------------------------- cmd/pkg/service/sysrc


def _over_jails(
    cmd: str, args: list[str], extra: str, min_args: int
) -> tuple[set[str], list[str], list[str]]:
    flags, rest = _loop_opts(args, cmd, extra)
    if len(rest) < min_args:
        raise Unsupported(f"bastille {cmd}: {' '.join(args)}")
    return flags, _each_running(rest[0], "-a" in flags), rest[1:]


def jail_cmd(args: list[str]) -> int:
    """bastille cmd (reference/freebsd.md §1.4): jexec -l -U root; any failure -> "Command
    failed", rc 1."""
    _, names, command = _over_jails("cmd", args, "", 2)
    failed = 0
    for name in names:
        info(f"[{name}]:")
        if run_in_jail(name, command, login=True, user="root") != 0:
            failed += 1
    if failed:
        bail(f"[ERROR]: Command failed on {failed} jails.")  # reference/outputs.md §4.3
    return 0


def jail_pkg(args: list[str]) -> int:
    """bastille pkg [-y] [-H] (reference/freebsd.md §1.4): the jail's pkg via jexec, or host
    pkg -j."""
    flags, names, command = _over_jails("pkg", args, "yH", 2)
    env = {"ASSUME_ALWAYS_YES": "yes"} if "-y" in flags else {}
    failed = 0
    for name in names:
        info(f"[{name}]:")
        if "-H" in flags:
            with _env(env):
                rc = _host_pkg_j(name, command)
        else:
            rc = run_in_jail(name, ["/usr/sbin/pkg", *command], True, "root", env)
        failed += rc != 0
    return 1 if failed else 0  # reference/freebsd.md §1.4: exit 1 on failure [message not modelled]


def jail_tool(cmd: str, args: list[str]) -> int:
    """bastille service / sysrc (reference/freebsd.md §1.4): jexec -l NAME
    /usr/sbin/service|sysrc ARGS."""
    _, names, command = _over_jails(cmd, args, "", 2)
    failed = 0
    for name in names:
        info(f"[{name}]:")
        failed += run_in_jail(name, [f"/usr/sbin/{cmd}", *command], True, "root") != 0
    return 1 if failed else 0


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Any:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _host_pkg_j(name: str, args: list[str]) -> int:
    jail = running(read_state(), name)
    if jail is None:
        die(f'pkg: jail "{name}" not found')  # pkg main.c: errx(EXIT_FAILURE, jail_errmsg)
    with _env({"FREEBSD_DOUBLE_ROOT": host_path(jail["path"]), "FREEBSD_DOUBLE_JAIL": name}):
        return cmd_pkg(args)


def pkg_j(args: list[str]) -> int:
    """pkg -j JAIL ARGS (pkg(8)): the jail's package database, from the host."""
    if os.environ.get("FREEBSD_DOUBLE_JAIL"):
        raise Unsupported("pkg -j inside a jail")
    if args[0] == "-j" and len(args) >= 2:
        name, rest = args[1], args[2:]
    elif args[0].startswith("-j") and len(args[0]) > 2:
        name, rest = args[0][2:], args[1:]
    else:
        raise Unsupported(f"pkg {' '.join(args)}")
    state = read_state()
    if re.fullmatch(r"[0-9]+", name):
        jail = next((j for j in state["jails"] if str(j["jid"]) == name), None)
        name = jail["name"] if jail else name
    return _host_pkg_j(name, rest)


def mirror_bridges() -> None:
    """After the double's ifconfig changed something, in a "vnet" test host: every
    bridge of the double's state that exists as a real Linux bridge carries its
    addresses (the agents' gateways).  The real bridge is made at the first jail start."""
    if jk.mode() != "vnet":
        return
    for iface in read_state()["interfaces"]:
        if iface["kind"] == "bridge":
            jk.sync_bridge(iface["name"], iface["inet"], create=False)


def package_set(state: State) -> dict[str, Any]:
    """The package set pkg acts on: the jail's when FREEBSD_DOUBLE_JAIL is set."""
    name = os.environ.get("FREEBSD_DOUBLE_JAIL")
    packages: dict[str, Any] = jail_data(state, name)["packages"] if name else state["packages"]
    return packages


def after_install(names: list[str]) -> None:
    """What an installed package leaves in the jail: rc.d scripts, the postgres account."""
    for svc, spec in SERVICES.items():
        if any(n in spec.packages for n in names):
            path = host_path(spec.script)
            _write(path, RC_PLACEHOLDER.format(name=svc, path=spec.script), 0o555)
    if any(n in PG_SERVERS for n in names):
        # databases/postgresqlNN-server: user/group postgres 770, home /var/db/postgres.
        passwd, group = host_path("/etc/passwd"), host_path("/etc/group")
        if _passwd(host_path("/"), "postgres") is None:
            line = "postgres:x:770:770:PostgreSQL Daemon:/var/db/postgres:/bin/sh\n"
            _write(passwd, _read(passwd) + line)
            _write(group, _read(group) + "postgres:x:770:\n")
        home = host_path("/var/db/postgres")
        os.makedirs(home, exist_ok=True)
        os.chown(home, 770, 770)  # postgres' home, owned by it (the port's UIDs/GIDs)


# --------------------------------------------------------------------------- service in a jail


def _pid(state: State, name: str) -> int:
    pid = int(state.get("next_pid", 4000))
    state["next_pid"] = pid + 1
    return pid


def _pg_data(conf: dict[str, str], packages: dict[str, Any]) -> tuple[str, str]:
    versions = [p[len("postgresql") : -len("-server")] for p in PG_SERVERS if p in packages]
    version = versions[0] if versions else "17"
    return conf.get("postgresql_data") or f"/var/db/postgres/data{version}", version


def _drop_pidfile(jail: str, svc: str) -> None:
    if svc == "postgresql":
        root = host_path("/") if os.environ.get("FREEBSD_DOUBLE_JAIL") else jail_root(jail)
        for path in glob.glob(f"{root.rstrip('/')}/var/db/postgres/data*/postmaster.pid"):
            os.unlink(path)


def service(args: list[str]) -> int:
    """service(8) + rc.subr (reference/freebsd.md §2.3, the double's rc.subr semantics)
    inside a jail."""
    if len(args) < 2 or args[0].startswith("-"):
        raise Unsupported(f"service {' '.join(args)} (inside a jail)")
    svc, verb, extra = args[0], args[1], args[2:]
    jail = os.environ["FREEBSD_DOUBLE_JAIL"]
    local_startup = RcConf(None).get("local_startup") or ""
    spec = SERVICES.get(svc)
    script = host_path(spec.script) if spec else ""
    if spec is None or not os.access(script, os.X_OK):
        dirs = ["/etc/rc.d", *local_startup.split()]
        if spec is None and any(os.access(host_path(f"{d}/{svc}"), os.X_OK) for d in dirs):
            raise Unsupported(f"service {svc} (no model of that rc.d script in a jail)")
        out(f"{svc} does not exist in /etc/rc.d or the local startup")  # service.sh
        out(f"directories ({local_startup}), or is not executable")
        return 1
    if extra:
        raise Unsupported(f"service {svc} {verb} with arguments")
    prefix = next((p for p in ("one", "force", "quiet", "fast") if verb.startswith(p)), "")
    action = verb[len(prefix) :]
    keywords = ["start", "stop", "restart", "status", "enabled", *spec.extra]
    if action not in keywords:
        if action in ("rcvar", "enable", "disable", "delete", "describe", "poll", "extracommands"):
            raise Unsupported(f"service {svc} {verb} (inside a jail)")
        err(f"{spec.script}: unknown directive '{verb}'.")  # rc.subr
        err(f"Usage: {spec.script} [fast|force|one|quiet](" + "|".join(keywords) + ")")
        return 1
    if prefix in ("force", "fast"):
        raise Unsupported(f"service {svc} {verb}: the {prefix} prefix")
    conf = service_rc_conf(svc, local_startup.split())
    rcvar = f"{svc}_enable"
    enabled = prefix == "one" or bool(SERVICE_YES.fullmatch(conf.get(rcvar, "")))
    if action == "enabled":
        return 0 if SERVICE_YES.fullmatch(conf.get(rcvar, "")) else 1
    state = read_state()
    pid = jail_data(state, jail)["services"].get(svc)
    has_pid = pid is not None and svc != "postgresql"  # pg: rc_pid of pg_ctl is never set
    checked = action not in ("status",) and not (action == "stop" and has_pid)
    if checked and not enabled:
        if prefix != "quiet":
            out(
                f"Cannot '{action}' {svc}. Set {rcvar} to YES in /etc/rc.conf or use "
                f"'one{action}' instead of '{action}'."
            )  # rc.subr, reference/outputs.md §6
        return 0
    real = jail_data(state, jail).get("kernel") == "vnet" and root_dir() == "/"
    if svc == "postgresql":
        if real:
            return _real_postgresql(jail, action, conf)
        return _postgresql(jail, action, conf)
    if svc == "sshd" and real:
        return _real_sshd(jail, spec, action, conf)
    return _generic(jail, svc, spec, action, conf)


def _real_sshd(jail: str, spec: Svc, action: str, conf: dict[str, str]) -> int:
    """Inside a real "vnet" jail: OpenSSH's sshd for real (the machine's, Debian's),
    started as FreeBSD's rc.d/sshd starts it (`sshd ${sshd_flags}`), with its pid in
    FreeBSD's /var/run/sshd.pid and Debian's privilege separation directory made
    (FreeBSD's is /var/empty).  Messages and exit codes: rc.subr's (reference/freebsd.md §2.3)."""
    pidfile = spec.pidfile or "/var/run/sshd.pid"

    def alive() -> int | None:
        try:
            with open(pidfile, encoding="ascii") as fh:
                pid = int(fh.read().split()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return pid

    pid = alive()
    if action == "status":
        out(f"sshd is running as pid {pid}." if pid else "sshd is not running.")
        return 0 if pid else 1
    if action == "reload":
        if pid is None:
            err(f"sshd not running? (check {pidfile}).")
            return 1
        os.kill(pid, signal.SIGHUP)
        return 0
    if action in ("stop", "restart"):
        if pid is None:
            err(f"sshd not running? (check {pidfile}).")
            if action == "stop":
                return 1
        else:
            out("Stopping sshd.")
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if alive() is None:
                    break
                time.sleep(0.05)
            out(f"Waiting for PIDS: {pid}.")
            pid = None
    if action in ("start", "restart"):
        if pid is not None:
            err(f"sshd already running?  (pid={pid}).")
            return 1
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        os.makedirs(os.path.dirname(pidfile), exist_ok=True)
        out("Starting sshd.")
        argv = ["/usr/sbin/sshd", *shlex.split(conf.get("sshd_flags", "")), "-o",
                f"PidFile={pidfile}"]  # fmt: skip
        sys.stdout.flush()
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            return done.returncode
        for _ in range(100):
            if alive() is not None:
                break
            time.sleep(0.05)
    with mutate_state() as state:
        services = jail_data(state, jail)["services"]
        now = alive()
        if now is None:
            services.pop("sshd", None)
        else:
            services["sshd"] = now
    return 0


def _set_running(jail: str, svc: str, running_now: bool) -> int:
    with mutate_state() as state:
        services = jail_data(state, jail)["services"]
        if running_now:
            services[svc] = _pid(state, jail)
        else:
            services.pop(svc, None)
        return int(services.get(svc, 0))


def _generic(jail: str, svc: str, spec: Svc, action: str, conf: dict[str, str]) -> int:
    """rc.subr's default methods (reference/freebsd.md §2.3) for a command/pidfile service."""
    pid = jail_data(read_state(), jail)["services"].get(svc)
    if action == "status":
        if pid is None:
            out(f"{svc} is not running.")
            return 1
        out(f"{svc} is running as pid {pid}.")
        return 0
    if action in ("stop", "restart"):
        if pid is None:
            check = f" (check {spec.pidfile})." if spec.pidfile else ""
            err(f"{svc} not running?{check}")
            if action == "stop":
                return 1
        else:
            out(f"Stopping {svc}.")
            out(f"Waiting for PIDS: {pid}.")
            _set_running(jail, svc, False)
            pid = None
    if action == "reload":
        if pid is None:
            check = f" (check {spec.pidfile})." if spec.pidfile else ""
            err(f"{svc} not running?{check}")
            return 1
        return 0
    if action in ("start", "restart"):
        if pid is not None:
            err(f"{svc} already running?  (pid={pid}).")  # rc.subr: two spaces
            return 1
        if spec.required_var:
            model = conf.get(spec.required_var, "")
            if not model or not os.path.isfile(host_path(model)):
                err(f"{spec.script}: WARNING: {model} is not readable.")  # required_files
                return 1
        out(f"Starting {svc}.")
        _set_running(jail, svc, True)
    return 0


def _real_postgresql(jail: str, action: str, conf: dict[str, str]) -> int:
    """Inside a real "vnet" jail: Debian's PostgreSQL 15 for real (jail_postgres.py)."""
    import jail_postgres  # only here: it needs the jail's root

    data, _version = _pg_data(conf, jail_data(read_state(), jail)["packages"])
    rc = jail_postgres.rc_command(action, data, conf)
    pid = jail_postgres.server_pid(data)
    with mutate_state() as state:
        services = jail_data(state, jail)["services"]
        if pid is None:
            services.pop("postgresql", None)
        else:
            services["postgresql"] = pid
    return int(rc)


def _postgresql(jail: str, action: str, conf: dict[str, str]) -> int:
    """databases/postgresqlNN-server rc script: pg_ctl with postgresql_flags "-w -s -m fast"
    (reference/freebsd.md §2.8; -s: only errors are printed), initdb (fails on a non-empty
    data dir)."""
    state = read_state()
    packages = jail_data(state, jail)["packages"]
    data, version = _pg_data(conf, packages)
    real = host_path(data)
    pid = jail_data(state, jail)["services"].get("postgresql")
    pidfile = f"{data}/postmaster.pid"
    if action == "initdb":
        if os.path.isdir(real) and os.listdir(real):
            err(f'initdb: error: directory "{data}" exists but is not empty')
            err(
                "initdb: hint: If you want to create a new database system, either remove or "
                f'empty the directory "{data}" or run initdb with an argument other than "{data}".'
            )
            return 1
        os.makedirs(real, exist_ok=True)
        _write(f"{real}/PG_VERSION", f"{version}\n", 0o600)
        _write(f"{real}/postgresql.conf", "# postgresql.conf (freebsd-double initdb)\n", 0o600)
        _write(f"{real}/pg_hba.conf", "# pg_hba.conf (freebsd-double initdb)\n", 0o600)
        for path in (real, f"{real}/PG_VERSION", f"{real}/postgresql.conf", f"{real}/pg_hba.conf"):
            os.chown(path, 770, 770)
        out('The files belonging to this database system will be owned by user "postgres".')
        out("Success. You can now start the database server using:")
        return 0
    if action == "status":
        if pid is None:
            out("pg_ctl: no server running")
            return 3  # pg_ctl status: 3 when no server runs
        out(f"pg_ctl: server is running (PID: {pid})")
        out(f'/usr/local/bin/postgres "-D" "{data}"')
        return 0
    if action in ("stop", "reload") or (action == "restart" and pid is not None):
        if pid is None:
            err(f'pg_ctl: PID file "{pidfile}" does not exist')
            err("Is server running?")
            return 1
        if action == "reload":
            return 0
        _drop_pidfile(jail, "postgresql")
        _set_running(jail, "postgresql", False)
        if action == "stop":
            return 0
        pid = None
    # start / restart
    if not os.path.isfile(f"{real}/PG_VERSION"):
        if not os.path.isdir(real):
            err(f'pg_ctl: directory "{data}" does not exist')
        else:
            err(f'pg_ctl: directory "{data}" is not a database cluster directory')
        return 1
    if pid is not None:
        err("pg_ctl: another server might be running; trying to start server anyway")
        err("pg_ctl: could not start server")
        err("Examine the log output.")
        return 1
    new = _set_running(jail, "postgresql", True)
    _write(f"{real}/postmaster.pid", f"{new}\n{data}\n", 0o600)
    return 0


# ------------------------------------------------------------------ config / limits / mount


# jail(8) parameters `bastille config` accepts (reference/freebsd.md §1.4: a validated list) and the
# settings.conf keys.  [The list is the jail(8) parameters the toolkit can need; the
# real one is longer.]
JAIL_PARAMS = frozenset(
    [
        "sysvshm",
        "sysvsem",
        "sysvmsg",
        "allow.raw_sockets",
        "allow.mlock",
        "allow.sysvipc",
        "allow.chflags",
        "allow.mount",
        "allow.mount.devfs",
        "allow.mount.nullfs",
        "allow.mount.tmpfs",
        "allow.mount.zfs",
        "allow.set_hostname",
        "allow.socket_af",
        "allow.vmm",
        "allow.nfsd",
        "allow.reserved_ports",
        "allow.read_msgbuf",
        "allow.unprivileged_proc_debug",
        "children.max",
        "devfs_ruleset",
        "enforce_statfs",
        "securelevel",
        "host.hostname",
        "osrelease",
        "osreldate",
        "path",
        "persist",
        "vnet",
        "vnet.interface",
        "ip4",
        "ip6",
        "ip4.addr",
        "ip6.addr",
        "mount.devfs",
        "mount.fstab",
        "exec.clean",
        "exec.start",
        "exec.stop",
        "exec.prestart",
        "exec.poststop",
        "exec.consolelog",
        "linux",
        "linux.osrelease",
    ]
)
SETTINGS = ("boot", "priority", "depend")
_CONFIG_VALUE = re.compile(r"[A-Za-z0-9._/:| $!&%=(){}-]*")  # reference/freebsd.md §1.4


def config(args: list[str]) -> int:
    """bastille config T get|set|add|remove PROP [VAL] (reference/freebsd.md §1.4, config.sh)."""
    if len(args) < 3 or args[1] not in ("get", "set", "add", "remove"):
        raise Unsupported(f"bastille config {' '.join(args)}")
    target, action, prop, value = args[0], args[1], args[2], " ".join(args[3:])
    if prop not in JAIL_PARAMS and prop not in SETTINGS:
        # reference/freebsd.md §1.5: "CONFIG set sysvshm=new" is refused (config.sh
        # validate_property).
        bail(f"[ERROR]: Unsupported property: {prop}")
    if action in ("set", "add") and not value:
        raise Unsupported(f"bastille config {action} {prop} without a value")
    if not _CONFIG_VALUE.fullmatch(value):
        bail(f"[ERROR]: Invalid value: {value}")  # [wording unconfirmed]
    for name in resolve(target):
        if prop in SETTINGS:
            path = f"{jail_dir(name)}/settings.conf"
            env: dict[str, str] = {}
            source_rc(f"{JAILSDIR}/{name}/settings.conf", env)
            if action == "get":
                out(env.get(prop, "not set"))
                continue
            lines = [ln for ln in _read(path).splitlines() if not ln.startswith(f"{prop}=")]
            if action in ("set", "add"):
                lines.append(f'{prop}="{value}"')
            _write(path, "\n".join(lines) + "\n")
            continue
        path = f"{jail_dir(name)}/jail.conf"
        text = _read(path)
        line_re = re.compile(rf"^  {re.escape(prop)}( \+?= .*)?;\n", re.M)
        if action == "get":
            found = _conf_value(text, prop)
            flag = "enabled" if line_re.search(text) else "not set"
            out(found if found is not None else flag)
            continue
        if action in ("set", "remove"):
            text = line_re.sub("", text)
        if action in ("set", "add"):
            op = "+=" if action == "add" else "="
            text = re.sub(r"\}\s*$", f"  {prop} {op} {value};\n}}\n", text)
        _write(path, text)
        info(f"[{name}]:")
    return 0


def limits(args: list[str]) -> int:
    """bastille limits [-a] T add RES VAL | remove RES | list (reference/freebsd.md §1.4, §2.6)."""
    flags, rest = _loop_opts(args, "limits")
    if len(rest) < 2 or rest[1] not in ("add", "remove", "list"):
        raise Unsupported(f"bastille limits {' '.join(args)}")
    action, operands = rest[1], rest[2:]
    wanted = {"add": 2, "remove": 1, "list": 0}[action]
    if len(operands) != wanted or (action == "add" and operands[0] == "cpu"):
        raise Unsupported(f"bastille limits {' '.join(args)}")
    racct = sysctl_table(read_state()).get("kern.racct.enable", {}).get("value")
    if racct != "1":
        bail(
            "[ERROR]: Racct not enabled. Append 'kern.racct.enable=1' to /boot/loader.conf "
            "and reboot"
        )
    for name in _each_running(rest[0], "-a" in flags):
        info(f"\n[{name}]:")
        path = f"{jail_dir(name)}/rctl.conf"
        rules = _read(path).splitlines()
        if action == "list":
            for rule in rules:
                out(rule)
            continue
        resource = operands[0]
        mine = [r for r in rules if r.startswith(f"jail:{name}:{resource}:")]
        if action == "remove":
            _write(path, "".join(f"{r}\n" for r in rules if r not in mine))
            continue
        rule = f"jail:{name}:{resource}:deny={operands[1]}/jail"
        if not mine:
            _write(path, "".join(f"{r}\n" for r in [*rules, rule]))
        # else: reference/freebsd.md §1.4 [src]: the update regex "jail: NAME..." has a stray
        # space and never matches, so a re-add leaves rctl.conf as it was.
        info(f"{resource} {operands[1]}")
    return 0


def mount(name: str, words: list[str]) -> int:
    """bastille mount NAME HOST JAIL [type opts dump pass] (reference/freebsd.md §1.4): the
    fstab line only."""
    if len(words) == 2:
        words = [*words, "nullfs", "ro", "0", "0"]
    if len(words) != 6:
        raise Unsupported(f"bastille mount {' '.join(words)}")
    host, inside = words[0], words[1]
    fstab = f"{jail_dir(name)}/fstab"
    target = f"{JAILSDIR}/{name}/root/{inside.lstrip('/')}"
    if any(line.split()[1:2] == [target] for line in _read(fstab).splitlines() if line.split()):
        info(f"[WARNING]: Mountpoint already present in {fstab}: {target}")  # [wording unconfirmed]
        return 0
    if words[2] == "nullfs":
        os.makedirs(host_path(host), exist_ok=True)
    os.makedirs(host_path(target), exist_ok=True)
    _write(fstab, _read(fstab) + " ".join([host, target, *words[2:]]) + "\n")
    if jail_data(read_state(), name).get("kernel"):
        if words[2] != "nullfs":
            raise Unsupported(f"bastille mount: a {words[2]} mount in a real jail")
        jk.bind_into(host_path(host), host_path(target), "ro" in words[3].split(","))
    return 0


# --------------------------------------------------------------------------- template


def template(args: list[str]) -> int:
    """bastille template [-a] T PATH [--arg K=V]... (reference/freebsd.md §1.5)."""
    flags, rest = _loop_opts(args, "template")
    if len(rest) < 2:
        raise Unsupported(f"bastille template {' '.join(args)}")
    target, path, tail = rest[0], rest[1], rest[2:]
    given: dict[str, str] = {}
    while tail:
        if tail[0] != "--arg" or len(tail) < 2 or "=" not in tail[1]:
            raise Unsupported(f"bastille template: {' '.join(tail)}")
        key, value = tail[1].split("=", 1)
        given[key] = value
        tail = tail[2:]
    if "/" not in path:
        raise Unsupported("bastille template project/name (only a path to a directory)")
    bastillefile = os.path.join(host_path(path) if os.path.isabs(path) else path, "Bastillefile")
    if not os.path.isfile(bastillefile):
        bail(f"[ERROR]: Template not found: {path}")  # [wording unconfirmed]
    lines = _bastillefile_lines(_read(bastillefile))
    for name in _each_running(target, "-a" in flags):
        info(f"\n[{name}]:")
        info(f"Applying template: {path}...")
        values = {"JAIL_NAME": name, "JAIL_IP": jail_ip(name), "JAIL_IP6": ""}
        for line in lines:
            hook, _, rest_of_line = line.partition(" ")
            hook = hook.lower()
            if hook in ("arg", "arg+"):
                _template_arg(hook, rest_of_line.strip(), given, values)
                continue
            text = _substitute(rest_of_line.strip(), values)
            rc = _hook(name, hook, text, os.path.dirname(bastillefile), values)
            if rc != 0:
                # reference/outputs.md §4.2 (#1356)
                bail(f"[ERROR]: Failed to execute command: {hook}")
        info(f"\nTemplate applied: {path}")
    return 0


def _bastillefile_lines(text: str) -> list[str]:
    """Blank and # lines are skipped; a trailing backslash joins the next line
    (reference/freebsd.md §1.5)."""
    result: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if pending:
            raw = pending + raw
            pending = ""
        if raw.endswith("\\"):
            pending = raw[:-1]
            continue
        line = raw.strip()
        if line and not line.startswith("#"):
            result.append(line)
    if pending.strip():
        result.append(pending.strip())
    return result


def _substitute(text: str, values: dict[str, str]) -> str:
    """Textual ${NAME} replacement (sed), not shell expansion (reference/freebsd.md §1.5)."""
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    return text


def _template_arg(hook: str, spec: str, given: dict[str, str], values: dict[str, str]) -> None:
    key, has_default, default = spec.partition("=")
    key = key.strip()
    value = given.get(key, default.strip().strip('"').strip("'") if has_default else "")
    if not value:
        if hook == "arg+":
            # reference/freebsd.md §1.5: ARG+ is mandatory
            bail(f"[ERROR]: No value provided for arg: {key}")
        info(f"[WARNING]: No value provided for arg: {key}")  # reference/outputs.md §4.5
    values[key] = value


def _hook(name: str, hook: str, text: str, tpl_dir: str, values: dict[str, str]) -> int:
    words = shlex.split(text) if hook != "cmd" else []
    root = jail_root(name)
    info(f"[{name}]:")
    if hook == "cmd":
        return run_in_jail(name, ["/bin/sh", "-c", text], True, "root")
    if hook == "pkg":
        return run_in_jail(name, ["/usr/sbin/pkg", "install", *words], True, "root",
                           {"ASSUME_ALWAYS_YES": "yes"})  # fmt: skip
    if hook in ("sysrc", "service"):
        return run_in_jail(name, [f"/usr/sbin/{hook}", *words], True, "root")
    if hook == "cp":
        if not 1 <= len(words) <= 2:
            raise Unsupported(f"CP {text}")
        src = os.path.join(tpl_dir, words[0])
        dst = os.path.join(root, (words[1] if len(words) > 1 else "/").lstrip("/"))
        if os.path.isdir(dst):
            dst = os.path.join(dst, os.path.basename(src.rstrip("/")))
        if os.path.isdir(src):
            shutil.copytree(src, dst, dirs_exist_ok=True, symlinks=True)
        elif os.path.exists(src):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)
        else:
            err(f"cp: {src}: No such file or directory")
            return 1
        return 0
    if hook == "render":
        if len(words) != 1:
            raise Unsupported(f"RENDER {text}")
        return _render(os.path.join(root, words[0].lstrip("/")), values)
    if hook in ("line_in_file", "lif"):
        if len(words) != 2:
            raise Unsupported(f"LINE_IN_FILE {text}")
        path = os.path.join(root, words[1].lstrip("/"))
        if words[0] not in _read(path).splitlines():  # grep -x
            existing = _read(path)
            sep = "" if not existing or existing.endswith("\n") else "\n"
            _rewrite(path, existing + sep + words[0] + "\n")
        return 0
    if hook == "config":
        return config([name, *words])
    if hook == "restart":
        stop_jail(name)
        start_jail(name)
        return 0
    if hook == "limits":
        return limits([name, "add", *words])
    if hook == "mount":
        return mount(name, words)
    raise Unsupported(f"Bastillefile hook {hook.upper()}")


def _rewrite(path: str, text: str) -> None:
    """Replace a file's text keeping its owner and mode (echo >> / sed -i do)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _write(path, text)
        return
    atomic_write(path, text, st.st_mode & 0o7777)
    os.chown(path, st.st_uid, st.st_gid)


def _render(path: str, values: dict[str, str]) -> int:
    if os.path.isfile(path):
        files = [path]
    elif os.path.isdir(path):
        files = []
        for top, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if d != ".git"]
            files += [os.path.join(top, n) for n in names]
    else:
        err(f"[ERROR]: Path not found for render: {path}")  # [wording unconfirmed]
        return 1
    for file in files:
        text = _read(file)
        new = _substitute(text, values)
        if new != text:
            _rewrite(file, new)
    return 0


# --------------------------------------------------------------------------- dispatch


def cmd_bastille(args: list[str]) -> int:
    sub, rest = args[0], args[1:]
    if sub == "create":
        return create(rest)
    if sub in ("start", "stop", "restart"):
        return start_stop(sub, rest)
    if sub == "destroy":
        return destroy(rest)
    if sub == "cmd":
        return jail_cmd(rest)
    if sub == "pkg":
        return jail_pkg(rest)
    if sub in ("service", "sysrc"):
        return jail_tool(sub, rest)
    if sub == "config":
        return config(rest)
    if sub == "limits":
        return limits(rest)
    if sub == "template":
        return template(rest)
    if sub == "mount":
        flags, operands = _loop_opts(rest, "mount")
        if not operands:
            raise Unsupported("bastille mount")
        for name in _each_running(operands[0], "-a" in flags):
            if mount(name, operands[1:]) != 0:
                return 1
        return 0
    raise Unsupported(f"bastille {' '.join(args)}")

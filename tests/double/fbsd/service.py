"""service(8) (usr.sbin/service/service.sh) on the host; inside a jail, jails.py.

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys

from .common import Unsupported, err, host_path, in_jail, jails_module, out, parse_opts
from .sysrc import ASSIGN, RcConf, sh_value, source_rc

# usr.sbin/service/service.sh.  The rc.d scripts it runs source /etc/rc.subr, on a
# test host the stub tests/double/rc.subr (install.install_base_system), which
# prints what rc.subr prints ("Cannot 'start' x. ...", "x is not running.").

# service.sh usage(): echoed on stdout; ${0##*/} is "service".
SERVICE_USAGE = (
    "",
    "Usage:",
    "service [-j <jail name or id>] -e",
    "service [-j <jail name or id>] -R",
    "service [-j <jail name or id>] [-v] -l | -r",
    "service [-j <jail name or id>] [-v] <rc.d script> start|stop|etc.",
    "service -h",
    "",
    "-j\tPerform actions within the named jail",
    "-e\tShow services that are enabled",
    "-R\tStop and start enabled {local_startup} services",
    "-l\tList all scripts in /etc/rc.d and {local_startup}",
    "-r\tShow the results of boot time rcorder",
    "-v\tVerbose",
    "",
)
# service.sh: exec env -i [-L -/daemon] HOME=/ PATH=/sbin:/bin:/usr/sbin:/usr/bin
# "$dir/$script" "$@" (no /usr/local on that PATH; the -L login-class variables,
# LANG and BLOCKSIZE, are not modelled).
SERVICE_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"
# What the script keeps of the double's own settings: the double's bin dir goes
# first on PATH so the FreeBSD commands a script runs still reach the double.
SERVICE_KEEP = ("FREEBSD_DOUBLE_BIN", "FREEBSD_DOUBLE_STATE", "FREEBSD_DOUBLE_ROOT")
SERVICE_YES = re.compile(r"(?i)yes|true|on|1")
_SERVICE_SET_RCVAR = re.compile(r'"?(?:\$\(|`)set_rcvar(?:[ \t]+([A-Za-z0-9_]+))?[ \t]*(?:\)|`)"?')


def cmd_service(args: list[str]) -> int:
    if in_jail():
        return int(jails_module().service(args))  # inside a jail: modelled services (jails.py)
    opts, rest = parse_opts(args, "j:ehlrRv", "service")
    flags = {flag for flag, _ in opts}
    # service.sh: `. /etc/rc.subr; load_rc_config 'XXX'` gives it local_startup.
    local_startup = RcConf(None).get("local_startup") or ""
    dirs = ["/etc/rc.d", *local_startup.split()]
    verbose = "-v" in flags
    if "-h" in flags:
        for line in SERVICE_USAGE:
            out(line.replace("{local_startup}", local_startup))
        return 0
    if "-j" in flags:
        raise Unsupported("service -j (jexec -l JAIL /usr/sbin/service ...)")
    if "-R" in flags:
        raise Unsupported("service -R (restart of enabled local_startup services)")
    if "-e" in flags:
        _service_enabled(local_startup.split())
        return 0
    if "-l" in flags:
        # service.sh: for dir in /etc/rc.d $local_startup; ls -1 (sorted, no dotfiles).
        for d in dirs:
            if verbose:
                out(f"From {d}:")
            real = host_path(d)
            if os.path.isdir(real):
                for entry in sorted(os.listdir(real)):
                    if not entry.startswith("."):
                        out(entry)
        return 0
    if "-r" in flags:
        raise Unsupported("service -r (rcorder)")
    if len(rest) < 2:
        # service.sh: `service NAME` alone, or nothing, is a usage error.
        for line in SERVICE_USAGE:
            out(line.replace("{local_startup}", local_startup))
        return 1
    script, verb_args = rest[0], rest[1:]
    for d in dirs:
        path = f"{d}/{script}"
        if os.access(host_path(path), os.X_OK):  # service.sh: [ -x "$dir/$script" ]
            if verbose:
                out(f"{script} is located in {d}")
            return _service_exec(path, verb_args)
    # service.sh, not found or not executable: two lines on stdout, exit 1.
    out(f"{script} does not exist in /etc/rc.d or the local startup")
    out(f"directories ({local_startup}), or is not executable")
    return 1


def _service_exec(path: str, args: list[str]) -> int:
    """service.sh: cd /; exec env -i HOME=/ PATH=... "$dir/$script" "$@"; its status."""
    env = {"HOME": "/", "PATH": SERVICE_PATH}
    for key in SERVICE_KEEP:
        if key in os.environ:
            env[key] = os.environ[key]
    if env.get("FREEBSD_DOUBLE_BIN"):
        env["PATH"] = f"{env['FREEBSD_DOUBLE_BIN']}:{SERVICE_PATH}"
    real = host_path(path)
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [real, *args]
    try:
        try:
            done = subprocess.run(argv, env=env, cwd=host_path("/"), check=False)
        except OSError as exc:
            if exc.errno != errno.ENOEXEC:
                raise
            # env(1) uses execvp(3): a file without #! runs under /bin/sh.
            done = subprocess.run(["/bin/sh", *argv], env=env, cwd=host_path("/"), check=False)
    except OSError as exc:
        # env(1): err(errno == ENOENT ? 127 : 126, "%s", *argv)
        err(f"env: {path}: {os.strerror(exc.errno or 0)}")
        return 127 if exc.errno == errno.ENOENT else 126
    # a script killed by a signal: the status sh reports, 128 + signal number
    return 128 - done.returncode if done.returncode < 0 else done.returncode


def _service_enabled(local_startup: list[str]) -> None:
    """service -e: the scripts whose rcvar is YES in the rc.conf view (service.sh).

    service.sh runs `rcorder -s nostart /etc/rc.d/* $local_rc` and, for each file
    with a line starting "rcvar", evals its `name=` and `rcvar` lines, loads that
    rc.conf variable (load_rc_config_var) and prints the path when checkyesno says
    yes.  The double does the same in Python, but in name order (/etc/rc.d first,
    then local_startup), not rcorder's dependency order.
    """
    files: list[str] = []
    rc_d = host_path("/etc/rc.d")
    if os.path.isdir(rc_d):
        files += [
            f"/etc/rc.d/{entry}"
            for entry in sorted(os.listdir(rc_d))
            if os.path.isfile(os.path.join(rc_d, entry))
        ]
    for d in local_startup:  # rc.subr find_local_scripts_new
        real = host_path(d)
        if not os.path.isdir(real):
            continue
        for entry in sorted(os.listdir(real)):
            full = os.path.join(real, entry)
            if entry.endswith((".sample", ".pkgsave")) or not os.path.isfile(full):
                continue
            if os.access(full, os.X_OK) and re.search(r"^# PROVIDE:", _service_read(full), re.M):
                files.append(f"{d}/{entry}")
    shell: dict[str, str] = {}  # service.sh's variables: name and rcvar carry over
    for path in files:
        text = _service_read(host_path(path))
        keywords = re.findall(r"^#[ \t]*KEYWORD:(.*)$", text, re.M)
        if any("nostart" in line.split() for line in keywords):
            continue  # rcorder -s nostart
        if not re.search(r"^rcvar", text, re.M):
            continue
        for prefix in ("name=", "rcvar"):
            for line in text.splitlines():
                if line.startswith(prefix):
                    _service_eval_assignment(line, shell, path)
        rcvar = shell.get("rcvar", "")
        if not rcvar:
            continue
        value = service_rc_conf(shell.get("name", ""), local_startup).get(rcvar, "")
        if SERVICE_YES.fullmatch(value):
            out(path)


def _service_eval_assignment(line: str, shell: dict[str, str], path: str) -> None:
    """`eval` one `name=...` / `rcvar=...` line of an rc.d script, in the simple forms."""
    match = ASSIGN.match(line)
    if not match:
        raise Unsupported(f"service -e: {path}: {line!r}")
    raw = line[match.end() :].strip()
    set_rcvar = _SERVICE_SET_RCVAR.fullmatch(raw.split("#", 1)[0].strip())
    if set_rcvar:
        # rc.subr set_rcvar [var]: "${var:-$name}_enable"
        shell[match.group(1)] = f"{set_rcvar.group(1) or shell.get('name', '')}_enable"
        return
    if "$(" in raw or "`" in raw:
        raise Unsupported(f"service -e: {path}: command substitution in {line!r}")
    shell[match.group(1)], _ = sh_value(line, match.end(), shell)


def service_rc_conf(name: str, local_startup: list[str]) -> dict[str, str]:
    """rc.subr load_rc_config NAME: rc.conf files, then rc.conf.d/NAME (file or dir)."""
    env = dict(RcConf(None).env)
    if name:
        for d in ["/etc", *local_startup]:
            base = f"{d.removesuffix('/rc.d')}/rc.conf.d/{name}"
            real = host_path(base)
            if os.path.isfile(real):
                source_rc(base, env)
            elif os.path.isdir(real):
                for entry in sorted(os.listdir(real)):
                    if os.path.isfile(os.path.join(real, entry)):
                        source_rc(f"{base}/{entry}", env)
    return env


def _service_read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""

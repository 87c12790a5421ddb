"""sysrc(8) and the rc.conf(5) view other commands share (RcConf, source_rc, sh_value).

TEST DOUBLE, not FreeBSD (usr.sbin/sysrc/sysrc, FreeBSD 14).  sysrc edits the real
files /etc/rc.conf and /etc/rc.conf.local under $FREEBSD_DOUBLE_ROOT (default "/");
/etc/defaults/rc.conf is RC_DEFAULTS (install.py writes it for rc.subr).
"""

from __future__ import annotations

import os
import re
import sys

from .common import Unsupported, die, err, host_path, out, parse_opts, userland_major
from .state import atomic_write, locked, read_state_unlocked

# /etc/defaults/rc.conf stand-in: values copied from FreeBSD 14 libexec/rc/rc.conf
# (${_localbase} expanded).  bastille_enable is NOT a default.
RC_DEFAULTS_PATH = "/etc/defaults/rc.conf"
RC_DEFAULTS: dict[str, str] = {
    "rc_conf_files": "/etc/rc.conf /etc/rc.conf.local",
    "local_startup": "/usr/local/etc/rc.d",
    "zfs_enable": "NO",
    "growfs_enable": "NO",
    "powerd_enable": "NO",
    "hostname": "",
    "netif_enable": "YES",
    "cloned_interfaces": "",
    "network_interfaces": "auto",
    "firewall_enable": "NO",
    "pf_enable": "NO",
    "pf_rules": "/etc/pf.conf",
    "pf_program": "/sbin/pfctl",
    "pf_flags": "",
    "pflog_enable": "NO",
    "pflog_logfile": "/var/log/pflog",
    "pflog_flags": "",
    "syslogd_enable": "YES",
    "syslogd_flags": "-s",
    "local_unbound_enable": "NO",
    "sshd_enable": "NO",
    "sshd_flags": "",
    "ntpd_enable": "NO",
    "ntpdate_enable": "NO",
    "defaultrouter": "NO",
    "static_routes": "",
    "gateway_enable": "NO",
    "ipv6_defaultrouter": "NO",
    "ipv6_gateway_enable": "NO",
    "ipv6_activate_all_interfaces": "NO",
    "sendmail_enable": "NO",
    "sendmail_submit_enable": "YES",
    "sendmail_outbound_enable": "YES",
    "sendmail_msp_queue_enable": "YES",
    "cron_enable": "YES",
    "cron_flags": "",
    "dumpdev": "NO",
    "clear_tmp_enable": "NO",
    "linux_enable": "NO",
    "sysvipc_enable": "NO",
    "devfs_rulesets": "/etc/defaults/devfs.rules /etc/devfs.rules",
    "devfs_system_ruleset": "",
    "devfs_load_rulesets": "YES",
    "newsyslog_enable": "YES",
    "newsyslog_flags": "-CN",
    "rctl_enable": "YES",
    "rctl_rules": "/etc/rctl.conf",
    "jail_enable": "NO",
    "jail_conf": "/etc/jail.conf",
    "jail_parallel_start": "NO",
    "jail_list": "",
    "jail_reverse_stop": "NO",
}

ASSIGN = re.compile(r"[ \t]*([A-Za-z_][A-Za-z0-9_]*)=")
_VALID_NAME = re.compile(r"[0-9A-Za-z_]*")


def _expand(text: str, i: int, env: dict[str, str]) -> tuple[str, int]:
    """Expand $NAME / ${NAME} at text[i] == '$'; other forms stay literal."""
    braced = re.match(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text[i:])
    plain = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", text[i:])
    match = braced or plain
    if match:
        return env.get(match.group(1), ""), i + match.end()
    return "$", i + 1


def sh_value(text: str, i: int, env: dict[str, str]) -> tuple[str, int]:
    """Parse one sh word (the right side of NAME=) starting at text[i]."""
    value: list[str] = []
    while i < len(text) and text[i] not in " \t\n;":
        c = text[i]
        if c == "'":
            end = text.find("'", i + 1)
            end = len(text) if end < 0 else end
            value.append(text[i + 1 : end])
            i = end + 1
        elif c == '"':
            i += 1
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in '$`"\\\n':
                    if text[i + 1] != "\n":
                        value.append(text[i + 1])
                    i += 2
                elif text[i] == "$":
                    expanded, i = _expand(text, i, env)
                    value.append(expanded)
                else:
                    value.append(text[i])
                    i += 1
            i += 1
        elif c == "\\" and i + 1 < len(text):
            value.append(text[i + 1])
            i += 2
        elif c == "$":
            expanded, i = _expand(text, i, env)
            value.append(expanded)
        else:
            value.append(c)
            i += 1
    return "".join(value), i


def source_rc(path: str, env: dict[str, str]) -> list[str]:
    """'Source' an rc.conf-style file: apply NAME=value lines to env; return names set."""
    try:
        with open(host_path(path), encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return []
    names: list[str] = []
    i = 0
    while i < len(text):
        match = ASSIGN.match(text, i)
        if match:
            value, i = sh_value(text, match.end(), env)
            env[match.group(1)] = value
            names.append(match.group(1))
        newline = text.find("\n", i)
        i = len(text) if newline < 0 else newline + 1
    return names


class RcConf:
    """rc.conf(5) view: defaults, then rc_conf_files (or the -f files)."""

    def __init__(self, files: list[str] | None) -> None:
        self.explicit = files
        env = dict(RC_DEFAULTS)
        self.files = files if files is not None else env["rc_conf_files"].split()
        self.assigned: list[str] = []
        for path in dict.fromkeys(self.files):
            self.assigned += source_rc(path, env)
        self.env = env

    def get(self, name: str) -> str | None:
        return self.env.get(name)

    def find(self, name: str) -> str | None:
        """f_sysrc_find: the file with the last assignment (reverse order, then defaults)."""
        regex = re.compile(rf"^[ \t]*{re.escape(name)}=", re.M)
        for path in reversed(self.files):
            try:
                with open(host_path(path), encoding="utf-8", errors="replace") as fh:
                    if regex.search(fh.read()):
                        return path
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
        return RC_DEFAULTS_PATH if name in RC_DEFAULTS else None

    def first_file(self) -> str:
        if self.explicit is not None:
            return self.explicit[0]
        return self.env.get("rc_conf_files", "/etc/rc.conf").split()[0]


def _sysrc_set_file(path: str, name: str, new: str, found: bool) -> bool:
    """sysrc.subr f_sysrc_set: replace the last assignment keeping its quoting, or append."""
    real = host_path(path)
    if not found:
        try:
            with open(real, "a+", encoding="utf-8") as fh:
                fh.seek(0)
                content = fh.read()
                if content and not content.endswith("\n"):
                    fh.write("\n")
                # reference/outputs.md §2: the file holds name="value"
                fh.write(f'{name}="{new}"\n')
        except OSError as exc:
            # reference/outputs.md §2 (#712): the sh redirection error of a missing -f directory.
            err(f"/usr/sbin/sysrc: cannot create {path}: {os.strerror(exc.errno or 0)}")
            return False
        return True
    with open(real, encoding="utf-8", errors="replace") as fh:
        lines = fh.read().splitlines()
    regex = re.compile(rf"^[ \t]*{re.escape(name)}=")
    append = True
    for idx in range(len(lines) - 1, -1, -1):
        match = regex.match(lines[idx])
        if not match:
            continue
        head, value = lines[idx][: match.end()], lines[idx][match.end() :]
        t1 = value[:1]
        if t1 and t1 in "`$\\":
            break  # an expression sysrc did not write: left alone, new line appended
        if t1 == "'":
            rest = re.sub(r"^'[^']*", "", value)
            t2 = "" if not rest else "'"
            rest = rest[1:] if rest.startswith("'") else rest
        elif t1 == '"':
            rest = re.sub(r'^"(.*\\\\+")*[^"]*', "", value)
            t2 = "" if not rest else '"'
            rest = rest[1:] if rest.startswith('"') else rest
        elif t1 and t1 not in " \t;":
            t1 = t2 = '"'
            rest = re.sub(r"^[^ \t]*", "", value)
        else:
            t1 = t2 = '"'
            rest = value
        lines[idx] = f"{head}{t1}{new}{t2}{rest}"
        append = False
        break
    if append:
        lines.append(f'{name}="{new}"')
    atomic_write(real, "\n".join(lines) + "\n", os.stat(real).st_mode & 0o7777)
    return True


def _sysrc_delete(conf: RcConf, name: str) -> None:
    """sysrc.subr f_sysrc_delete: drop every assignment in every file."""
    regex = re.compile(rf"^[ \t]*{re.escape(name)}=")
    for path in conf.files:
        real = host_path(path)
        if not os.path.exists(real):
            continue
        with open(real, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
        kept = [line for line in lines if not regex.match(line)]
        if len(kept) != len(lines):
            text = "\n".join(kept) + ("\n" if kept else "")
            atomic_write(real, text, os.stat(real).st_mode & 0o7777)


def _list_edit(before: str, arg: str, append: bool) -> str:
    """sysrc `+=` / `-=`: delimiter is the first char of arg unless alnum . / or blank."""
    delim = arg[:1]
    if delim == "" or delim.isspace() or re.match(r"[a-zA-Z0-9./]", delim):
        delim = " "

    def words_of(text: str) -> list[str]:
        # sh field splitting: IFS whitespace for " ", else IFS set to the delimiter.
        return text.split() if delim == " " else [w for w in text.split(delim) if w]

    old, items = words_of(before), words_of(arg)
    if append:
        new = before
        for item in items:
            if item and item not in old:
                new = f"{new}{delim}{item}"
        return new[len(delim) :] if new.startswith(delim) else new
    kept = [w for w in old if w and w not in items]
    return delim.join(kept)


def cmd_sysrc(args: list[str]) -> int:
    # usr.sbin/sysrc/sysrc (FreeBSD 14, SYSRC_VERSION 7.2) and reference/outputs.md §2 /
    # reference/freebsd.md §2.1.
    if not args:
        err("Usage: sysrc [OPTIONS] {name[[+|-]=value] ... | -a | -A | -l | -L [name ...]}")
        err("Try `sysrc --help' for more information.")
        return 1
    opts, names = parse_opts(args, "acef:FiNnqvx", "sysrc")
    flags = {flag for flag, _ in opts}
    if "-v" in flags and flags & {"-c", "-x"}:
        raise Unsupported("sysrc: -v with -c or -x (their verbose messages)")
    files = [value for flag, value in opts if flag == "-f"] or None
    show_all, check, delete = "-a" in flags, "-c" in flags, "-x" in flags
    show_file = "-F" in flags
    # sysrc: "Process `-e', `-n', and `-N' command-line options".
    show_name = "-n" not in flags
    show_value = "-N" not in flags
    show_equals = "-e" in flags and not show_file and show_name
    if not show_value:
        show_name, show_equals = True, False
    view = SysrcView(
        show_name, show_value, show_file, '="' if show_equals else ": ", '"' if show_equals else ""
    )
    view.verbose = "-v" in flags
    # sysrc: every operand's name is checked before anything runs.
    for arg in names:
        name = re.sub(r":[+=-].*", "", arg, count=1)
        name = re.sub(r"[%#+=-].*", "", name, count=1)
        if not _VALID_NAME.fullmatch(name):
            die(f"sysrc: {name}: name contains characters not allowed in shell")
    if not names and not show_all:
        raise Unsupported("sysrc: no operands")
    if delete and show_all:
        die("sysrc: `-x' option incompatible with `-a'/`-A' options (use `-X' to override)")
    if check and show_all:
        die("sysrc: `-c' option incompatible with `-a'/`-A' options")
    with locked(exclusive=True):
        conf = RcConf(files)
        if show_all:
            # -a: non-default variables, sorted like sh's `set`.
            for name in sorted(set(conf.assigned)):
                view.show(conf, name, listing=True)
            return 0
        return _sysrc_operands(conf, names, flags, view)


class SysrcView:
    """How sysrc prints a variable: SHOW_NAME, SHOW_VALUE, SHOW_FILE, SEP, `-e' quote."""

    def __init__(
        self, show_name: bool, show_value: bool, show_file: bool, sep: str, quote: str
    ) -> None:
        self.show_name, self.show_value, self.show_file = show_name, show_value, show_file
        self.sep, self.quote = sep, quote
        #: -v: each line starts with the file holding the variable (usr.sbin/sysrc/sysrc
        #: at 09711ccb, "If verbose, prefix line with where the directive lives"); with -e
        #: as ": FILE; ". community.general's sysrc module reads `-f FILE -v -n NAME`.
        self.verbose = False

    def where(self, path: str, listing: bool = False) -> str:
        """The -v prefix; a -a/-A listing always uses "FILE: "."""
        if not self.verbose:
            return ""
        return f": {path}; " if self.quote and not listing else f"{path}: "

    def show(self, conf: RcConf, name: str, listing: bool = False) -> None:
        if self.show_file:
            out((f"{name}: " if self.show_name else "") + (conf.find(name) or ""))
            return
        prefix = self.where(conf.find(name) or "", listing)
        if not self.show_value:
            out(prefix + name)
        else:
            out(f"{prefix}{name + self.sep if self.show_name else ''}{conf.get(name)}{self.quote}")



def _sysrc_operands(conf: RcConf, names: list[str], flags: set[str], view: SysrcView) -> int:
    check, delete = "-c" in flags, "-x" in flags
    quiet, ignore = "-q" in flags, "-i" in flags
    show_file, show_value = view.show_file, view.show_value
    status = 0
    major = userland_major(read_state_unlocked())
    for arg in names:
        name = arg.split("=", 1)[0]
        mode = "assign"
        if name.endswith("+"):
            mode, name = "append", name[:-1]
        elif name.endswith("-"):
            mode, name = "remove", name[:-1]
        if "=" in arg:
            rhs = arg.split("=", 1)[1]
            if delete:
                _sysrc_delete(conf, name)
                conf = RcConf(conf.explicit)
                continue
            before = conf.get(name) or ""
            if mode == "append":
                new = _list_edit(before, rhs, append=True)
            elif mode == "remove":
                new = _list_edit(before, rhs, append=False)
            else:
                new = rhs
            if check:
                # -c NAME=VALUE: 0 only if set and already equal (reference/outputs.md §2).  14.x
                # compares the raw VALUE; 15.x compares the +=/-= result (sysrc in main).
                target = new if major >= 15 else rhs
                if conf.get(name) is None or target != before:
                    status = 1
                continue
            where = conf.find(name)
            found = where is not None and where != RC_DEFAULTS_PATH
            path = where if found and where else conf.first_file()
            sys.stdout.write(view.where(path))  # -v: before the set, with no newline
            if show_file:
                before = where or ""
            if not show_value:
                out(name)
                if not _sysrc_set_file(path, name, new, found):
                    status = 1
                conf = RcConf(conf.explicit)
                continue
            if not _sysrc_set_file(path, name, new, found):
                status = 1
                continue
            conf = RcConf(conf.explicit)
            after = (conf.find(name) or "") if show_file else (conf.get(name) or "")
            head = name + view.sep if view.show_name else ""
            # reference/outputs.md §2: "test_enable:  -> YES" (two spaces when unset).
            quote = view.quote
            mark = '" #' if quote else ""
            out(f"{head}{before}{mark} -> {quote}{after}{quote}")
            continue
        if name.startswith("-") or conf.get(name) is None:
            # reference/outputs.md §2: unknown variable on stderr, rc 1 (also rc 1 with -i/-q).
            if not (ignore or quiet):
                err(f"sysrc: unknown variable '{name}'")
            status = 1
            continue
        if check:
            continue
        if delete:
            _sysrc_delete(conf, name)
            conf = RcConf(conf.explicit)
            continue
        view.show(conf, name)
    return status

"""newsyslog(8) (usr.sbin/newsyslog/newsyslog.c, FreeBSD 14).

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, NoReturn

from .common import Unsupported, die, err, host_path, host_program, parse_opts, root_dir
from .pw import AccountDb
from .state import read_state, state_dir

# newsyslog(8), newsyslog.conf(5); behaviour and texts from usr.sbin/newsyslog/
# newsyslog.c (FreeBSD 14).  Modelled: -C -F -N -n -r -v, -f CONFIG, LOGFILE operands,
# <include>, entry flags B C G J N P X Y Z - W, pid files and signals, classic
# log.N names.  Not modelled (exit 64): -a -d -D -P -R -s -S -t, -vvv, flags D R T U,
# <debug>, lines starting with blanks, and deciding an `@`/`$` time that is not
# "daily at hour hh" (T<hh...> / D<hh>) unless -F or the size forces rotation.
# newsyslog sleeps 10 s after signalling so daemons close the rotated files before
# they are compressed; the double sleeps only when it really signalled a process
# and has files to compress (the pause changes nothing else), and never between
# signals.

NEWSYSLOG_CONF = "/etc/newsyslog.conf"  # pathnames.h _PATH_CONF
# FreeBSD 14's /etc/newsyslog.conf ends with these includes (reference/freebsd.md §2.7).  When the
# host has no /etc/newsyslog.conf the double reads just these two lines: the base
# entries (/var/log/messages ...) would rotate the Linux test host's own logs.
NEWSYSLOG_DEFAULT_CONF = (
    "<include> /etc/newsyslog.conf.d/[!.]*.conf\n"
    "<include> /usr/local/etc/newsyslog.conf.d/[!.]*.conf\n"
)
SYSLOGD_PIDFILE = "/var/run/syslog.pid"  # pathnames.h _PATH_SYSLOGPID
# compress_type[]: flag -> (suffix, FreeBSD program path, arguments).
NEWSYSLOG_COMPRESS = {
    "Z": (".gz", "/usr/bin/gzip", ["-f"]),
    "J": (".bz2", "/usr/bin/bzip2", ["-f"]),
    "X": (".xz", "/usr/bin/xz", ["-f"]),
    "Y": (".zst", "/usr/bin/zstd", ["-q", "--rm"]),
}
NEWSYSLOG_SUFFIXES = ("", ".gz", ".bz2", ".xz", ".zst")  # compress_type[] order
# FreeBSD sys_signame[1..31] (FreeBSD numbers differ from Linux's: USR1 is 30).
FREEBSD_SIGNALS = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "EMT", "FPE", "KILL", "BUS", "SEGV",
    "SYS", "PIPE", "ALRM", "TERM", "URG", "STOP", "TSTP", "CONT", "CHLD", "TTIN", "TTOU",
    "IO", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "INFO", "USR1", "USR2",
]  # fmt: skip
# newsyslog.c MIN_PID/MAX_PID is 5..99999 on FreeBSD; Linux pids go up to 2^22.
NEWSYSLOG_PID_RANGE = (5, 4194304)


class NsEntry:
    """A newsyslog.conf line (newsyslog.c struct conf_entry)."""

    def __init__(self, log: str) -> None:
        self.log = log
        self.uid = -1
        self.gid = -1
        self.mode = 0
        self.count = 1
        self.size = -1  # KB; -1 for '*'
        self.hours = -1
        self.trim_at: str | None = None
        self.flags = ""  # upper-case flag letters (B C G N P)
        self.compress = ""  # J X Y Z or ""
        self.pidfile: str | None = None
        self.sig = 1  # SIGHUP
        self.def_cfg = False
        self.reason: str | None = None
        self.firstcreate = False
        self.fsize = -1

    def copy(self, log: str) -> NsEntry:
        new = copy.copy(self)
        new.log = log
        return new


class NsRun:
    def __init__(self) -> None:
        self.verbose = 0
        self.noaction = False
        self.needroot = True
        self.force = False
        self.norotate = False
        self.createlogs = 0
        self.conf: str | None = None
        self.now = time.time()
        self.sigwork: list[dict[str, Any]] = []
        self.zipwork: list[tuple[int, str, NsEntry, dict[str, Any] | None]] = []
        self.real_signal = False
        self.db: AccountDb | None = None
        self.host: str | None = None

    def accounts(self) -> AccountDb:
        if self.db is None:
            self.db = AccountDb()
        return self.db

    def hostname(self) -> str:
        # gethostname(3), short form (hostname_shortlen): the double's uname -n.
        if self.host is None:
            self.host = str(read_state()["uname"]["nodename"]).split(".")[0]
        return self.host


def _w(text: str) -> None:
    sys.stdout.write(text)


def _ns_guest(path: str) -> str:
    """A host path back as the FreeBSD path (the inverse of host_path)."""
    root = root_dir()
    if root in ("", "/"):
        return path
    rel = os.path.relpath(path, root)
    return "/" if rel == "." else "/" + rel


def _ns_glob(pattern: str) -> list[str]:
    # glob(3) sorts; with GLOB_NOCHECK an unmatched pattern is not in gl_matchc,
    # the count newsyslog loops over, so no match means nothing.
    return [_ns_guest(p) for p in sorted(glob.glob(host_path(pattern)))]


def _ns_fnmatch_path(pattern: str, name: str) -> bool:
    # fnmatch(3) with FNM_PATHNAME: a wildcard never matches '/'.
    import fnmatch  # stdlib; only this function needs it

    parts, names = pattern.split("/"), name.split("/")
    return len(parts) == len(names) and all(
        fnmatch.fnmatchcase(n, p) for p, n in zip(parts, names, strict=True)
    )


def _ns_bad(text: str, errline: str) -> NoReturn:
    # errx(1, "...:\n%s", errline): errline keeps its newline and errx adds one.
    die(f"newsyslog: {text}:\n{errline}", 1)


class NsCursor:
    """parse_file()'s sob()/son() walk over one line ("parse" is the terminator)."""

    def __init__(self, line: str, errline: str) -> None:
        self.line, self.errline, self.parse, self.eol = line, errline, -1, False

    def _sob(self, i: int) -> int:
        while i < len(self.line) and self.line[i].isspace():
            i += 1
        return i

    def _son(self, i: int) -> int:
        while i < len(self.line) and not self.line[i].isspace():
            i += 1
        return i

    def field(self) -> str:
        """missing_field(sob(parse + 1)); parse = son(parse)."""
        start = self._sob(self.parse + 1)
        if start >= len(self.line):
            _ns_bad("missing field in config file", self.errline)
        return self._take(start)

    def required(self) -> str:
        """A field another must follow: "malformed line (missing fields)" at the end."""
        value = self.field()
        if self.eol:
            _ns_bad("malformed line (missing fields)", self.errline)
        return value

    def optional(self) -> str:
        """q = parse = sob(parse + 1) without missing_field(): may be empty."""
        return self._take(self._sob(self.parse + 1))

    def _take(self, start: int) -> str:
        end = self._son(start)
        self.parse, self.eol = end, end >= len(self.line)
        return self.line[start:end]


def _ns_valid_at(spec: str) -> bool:
    # ptimes.c parse8601() / parseDWM(), checked for shape and ranges only.
    body = spec[1:]
    if spec[0] == "@":
        m = re.fullmatch(r"(\d{2}|\d{4}|\d{6}|\d{8})?(?:T(\d{2})?(\d{2})?(\d{2})?)?", body)
        if not m or not body:
            return False
        hh, mm, ss = (int(g) if g else 0 for g in m.groups()[1:])
        return hh <= 23 and mm <= 59 and ss <= 59
    tokens = re.findall(r"([MWD])(\d+|L)", body)
    if not tokens or "".join(a + b for a, b in tokens) != body:
        return False
    limits = {"M": (1, 31), "W": (0, 6), "D": (0, 23)}
    for letter, value in tokens:
        if value == "L":
            if letter != "M":
                return False
        elif not limits[letter][0] <= int(value) <= limits[letter][1]:
            return False
    return True


def _ns_daily(spec: str) -> tuple[int, int, int] | None:
    """(hh, mm, ss) of the "every day at" forms @T<hh[mm[ss]]> and $D<hh>."""
    m = re.fullmatch(r"@T(\d{2})(\d{2})?(\d{2})?", spec)
    if m:
        return int(m[1]), int(m[2] or 0), int(m[3] or 0)
    m = re.fullmatch(r"\$D(\d{1,2})", spec)
    return (int(m[1]), 0, 0) if m else None


def _ns_signal(text: str) -> int:
    # newsyslog.c parse_signal(): a number 1..NSIG-1, or a name with optional "SIG".
    if text.isdigit():
        number = int(text)
        return number if 1 <= number <= len(FREEBSD_SIGNALS) else -1
    name = (text[3:] if text[:3].upper() == "SIG" else text).upper()
    return FREEBSD_SIGNALS.index(name) + 1 if name in FREEBSD_SIGNALS else -1


def _ns_parse(
    text: str, run: NsRun, entries: list[NsEntry], globs: list[NsEntry], inclist: list[str]
) -> None:
    """newsyslog.c parse_file() for one config file."""
    default_seen = False
    for raw in text.splitlines(keepends=True):
        if raw[0] in "\n#":
            continue
        errline = raw
        # '#' starts a comment (not in column 0) unless written "\#".
        line, i = raw, 1
        while i < len(line):
            if line[i] == "#":
                if line[i - 1] == "\\":
                    line = line[: i - 1] + line[i:]
                    continue
                line = line[:i]
                break
            i += 1
        if line[0].isspace():
            # parse_file() applies son() to the line, not to the first field, so a
            # leading blank shifts every field; not modelled.
            raise Unsupported(f"newsyslog: config line starting with a blank: {raw!r}")
        cur = NsCursor(line, errline)
        q = cur.required()
        if q.lower() == "<debug>":
            raise Unsupported("newsyslog: <debug> lines")
        if q.lower() == "<include>":
            if run.verbose:
                _w(f"Found: {errline}")
            target = cur.field()
            if cur.eol:
                err(f"newsyslog: include line missing argument:\n{errline}")
                continue
            names = _ns_glob(target) if any(c in target for c in "*?[") else [target]
            for name in names:  # add_to_queue()
                if name in inclist:
                    err(f"newsyslog: duplicate include detected: {name}")
                else:
                    inclist.append(name)
            continue
        if q.lower() == "<default>":
            if default_seen:
                err(f"newsyslog: Ignoring duplicate entry for {q}!")
                continue
            default_seen = True
        ent = _ns_entry(q, cur, run)
        # parse_file() gets defconf_p by value, so a <default> line is checked and
        # then has no effect: operands with no entry get get_worklist()'s default.
        if q.lower() != "<default>":
            (globs if "G" in ent.flags else entries).append(ent)


def _ns_entry(q: str, cur: NsCursor, run: NsRun) -> NsEntry:
    ent = NsEntry(q)
    errline = cur.errline
    field = cur.required()
    if ":" in field or "." in field:
        # owner:group (or owner.group); names from the host's /etc/passwd, /etc/group.
        user, _, group = field.partition(":") if ":" in field else field.rpartition(".")
        db = run.accounts()
        if user:
            row = None if user.isdigit() else db.user(user)
            if row is None and not user.isdigit():
                _ns_bad("error in config file; unknown user", errline)
            ent.uid = int(row[2]) if row else int(user)
        if group:
            grow = None if group.isdigit() else db.group(group)
            if grow is None and not group.isdigit():
                _ns_bad("error in config file; unknown group", errline)
            ent.gid = int(grow[2]) if grow else int(group)
        field = cur.required()
    m = re.match(r"[0-7]+", field)  # sscanf("%o")
    if not m:
        _ns_bad("error in config file; bad permissions", errline)
    ent.mode = int(m[0], 8)
    m = re.match(r"[+-]?\d+", cur.required())  # sscanf("%d")
    if not m or int(m[0]) < 0:
        _ns_bad("error in config file; bad value for count of logs to save", errline)
    ent.count = int(m[0])
    field = cur.required()
    m = re.match(r"\d+", field)
    if m:
        ent.size = int(m[0])
    elif field != "*":
        err(f"newsyslog: Invalid value of '{field}' for 'size' in line:\n{errline}")
    _ns_when(ent, cur.field(), errline)
    eol = cur.eol
    flags = "" if eol else cur.optional()
    eol = eol or cur.eol
    for ch in flags:
        c = ch.lower()
        if c in "bcgnp":
            ent.flags += c.upper()
        elif c in "jxyz":
            ent.compress = c.upper()
        elif c in "-w":  # '-' is a placeholder, 'w' is deprecated
            continue
        elif c in "drtu":
            raise Unsupported(f"newsyslog: flag {ch} in {errline.strip()!r}")
        else:
            die(f"newsyslog: illegal flag in config file -- {ch}", 1)
    word = "" if eol else cur.optional()
    eol = eol or cur.eol
    sig_text = ""
    if word.startswith("/"):
        ent.pidfile = word
        sig_text = "" if eol else cur.optional()
    elif word and word[0].isalnum():
        sig_text = word  # "goto got_sig"
    elif word:
        _ns_bad("illegal pid file or signal in config file", errline)
    if sig_text:
        ent.sig = _ns_signal(sig_text)
        if ent.sig < 1:
            _ns_bad("illegal signal in config file", errline)
        if not hasattr(signal, "SIG" + FREEBSD_SIGNALS[ent.sig - 1]):
            raise Unsupported(f"newsyslog: SIG{FREEBSD_SIGNALS[ent.sig - 1]} (not on Linux)")
    if "N" in ent.flags:
        if ent.pidfile is not None:
            err(
                f"newsyslog: Ignoring '{ent.pidfile}' because flag 'n' was specified "
                f"in line:\n{errline}"
            )
            ent.pidfile = None
    elif ent.pidfile is None and run.needroot:
        ent.pidfile = SYSLOGD_PIDFILE  # no pid file, no N: signal syslogd (as root)
    if ent.compress and not run.noaction:
        program = os.path.basename(NEWSYSLOG_COMPRESS[ent.compress][1])
        if host_program(program) is None:
            raise Unsupported(f"newsyslog: no {program} on this host for flag {ent.compress}")
    return ent


def _ns_when(ent: NsEntry, field: str, errline: str) -> None:
    # parse_file(): strtoul() for hours, then '@' (ISO 8601) or '$' (day/week/month).
    m = re.match(r"\d+", field)
    ep = m.end() if m else 0
    if not m:
        ent.hours = 0
    elif field[ep : ep + 1] == "*":
        ent.hours = -1
    elif int(m[0]) > 0x7FFFFFFF:
        _ns_bad("interval is too large", errline)
    else:
        ent.hours = int(m[0])
    rest = field[ep:]
    if rest in ("", "*"):
        return
    if rest[0] not in "@$":
        _ns_bad("malformed interval/at", errline)
    if not _ns_valid_at(rest):
        _ns_bad("malformed 'at' value", errline)
    ent.trim_at = rest


def _ns_worklist(files: list[str], run: NsRun) -> list[NsEntry]:
    """newsyslog.c get_worklist() and expand_globs()."""
    entries: list[NsEntry] = []
    globs: list[NsEntry] = []
    inclist = [run.conf or NEWSYSLOG_CONF]
    i = 0
    while i < len(inclist):
        name = inclist[i]
        i += 1
        if name == "-":
            shown, text = "<stdin>", sys.stdin.read()
        elif run.conf is None and name == NEWSYSLOG_CONF and not os.path.exists(host_path(name)):
            shown, text = name, NEWSYSLOG_DEFAULT_CONF
        else:
            shown = name
            try:
                with open(host_path(name), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                die(f"newsyslog: {name}: {os.strerror(exc.errno or errno.ENOENT)}", 1)
        if run.verbose:
            _w(f"Processing {shown}\n")
        _ns_parse(text, run, entries, globs, inclist)
    if not files:
        for pattern in globs:  # expand_globs(): existing regular files only
            for name in _ns_glob(pattern.log):
                if any(e.log == name for e in entries):
                    continue
                if not os.path.isfile(host_path(name)) or os.path.islink(host_path(name)):
                    continue
                new = pattern.copy(name)
                new.flags = new.flags.replace("G", "")
                entries.append(new)
        return entries
    work: list[NsEntry] = []
    for given in files:
        exact = [e.copy(given) for e in entries if e.log == given]
        if exact:
            work += exact
            continue
        matched = next((g for g in globs if _ns_fnmatch_path(g.log, given)), None)
        if matched is not None:
            new = matched.copy(given)
            new.flags = new.flags.replace("G", "")
            work.append(new)
            continue
        # The built-in default rule: 3 logs, 50 KB, mode 0600, no pid file.
        new = NsEntry(given)
        new.count, new.size, new.mode, new.def_cfg = 3, 50, 0o600, True
        work.append(new)
    return work


def _ns_sizefile(path: str) -> int:
    # sizefile(): kbytes(st_size) = (size + 1023) >> 10, -1 when missing.
    try:
        return (os.stat(path).st_size + 1023) >> 10
    except OSError:
        return -1


def _ns_suffix(name: str) -> str | None:
    # get_logfile_suffix(): the first of "" .gz .bz2 .xz .zst that exists (lstat).
    return next((s for s in NEWSYSLOG_SUFFIXES if os.path.lexists(host_path(name + s))), None)


def _ns_age(ent: NsEntry, run: NsRun) -> int:
    # age_old_log(): hours since log.0's mtime, rounded; -1 without log.0.
    suffix = _ns_suffix(ent.log + ".0")
    if suffix is None:
        return -1
    try:
        mtime = os.stat(host_path(ent.log + ".0" + suffix)).st_mtime
    except OSError:
        return -1
    return int(run.now - mtime + 1800) // 3600


def _ns_trim_due(ent: NsEntry, run: NsRun) -> bool:
    # do_entry(): with an `at` time, rotate only within the hour after it; else
    # (verbose) "--> will trim at" the next one.
    assert ent.trim_at is not None
    daily = _ns_daily(ent.trim_at)
    if daily is None:
        raise Unsupported(f"newsyslog: deciding the time {ent.trim_at!r} of {ent.log}")
    now = time.localtime(run.now)
    at = time.mktime((now.tm_year, now.tm_mon, now.tm_mday, *daily, 0, 0, -1))
    diff = run.now - at
    if 0 <= diff < 3600:
        return True
    if run.verbose:
        nxt = at if diff < 0 else at + 86400
        _w(f"--> will trim at {time.ctime(nxt)}\n")
    return False


def _ns_do_entry(ent: NsEntry, run: NsRun) -> None:
    """newsyslog.c do_entry()."""
    tag = f"{ent.log} <{ent.count}{ent.compress}>: "
    if run.verbose:
        _w(tag)
    ent.fsize = _ns_sizefile(host_path(ent.log))
    oversized = ent.size > 0 and ent.fsize >= ent.size
    modtime = _ns_age(ent, run)
    if ent.fsize < 0:
        reason = ""
        if run.createlogs > 1 or ("C" in ent.flags and run.createlogs):
            ent.firstcreate = True
        elif "C" in ent.flags:
            reason = " (no -C option)"
        elif run.createlogs:
            reason = " (no C flag)"
        if ent.firstcreate:
            if run.verbose:
                _w("does not exist -> will create.\n")
            _ns_createlog(ent, run)
        elif run.verbose:
            _w(f"does not exist, skipped{reason}.\n")
        return
    if ent.trim_at and not run.force and not oversized:
        if not _ns_trim_due(ent, run):
            return
        if run.verbose and ent.hours <= 0:
            _w("--> time is up\n")
    if run.verbose and ent.size > 0:
        _w(f"size (Kb): {ent.fsize} [{ent.size}] ")
    if run.verbose and ent.hours > 0:
        _w(f" age (hr): {modtime} [{ent.hours}] ")
    rotate, reason = False, None
    if run.force:
        rotate, reason = True, " due to -F request"
    elif oversized:
        rotate, reason = True, f" due to size>{ent.size}K"
    else:  # an `at` time that is up, or an interval since log.0 (or no log.0)
        due_at = ent.hours <= 0 and ent.trim_at is not None
        rotate = due_at or (ent.hours > 0 and (modtime >= ent.hours or modtime < 0))
    if rotate and not run.norotate:
        ent.reason = reason
        if run.verbose:
            _w("--> trimming log....\n")
        if run.noaction and not run.verbose:
            _w(f"{tag}trimming\n")
        _ns_rotate(ent, run)
    elif run.verbose:
        _w("--> skipping\n")


def _ns_rotate(ent: NsEntry, run: NsRun) -> None:
    """newsyslog.c do_rotate(), classic log.N names."""
    log = ent.log
    # delete_classiclog() for N and N-1 (cleanup after old newsyslogs kept N+1).
    for n in [ent.count, ent.count - 1] if ent.count > 0 else [ent.count]:
        for suffix in NEWSYSLOG_SUFFIXES:
            if run.noaction:
                _w(f"\trm -f {log}.{n}{suffix}\n")
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(host_path(f"{log}.{n}{suffix}"))
    file1 = f"{log}.{ent.count - 1}"
    for n in range(ent.count - 2, -1, -1):  # move down log.N-2 .. log.0
        file2, file1 = file1, f"{log}.{n}"
        suffix = _ns_suffix(file1)
        if suffix is None:
            continue
        z1, z2 = file1 + suffix, file2 + suffix
        if run.noaction:
            _w(f"\tmv {z1} {z2}\n")
            continue
        with contextlib.suppress(OSError):  # "XXX - Ought to be checking for failure!"
            os.rename(host_path(z1), host_path(z2))
        _ns_change_attrs(z2, ent, run)
        if ent.compress and suffix == "":
            _ns_zip(z2, ent, None, run)  # "compress old rotation"
    if ent.count > 0:
        if run.noaction:
            _w(f"\tln {log} {file1}\n")
            _w(f"\ttouch {file1}\t\t# Update mtime for 'when'-interval processing\n")
        else:
            if "B" not in ent.flags:
                _ns_log_trim(log, ent, run)
            _ns_savelog(host_path(log), host_path(file1))
            os.utime(host_path(file1))
        _ns_change_attrs(file1, ent, run)
    if run.noaction:
        _w("Start new log...\n")
    _ns_createlog(ent, run)
    swork = _ns_save_sigwork(ent, run) if ent.pidfile else None
    plain0 = "P" in ent.flags and file1.endswith(".0")  # flag p: leave log.0 as it is
    if ent.count > 0 and ent.compress and not plain0 and file1 not in [z[1] for z in run.zipwork]:
        run.zipwork.append((ent.fsize, file1, ent, swork))


def _ns_savelog(src: str, dst: str) -> None:
    # savelog(): link(2), or copy when that fails.
    try:
        os.link(src, dst)
    except OSError:
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            fout.write(fin.read())


def _ns_log_trim(name: str, ent: NsEntry, run: NsRun, path: str | None = None) -> bool:
    # log_trim(): "<Mmm dd hh:mm:ss> <host> newsyslog[<pid>]: logfile turned over..."
    daytime = time.ctime(run.now)[4:19]
    host = run.hostname()
    xtra = " using <default> rule" if ent.def_cfg else ""
    if ent.firstcreate:
        what = "logfile first created"
    else:
        what = "logfile turned over" + (ent.reason or "")
    try:
        with open(path or host_path(name), "a", encoding="utf-8") as fh:
            fh.write(f"{daytime} {host} newsyslog[{os.getpid()}]: {what}{xtra}\n")
    except OSError:
        return False
    return True


def _ns_u32(ident: int) -> int:
    return ident & 0xFFFFFFFF  # printed with %u, so -1 is 4294967295


def _ns_createlog(ent: NsEntry, run: NsRun) -> None:
    """newsyslog.c createlog(): a temp file, chown, chmod, then rename over the log."""
    log = ent.log
    if ent.firstcreate:
        parent = os.path.dirname(log)
        if parent:
            if not os.path.exists(host_path(parent)):
                _ns_createdir(ent, parent, run)
            elif not os.path.isdir(host_path(parent)):
                die(f"newsyslog: {parent} exists but is not a directory", 1)
    temp = f"{log}.zXXXXXX"
    owned = ent.uid != -1 or ent.gid != -1
    if run.noaction:
        _w(f"\tmktemp {temp}\n")
        if owned:
            _w(f"\tchown {_ns_u32(ent.uid)}:{_ns_u32(ent.gid)} {temp}\n")
        _w(f"\tchmod {ent.mode:o} {temp}\n")
        _w(f"\tmv {temp} {log}\n")
        return
    fd, tmp_path = tempfile.mkstemp(
        prefix=os.path.basename(log) + ".z", dir=os.path.dirname(host_path(log))
    )
    try:
        if "B" not in ent.flags and not _ns_log_trim(log, ent, run, tmp_path):
            die(f"newsyslog: can't add status message to log: {tmp_path}", 1)
        if owned:
            os.fchown(fd, ent.uid, ent.gid)
        os.fchmod(fd, ent.mode)
        os.rename(tmp_path, host_path(log))
    finally:
        os.close(fd)


def _ns_createdir(ent: NsEntry, dirpart: str, run: NsRun) -> None:
    # createdir(): each missing component, mode 0755.
    parts = dirpart.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        path = "/" + "/".join(parts[:i])
        if os.path.lexists(host_path(path)):
            continue
        if run.noaction:
            _w(f"\tmkdir {path}\n")
        else:
            os.mkdir(host_path(path), 0o755)
    if run.verbose:
        _w(f"Created directory '{dirpart}' for new {ent.log}\n")


def _ns_change_attrs(name: str, ent: NsEntry, run: NsRun) -> None:
    """newsyslog.c change_attrs()."""
    owned = ent.uid != -1 or ent.gid != -1
    if run.noaction:
        _w(f"\tchmod {ent.mode:o} {name}\n")
        if owned:
            _w(f"\tchown {_ns_u32(ent.uid)}:{_ns_u32(ent.gid)} {name}\n")
        return
    try:
        os.chmod(host_path(name), ent.mode)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            die(f"newsyslog: chmod({name}) in change_attrs: {os.strerror(exc.errno or 0)}", 1)
        err(f"newsyslog: change_attrs couldn't chmod({name}): {os.strerror(exc.errno)}")
    if owned:
        try:
            os.chown(host_path(name), ent.uid, ent.gid)
        except OSError as exc:
            err(f"newsyslog: can't chown {name}: {os.strerror(exc.errno or 0)}")


def _ns_save_sigwork(ent: NsEntry, run: NsRun) -> dict[str, Any]:
    # save_sigwork(): one entry per (pid file, signal).
    for work in run.sigwork:
        if work["file"] == ent.pidfile and work["sig"] == ent.sig:
            return work
    work: dict[str, Any] = {"file": ent.pidfile, "sig": ent.sig, "pid": 0, "pidok": 0}
    if ent.pidfile == SYSLOGD_PIDFILE:
        # There is no syslogd on the test host: the signal is recorded in calls.log
        # (do_sigwork) and treated as delivered.
        work["syslogd"], work["pidok"] = True, 1
    else:
        _ns_set_swpid(work)
    run.sigwork.append(work)
    run.sigwork.sort(key=lambda w: (w["file"], w["sig"]), reverse=True)  # list order
    return work


def _ns_set_swpid(work: dict[str, Any]) -> None:
    # set_swpid(): read the pid from the pid file.
    name = work["file"]
    try:
        with open(host_path(name), encoding="utf-8", errors="replace") as fh:
            line = fh.readline()
    except FileNotFoundError:
        work["pidok"] = 1  # the daemon is gone: rotating and compressing is safe
        err(f"newsyslog: pid file doesn't exist: {name}")
        return
    except OSError as exc:
        err(f"newsyslog: can't open pid file: {name}: {os.strerror(exc.errno or 0)}")
        return
    if line == "":
        work["pidok"] = 1
        err(f"newsyslog: pid/cmd file is empty: {name}")
        return
    text = line.lstrip(" ")
    m = re.match(r"[+-]?\d+", text)
    value = int(m[0]) if m else 0
    rest = text[m.end() :] if m else text
    if rest and not rest[0].isspace():
        err(f"newsyslog: pid file does not start with a valid number: {name}")
    elif not NEWSYSLOG_PID_RANGE[0] <= value <= NEWSYSLOG_PID_RANGE[1]:
        err(f"newsyslog: bad value '{value}' for process number in {name}")
    else:
        work["pidok"], work["pid"] = 1, value


def _ns_record_signal(work: dict[str, Any]) -> None:
    """A signal the double cannot deliver (syslogd), as a line in calls.log."""
    line = {
        "argv": ["kill", f"-{FREEBSD_SIGNALS[work['sig'] - 1]}", "syslogd"],
        "rc": 0,
        "by": "newsyslog",
        "pidfile": work["file"],
        "record_only": True,
    }
    os.makedirs(state_dir(), exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    fd = os.open(os.path.join(state_dir(), "calls.log"), flags, 0o644)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
    finally:
        os.close(fd)


def _ns_do_sigwork(work: dict[str, Any], nxt: dict[str, Any] | None, run: NsRun) -> None:
    """newsyslog.c do_sigwork()."""
    if work.get("syslogd"):
        if not run.noaction:
            _ns_record_signal(work)
        return
    if not work["pidok"] or work["pid"] == 0:
        return
    secs = 0 if nxt is None else (10 if nxt["pid"] == work["pid"] else 1)
    if run.noaction:
        _w(f"\tkill -{work['sig']} {work['pid']} \t\t# {work['file']}\n")
        if secs:
            _w(f"\tsleep {secs}\n")
        return
    try:
        os.kill(work["pid"], getattr(signal, "SIG" + FREEBSD_SIGNALS[work["sig"] - 1]))
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            work["pidok"] = 0
        err(
            f"newsyslog: can't notify daemon, pid {work['pid']} = {work['file']}: "
            f"{os.strerror(exc.errno or 0)}"
        )
        return
    run.real_signal = True
    if run.verbose:
        _w(f"Notified daemon pid {work['pid']} = {work['file']}\n")
    if secs and run.verbose:  # the pause itself is not modelled (see above)
        _w(f"Pause {secs} second(s) between signals\n")


def _ns_zip(name: str, ent: NsEntry, swork: dict[str, Any] | None, run: NsRun) -> None:
    """newsyslog.c do_zipwork()."""
    suffix, program, args = NEWSYSLOG_COMPRESS[ent.compress]
    if swork is not None and swork["pidok"] <= 0:
        err(f"newsyslog: log {name} not compressed because daemon(s) not notified")
        _ns_change_attrs(name, ent, run)
        return
    base = os.path.basename(program)
    command = " ".join([program, *args, name])
    if run.noaction:
        _w(f"\t{base} {name}\n")
        _ns_change_attrs(name + suffix, ent, run)
        return
    if run.verbose:
        _w(f"Executing: {command}\n")
    real = host_program(base)
    if real is None:  # checked while parsing; the PATH changed since
        raise Unsupported(f"newsyslog: no {base} on this host")
    sys.stdout.flush()
    status = subprocess.run([real, *args, host_path(name)], check=False).returncode
    if status < 0:
        err(f"newsyslog: `{command}' did not terminate normally")
        return
    if status:
        err(f"newsyslog: `{command}' terminated with a non-zero status ({status})")
        return
    _ns_change_attrs(name + suffix, ent, run)


def cmd_newsyslog(args: list[str]) -> int:
    # newsyslog.c parse_args() + main(); getopt "a:d:f:nrst:vCD:FNPR:S:".
    opts, files = parse_opts(args, "CFNnrvf:", "newsyslog")
    run = NsRun()
    for flag, value in opts:
        if flag == "-C":
            run.createlogs += 1
        elif flag == "-F":
            run.force = True
        elif flag == "-N":
            run.norotate = True
        elif flag == "-n":
            run.noaction, run.needroot = True, False
        elif flag == "-r":
            run.needroot = False
        elif flag == "-v":
            run.verbose += 1
        elif flag == "-f":
            run.conf = value
    if run.verbose > 2:
        raise Unsupported("newsyslog: -vvv")
    if run.force and run.norotate:
        err("newsyslog: Only one of -F and -N may be specified.")
        err(
            "usage: newsyslog [-CFNPnrsv] [-a directory] [-d directory] [-f config_file]\n"
            "                 [-S pidfile] [-t timefmt] [[-R tagname] file ...]"
        )
        return 1
    if run.needroot and os.getuid() != 0 and os.geteuid() != 0:
        die("newsyslog: must have root privs", 1)
    worklist = _ns_worklist(files, run)
    for ent in worklist:  # decide the unmodelled `at` times before changing anything
        if ent.trim_at and not run.force and _ns_daily(ent.trim_at) is None:
            size = _ns_sizefile(host_path(ent.log))
            if size >= 0 and not (ent.size > 0 and size >= ent.size):
                raise Unsupported(f"newsyslog: deciding the time {ent.trim_at!r} of {ent.log}")
    for ent in worklist:
        _ns_do_entry(ent, run)
    if run.sigwork:
        if run.noaction or run.verbose:
            _w("Signal all daemon process(es)...\n")
        for i, work in enumerate(run.sigwork):
            nxt = run.sigwork[i + 1] if i + 1 < len(run.sigwork) else None
            _ns_do_sigwork(work, nxt, run)
        if run.noaction:
            _w("\tsleep 10\n")
        else:
            if run.verbose:
                _w("Pause 10 seconds to allow daemon(s) to close log file(s)\n")
            if run.real_signal and run.zipwork:  # only where it matters: see above
                sys.stdout.flush()
                time.sleep(10)
    if run.zipwork:
        if run.noaction or run.verbose:
            _w("Compress all rotated log file(s)...\n")
        for _size, name, ent, swork in sorted(run.zipwork, key=lambda z: z[0]):
            _ns_zip(name, ent, swork, run)
    return 0

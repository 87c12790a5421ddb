"""pf.conf's lexer: parse.y yylex()/lgetc()/findeol()/pushfile(), char for char.

TEST DOUBLE, not FreeBSD (sbin/pfctl/parse.y, FreeBSD 14).  The grammar is
pfctl_parser.py; what the modelled subset is, is written there.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import TYPE_CHECKING, Any

from .common import err, host_path

if TYPE_CHECKING:
    from .pfctl_parser import PfConf


# parse.y lookup(): every pf.conf keyword (a word in this list is never a STRING).
PF_KEYWORDS = frozenset(
    (
        "all",
        "allow-opts",
        "altq",
        "anchor",
        "antispoof",
        "any",
        "bandwidth",
        "binat",
        "binat-anchor",
        "bitmask",
        "block",
        "block-policy",
        "bridge-to",
        "buckets",
        "cbq",
        "code",
        "codelq",
        "debug",
        "divert-reply",
        "divert-to",
        "dnpipe",
        "dnqueue",
        "drop",
        "dup-to",
        "ether",
        "fail-policy",
        "fairq",
        "fastroute",
        "file",
        "fingerprints",
        "flags",
        "floating",
        "flush",
        "for",
        "fragment",
        "from",
        "global",
        "group",
        "hfsc",
        "hogs",
        "hostid",
        "icmp-type",
        "icmp6-type",
        "if-bound",
        "in",
        "include",
        "inet",
        "inet6",
        "interval",
        "keep",
        "keepcounters",
        "l3",
        "label",
        "limit",
        "linkshare",
        "load",
        "log",
        "loginterface",
        "map-e-portset",
        "match",
        "max",
        "max-mss",
        "max-src-conn",
        "max-src-conn-rate",
        "max-src-nodes",
        "max-src-states",
        "min-ttl",
        "modulate",
        "nat",
        "nat-anchor",
        "no",
        "no-df",
        "no-route",
        "no-sync",
        "on",
        "optimization",
        "os",
        "out",
        "overload",
        "pass",
        "port",
        "prio",
        "priority",
        "priq",
        "probability",
        "proto",
        "qlimit",
        "queue",
        "quick",
        "random",
        "random-id",
        "rdr",
        "rdr-anchor",
        "realtime",
        "reassemble",
        "reply-to",
        "require-order",
        "return",
        "return-icmp",
        "return-icmp6",
        "return-rst",
        "ridentifier",
        "round-robin",
        "route",
        "route-to",
        "rtable",
        "rule",
        "ruleset-optimization",
        "scrub",
        "set",
        "set-tos",
        "skip",
        "sloppy",
        "source-hash",
        "source-track",
        "state",
        "state-defaults",
        "state-policy",
        "static-port",
        "sticky-address",
        "syncookies",
        "synproxy",
        "table",
        "tag",
        "tagged",
        "target",
        "tbrsize",
        "timeout",
        "to",
        "tos",
        "ttl",
        "upperlimit",
        "urpf-failed",
        "user",
    )
)


PF_DIGITS = frozenset("0123456789")
PF_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_PF_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


class PfTok:
    __slots__ = ("kind", "line", "value")

    def __init__(self, kind: str, value: Any = None, line: int = 0) -> None:
        # kind: kw str num ch nl arrow pbin error end
        self.kind, self.value, self.line = kind, value, line


class _PfFile:
    def __init__(self, name: str, text: str) -> None:
        self.name, self.text, self.pos, self.lineno = name, text, 0, 1

    def getc(self) -> str | None:
        if self.pos >= len(self.text):
            return None
        self.pos += 1
        return self.text[self.pos - 1]


class PfLexer:
    """parse.y yylex()/lgetc()/lungetc()/findeol()/pushfile()/popfile(), char for char."""

    def __init__(self, conf: PfConf) -> None:
        self.conf = conf
        self.files: list[_PfFile] = []
        self.parsebuf: str | None = None
        self.parseindex = 0
        self.pushback: list[str] = []
        self.yyline = 1  # yylval.lineno

    @property
    def file(self) -> _PfFile:
        return self.files[-1]

    def pushfile(self, name: str) -> str | None:
        """Open NAME (stdin for the first "-"); None or the strerror of the failure."""
        if not self.files and name == "-":
            self.files.append(_PfFile("stdin", sys.stdin.read()))
            return None
        try:
            with open(host_path(name), encoding="latin-1", newline="") as fh:
                text = fh.read()
        except OSError as exc:
            reason = os.strerror(exc.errno or errno.ENOENT)
            err(f"pfctl: {name}: {reason}")  # pushfile(): warn("%s", nfile->name)
            return reason
        self.files.append(_PfFile(name, text))
        return None

    def popfile(self) -> bool:
        if len(self.files) > 1:
            self.files.pop()
            return True
        return False

    def lgetc(self, quotec: str = "") -> str | None:
        if self.parsebuf is not None:
            if self.parseindex >= 0:
                index = self.parseindex
                self.parseindex += 1
                if index < len(self.parsebuf):
                    return self.parsebuf[index]
                self.parsebuf = None
            else:
                self.parseindex += 1
        if self.pushback:
            return self.pushback.pop()
        if quotec:
            c = self.file.getc()
            if c is None:
                self.conf.yyerror("reached end of file while parsing quoted string")
                return quotec if self.popfile() else None
            return c
        c = self.file.getc()
        while c == "\\":
            nxt = self.file.getc()
            if nxt != "\n":
                c = nxt
                break
            self.yyline = self.file.lineno
            self.file.lineno += 1
            c = self.file.getc()
        while c is None:
            if not self.popfile():
                return None
            c = self.file.getc()
        return c

    def lungetc(self, c: str | None) -> None:
        if c is None:
            return
        if self.parsebuf is not None:
            self.parseindex -= 1
            if self.parseindex >= 0:
                return
        self.pushback.append(c)

    def findeol(self) -> PfTok:
        self.parsebuf = None
        while True:
            c = self.pushback.pop() if self.pushback else self.lgetc()
            if c == "\n":
                self.file.lineno += 1
                break
            if c is None:
                break
        return PfTok("error", None, self.yyline)

    def yylex(self) -> PfTok:
        while True:
            c = self.lgetc()
            while c in (" ", "\t"):
                c = self.lgetc()
            self.yyline = self.file.lineno
            if c == "#":
                c = self.lgetc()
                while c not in ("\n", None):
                    c = self.lgetc()
            if c == "$" and self.parsebuf is None:
                name = ""
                while True:
                    c = self.lgetc()
                    if c is None:
                        return PfTok("end", None, self.yyline)
                    if c in PF_ALNUM or c == "_":
                        name += c
                        continue
                    self.lungetc(c)
                    break
                value = self.conf.symbols.get(name)
                if value is None:
                    self.conf.yyerror(f"macro '{name}' not defined")
                    return self.findeol()
                self.parsebuf, self.parseindex = value, 0
                continue
            return self._token(c)

    def _token(self, c: str | None) -> PfTok:
        if c in ("'", '"'):
            quotec, text = c, ""
            while True:
                c = self.lgetc(quotec)
                if c is None:
                    return PfTok("end", None, self.yyline)
                if c == "\n":
                    self.file.lineno += 1
                    continue
                if c == "\\":
                    nxt = self.lgetc(quotec)
                    if nxt is None:
                        return PfTok("end", None, self.yyline)
                    if nxt == quotec:
                        c = nxt
                    elif nxt == "\n":
                        self.file.lineno += 1
                        continue
                    else:
                        self.lungetc(nxt)
                elif c == quotec:
                    return PfTok("str", text, self.yyline)
                text += c
        for first, second, kind in (("<", ">", "pbin"), (">", "<", "pbin"), ("-", ">", "arrow")):
            if c == first:
                nxt = self.lgetc()
                if nxt == second:
                    return PfTok(kind, first + second, self.yyline)
                self.lungetc(nxt)
        if c is not None and (c == "-" or c in PF_DIGITS):
            text = c
            c = self.lgetc()
            while c is not None and c in "0123456789":
                text += c
                c = self.lgetc()
            self.lungetc(c)
            if text != "-" and (c is None or c in " \t\n\v\f\r),/}="):
                return PfTok("num", int(text), self.yyline)
            for ch in reversed(text[1:]):
                self.lungetc(ch)
            c = text[0]
            if c == "-":
                return PfTok("ch", "-", self.yyline)
        if c is not None and (c in PF_ALNUM or c in ":_"):
            text = c
            c = self.lgetc()
            while c is not None and (c in PF_ALNUM or (c in _PF_PUNCT and c not in "(){}<>!=/#,")):
                text += c
                c = self.lgetc()
            self.lungetc(c)
            if text in PF_KEYWORDS:
                return PfTok("kw", text, self.yyline)
            return PfTok("str", text, self.yyline)
        if c == "\n":
            self.yyline = self.file.lineno
            self.file.lineno += 1
            return PfTok("nl", "\n", self.yyline)
        if c is None:
            return PfTok("end", None, self.yyline)
        return PfTok("ch", c, self.yyline)

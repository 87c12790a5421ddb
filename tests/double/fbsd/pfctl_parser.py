"""pf.conf's grammar: parse_config() of a documented SUBSET of pf.conf(5).

TEST DOUBLE, not FreeBSD (sbin/pfctl/parse.y, pfctl_parser.c, FreeBSD 14).  The
lexer is pfctl_lexer.py, the printed forms pfctl_show.py.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import re
from typing import Any, NoReturn

from .common import State, Unsupported, err, host_path, out
from .ifconfig import if_flags
from .pfctl_lexer import PF_ALNUM, PF_DIGITS, PfLexer, PfTok
from .pfctl_show import (
    PF_IFNAMSIZ,
    PF_NAT_PROXY_PORT_HIGH,
    PF_NAT_PROXY_PORT_LOW,
    PF_PROTOCOLS,
    PF_SERVICES,
    PF_TABLE_NAME_SIZE,
    PF_TCPFLAGS,
    pf_entry_text,
    pf_host_text,
    pf_rule_text,
)

# ---- pf.conf: a documented SUBSET of pf.conf(5), read the way sbin/pfctl/parse.y reads it.
#
# Sources (freebsd-src, FreeBSD 14 era): sbin/pfctl/parse.y (yylex/lgetc/findeol, the
# grammar, check_rulestate, expand_rule, *_consistent, process_tabledef, pushfile),
# sbin/pfctl/pfctl_parser.c (host, host_if, ifa_lookup, print_rule, print_fromto,
# print_addr, print_pool, print_tabledef, check_netmask), sbin/pfctl/pfctl.c (main,
# pfctl_rules, pfctl_load_ruleset), sbin/pfctl/pfctl_table.c (pfctl_table,
# print_addrx, radix_perror), sbin/pfctl/pfctl_radix.c (pfr_next_token).
#
# Modelled statements (parse.y rule in brackets):
#   name = value                             [varset]   value: words/numbers/"quoted"
#   include "file"                           [include]
#   table <t> [persist] [const] [counters] [file "f"] [{ host, ... }]   [tabledef]
#   set skip on IF|{ IF ... } | set block-policy drop|return | set require-order yes|no |
#   set loginterface IF|none | set optimization NAME                    [option]
#   scrub [in|out] [log] [on IF] [inet|inet6] [proto P] FROMTO [fragment reassemble]
#   [no] nat|rdr [pass] [log] [on IF] [inet|inet6] [proto P] FROMTO
#       [-> HOST|{ HOST ... } [port N[:M]]] [round-robin|random|bitmask] [sticky-address]
#       [static-port]                                                   [natrule]
#   nat-anchor|rdr-anchor "n" [on IF] [af] [proto P] [FROMTO] | binat-anchor "n"
#   anchor "n" [in|out] [quick] [on IF] [af] [proto P] [FROMTO]        [anchorrule]
#   load anchor "n" from "file"                                        [loadrule]
#   antispoof [log] [quick] for IF|(IF)|{ ... } [inet|inet6]           [antispoof]
#   pass|block [drop|return] [in|out] [log] [quick] [on [!]IF|{ ... }] [inet|inet6]
#       [proto P|{ P ... }] FROMTO [flags F/F|flags /F|flags any]
#       [keep state|modulate state|synproxy state|no state]            [pfrule]
#   FROMTO: all | [from SRC [port PORTS]] [to DST [port PORTS]] (also "from port P")
#   SRC/DST: any | [!] host | { list } ; host: ADDR, ADDR/N, N/N, IF[:network|:broadcast|
#       :peer|:0], self, (IF[:mod]), <table>; PORTS: N, name, N:M, = != < <= > >= N,
#       N <> M, N >< M, { list }.
# A pf keyword pf.conf(5) has but this subset does not model (label, route-to, max-mss,
# user, icmp-type, binat, match, ether, queue, timeouts, ...) exits 64 (the exit-64
# rule); a token parse.y itself rejects is "FILE:LINE: syntax error".
#
# Approximate (documented, not copied from a paste): the -s rules/-s nat normal form is
# print_rule() applied to what this parser builds (reference/outputs.md §3.2 shows the shape); port
# names come from the small FreeBSD /etc/services excerpt in PF_SERVICES; "-T show" sorts
# entries by address (the kernel walks its radix tree); DNS names are not resolved (a
# word that is neither an address nor an interface name of state.json is "no IP address
# found"); IPv6 link-local scoping and interface groups other than state's "groups" are
# not modelled.

PF_RULES_ORDER_MSG = (
    # parse.y check_rulestate(), FreeBSD 14 text.
    "Rules must be in order: options, ethernet, normalization, queueing, translation, filtering"
)
# parse.y enum PFCTL_STATE_*: the statement classes, in the order pf.conf(5) requires.
PF_STATE_OPTION, PF_STATE_SCRUB, PF_STATE_NAT, PF_STATE_FILTER = 1, 3, 5, 6


# Keywords this subset uses; any other keyword where the subset fails is pf syntax the
# double does not model -> exit 64 instead of a made-up "syntax error".
PF_MODELLED_KEYWORDS = frozenset(
    (
        "all",
        "any",
        "anchor",
        "antispoof",
        "binat-anchor",
        "bitmask",
        "block",
        "block-policy",
        "drop",
        "file",
        "flags",
        "for",
        "fragment",
        "from",
        "in",
        "include",
        "inet",
        "inet6",
        "keep",
        "load",
        "log",
        "loginterface",
        "modulate",
        "nat",
        "nat-anchor",
        "no",
        "on",
        "optimization",
        "out",
        "pass",
        "port",
        "proto",
        "quick",
        "random",
        "rdr",
        "rdr-anchor",
        "reassemble",
        "require-order",
        "return",
        "round-robin",
        "scrub",
        "set",
        "skip",
        "state",
        "static-port",
        "sticky-address",
        "synproxy",
        "table",
        "to",
    )
)


class _PfSyntax(Exception):
    """yacc found a token it cannot shift: "syntax error" (unless yyerrflag hides it)."""


class _PfYYError(Exception):
    """An action did yyerror() + YYERROR: error recovery without "syntax error"."""


def _pf_mk_addr(address: str, prefix: int, af: int) -> dict[str, Any]:
    """An ADDRMASK host; set_ipmask() masks off the host bits (prefix <= address width)."""
    width = 32 if af == 4 else 128
    if prefix <= width:
        address = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
    return {"kind": "addr", "af": af, "addr": address, "prefix": prefix, "neg": False}


def _pf_strtoul(text: str) -> int | None:
    """strtoul(s, &ep, 0) over the whole string (parse.y atoul())."""
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
        return int(text, 16)
    if re.fullmatch(r"0[0-7]*", text):
        return int(text, 8)
    if re.fullmatch(r"[1-9][0-9]*", text):
        return int(text)
    return None


def _pf_inet_net_pton4(text: str) -> tuple[str, int] | None:
    """inet_net_pton(AF_INET, "a[.b[.c[.d]]]/bits"): address and bits, None on error."""
    match = re.fullmatch(r"(\d+(?:\.\d+){0,3})/(\d+)", text)
    if not match:
        return None
    octets = [int(o) for o in match.group(1).split(".")]
    bits = int(match.group(2))
    if any(o > 255 for o in octets) or bits > 32:
        return None
    return ".".join(str(o) for o in octets + [0] * (4 - len(octets))), bits


class PfConf:
    """parse_config(): one pf.conf (and its includes) -> rules, tables, load anchors."""

    def __init__(self, state: State, verbose: bool, numeric: bool) -> None:
        self.state, self.verbose, self.numeric = state, verbose, numeric
        self.lex = PfLexer(self)
        self.look: PfTok | None = None
        self.errors = 0
        self.errflag = 0  # byacc yyerrflag
        self.symbols: dict[str, str] = {}
        self.rulestate = 0
        self.require_order = True
        self.blockpolicy = "drop"
        self.sets: dict[str, list[dict[str, str]]] = {
            k: [] for k in ("scrub", "nat", "rdr", "binat", "filter")
        }
        self.tables: dict[str, dict[str, Any]] = {}
        self.refs: set[str] = set()
        self.load_anchors: list[tuple[str, str]] = []
        self.options: dict[str, Any] = {}

    # ------------------------------------------------------------ yacc plumbing

    def yyerror(self, message: str) -> None:
        # parse.y yyerror(): "%s:%d: " file->name, yylval.lineno.
        self.errors += 1
        err(f"{self.lex.file.name}:{self.lex.yyline}: {message}")

    def peek(self) -> PfTok:
        if self.look is None:
            self.look = self.lex.yylex()
        return self.look

    def advance(self) -> PfTok:
        tok = self.peek()
        self.look = None
        if self.errflag:
            self.errflag -= 1  # byacc: every shift counts yyerrflag down
        return tok

    def is_(self, kind: str, value: Any = None) -> bool:
        tok = self.peek()
        return tok.kind == kind and (value is None or tok.value == value)

    def accept(self, kind: str, value: Any = None) -> PfTok | None:
        return self.advance() if self.is_(kind, value) else None

    def expect(self, kind: str, value: Any = None) -> PfTok:
        if not self.is_(kind, value):
            self.fail()
        return self.advance()

    def fail(self, unmodelled: frozenset[str] = frozenset()) -> NoReturn:
        tok = self.peek()
        if tok.kind == "kw" and (tok.value not in PF_MODELLED_KEYWORDS or tok.value in unmodelled):
            raise Unsupported(
                f"pfctl: {self.lex.file.name}:{tok.line}: pf.conf keyword {tok.value!r}"
            )
        raise _PfSyntax

    def at_end(self, unmodelled: frozenset[str] = frozenset()) -> None:
        if not self.is_("nl"):
            self.fail(unmodelled)

    def optnl(self) -> None:
        while self.accept("nl"):
            pass

    def sem(self, message: str) -> NoReturn:
        """yyerror(message); YYERROR."""
        self.yyerror(message)
        raise _PfYYError

    def recover(self) -> bool:
        """byacc error recovery to `ruleset error '\\n' { file->errors++; }`.

        byacc skeleton (FreeBSD's yacc): after an error yyerrflag is 3, tokens up to the
        newline are dropped, every shift counts it down, and "syntax error" is printed
        only while it is 0 -- so an error in the first tokens after a bad line is silent.
        """
        self.errflag = 3
        while True:
            tok = self.peek()
            if tok.kind == "end":
                return False  # yyabort
            self.look = None
            if tok.kind == "nl":
                self.errflag = 2
                self.errors += 1
                return True

    def parse(self, path: str) -> bool:
        reason = self.lex.pushfile(path)
        if reason is not None:
            err(f"pfctl: cannot open the main config file!: {reason}")  # parse_config()
            self.errors += 1
            return False
        while not self.is_("end"):
            try:
                self.statement()
            except _PfSyntax:
                if self.errflag == 0:
                    self.yyerror("syntax error")
                if not self.recover():
                    break
            except _PfYYError:
                if not self.recover():
                    break
        return self.errors == 0

    def check_rulestate(self, desired: int) -> None:
        if self.require_order and self.rulestate > desired:
            self.sem(PF_RULES_ORDER_MSG)
        self.rulestate = desired

    def say(self, text: str) -> None:
        if self.verbose:
            out(text)

    # ------------------------------------------------------------ statements

    def statement(self) -> None:
        tok = self.peek()
        if tok.kind == "nl":
            self.advance()
            return
        if tok.kind == "str":
            self.varset()
            return
        if tok.kind == "ch" and tok.value == "{":
            raise Unsupported(f"pfctl: {self.lex.file.name}:{tok.line}: brace anchors")
        handlers = {
            "include": self.include,
            "set": self.option,
            "table": self.tabledef,
            "scrub": self.scrubrule,
            "nat": self.natrule,
            "rdr": self.natrule,
            "no": self.natrule,
            "pass": self.pfrule,
            "block": self.pfrule,
            "anchor": self.anchorrule,
            "nat-anchor": self.transanchor,
            "rdr-anchor": self.transanchor,
            "binat-anchor": self.transanchor,
            "load": self.loadrule,
            "antispoof": self.antispoof,
        }
        handler = handlers.get(tok.value) if tok.kind == "kw" else None
        if handler is None:
            self.fail()
        handler()

    def varset(self) -> None:
        name = self.advance().value
        self.expect("ch", "=")
        words = []
        while self.is_("str") or self.is_("num"):
            words.append(str(self.advance().value))
        if not words:
            self.fail()
        self.at_end()
        value = " ".join(words)
        self.say(f'{name} = "{value}"')
        self.symbols[name] = value
        self.advance()

    def include(self) -> None:
        self.advance()
        name = self.expect("str").value
        if self.lex.pushfile(name) is not None:
            self.sem(f"failed to include file {name}")
        # parse.y: file = nfile; lungetc('\n') -- the included text follows this line
        # (FreeBSD's pushfile() starts it at line 1, so the pushed-back newline makes
        # its first line count as 2).
        self.lex.lungetc("\n")
        self.expect("nl")

    def option(self) -> None:
        self.advance()
        tok = self.peek()
        if tok.kind != "kw" or tok.value not in (
            "block-policy",
            "require-order",
            "loginterface",
            "optimization",
            "skip",
        ):
            self.fail()
        key = self.advance().value
        if key == "block-policy":
            value = self.peek()
            if not (value.kind == "kw" and value.value in ("drop", "return")):
                self.fail()
            self.advance()
            self.say(f"set block-policy {value.value}")
            self.check_rulestate(PF_STATE_OPTION)
            self.blockpolicy = value.value
        elif key == "require-order":
            if self.accept("kw", "no"):
                yes = False
            else:
                word = self.expect("str").value
                if word != "yes":
                    self.sem(f"invalid value '{word}', expected 'yes' or 'no'")
                yes = True
            self.say(f"set require-order {'yes' if yes else 'no'}")
            self.require_order = yes
        elif key == "loginterface":
            name = "all" if self.accept("kw", "all") else self.expect("str").value
            self.check_rulestate(PF_STATE_OPTION)
            self.options["loginterface"] = name
            self.say(f"set loginterface {name}")
        elif key == "optimization":
            name = self.expect("str").value
            self.check_rulestate(PF_STATE_OPTION)
            hints = ("normal", "satellite", "high-latency", "conservative", "aggressive")
            if name.lower() not in hints:
                err("pfctl: invalid state timeouts optimization")  # pfctl_set_optimization
                self.sem(f"unknown optimization {name}")
            self.options["optimization"] = name
            self.say(f"set optimization {name}")
        else:
            ifaces = self.interface()
            # parse.y expand_skip_interface()
            if not ifaces or (len(ifaces) == 1 and ifaces[0] == ("none", False)):
                self.say("set skip on none")
                self.options["skip"] = []
            else:
                if any(negated for _, negated in ifaces):
                    self.yyerror("skip on ! <interface> is not supported")
                    self.sem("error setting skip interface(s)")
                self.say("set skip on {" + "".join(f" {n}" for n, _ in ifaces) + " }")
                self.options["skip"] = [n for n, _ in ifaces]
        self.at_end()
        self.advance()

    def tabledef(self) -> None:
        self.advance()
        self.expect("ch", "<")
        name = self.expect("str").value
        self.expect("ch", ">")
        flags: set[str] = set()
        inits: list[tuple[str, Any]] = []
        init_addr = False
        while True:
            if self.is_("str"):
                word = self.advance().value
                if word not in ("const", "persist", "counters"):
                    self.sem(f"invalid table option '{word}'")
                flags.add(word)
            elif self.accept("ch", "{"):
                self.optnl()
                init_addr = True
                if self.accept("ch", "}"):
                    continue
                hosts = self.host_list("}")
                for h in hosts or []:
                    if h["kind"] == "table":
                        self.sem("tables cannot contain tables")
                    if h["kind"] == "dynif":
                        self.sem("dynamic addresses are not permitted inside tables")
                inits.append(("hosts", hosts or []))
            elif self.accept("kw", "file"):
                inits.append(("file", self.expect("str").value))
                init_addr = True
            else:
                break
        self.at_end()
        if len(name) >= PF_TABLE_NAME_SIZE:
            self.sem(f"table name too long, max {PF_TABLE_NAME_SIZE - 1} chars")
        entries = self.process_tabledef(inits)
        if self.verbose:
            self.say(self.tabledef_text(name, flags, inits, init_addr))
        if name in self.tables:
            raise Unsupported(f"pfctl: table <{name}> defined twice in one ruleset")
        self.tables[name] = {"flags": sorted(flags), "entries": entries if init_addr else None}
        self.advance()

    def process_tabledef(self, inits: list[tuple[str, Any]]) -> list[str]:
        entries: list[str] = []
        for kind, value in inits:
            if kind == "hosts":
                for h in value:
                    if h["prefix"] > (32 if h["af"] == 4 else 128):
                        self.sem("cannot create address buffer: Invalid argument")
                    entries.append(("!" if h["neg"] else "") + pf_entry_text(h))
                continue
            try:
                with open(host_path(value), encoding="latin-1") as fh:
                    text = fh.read()
            except OSError as exc:
                self.sem(f'cannot load "{value}": {os.strerror(exc.errno or errno.ENOENT)}')
            for line in text.splitlines():  # pfctl_radix.c pfr_next_token()
                for word in line.split():
                    if word.startswith("#"):
                        break
                    negated = False
                    while word.startswith("!"):
                        negated, word = not negated, word[1:]
                    hosts = _pf_host(self.state, word)
                    if hosts is None:
                        self.sem(f'file "{value}" contains bad data')
                    for h in hosts:
                        if h["kind"] != "addr" or h["prefix"] > (32 if h["af"] == 4 else 128):
                            self.sem(f'cannot load "{value}": Invalid argument')
                        entries.append(("!" if negated else "") + pf_entry_text(h))
        return entries

    def tabledef_text(
        self, name: str, flags: set[str], inits: list[tuple[str, Any]], init_addr: bool
    ) -> str:
        # pfctl_parser.c print_tabledef()
        text = f"table <{name}>" + "".join(
            f" {f}" for f in ("const", "persist", "counters") if f in flags
        )
        merged: list[tuple[str, Any]] = []
        for kind, value in inits:
            if kind == "hosts" and merged and merged[-1][0] == "hosts":
                merged[-1] = ("hosts", merged[-1][1] + value)  # "merge lists"
            else:
                merged.append((kind, value))
        for kind, value in merged:
            if kind == "file":
                text += f' file "{value}"'
            else:
                hosts = "".join((" !" if h["neg"] else " ") + pf_host_text(h) for h in value)
                text += " {" + hosts + " }"
        if init_addr and not inits:
            text += " { }"
        return text

    def loadrule(self) -> None:
        self.advance()
        self.expect("kw", "anchor")
        name = self.string()
        self.expect("kw", "from")
        path = self.string()
        self.at_end()
        self.load_anchors.append((name, path))
        self.advance()

    def string(self) -> str:
        words = [self.expect("str").value]
        while self.is_("str"):
            words.append(self.advance().value)
        return " ".join(words)

    # ------------------------------------------------------------ rule pieces

    def interface(self) -> list[tuple[str, bool]]:
        if not self.accept("kw", "on"):
            return []
        if self.accept("ch", "{"):
            self.optnl()
            items = [self.if_item_not()]
            self.optnl()
            while not self.accept("ch", "}"):
                self.accept("ch", ",")
                items.append(self.if_item_not())
                self.optnl()
            return items
        return [self.if_item_not()]

    def if_item_not(self) -> tuple[str, bool]:
        negated = bool(self.accept("ch", "!"))
        return self.if_item(), negated

    def if_item(self) -> str:
        name = self.expect("str").value
        if len(name) >= PF_IFNAMSIZ:
            self.sem("interface name too long")
        return str(name)

    def af(self) -> int:
        if self.accept("kw", "inet"):
            return 4
        if self.accept("kw", "inet6"):
            return 6
        return 0

    def logquick(self) -> tuple[bool, bool]:
        log = quick = False
        for _ in range(2):
            if not log and self.is_("kw", "log"):
                self.advance()
                if self.is_("ch", "("):
                    raise Unsupported("pfctl: pf.conf log (...) options")
                log = True
            elif not quick and self.accept("kw", "quick"):
                quick = True
        return log, quick

    def protos(self) -> list[int]:
        if not self.accept("kw", "proto"):
            return []
        if self.accept("ch", "{"):
            self.optnl()
            items = [self.proto_item()]
            self.optnl()
            while not self.accept("ch", "}"):
                self.accept("ch", ",")
                items.append(self.proto_item())
                self.optnl()
            return items
        return [self.proto_item()]

    def proto_item(self) -> int:
        tok = self.peek()
        if tok.kind not in ("str", "num"):
            self.fail()
        self.advance()
        if tok.kind == "str":
            if tok.value not in PF_PROTOCOLS:
                raise Unsupported(f"pfctl: pf.conf protocol {tok.value!r} (not in the excerpt)")
            number = PF_PROTOCOLS[tok.value]
        else:
            number = tok.value
            if number < 0 or number > 255:
                self.sem("protocol outside range")
        if number == 0:
            self.sem("proto 0 cannot be used")
        return int(number)

    def fromto(self) -> tuple[Any, list[Any], Any, list[Any]]:
        if self.accept("kw", "all"):
            return None, [], None, []
        src: Any = None
        dst: Any = None
        sport: list[Any] = []
        dport: list[Any] = []
        if self.accept("kw", "from"):
            src, sport = self.ipportspec()
        if self.is_("kw", "os"):
            self.fail()
        if self.accept("kw", "to"):
            dst, dport = self.ipportspec()
        return src, sport, dst, dport

    def ipportspec(self) -> tuple[Any, list[Any]]:
        if self.accept("kw", "port"):
            return None, self.portspec()
        hosts = self.ipspec()
        return hosts, (self.portspec() if self.accept("kw", "port") else [])

    def ipspec(self) -> list[dict[str, Any]] | None:
        """None is "any" (a NULL node_host list)."""
        if self.accept("kw", "any"):
            return None
        if self.accept("ch", "{"):
            self.optnl()
            return self.host_list("}")
        negated = bool(self.accept("ch", "!"))
        hosts = self.host()
        if hosts is None:
            self.sem("could not parse host specification")
        for h in hosts:
            h["neg"] = negated
        return hosts

    def host_list(self, close: str) -> list[dict[str, Any]] | None:
        merged: list[dict[str, Any]] | None = None
        first = True
        while True:
            if not first and self.accept("ch", close):
                return merged
            if not first:
                self.accept("ch", ",")
            first = False
            item = self.ipspec()
            self.optnl()
            if item is not None:
                merged = (merged or []) + item

    def host(self) -> list[dict[str, Any]] | None:
        tok = self.peek()
        if tok.kind == "ch" and tok.value == "<":
            self.advance()
            name = self.expect("str").value
            self.expect("ch", ">")
            if len(name) >= PF_TABLE_NAME_SIZE:
                self.sem(f"table name '{name}' too long")
            return [{"kind": "table", "af": 0, "name": name, "neg": False}]
        if tok.kind == "ch" and tok.value == "(":
            self.advance()
            spec = self.expect("str").value
            self.expect("ch", ")")
            host = self.dynaddr(spec)
            if self.is_("ch", "/"):
                raise Unsupported("pfctl: pf.conf (interface)/bits")
            return [host]
        if tok.kind == "num":
            self.advance()
            self.expect("ch", "/")
            bits = self.expect("num").value
            return _pf_host(self.state, f"{tok.value}/{bits}")
        if tok.kind != "str":
            self.fail()
        self.advance()
        if self.is_("ch", "-"):
            raise Unsupported("pfctl: pf.conf address ranges (a - b)")
        if self.accept("ch", "/"):
            bits = self.expect("num").value
            return _pf_host(self.state, f"{tok.value}/{bits}")
        return _pf_host(self.state, tok.value)

    def dynaddr(self, spec: str) -> dict[str, Any]:
        if not spec[:1] or spec[0] not in PF_ALNUM or spec[0] in PF_DIGITS:
            self.sem(f"invalid interface name '{spec}'")
        name, mods = spec, set()
        while ":" in name:
            name, mod = name.rsplit(":", 1)
            if mod not in ("network", "broadcast", "peer", "0"):
                self.sem(f"interface {spec} has bad modifier")
            mods.add(mod)
        if len(mods & {"network", "broadcast", "peer"}) > 1:
            self.sem("illegal combination of interface modifiers")
        if len(name) >= PF_IFNAMSIZ:
            self.sem("interface name too long")
        return {"kind": "dynif", "af": 0, "name": name, "mods": sorted(mods), "neg": False}

    def portspec(self) -> list[tuple[str, int, int]]:
        if self.accept("ch", "{"):
            self.optnl()
            items = [self.port_item()]
            self.optnl()
            while not self.accept("ch", "}"):
                self.accept("ch", ",")
                items.append(self.port_item())
                self.optnl()
            return items
        return [self.port_item()]

    def port_item(self) -> tuple[str, int, int]:
        op = None
        if self.accept("ch", "="):
            op = "="
        elif self.accept("ch", "!"):
            self.expect("ch", "=")
            op = "!="
        elif self.is_("ch", "<") or self.is_("ch", ">"):
            op = self.advance().value + ("=" if self.accept("ch", "=") else "")
        low, high, ranged = self.portrange()
        if op is not None:
            if ranged:
                self.sem("':' cannot be used with an other port operator")
            return op, low, high
        if self.is_("pbin"):
            op = self.advance().value
            low2, _high2, ranged2 = self.portrange()
            if ranged or ranged2:
                self.sem("':' cannot be used with an other port operator")
            return op, low, low2
        return (":" if ranged else "="), low, high

    def portrange(self) -> tuple[int, int, bool]:
        tok = self.peek()
        if tok.kind not in ("num", "str"):
            self.fail()
        self.advance()
        text = str(tok.value)
        if ":" not in text:  # parse.y parseport(PPORT_RANGE)
            return self.getservice(text), 0, False
        first, second = text.split(":", 1)
        low, high = self.getservice(first), self.getservice(second)
        return (low, 0, False) if low == high else (low, high, True)

    def getservice(self, text: str) -> int:
        number = _pf_strtoul(text)
        if number is not None:
            if number > 65535:
                self.sem(f"illegal port value {number}")
            return number
        if text in PF_SERVICES:
            return PF_SERVICES[text][0]
        if re.fullmatch(r"[A-Za-z][-A-Za-z0-9]*", text):
            raise Unsupported(f"pfctl: port name {text!r} is not in the /etc/services excerpt")
        self.sem(f"unknown port {text}")

    def flags_opt(self) -> tuple[int, int]:
        self.advance()
        if self.accept("kw", "any"):
            return 0, 0
        first = 0 if self.is_("ch", "/") else self.flag()
        self.expect("ch", "/")
        return first, self.flag()

    def flag(self) -> int:
        word = self.expect("str").value
        if any(ch not in PF_TCPFLAGS for ch in word):
            self.sem(f"bad flags {word}")
        return sum(1 << PF_TCPFLAGS.index(ch) for ch in set(word))

    def keep(self) -> str | None:
        word = self.advance().value
        self.expect("kw", "state")
        if self.is_("ch", "("):
            raise Unsupported("pfctl: pf.conf state options (...)")
        return {"no": None, "keep": "keep", "modulate": "modulate", "synproxy": "synproxy"}[word]

    def filter_opts(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        while True:
            if self.is_("kw", "flags"):
                flags = self.flags_opt()
                if "flags" in opts:
                    self.sem("flags cannot be redefined")
                opts["flags"] = flags
            elif self.peek().kind == "kw" and self.peek().value in (
                "no",
                "keep",
                "modulate",
                "synproxy",
            ):
                state = self.keep()
                if "keep" in opts:
                    self.sem("modulate or keep cannot be redefined")
                opts["keep"] = state
            else:
                return opts

    # ------------------------------------------------------------ rules

    def pfrule(self) -> None:
        action = self.advance().value
        rflag = None
        if action == "block":
            rflag = self.blockpolicy
            if self.accept("kw", "drop"):
                rflag = "drop"
            elif self.accept("kw", "return"):
                rflag = "return"
        direction = self.direction()
        log, quick = self.logquick()
        ifaces = self.interface()
        af = self.af()
        protos = self.protos()
        src, sport, dst, dport = self.fromto()
        opts = self.filter_opts()
        self.at_end(frozenset({"fragment", "scrub", "set"}))
        self.check_rulestate(PF_STATE_FILTER)
        flags = opts.get("flags")
        self.check_flags(flags, protos)
        keep = opts.get("keep", "keep" if action == "pass" else None)
        if flags is None and action == "pass" and keep:
            flags = (1 << 1, (1 << 1) | (1 << 4))  # 'flags S/SA' by default on stateful rules
        rule = {
            "type": action,
            "rflag": rflag,
            "dir": direction,
            "log": log,
            "quick": quick,
            "af": af,
            "flags": flags,
            "keep": keep,
        }
        af = self.decide_af(src, af)
        rule["af"] = self.decide_af(dst, af)
        self.expand_rule(rule, "filter", ifaces, protos, src, sport, dst, dport)
        self.advance()

    def direction(self) -> str | None:
        if self.accept("kw", "in"):
            return "in"
        if self.accept("kw", "out"):
            return "out"
        return None

    def check_flags(self, flags: tuple[int, int] | None, protos: list[int]) -> None:
        if flags is None:
            return
        if flags[0] & flags[1] != flags[0]:
            self.sem("flags always false")
        if (flags[0] or flags[1]) and protos and 6 not in protos:
            self.sem("flags only apply to tcp")

    @staticmethod
    def decide_af(hosts: list[dict[str, Any]] | None, af: int) -> int:
        """parse.y decide_address_family()."""
        if af or not hosts:
            return af
        first = hosts[0]["af"]
        return first if all(h["af"] == first for h in hosts) else 0

    def scrubrule(self) -> None:
        self.advance()
        direction = self.direction()
        log, quick = self.logquick()
        ifaces = self.interface()
        af = self.af()
        protos = self.protos()
        src, sport, dst, dport = self.fromto()
        reassemble = False
        while self.is_("kw", "fragment"):
            self.advance()
            if self.is_("kw", "no"):
                self.fail(frozenset({"no"}))
            self.expect("kw", "reassemble")
            if reassemble:
                self.sem("fragcache cannot be respecified")
            reassemble = True
            self.accept("ch", ",")
        self.at_end(frozenset({"reassemble"}))
        self.check_rulestate(PF_STATE_SCRUB)
        if quick:
            self.sem("scrub rules do not support 'quick'")
        rule = {"type": "scrub", "dir": direction, "log": log, "quick": False, "af": af}
        self.expand_rule(rule, "scrub", ifaces, protos, src, sport, dst, dport)
        self.advance()

    def natrule(self) -> None:
        negated = bool(self.accept("kw", "no"))
        tok = self.peek()
        if not (tok.kind == "kw" and tok.value in ("nat", "rdr")):
            self.fail(frozenset({"scrub"}))
        kind = self.advance().value
        natpass = bool(self.accept("kw", "pass"))
        log = bool(self.accept("kw", "log"))
        if log and self.is_("ch", "("):
            raise Unsupported("pfctl: pf.conf log (...) options")
        if negated and natpass:
            self.sem('"pass" not valid with "no"')
        ifaces = self.interface()
        af = self.af()
        protos = self.protos()
        src, sport, dst, dport = self.fromto()
        redir: list[dict[str, Any]] | None = None
        rport = None
        if self.accept("arrow"):
            if self.accept("ch", "{"):
                self.optnl()
                pooled: list[dict[str, Any]] = []
                while not pooled or not self.accept("ch", "}"):
                    if pooled:
                        self.accept("ch", ",")
                    hosts = self.host()
                    if hosts is None:
                        self.sem("could not parse host specification")
                    pooled += hosts
                    self.optnl()
                redir = pooled
            else:
                redir = self.host()
                if redir is None:
                    self.sem("could not parse host specification")
            if self.accept("kw", "port"):
                tok = self.peek()
                if tok.kind == "str" and str(tok.value).endswith(":*"):
                    raise Unsupported("pfctl: pf.conf rdr port N:*")
                rport = self.portrange()
        pool: dict[str, Any] = {}
        while self.peek().kind == "kw" and self.peek().value in (
            "round-robin",
            "random",
            "bitmask",
            "static-port",
            "sticky-address",
        ):
            opt = self.advance().value
            if opt in ("round-robin", "random", "bitmask"):
                if "type" in pool:
                    self.sem("pool type cannot be redefined")
                pool["type"] = opt
            elif opt in pool:
                self.sem(f"{opt} cannot be redefined")
            else:
                pool[opt] = True
        self.at_end()
        self.check_rulestate(PF_STATE_NAT)
        if not af:
            if src and src[0]["af"]:
                af = src[0]["af"]
            elif dst and dst[0]["af"]:
                af = dst[0]["af"]
        rule: dict[str, Any] = {
            "type": ("no " if negated else "") + kind,
            "natpass": natpass,
            "log": log,
            "af": af,
        }
        if negated:
            if redir is not None:
                self.sem("translation rule with 'no' does not need '->'")
        else:
            if not redir:
                self.sem("translation rule requires '-> address'")
            self.nat_pool(rule, kind, redir, rport, dport, pool)
        self.expand_rule(rule, kind, ifaces, protos, src, sport, dst, dport)
        self.advance()

    def nat_pool(
        self,
        rule: dict[str, Any],
        kind: str,
        redir: list[dict[str, Any]],
        rport: tuple[int, int, bool] | None,
        dport: list[tuple[str, int, int]],
        pool: dict[str, Any],
    ) -> None:
        af = rule["af"] or redir[0]["af"]
        kept = []
        for h in redir:  # parse.y remove_invalid_hosts()
            if af and h["af"] and h["af"] != af:
                continue
            if h["af"] and not af:
                af = h["af"]
            kept.append(h)
        rule["af"] = af
        if not af and any(h["kind"] not in ("table", "dynif") for h in kept):
            self.sem(
                "address family not given and translation address expands to multiple "
                "address families"
            )
        if not kept:
            self.sem("no translation address with matching address family found.")
        for h in kept:
            if af == 4 and h["kind"] == "addr" and h["prefix"] > 32:
                err(f"netmask {h['prefix']} invalid for IPv4 address")  # check_netmask()
                raise _PfYYError
        low = rport[0] if rport else 0
        high = rport[1] if rport else 0
        if kind == "nat" and not low and not high:
            low, high = PF_NAT_PROXY_PORT_LOW, PF_NAT_PROXY_PORT_HIGH
        elif kind == "nat" and not high:
            high = low
        ptype = pool.get("type")
        multi = [h for h in kept if h["kind"] == "dynif" and _pf_dynif_multi(h)]
        if ptype is None and (len(kept) > 1 or kept[0]["kind"] == "table" or multi):
            ptype = "round-robin"
        if ptype != "round-robin":
            if any(h["kind"] == "table" for h in kept):
                self.sem("tables are only supported in round-robin redirection pools")
            if multi:
                self.sem(
                    f"interface ({multi[0]['name']}) is only supported in round-robin "
                    "redirection pools"
                )
            if len(kept) > 1:
                self.sem("only round-robin valid for multiple redirection addresses")
        if pool.get("static-port"):
            if kind != "nat":
                self.sem("the 'static-port' option is only valid with nat rules")
            if low != PF_NAT_PROXY_PORT_LOW and high != PF_NAT_PROXY_PORT_HIGH:
                self.sem("the 'static-port' option can't be used when specifying a port range")
            low = high = 0
        rule.update(
            pool=kept, ports=(low, high), ptype=ptype, sticky=bool(pool.get("sticky-address"))
        )
        self.refs.update(h["name"] for h in kept if h["kind"] == "table")

    def anchorrule(self) -> None:
        self.advance()
        name = self.advance().value if self.is_("str") else None
        direction = self.direction()
        quick = bool(self.accept("kw", "quick"))
        ifaces = self.interface()
        af = self.af()
        protos = self.protos()
        src, sport, dst, dport = self.fromto()
        opts = self.filter_opts()
        if self.is_("ch", "{"):
            raise Unsupported("pfctl: pf.conf inline anchor { ... }")
        self.at_end(frozenset({"fragment", "scrub", "set"}))
        self.check_rulestate(PF_STATE_FILTER)
        if name and (name.startswith("_") or "/_" in name):
            self.sem("anchor names beginning with '_' are reserved for internal use")
        if not name:
            self.sem("anchors without explicit rules must specify a name")
        self.check_flags(opts.get("flags"), protos)
        if opts.get("keep"):
            self.sem("cannot specify state handling on anchors")
        rule = {
            "type": "anchor",
            "anchor": name,
            "dir": direction,
            "quick": quick,
            "af": af,
            "flags": opts.get("flags"),
        }
        rule["af"] = self.decide_af(dst, self.decide_af(src, af))
        self.expand_rule(rule, "filter", ifaces, protos, src, sport, dst, dport)
        self.advance()

    def transanchor(self) -> None:
        kind = self.advance().value
        name = self.string()
        ifaces = self.interface()
        af = self.af()
        protos = self.protos()
        src, sport, dst, dport = self.fromto()
        self.at_end()
        self.check_rulestate(PF_STATE_NAT)
        if kind == "binat-anchor":
            if ifaces or af or protos or src or sport or dst or dport:
                raise Unsupported("pfctl: binat-anchor with an interface/af/proto/from/to")
            self.sets["binat"].append(
                {"text": f'binat-anchor "{name}" all', "numeric": f'binat-anchor "{name}" all'}
            )
            self.advance()
            return
        if kind == "rdr-anchor":
            if sport:
                self.sem("source port parameter not supported in rdr-anchor")
            if len(dport) > 1:
                self.sem("destination port list expansion not supported in rdr-anchor")
            if dport and dport[0][0] != "=":
                self.sem("destination port operators not supported in rdr-anchor")
        rule = {"type": kind[:3], "anchor": name, "af": af}
        rule["af"] = self.decide_af(dst, self.decide_af(src, af))
        self.expand_rule(rule, kind[:3], ifaces, protos, src, sport, dst, dport)
        self.advance()

    def antispoof(self) -> None:
        self.advance()
        log, quick = self.logquick()
        self.expect("kw", "for")
        items: list[tuple[str, bool]] = []
        if self.accept("ch", "{"):
            self.optnl()
            while not items or not self.accept("ch", "}"):
                if items:
                    self.accept("ch", ",")
                items.append(self.antispoof_if())
                self.optnl()
        else:
            items.append(self.antispoof_if())
        af = self.af()
        self.at_end()
        self.check_rulestate(PF_STATE_FILTER)
        for name, dynamic in items:
            iface = next((i for i in self.state["interfaces"] if i["name"] == name), None)
            base = {
                "type": "block",
                "rflag": "drop",
                "dir": "in",
                "log": log,
                "quick": quick,
                "af": af,
                "flags": None,
                "keep": None,
            }
            if dynamic:
                net: list[dict[str, Any]] | None = [_pf_dynif(name, ["network"])]
                own: list[dict[str, Any]] | None = [_pf_dynif(name, [])]
            else:
                net = _pf_ifa_lookup(self.state, name, {"network"}) or None
                own = _pf_ifa_lookup(self.state, name, set()) or None
            if net:
                self.expand_rule(dict(base), "filter", [(name, True)], [], net, [], None, [])
            loopback = iface is not None and "LOOPBACK" in if_flags(iface)
            if not loopback and own:
                self.expand_rule(dict(base), "filter", [], [], own, [], None, [])
        self.advance()

    def antispoof_if(self) -> tuple[str, bool]:
        if self.accept("ch", "("):
            name = self.if_item()
            self.expect("ch", ")")
            return name, True
        return self.if_item(), False

    # ------------------------------------------------------------ expand_rule

    def expand_rule(
        self,
        rule: dict[str, Any],
        kind: str,
        ifaces: list[tuple[str, bool]],
        protos: list[int],
        src: list[dict[str, Any]] | None,
        sport: list[tuple[str, int, int]],
        dst: list[dict[str, Any]] | None,
        dport: list[tuple[str, int, int]],
    ) -> None:
        """parse.y expand_rule(): one kernel rule per combination, consistency checked."""
        anyhost = {"kind": "any", "af": 0, "neg": False}
        added = 0
        for ifname, ifnot in ifaces or [("", False)]:
            for proto in protos or [0]:
                for sh in src or [anyhost]:
                    for sp in sport or [None]:  # type: ignore[list-item]
                        for dh in dst or [anyhost]:
                            for dp in dport or [None]:  # type: ignore[list-item]
                                af = rule["af"]
                                if (
                                    (af and sh["af"] and af != sh["af"])
                                    or (af and dh["af"] and af != dh["af"])
                                    or (sh["af"] and dh["af"] and sh["af"] != dh["af"])
                                ):
                                    continue
                                af = af or sh["af"] or dh["af"]
                                r = dict(
                                    rule,
                                    ifname=ifname,
                                    ifnot=ifnot,
                                    af=af,
                                    proto=proto,
                                    src=sh,
                                    sport=sp,
                                    dst=dh,
                                    dport=dp,
                                )
                                bad = 0
                                for h in (sh, dh):  # check_netmask()
                                    if af == 4 and h["kind"] == "addr" and h["prefix"] > 32:
                                        err(f"netmask {h['prefix']} invalid for IPv4 address")
                                        bad += 1
                                if r.get("keep") in ("modulate", "synproxy") and proto not in (
                                    0,
                                    6,
                                ):
                                    r["keep"] = "keep"
                                if proto and proto != 6 and r.get("flags") is not None:
                                    r["flags"] = None
                                bad += self.consistent(kind, r)
                                if bad:
                                    self.yyerror("skipping rule due to errors")
                                    continue
                                added += 1
                                self.sets[kind].append(
                                    {
                                        "text": pf_rule_text(r, False),
                                        "numeric": pf_rule_text(r, True),
                                    }
                                )
                                for h in (sh, dh):
                                    if h["kind"] == "table":
                                        self.refs.add(h["name"])
        if not added:
            self.yyerror("rule expands to no valid combination")

    def consistent(self, kind: str, r: dict[str, Any]) -> int:
        """parse.y filter_consistent()/rdr_consistent() (nat_consistent: none)."""
        problems: list[str] = []
        has_ports = r["sport"] is not None or r["dport"] is not None
        if kind in ("filter", "scrub"):
            if r["proto"] not in (6, 17) and has_ports:
                problems.append("port only applies to tcp/udp")
            if (r["proto"] == 1 and r["af"] == 6) or (r["proto"] == 58 and r["af"] == 4):
                problems.append(
                    f"proto {'icmp' if r['proto'] == 1 else 'icmp6'} doesn't match address "
                    f"family {'inet' if r['af'] == 4 else 'inet6'}"
                )
            if r["type"] == "block" and r.get("keep"):
                problems.append("keep state is great, but only for pass rules")
        elif kind == "rdr":
            if r["proto"] not in (6, 17):
                if r["sport"] is not None:
                    problems.append("src port only applies to tcp/udp")
                if r["dport"] is not None:
                    problems.append("dst port only applies to tcp/udp")
                if r.get("ports", (0, 0))[0]:
                    problems.append("rpool port only applies to tcp/udp")
            if r["dport"] is not None and r["dport"][0] not in ("=", ":"):
                problems.append("invalid port operator for rdr destination port")
        for problem in problems:
            self.yyerror(problem)
        return len(problems)


def _pf_dynif(name: str, mods: list[str]) -> dict[str, Any]:
    return {"kind": "dynif", "af": 0, "name": name, "mods": mods, "neg": False}


def _pf_dynif_multi(h: dict[str, Any]) -> bool:
    """pfctl_parser.h DYNIF_MULTIADDR(): no :0, or a name not ending in a digit."""
    return "0" not in h["mods"] or not h["name"][-1:].isdigit()


def _pf_ifa_lookup(state: State, name: str, mods: set[str]) -> list[dict[str, Any]]:
    """pfctl_parser.c ifa_lookup(): addresses of an interface, group or "self"."""
    interfaces = state["interfaces"]
    members = [i for i in interfaces if name in i.get("groups", [])]
    if not members:
        if name == "self":
            members = list(interfaces)
        else:
            # ifa_skip_if(): exact name, or a driver prefix ("vtnet") matching vtnetN.
            members = [
                i
                for i in interfaces
                if i["name"] == name
                or (
                    not name[-1:].isdigit()
                    and i["name"].startswith(name)
                    and i["name"][len(name) : len(name) + 1].isdigit()
                )
            ]
    hosts = []
    for iface in members:
        flags = if_flags(iface)
        for family, key in ((4, "inet"), (6, "inet6")):
            for n, entry in enumerate(iface.get(key, [])):
                if "0" in mods and n > 0:
                    continue  # PFI_AFLAG_NOALIAS: the first address of each family
                if "peer" in mods:
                    continue  # no IFF_POINTOPOINT interface is modelled
                network = ipaddress.ip_network(
                    f"{entry['addr']}/{entry['prefixlen']}", strict=False
                )
                if "broadcast" in mods:
                    if family != 4 or "BROADCAST" not in flags:
                        continue
                    hosts.append(_pf_mk_addr(str(network.broadcast_address), 32, 4))
                elif "network" in mods:
                    hosts.append(_pf_mk_addr(entry["addr"], entry["prefixlen"], family))
                else:
                    hosts.append(_pf_mk_addr(entry["addr"], 32 if family == 4 else 128, family))
    return hosts


def _pf_host(state: State, text: str) -> list[dict[str, Any]] | None:
    """pfctl_parser.c host(): v4, v6, interface (host_if), then DNS (not modelled)."""
    mask = -1
    base = text
    if "/" in text:
        base, bits = text.rsplit("/", 1)
        parsed = _pf_strtoul(bits) if bits else None
        if parsed is None or parsed > 128:
            err(f"invalid netmask '/{bits}'")
            return None
        mask = parsed
    if mask >= 0:
        v4 = _pf_inet_net_pton4(text)
        if v4 is not None:
            return [_pf_mk_addr(v4[0], v4[1], 4)]
    else:
        with contextlib.suppress(ValueError):
            return [_pf_mk_addr(str(ipaddress.IPv4Address(text)), 32, 4)]
    with contextlib.suppress(ValueError):
        address = ipaddress.IPv6Address(base)
        return [_pf_mk_addr(str(address), 128 if mask < 0 else mask, 6)]
    hosts = _pf_host_if(state, base, mask)
    if hosts:
        return hosts
    with contextlib.suppress(ValueError):
        # host_dns(): getaddrinfo() takes a numeric v4 address whose /bits inet_net_pton
        # refused (e.g. /33); check_netmask() rejects it later.
        address4 = ipaddress.IPv4Address(base)
        return [
            {"kind": "addr", "af": 4, "addr": str(address4), "prefix": max(mask, 0), "neg": False}
        ]
    if re.fullmatch(r"[A-Za-z][-A-Za-z0-9.]*", base) and not re.fullmatch(
        r"[a-z]+[0-9]+[ab]?", base
    ):
        # Not an interface-like name: getaddrinfo() might resolve it (hosts, DNS).
        raise Unsupported(f"pfctl: name lookup of {base!r} (host_dns) is not modelled")
    err(f"no IP address found for {text}")
    return None


def _pf_host_if(state: State, text: str, mask: int) -> list[dict[str, Any]]:
    """pfctl_parser.c host_if()."""
    name, mods = text, set()
    while ":" in name:
        name, mod = name.rsplit(":", 1)
        if mod not in ("network", "broadcast", "peer", "0"):
            return []
        mods.add(mod)
    if len(mods & {"network", "broadcast", "peer"}) > 1:
        err("illegal combination of interface modifiers")
        return []
    if mods & {"network", "broadcast"} and mask > -1:
        err("network or broadcast lookup, but extra netmask given")
        return []
    known = {i["name"] for i in state["interfaces"]}
    groups = {g for i in state["interfaces"] for g in i.get("groups", [])}
    if name not in known and name not in groups and name != "self":
        return []
    hosts = _pf_ifa_lookup(state, name, mods)
    if mask > -1:
        hosts = [_pf_mk_addr(h["addr"], mask, h["af"]) for h in hosts]
    return hosts


def pf_parse_ruleset(
    state: State, path: str, verbose: bool, numeric: bool, previous: dict[str, list[str]]
) -> dict[str, Any] | None:
    """parse_config() + the ruleset the kernel would hold; None on errors (already shown)."""
    conf = PfConf(state, verbose, numeric)
    if not conf.parse(path):
        return None
    sets = conf.sets
    nat = sets["nat"] + sets["rdr"] + sets["binat"]  # pfctl_show_nat(): nat, rdr, binat
    rules = sets["scrub"] + sets["filter"]  # pfctl_show_rules(): scrub, then filter
    if verbose:
        # pfctl_rules(): scrub, (ether), nat, rdr, binat, filter are loaded in this order.
        for entry in sets["scrub"] + sets["nat"] + sets["rdr"] + sets["binat"] + sets["filter"]:
            out(entry["numeric" if numeric else "text"])
    tables: dict[str, list[str]] = {}
    for name in sorted(set(conf.tables) | conf.refs):
        table = conf.tables.get(name, {"flags": [], "entries": None})
        # pf_table.c pfr_setflags_ktable(): a table neither persistent nor referenced by
        # a rule is not active ("Table does not exist."); a definition without a list
        # keeps the entries the table already had (reference/freebsd.md §2.5).
        if "persist" not in table["flags"] and name not in conf.refs:
            continue
        entries = table["entries"]
        tables[name] = list(previous.get(name, [])) if entries is None else entries
    return {
        "source": path,
        "nat": [e["text"] for e in nat],
        "rules": [e["text"] for e in rules],
        "numeric": {"nat": [e["numeric"] for e in nat], "rules": [e["numeric"] for e in rules]},
        "tables": {k: sorted(set(v), key=_pf_entry_key) for k, v in tables.items()},
        "options": conf.options,
        "load_anchors": conf.load_anchors,
    }


def _pf_entry_key(entry: str) -> tuple[int, int, int, bool]:
    network = ipaddress.ip_network(entry.lstrip("!"), strict=False)
    return network.version, int(network.network_address), network.prefixlen, entry[:1] == "!"

"""Quoting and the small sh library every script warden sends starts with.

The scripts run on FreeBSD's /bin/sh with its userland, so everything here sticks to
POSIX sh and POSIX options (design: "Portability"); tests scan the output for
non-portable forms.
"""

from __future__ import annotations

import re
import secrets
import shlex

# Values warden writes into paths, owners and modes are validated against these before
# they are quoted: quoting keeps the shell safe, validation keeps the host sane.
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._/+@-]*")
_SAFE_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_RC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# Remote exit codes with a meaning of their own (see setup/apply.py).
RC_LOCKED = 75  # lockf(1): EX_TEMPFAIL, the lock is held by someone else
RC_REGISTRY_CHANGED = 79
RC_NOT_ROOT = 97


def q(value: str) -> str:
    """Quote one word for sh."""
    return shlex.quote(value)


def checked_path(path: str) -> str:
    """An absolute path made of ordinary characters, or ValueError."""
    if (
        not _SAFE_PATH.fullmatch(path)
        or "//" in path
        or any(part in (".", "..") for part in path.split("/"))
    ):
        raise ValueError(f"unsafe path for a managed file: {path!r}")
    return path


def checked_name(name: str) -> str:
    """A user or group name as FreeBSD's pw(8) accepts them, or ValueError."""
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"unsafe user or group name: {name!r}")
    return name


def checked_rc_name(name: str) -> str:
    """An rc.conf variable name (sysrc(8) refuses any other), or ValueError."""
    if not _RC_NAME.fullmatch(name):
        raise ValueError(f"not an rc.conf variable name: {name!r}")
    return name


def heredoc(content: str) -> tuple[str, str]:
    """A quoted here-document delimiter that cannot occur in *content*, and its body.

    A quoted delimiter makes sh pass the body through byte for byte, so no value in a
    managed file is ever expanded by the shell.
    """
    if "\0" in content:
        raise ValueError("managed files are text: NUL bytes cannot be placed")
    if content and not content.endswith("\n"):
        raise ValueError("managed files end with a newline")
    while True:
        delimiter = f"WARDEN_EOF_{secrets.token_hex(8)}"
        if delimiter not in content:
            return delimiter, content


# The library: defined once at the top of every script warden runs on a host.
#
# warden_put writes to a temporary name in the target's own directory, sets owner and
# mode there, then renames: a reader sees the old file or the new one, never half of
# one. BSD install(1) unlinks before writing and GNU install -S means something else,
# so install is not used for this.
#
# warden_tmp makes the script's private directory (0700, root's, a fresh name in /tmp:
# mktemp -d is safe in a sticky directory), where bounded commands leave their output;
# the script that made it removes it (`warden_on_exit warden_cleanup`: when it ends, and
# when its connection is cut), the scripts it runs (a change: setup/apply.py) use it.
#
# warden_run SECONDS LABEL CMD... runs CMD bounded in time, with the caller's stdin
# (</dev/null, or a file put's content) and its output in a fresh file of that
# directory: nothing CMD leaves running can hold this script's pipes, and its output
# can fake nothing in ours. The output is shown (its last 2,000 bytes) on stderr, only
# when CMD failed; a CMD that
# was stopped says so last and fails with 1 (never 124: that is the caller's own bound).
# `|| _wr_r=$?`: a change runs under `set -e`, which would leave at the failure itself.
# warden_run_to SECONDS LABEL FILE CMD... is the same with CMD's stdout in FILE (a path
# of root's, opened by root: pg_dump's dump), only its stderr kept for a failure.
# `timeout --foreground -k 5 N` (docs/freebsd/sources.md §2): on both FreeBSD and
# GNU it times the command itself and returns once it ended (124, or 137 from GNU at
# the -k stage, when it was stopped); without --foreground FreeBSD's timeout would
# wait for, then kill, every descendant: the daemons a change starts included.
LIBRARY = r"""
# shellcheck disable=SC2016,SC2317  # a quoted word may hold a $; not all of it is called
PATH="$PATH:/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"
export PATH
warden_tmp() {
    [ -n "${_w_tmp:-}" ] && return 0
    _w_tmp=$(mktemp -d /tmp/warden.XXXXXX) || return 1
    _w_tmp_mine=yes
    export _w_tmp
}
warden_cleanup() {
    if [ "${_w_tmp_mine:-}" = yes ]; then rm -rf "$_w_tmp"; fi
}
warden_on_exit() {
    # shellcheck disable=SC2064  # the handler is fixed now, on purpose
    trap "$1" EXIT
    # shellcheck disable=SC2064
    trap "$1; exit 129" HUP
    # shellcheck disable=SC2064
    trap "$1; exit 141" PIPE
    # shellcheck disable=SC2064
    trap "$1; exit 143" TERM
}
warden_run() {
    _wr_s=$1
    _wr_l=$2
    shift 2
    warden_run_to "$_wr_s" "$_wr_l" - "$@"
}
warden_run_to() {
    _wr_s=$1
    _wr_l=$2
    _wr_t=$3
    shift 3
    warden_tmp || return 1
    _wr_o=$(mktemp "$_w_tmp/run.XXXXXX") || return 1
    _wr_r=0
    if [ "$_wr_t" = - ]; then
        timeout --foreground -k 5 "$_wr_s" "$@" >"$_wr_o" 2>&1 || _wr_r=$?
    else
        timeout --foreground -k 5 "$_wr_s" "$@" >"$_wr_t" 2>"$_wr_o" || _wr_r=$?
    fi
    if [ "$_wr_r" -ne 0 ]; then
        tail -c 2000 "$_wr_o" >&2
        if [ "$_wr_r" -eq 124 ] || [ "$_wr_r" -eq 137 ]; then
            echo "warden: $_wr_l: stopped after ${_wr_s}s (it did not finish)" >&2
            _wr_r=1
        fi
    fi
    rm -f "$_wr_o"
    return "$_wr_r"
}
warden_put() {
    _wp_dir=$(dirname "$1")
    _wp_base=$(basename "$1")
    mkdir -p "$_wp_dir" || return 1
    _wp_tmp=$(umask 077 && mktemp "$_wp_dir/.$_wp_base.warden.XXXXXX") || return 1
    if cat > "$_wp_tmp" && chown "$3:$4" "$_wp_tmp" && chmod "$2" "$_wp_tmp" \
        && mv -f "$_wp_tmp" "$1"; then
        return 0
    fi
    rm -f "$_wp_tmp"
    return 1
}
""".lstrip("\n")

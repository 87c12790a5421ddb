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

WARDEN_DIR = "/var/db/warden"
REGISTRY_DIR = f"{WARDEN_DIR}/agents"
JOURNAL_DIR = f"{WARDEN_DIR}/journal"
JOURNAL_FILE = f"{JOURNAL_DIR}/warden.jsonl"
LOCK_FILE = f"{WARDEN_DIR}/lock"
LOCK_HOLDER_FILE = f"{WARDEN_DIR}/lock.holder"

# Remote exit codes with a meaning of their own (see setup/apply.py).
RC_LOCKED = 75  # lockf(1): EX_TEMPFAIL, the lock is held by someone else
RC_REGISTRY_CHANGED = 79
RC_NOT_ROOT = 97


def q(value: str) -> str:
    """Quote one word for sh."""
    return shlex.quote(value)


def checked_path(path: str) -> str:
    """An absolute path made of ordinary characters, or ValueError."""
    if not _SAFE_PATH.fullmatch(path) or "/../" in path or path.endswith("/.."):
        raise ValueError(f"unsafe path for a managed file: {path!r}")
    return path


def checked_name(name: str) -> str:
    """A user or group name as FreeBSD's pw(8) accepts them, or ValueError."""
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"unsafe user or group name: {name!r}")
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


def put_file(path: str, content: str, mode: int, owner: str, group: str) -> str:
    """sh lines that place *content* at *path* atomically (warden_put, below)."""
    delimiter, body = heredoc(content)
    call = (
        f"warden_put {q(checked_path(path))} {mode:04o} "
        f"{q(checked_name(owner))} {q(checked_name(group))}"
    )
    if not body:
        return f"{call} </dev/null"
    return f"{call} <<'{delimiter}'\n{body}{delimiter}"


def put_file_as(user: str, path: str, content: str, mode: int) -> str:
    """sh that places *content* at *path* as *user* (a file in a directory that user
    owns: root writing there could be led by a link the user planted)."""
    delimiter, body = heredoc(content)
    name = checked_name(user)
    target = checked_path(path)
    directory, base = target.rsplit("/", 1)
    inner = (
        "umask 077; set -e; "
        f"_t=$(mktemp {q(directory + '/.' + base + '.warden.XXXXXX')}); "
        f'cat > "$_t"; chmod {mode:04o} "$_t"; mv -f "$_t" {q(target)}'
    )
    # the $_t expands in the user's shell, not in root's
    return (
        f"# shellcheck disable=SC2016\nsu {name} -c {q(inner)} <<'{delimiter}'\n{body}{delimiter}"
    )


# The library: defined once at the top of every script warden runs on a host.
#
# warden_put writes to a temporary name in the target's own directory, sets owner and
# mode there, then renames: a reader sees the old file or the new one, never half of
# one. BSD install(1) unlinks before writing and GNU install -S means something else,
# so install is not used for this.
LIBRARY = r"""
PATH="$PATH:/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"
export PATH
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

"""Values that name files and repositories: a model file, a deploy key, a soul
repository's URL and ref. They end up in command lines run as root, so each is
held to a character set no shell or git option can misread."""

import re
from urllib.parse import urlsplit

from .parsers import _A, _SSH_USER
from .problems import _Invalid

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})*"
_PATH_CHARS = r"[A-Za-z0-9._+@%,=:~/-]"
_ABS_PATH_RE = re.compile(rf"/{_PATH_CHARS}*", _A)
_FILE_NAME_RE = re.compile(r"[A-Za-z0-9._+@%,=:~][A-Za-z0-9._+@%,=:~-]*", _A)
_SCP_LIKE_RE = re.compile(
    rf"(?:{_SSH_USER}@)?(?P<host>{_HOSTNAME}):(?P<path>[A-Za-z0-9._+@%,=~][A-Za-z0-9._+@%,=:~/-]*)",
    _A,
)
_REF_RE = re.compile(r"[A-Za-z0-9._/+-]{1,255}", _A)


def _parse_model(value: str) -> str:
    segments = value.split("/")
    if (
        (_ABS_PATH_RE.fullmatch(value) and ".." not in segments)
        or (_FILE_NAME_RE.fullmatch(value) and value not in (".", ".."))
    ) and not value.endswith("/"):
        return value
    raise _Invalid(
        "must be an absolute path or a plain file name of letters, digits and ._+@%,=:~-"
        " (no spaces or '..'), e.g. /var/db/llama/model.gguf"
    )


def _parse_abs_path(value: str) -> str:
    if _ABS_PATH_RE.fullmatch(value) and ".." not in value.split("/") and value != "/":
        return value
    raise _Invalid(
        "must be an absolute path of letters, digits and ._+@%,=:~-/ (no spaces or '..'),"
        " e.g. /home/operator/.ssh/atlas-soul"
    )


_SOUL_REPO_HINT = (
    "must be a git URL: https://host/path, ssh://[user@]host[:port]/path, user@host:path,"
    " file:///path or an absolute path"
)


_URL_PASSWORD_RE = re.compile(r"[^/]*://[^/@]*:[^/@]*@")


def _parse_soul_repo(value: str) -> str:
    if _URL_PASSWORD_RE.match(value):
        raise _Invalid(
            "must not carry a password or token (it would be logged); use WARDEN_SOUL_KEY"
            " with an ssh:// or user@host:path URL for a private repository",
            secret=True,
        )
    if value.startswith("/"):
        return _repo_path(value)
    if "://" not in value:
        scp = _SCP_LIKE_RE.fullmatch(value)
        if scp and ".." not in scp.group("path").split("/"):
            return value
        raise _Invalid(_SOUL_REPO_HINT)
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise _Invalid(_SOUL_REPO_HINT) from None
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise _Invalid(f"{_SOUL_REPO_HINT}, without ?query or #fragment")
    if parts.scheme == "file":
        if parts.netloc:
            raise _Invalid("must be file:///absolute/path: a file:// URL has no host")
        _repo_path(parts.path)
        return value
    if parts.scheme not in ("https", "ssh"):
        raise _Invalid(f"{_SOUL_REPO_HINT} (scheme {parts.scheme!r} is not allowed)")
    if parts.password is not None:
        raise _Invalid("must not carry a password or token", secret=True)
    if parts.username is not None and not re.fullmatch(_SSH_USER, parts.username, _A):
        raise _Invalid(_SOUL_REPO_HINT)
    host = parts.hostname or ""
    if not re.fullmatch(_HOSTNAME, host, _A):
        raise _Invalid(_SOUL_REPO_HINT)
    if port == 0:
        raise _Invalid("port must be 1-65535")
    if not parts.path.startswith("/") or len(parts.path) < 2:
        raise _Invalid(f"{_SOUL_REPO_HINT} (the path is missing)")
    _repo_path(parts.path)
    return value


def _repo_path(path: str) -> str:
    if _ABS_PATH_RE.fullmatch(path) and ".." not in path.split("/") and path != "/":
        return path
    raise _Invalid(f"{_SOUL_REPO_HINT}; the path may hold letters, digits and ._+@%,=:~-/")


def _parse_ref(value: str) -> str:
    """git check-ref-format, simplified to what a branch, tag or sha needs."""
    components = value.split("/")
    if (
        _REF_RE.fullmatch(value)
        and not value.startswith("-")
        and not value.endswith((".", "/"))
        and ".." not in value
        and value != "@"
        and all(c and not c.startswith(".") and not c.endswith(".lock") for c in components)
    ):
        return value
    raise _Invalid(
        "must be a git branch, tag or commit: letters, digits and ._/+-, no '..', no"
        " component starting with '.' or ending in .lock, e.g. main or v1.2"
    )

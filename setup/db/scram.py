"""SCRAM-SHA-256 verifiers exactly as PostgreSQL stores them in pg_authid.rolpassword.

warden sends roles a verifier it computed itself (``PASSWORD 'SCRAM-SHA-256$...'``),
which PostgreSQL stores as given, so the plaintext password never reaches the server,
its statement log or pg_stat_activity. The computation follows RFC 5802 / RFC 7677 and
PostgreSQL's src/common/scram-common.c (scram_SaltedPassword, scram_ClientKey,
scram_ServerKey, scram_build_secret); the server's default is a 16-byte salt
(SCRAM_DEFAULT_SALT_LEN) and 4096 iterations (scram_iterations).

Non-ASCII passwords: the server (and libpq, when logging in) runs the password through
SASLprep (src/common/saslprep.c) and, for pure ASCII, leaves it unchanged. warden's
passwords are generated ASCII, and a non-ASCII one is refused here (ValueError) rather
than normalised by a second SASLprep implementation that could disagree with the
server's and lock the role out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

PREFIX = "SCRAM-SHA-256"
DEFAULT_ITERATIONS = 4096
SALT_LENGTH = 16

_B64 = r"[A-Za-z0-9+/]+={0,2}"
_VERIFIER = re.compile(rf"SCRAM-SHA-256\$([1-9][0-9]{{0,9}}):({_B64})\$({_B64}):({_B64})")


def _check_password(password: str) -> bytes:
    if not password:
        raise ValueError("a role password cannot be empty")
    if not password.isascii():
        raise ValueError(
            "the password has non-ASCII characters; warden accepts ASCII passwords only "
            "(PostgreSQL would SASLprep them)"
        )
    return password.encode("ascii")


def _keys(password: bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """(StoredKey, ServerKey) per RFC 5802 section 3."""
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return stored_key, server_key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def verifier(
    password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` for *password*.

    A fresh random salt unless one is given (tests, or reproducing a stored verifier).
    """
    if iterations < 1:
        raise ValueError("SCRAM iterations must be at least 1")
    salt = secrets.token_bytes(SALT_LENGTH) if salt is None else salt
    if not salt:
        raise ValueError("a SCRAM salt cannot be empty")
    stored_key, server_key = _keys(_check_password(password), salt, iterations)
    return f"{PREFIX}${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def parse(text: str) -> tuple[int, bytes, bytes, bytes] | None:
    """(iterations, salt, StoredKey, ServerKey) of a SCRAM-SHA-256 verifier, else None."""
    found = _VERIFIER.fullmatch(text)
    if found is None:
        return None
    try:
        salt, stored, server = (base64.b64decode(found[i], validate=True) for i in (2, 3, 4))
    except (binascii.Error, ValueError):
        return None
    if len(stored) != hashlib.sha256().digest_size or len(server) != len(stored) or not salt:
        return None
    return int(found[1]), salt, stored, server


def is_verifier(text: str) -> bool:
    """True when *text* is a well-formed verifier (safe to embed as an SQL literal)."""
    return parse(text) is not None


def matches(stored: str | None, password: str) -> bool:
    """Whether *stored* (pg_authid.rolpassword) is a SCRAM verifier of *password*.

    Recomputed with the stored salt and iterations and compared in constant time. An
    MD5 hash, a NULL password or anything else does not match: warden then sets a new
    verifier.
    """
    if stored is None:
        return False
    parts = parse(stored)
    if parts is None:
        return False
    iterations, salt, stored_key, server_key = parts
    try:
        want_stored, want_server = _keys(_check_password(password), salt, iterations)
    except ValueError:
        return False
    return hmac.compare_digest(stored_key + server_key, want_stored + want_server)

"""SCRAM-SHA-256 verifiers for the postgres playbook, as warden's setup/db/scram.py makes them.

warden never sends a plaintext password to PostgreSQL (it would reach the server's
statement log); the playbook keeps that promise by giving postgresql_user a verifier,
computed here on the controller, and only when the stored one does not already match.
Same computation (RFC 5802/7677, PostgreSQL's scram_build_secret): 16-byte random salt,
4096 iterations, ASCII passwords only (warden generates them; no SASLprep here).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

from ansible.errors import AnsibleFilterError

ITERATIONS = 4096
SALT_LENGTH = 16
_B64 = r"[A-Za-z0-9+/]+={0,2}"
_VERIFIER = re.compile(rf"SCRAM-SHA-256\$([1-9][0-9]{{0,9}}):({_B64})\$({_B64}):({_B64})")


def _password(value: object) -> bytes:
    text = str(value)
    if not text or not text.isascii():
        # Never echo the value: it is a password.
        raise AnsibleFilterError("warden_scram: the password is empty or not ASCII")
    return text.encode("ascii")


def _keys(password: bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return hashlib.sha256(client_key).digest(), hmac.digest(salted, b"Server Key", "sha256")


def scram_verifier(password: object) -> str:
    """`SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>` with a fresh salt."""
    salt = secrets.token_bytes(SALT_LENGTH)
    stored, server = _keys(_password(password), salt, ITERATIONS)
    parts = (base64.b64encode(x).decode("ascii") for x in (salt, stored, server))
    return "SCRAM-SHA-256${}:{}${}:{}".format(ITERATIONS, *parts)


def scram_matches(stored: object, password: object) -> bool:
    """Whether *stored* (pg_authid.rolpassword, or None) is a verifier of *password*."""
    found = _VERIFIER.fullmatch(stored) if isinstance(stored, str) else None
    if found is None:
        return False
    try:
        salt, stored_key, server_key = (
            base64.b64decode(found[i], validate=True) for i in (2, 3, 4)
        )
    except (binascii.Error, ValueError):
        return False
    want = _keys(_password(password), salt, int(found[1]))
    return hmac.compare_digest(stored_key + server_key, want[0] + want[1])


class FilterModule:
    """Ansible's entry point for filter plugins."""

    def filters(self) -> dict[str, object]:
        return {"warden_scram_verifier": scram_verifier, "warden_scram_matches": scram_matches}

"""SCRAM-SHA-256 verifiers: PostgreSQL's exact format, checked against the real server."""

from __future__ import annotations

import base64

import pytest

from setup.db import scram

# Produced by PostgreSQL 15.x (Debian) for this password:
#   SET password_encryption = 'scram-sha-256';
#   CREATE ROLE vec PASSWORD 'correct horse battery staple';
#   SELECT rolpassword FROM pg_authid WHERE rolname = 'vec';
SERVER_PASSWORD = "correct horse battery staple"
SERVER_VERIFIER = (
    "SCRAM-SHA-256$4096:SX6ppwBmuyDyA+5Ka29eEQ==$"
    "a6lwopnp/jgPTLEBp5ifjysJGsHSMb6ZyZmTjDXaXbg=:NyZ8UiOodubj2A1bZL/U0Vim7xP3wlL48vamvzeEluk="
)


def test_the_verifier_for_the_servers_salt_is_byte_for_byte_what_postgresql_stored() -> None:
    salt = base64.b64decode("SX6ppwBmuyDyA+5Ka29eEQ==")
    assert scram.verifier(SERVER_PASSWORD, salt=salt, iterations=4096) == SERVER_VERIFIER


def test_a_server_verifier_matches_its_password_and_no_other() -> None:
    assert scram.matches(SERVER_VERIFIER, SERVER_PASSWORD)
    assert not scram.matches(SERVER_VERIFIER, SERVER_PASSWORD + " ")
    assert not scram.matches(SERVER_VERIFIER, "Correct horse battery staple")


def test_a_new_verifier_has_the_servers_format_a_random_salt_and_matches() -> None:
    first = scram.verifier("s3cret-Pw")
    second = scram.verifier("s3cret-Pw")
    assert first != second, "each verifier gets a fresh salt"
    for text in (first, second):
        iterations, salt, stored, server = scram.parse(text) or (0, b"", b"", b"")
        assert text.startswith("SCRAM-SHA-256$4096:")
        assert (iterations, len(salt), len(stored), len(server)) == (4096, 16, 32, 32)
        assert scram.matches(text, "s3cret-Pw")


def test_the_iteration_count_is_part_of_the_verifier_and_of_the_match() -> None:
    text = scram.verifier("pw", salt=b"0123456789abcdef", iterations=10000)
    assert text.startswith("SCRAM-SHA-256$10000:MDEyMzQ1Njc4OWFiY2RlZg==$")
    assert scram.matches(text, "pw")
    tampered = text.replace("$10000:", "$4096:")
    assert not scram.matches(tampered, "pw")


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "",
        "md5" + "0" * 32,
        "SCRAM-SHA-256$4096:c2FsdA==$short:short",
        "SCRAM-SHA-256$0:SX6ppwBmuyDyA+5Ka29eEQ==$"
        "a6lwopnp/jgPTLEBp5ifjysJGsHSMb6ZyZmTjDXaXbg=:NyZ8UiOodubj2A1bZL/U0Vim7xP3wlL48vamvzeEluk=",
        SERVER_VERIFIER + "'",
    ],
)
def test_anything_but_a_well_formed_scram_verifier_never_matches(stored: str | None) -> None:
    assert not scram.matches(stored, SERVER_PASSWORD)


def test_a_non_ascii_password_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="non-ASCII") as info:
        scram.verifier("pässwörd")
    assert "pässwörd" not in str(info.value)
    assert not scram.matches(SERVER_VERIFIER, "pässwörd")


def test_an_empty_password_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        scram.verifier("")

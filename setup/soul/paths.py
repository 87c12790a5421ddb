"""What a soul may not hold, judged by name alone (before any byte is read).

A soul is copied to every host and harness the agent lives on, so anything that
is state, not identity (lock files, caches, raw chat logs, session dirs) or that
could be a credential (key files, .env, .netrc ...) is refused by its name; the
lists are documented in souls/README.md.
"""

from __future__ import annotations

from typing import NamedTuple


class Verdict(NamedTuple):
    rule: str
    detail: str


LOCK_NAMES = frozenset(
    {"package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "bun.lockb", "go.sum"}
)
CACHE_DIRS = frozenset(
    {
        "__pycache__",
        ".cache",
        "node_modules",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".venv",
        "venv",
        ".npm",
        ".yarn",
    }
)
CACHE_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
CACHE_SUFFIXES = (".pyc", ".pyo", ".swp", ".swo")
CHAT_DIRS = frozenset(
    {"chats", "chat", "logs", "transcripts", "conversations", "sessions", ".claude", ".codex"}
)
CHAT_SUFFIXES = (".jsonl", ".log")
KEY_NAMES = frozenset(
    {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk", "identity"}
)
KEY_SUFFIXES = (".pem", ".key", ".p8", ".p12", ".pfx", ".ppk", ".jks", ".keystore")
SECRET_DIRS = frozenset({".ssh", ".gnupg", ".aws", ".kube", ".docker", ".password-store"})
SECRET_NAMES = frozenset(
    {".env", ".netrc", ".pgpass", ".git-credentials", ".npmrc", ".pypirc", "credentials"}
)
SECRET_SUFFIXES = (".kdbx", ".gpg", ".asc")


def judge_dir(name: str) -> Verdict | None:
    """A directory refused as a whole (nothing below it is read)."""
    lower = name.lower()
    if lower in CACHE_DIRS:
        return Verdict("cache", "cache or build directory")
    if lower in CHAT_DIRS or lower.startswith(".aider"):
        return Verdict("chat-log", "chat logs or harness session directory")
    if lower in SECRET_DIRS:
        return Verdict("secret-file", "credential directory")
    return None


def judge_file(name: str) -> Verdict | None:
    """A file refused by its name."""
    lower = name.lower()
    if lower in LOCK_NAMES or lower.endswith(".lock"):
        return Verdict("lock-file", "lock file (runtime state, not identity)")
    if lower in CACHE_NAMES or lower.endswith(CACHE_SUFFIXES):
        return Verdict("cache", "cache file")
    if lower.endswith(CHAT_SUFFIXES) or lower.startswith(".aider"):
        return Verdict("chat-log", "raw chat log or transcript")
    if lower in KEY_NAMES or lower.endswith(KEY_SUFFIXES):
        return Verdict("private-key", "private key file (by its name)")
    if lower in SECRET_NAMES or lower.startswith(".env.") or lower.endswith(SECRET_SUFFIXES):
        return Verdict("secret-file", "credential file (by its name)")
    return None

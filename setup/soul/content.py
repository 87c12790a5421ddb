"""What a soul may not hold, judged by its bytes: size, binaries and secrets.

Secrets are found by detect-secrets (its default plugins and filters, so the
scanner's own upkeep covers new token formats); the one thing added here is a
private-key block regex, because detect-secrets misses PKCS#8 "BEGIN ENCRYPTED
PRIVATE KEY". A finding names the kind of secret and the line, never the value.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import default_settings

MAX_FILE_BYTES = 1024 * 1024
MAX_IMAGE_BYTES = 256 * 1024
IMAGE_MAGIC: dict[str, tuple[bytes, ...]] = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".webp": (b"RIFF",),
}
KEY_BLOCK = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")


class Hit(NamedTuple):
    path: str
    line: int | None
    rule: str
    detail: str


def _is_image(name: str, head: bytes) -> bool:
    suffix = Path(name).suffix.lower()
    magic = IMAGE_MAGIC.get(suffix, ())
    if suffix == ".webp":
        return head.startswith(b"RIFF") and head[8:12] == b"WEBP"
    return any(head.startswith(m) for m in magic)


def read_text(root: Path, rel: str, hits: list[Hit]) -> str | None:
    """The file as text, or None with the reason in `hits` (too big, binary, image)."""
    path = root / rel
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(16)
    if _is_image(rel, head):
        if size > MAX_IMAGE_BYTES:
            hits.append(Hit(rel, None, "oversized", f"image of {size} bytes (limit 256 KiB)"))
        return None
    if size > MAX_FILE_BYTES:
        hits.append(Hit(rel, None, "oversized", f"{size} bytes (limit 1 MiB)"))
        return None
    data = path.read_bytes()
    if b"\0" in data:
        hits.append(Hit(rel, None, "binary", "binary file (only small PNG/JPEG/GIF/WebP)"))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        hits.append(Hit(rel, line, "binary", "not UTF-8 text"))
        return None


def key_blocks(rel: str, text: str) -> list[Hit]:
    return [
        Hit(rel, number, "private-key", "private key block")
        for number, line in enumerate(text.splitlines(), 1)
        if KEY_BLOCK.search(line)
    ]


def scan_secrets(root: Path, rels: list[str]) -> list[Hit]:
    """detect-secrets over the given text files, as hits without the secret values."""
    collection = SecretsCollection(root=str(root))
    with default_settings():
        for rel in rels:
            collection.scan_file(rel)
    hits = []
    for filename, secret in collection:
        rule = "private-key" if secret.type == "Private Key" else "secret"
        detail = "private key block" if rule == "private-key" else f"{secret.type} (detect-secrets)"
        hits.append(Hit(Path(filename).as_posix(), secret.line_number, rule, detail))
    return hits

"""soul.check: the example passes; one bad soul per rule, each refused with its rule and place."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from setup.commands.soul_check import check_command
from setup.errors import Refused
from setup.soul import check_soul
from tests.harness.souls import aws_key

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "souls" / "example"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def openssh_key() -> str:
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )


@pytest.fixture
def soul(tmp_path: Path) -> Path:
    target = tmp_path / "atlas-soul"
    shutil.copytree(EXAMPLE, target)
    return target


def put(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")


def edit_manifest(soul: Path, change: Callable[[dict[str, object]], None]) -> None:
    data = json.loads((soul / "manifest.json").read_text(encoding="utf-8"))
    change(data)
    (soul / "manifest.json").write_text(json.dumps(data), encoding="utf-8")


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


BAD_SOULS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "missing file": (lambda s: (s / "IDENTITY.md").unlink(), "required-file", "IDENTITY.md"),
    "bad json": (
        lambda s: put(s / "manifest.json", '{\n "agent": "atlas",\n}\n'),
        "manifest-json",
        "manifest.json:3",
    ),
    "bad schema": (
        lambda s: edit_manifest(s, lambda d: d.update(schema_version=7)),
        "manifest-schema",
        "manifest.json",
    ),
    "missing adapter": (
        lambda s: (s / "adapters" / "claude-code.md").unlink(),
        "manifest-adapter",
        "manifest.json",
    ),
    "aws key": (
        lambda s: append(s / "USER.md", f"\naws_access_key_id = {aws_key()}\n"),
        "secret",
        "USER.md:8",
    ),
    "key in a text file": (
        lambda s: put(s / "notes" / "deploy.txt", openssh_key()),
        "private-key",
        "notes/deploy.txt:1",
    ),
    "key file": (
        lambda s: put(s / "keys" / "id_ed25519", openssh_key()),
        "private-key",
        "keys/id_ed25519",
    ),
    "env file": (lambda s: put(s / ".env", "AGENT_NAME=atlas\n"), "secret-file", ".env"),
    "ssh dir": (lambda s: put(s / ".ssh" / "config", "Host x\n"), "secret-file", ".ssh/"),
    "package-lock": (
        lambda s: put(s / "tools" / "package-lock.json", "{}"),
        "lock-file",
        "tools/package-lock.json",
    ),
    "poetry.lock": (lambda s: put(s / "poetry.lock", ""), "lock-file", "poetry.lock"),
    "pycache": (
        lambda s: put(s / "skills" / "__pycache__" / "x.cpython-311.pyc", b"\0"),
        "cache",
        "skills/__pycache__/",
    ),
    "node_modules": (
        lambda s: put(s / "node_modules" / "a" / "index.js", ""),
        "cache",
        "node_modules/",
    ),
    "ds_store": (lambda s: put(s / "memories" / ".DS_Store", b"\0"), "cache", "memories/.DS_Store"),
    "pyc": (lambda s: put(s / "helper.pyc", b"\0"), "cache", "helper.pyc"),
    "transcript": (
        lambda s: put(s / "memories" / "session.jsonl", '{"role": "user"}\n'),
        "chat-log",
        "memories/session.jsonl",
    ),
    "chats dir": (lambda s: put(s / "chats" / "2025-01-01.md", "hi\n"), "chat-log", "chats/"),
    "claude dir": (
        lambda s: put(s / ".claude" / "settings.json", "{}"),
        "chat-log",
        ".claude/",
    ),
    "oversized": (
        lambda s: put(s / "memories" / "curated" / "huge.md", "a" * (1024 * 1024 + 1)),
        "oversized",
        "memories/curated/huge.md",
    ),
    "big image": (
        lambda s: put(s / "avatar.png", PNG + b"\1" * 300 * 1024),
        "oversized",
        "avatar.png",
    ),
    "binary": (lambda s: put(s / "tool.bin", b"\x7fELF\0\0\1"), "binary", "tool.bin"),
    "not utf-8": (
        lambda s: put(s / "notes.md", "line one\ncaf\xe9\n".encode("latin-1")),
        "binary",
        "notes.md:2",
    ),
    "symlink": (lambda s: (s / "home").symlink_to("/etc"), "symlink", "home/"),
    "fifo": (lambda s: os.mkfifo(s / "pipe"), "special-file", "pipe"),
    "skill without front matter": (
        lambda s: put(s / "skills" / "bare" / "SKILL.md", "# Bare\n"),
        "skill",
        "skills/bare/SKILL.md:1",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SOULS))
def test_a_bad_soul_is_refused_naming_the_rule_and_the_place(
    soul: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spoil, rule, location = BAD_SOULS[case]
    spoil(soul)
    report = check_soul(soul, None)
    assert [(f.rule, f.location) for f in report.findings] == [(rule, location)]
    assert not report.ok
    assert check_command(str(soul), None, as_json=False) == 2
    out = capsys.readouterr().out
    assert rule in out and location in out


def test_the_example_soul_passes_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    report = check_soul(EXAMPLE, None)
    assert report.findings == ()
    assert (report.agent, report.identity) == ("atlas", "SOUL.md")
    assert check_command(str(EXAMPLE), None, as_json=False) == 0
    assert "clean: the soul passes every check" in capsys.readouterr().out


def test_an_agent_named_file_is_the_identity_before_soul_md(soul: Path) -> None:
    put(soul / "ATLAS.md", "# Atlas, as this host knows it\n")
    assert check_soul(soul, None).identity == "ATLAS.md"
    assert check_soul(soul, "zeus").identity == "SOUL.md"


def test_a_manifest_for_another_agent_is_a_warning_not_a_refusal(soul: Path) -> None:
    report = check_soul(soul, "zeus")
    assert [(f.rule, f.level) for f in report.findings] == [("manifest-agent", "warning")]
    assert report.ok and report.agent == "zeus"


def test_the_git_directory_is_not_read(soul: Path) -> None:
    put(soul / ".git" / "objects" / "pack" / "x.pack", b"\0" * 2_000_000)
    put(soul / ".git" / "logs" / "HEAD", "x\n")
    assert check_soul(soul, None).findings == ()


def test_json_output_lists_every_finding_with_its_fields(
    soul: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put(soul / "poetry.lock", "")
    assert check_command(str(soul), None, as_json=True) == 2
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "soul": str(soul),
        "agent": "atlas",
        "identity": "SOUL.md",
        "ok": False,
        "errors": 1,
        "warnings": 0,
        "findings": [
            {
                "path": "poetry.lock",
                "line": None,
                "rule": "lock-file",
                "detail": "lock file (runtime state, not identity)",
                "level": "error",
            }
        ],
    }


def test_secrets_are_reported_but_never_printed(
    soul: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_id = aws_key()
    private = openssh_key()
    append(soul / "USER.md", f"\nAWS key: {key_id}\n")
    put(soul / "backup" / "atlas_deploy", private)
    for as_json in (False, True):
        assert check_command(str(soul), None, as_json=as_json) == 2
        out = capsys.readouterr()
        text = out.out + out.err
        assert "USER.md:8" in text or '"line": 8' in text
        assert "AWS Access Key" in text and "backup/atlas_deploy" in text
        assert key_id not in text
        body = private.splitlines()[1]
        assert body[:20] not in text


def test_a_pkcs8_encrypted_key_that_detect_secrets_misses_is_still_found(soul: Path) -> None:
    pem = (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pass phrase"),
        )
        .decode()
    )
    put(soul / "notes.md", "# notes\n\n" + pem)
    findings = check_soul(soul, None).findings
    assert [(f.rule, f.location) for f in findings] == [("private-key", "notes.md:3")]


def test_a_small_image_is_allowed(soul: Path) -> None:
    put(soul / "avatar.png", PNG)
    assert check_soul(soul, None).findings == ()


def test_env_with_a_local_soul_repo_checks_that_directory(
    soul: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "atlas.env"
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    env.write_text(
        text.replace("https://git.example.org/atlas/soul.git", str(soul)), encoding="utf-8"
    )
    put(soul / "ATLAS.md", "# Atlas\n")
    assert check_command(None, str(env), as_json=True) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["soul"], document["identity"]) == (str(soul), "ATLAS.md")


def test_env_with_a_remote_soul_repo_says_the_soul_step_checks_it() -> None:
    with pytest.raises(Refused, match=r"remote repository.*checks it after cloning"):
        check_command(None, str(ROOT / ".env.example"), as_json=False)


def test_a_path_or_env_is_required() -> None:
    with pytest.raises(Refused, match="give the soul's PATH"):
        check_command(None, None, as_json=False)

"""manifest.json: the model, its generated schema file, and errors that name path and value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from setup.soul.check import load_manifest
from setup.soul.manifest import SCHEMA_PATH, SoulManifest, manifest_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "souls" / "example" / "manifest.json"


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def example() -> dict[str, object]:
    data: dict[str, object] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def test_the_schema_file_is_exactly_the_models_schema() -> None:
    assert SCHEMA_PATH == ROOT / "souls" / "manifest.schema.json"
    assert json.loads(SCHEMA_PATH.read_text(encoding="utf-8")) == manifest_schema()


def test_the_example_manifest_is_valid_and_names_atlas() -> None:
    manifest = SoulManifest.model_validate(example())
    assert manifest.agent == "atlas"
    assert manifest.adapters["claude-code"].target == "CLAUDE.md"
    assert manifest.privacy.import_memories is True


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("agent", "Atlas"), '$.agent: "Atlas": Value error, must be lowercase'),
        (("agent", "sshd"), '$.agent: "sshd": Value error, sshd is already used by FreeBSD'),
        (("schema_version", 2), "$.schema_version: 2: Input should be 1"),
        (("colour", "blue"), '$.colour: unexpected key (value "blue")'),
    ],
)
def test_a_bad_manifest_is_refused_naming_the_json_path_and_value(
    tmp_path: Path, change: tuple[str, object], expected: str
) -> None:
    data = example()
    data[change[0]] = change[1]
    manifest, findings = load_manifest(write(tmp_path, data))
    assert manifest is None
    assert [(f.path, f.rule) for f in findings] == [("manifest.json", "manifest-schema")]
    assert findings[0].detail.startswith(expected), findings[0].detail


def test_an_adapter_target_outside_the_work_directory_is_refused(tmp_path: Path) -> None:
    data = example()
    adapter = {"source": "adapters/claude-code.md", "target": "../.profile"}
    data["adapters"] = {"claude-code": adapter}
    _, findings = load_manifest(write(tmp_path, data))
    assert [f.detail.split(":")[0] for f in findings] == ["$.adapters.claude-code.target"]
    assert '"../.profile"' in findings[0].detail


def test_a_time_without_a_zone_and_a_missing_author_are_both_reported(tmp_path: Path) -> None:
    data = example()
    data["provenance"] = {"created_at": "2025-01-15T09:00:00"}
    _, findings = load_manifest(write(tmp_path, data))
    details = sorted(f.detail for f in findings)
    assert details[0].startswith('$.provenance.created_at: "2025-01-15T09:00:00": ')
    assert details[1] == "$.provenance.created_by: missing"


def test_an_origin_with_a_token_is_refused_without_showing_it(tmp_path: Path) -> None:
    data = example()
    token = "ghp" + "x" * 20
    data["provenance"] = {
        "origin": f"https://atlas:{token}@git.example.org/atlas/soul.git",
        "created_by": "me",
        "created_at": "2025-01-15T09:00:00Z",
    }
    _, findings = load_manifest(write(tmp_path, data))
    assert [f.detail.split(":")[0] for f in findings] == ["$.provenance.origin"]
    assert "(value hidden)" in findings[0].detail
    assert token not in findings[0].detail


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{\n  "schema_version": 1,\n  "agent": atlas\n}\n', encoding="utf-8")
    manifest, findings = load_manifest(path)
    assert manifest is None
    assert [(f.rule, f.location) for f in findings] == [("manifest-json", "manifest.json:3")]


def test_a_key_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    path.write_text('{"agent": "atlas", "agent": "zeus"}', encoding="utf-8")
    _, findings = load_manifest(path)
    assert [(f.rule, f.detail) for f in findings] == [("manifest-json", "key agent appears twice")]

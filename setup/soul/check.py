"""soul.check: everything a soul must be, and must not hold, as a list of findings.

`check_soul` only reads, so the soul step and soul.sync can run it on a fresh
clone and refuse before anything is written or pushed. Findings carry the rule,
the file and line and a detail that never quotes a secret.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from .content import Hit, key_blocks, read_text, scan_secrets
from .manifest import SECRET_ERROR, SoulManifest
from .paths import judge_dir, judge_file

Level = Literal["error", "warning"]

REQUIRED = ("SOUL.md", "USER.md", "IDENTITY.md", "AGENTS.md", "manifest.json")
MANIFEST = "manifest.json"
_SKILL = re.compile(r"skills/(?:.+/)?SKILL\.md")
_VALUE_LIMIT = 40


@dataclass(frozen=True, order=True)
class Finding:
    """One problem: `path` is relative to the soul ('name/' for a directory)."""

    path: str
    line: int | None
    rule: str
    detail: str
    level: Level = "error"

    @property
    def location(self) -> str:
        return self.path if self.line is None else f"{self.path}:{self.line}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CheckReport:
    """The verdict on one soul: which agent, which identity file, what is wrong."""

    root: Path
    agent: str | None
    identity: str | None
    manifest: SoulManifest | None
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        return {
            "soul": str(self.root),
            "agent": self.agent,
            "identity": self.identity,
            "ok": self.ok,
            "errors": sum(f.level == "error" for f in self.findings),
            "warnings": sum(f.level == "warning" for f in self.findings),
            "findings": [f.to_json() for f in self.findings],
        }


def check_soul(path: Path, agent_name: str | None = None) -> CheckReport:
    """Check the soul at `path`; `agent_name` (the .env's AGENT_NAME) wins over the manifest's."""
    files, findings = _walk(path)
    hits = _content(path, files)
    findings += [_finding(h) for h in hits]
    findings += [
        Finding(
            name,
            None,
            "required-file",
            "missing (a soul needs SOUL.md, USER.md, IDENTITY.md, AGENTS.md and manifest.json)",
        )
        for name in REQUIRED
        if name not in files
    ]
    manifest = None
    if MANIFEST in files and not any(h.path == MANIFEST and h.rule in _UNREADABLE for h in hits):
        hide = any(h.path == MANIFEST for h in hits)
        manifest, problems = load_manifest(path / MANIFEST, hide_values=hide)
        findings += problems
    agent = agent_name or (manifest.agent if manifest else None)
    if manifest is not None:
        findings += _manifest_links(manifest, files, agent_name)
    findings += _skills(path, files, hits)
    return CheckReport(
        root=path,
        agent=agent,
        identity=resolve_identity(files, agent),
        manifest=manifest,
        findings=tuple(sorted(set(findings), key=_order)),
    )


def resolve_identity(files: set[str], agent: str | None) -> str | None:
    """The identity file: `<AGENT_NAME upper>.md` when the soul has one, else SOUL.md."""
    if agent and f"{agent.upper()}.md" in files:
        return f"{agent.upper()}.md"
    return "SOUL.md" if "SOUL.md" in files else None


_UNREADABLE = frozenset({"oversized", "binary"})


def _order(finding: Finding) -> tuple[str, int, str, str]:
    return (finding.path, finding.line or 0, finding.rule, finding.detail)


def _finding(hit: Hit) -> Finding:
    return Finding(hit.path, hit.line, hit.rule, hit.detail)


def _walk(root: Path) -> tuple[set[str], list[Finding]]:
    """Regular files worth reading, and what is refused by name or kind (.git/ skipped)."""
    files: set[str] = set()
    findings: list[Finding] = []
    for current, dirs, names in os.walk(root, followlinks=False):
        base = Path(current).relative_to(root)
        for name in sorted(dirs):
            rel = (base / name).as_posix()
            verdict = judge_dir(name)
            if name == ".git":
                dirs.remove(name)
            elif (root / rel).is_symlink():
                findings.append(Finding(rel + "/", None, "symlink", "symbolic link"))
                dirs.remove(name)
            elif verdict:
                findings.append(Finding(rel + "/", None, verdict.rule, verdict.detail))
                dirs.remove(name)
        for name in names:
            rel = (base / name).as_posix()
            found = _judge_entry(root / rel, rel, name)
            if found is None and name != ".git":
                files.add(rel)
            elif found is not None:
                findings.append(found)
    return files, findings


def _judge_entry(path: Path, rel: str, name: str) -> Finding | None:
    if path.is_symlink():
        return Finding(rel, None, "symlink", "symbolic link")
    if not path.is_file():
        return Finding(rel, None, "special-file", "not a regular file")
    verdict = judge_file(name)
    return Finding(rel, None, verdict.rule, verdict.detail) if verdict else None


def _content(root: Path, files: set[str]) -> list[Hit]:
    hits: list[Hit] = []
    texts: dict[str, str] = {}
    for rel in sorted(files):
        text = read_text(root, rel, hits)
        if text is not None:
            texts[rel] = text
            hits += key_blocks(rel, text)
    hits += scan_secrets(root, sorted(texts))
    return hits


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def load_manifest(
    path: Path, hide_values: bool = False
) -> tuple[SoulManifest | None, list[Finding]]:
    """The manifest, or findings naming the JSON path and the bad value of each error."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        detail = f"not valid JSON: {exc.msg} (column {exc.colno})"
        return None, [Finding(MANIFEST, exc.lineno, "manifest-json", detail)]
    except _DuplicateKey as exc:
        return None, [Finding(MANIFEST, None, "manifest-json", f"key {exc} appears twice")]
    try:
        return SoulManifest.model_validate(data), []
    except ValidationError as exc:
        return None, [
            Finding(MANIFEST, None, "manifest-schema", _describe(error, hide_values))
            for error in exc.errors(include_url=False)
        ]


def _describe(error: Any, hide_values: bool) -> str:
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
    if error["type"] == "missing":
        return f"{where}: missing"
    if error["type"] == SECRET_ERROR or hide_values:
        shown = "(value hidden)"
    else:
        shown = json.dumps(error["input"], ensure_ascii=True, default=str)
        if len(shown) > _VALUE_LIMIT:
            shown = shown[: _VALUE_LIMIT - 3] + "..."
    if error["type"] == "extra_forbidden":
        return f"{where}: unexpected key (value {shown})"
    return f"{where}: {shown}: {error['msg']}"


def _manifest_links(
    manifest: SoulManifest, files: set[str], agent_name: str | None
) -> list[Finding]:
    found = [
        Finding(
            MANIFEST,
            None,
            "manifest-adapter",
            f"$.adapters.{harness}.source: {adapter.source!r} is not a file of the soul",
        )
        for harness, adapter in sorted(manifest.adapters.items())
        if adapter.source not in files
    ]
    if agent_name and manifest.agent != agent_name:
        found.append(
            Finding(
                MANIFEST,
                None,
                "manifest-agent",
                f"$.agent: {manifest.agent!r} but AGENT_NAME is {agent_name!r}",
                "warning",
            )
        )
    return found


def _skills(root: Path, files: set[str], hits: list[Hit]) -> list[Finding]:
    """SKILL.md opens with front matter naming the skill (what seeding system_skills keys on)."""
    unreadable = {h.path for h in hits if h.rule in _UNREADABLE}
    found = []
    for rel in sorted(files):
        if not _SKILL.fullmatch(rel) or rel in unreadable:
            continue
        lines = (root / rel).read_text(encoding="utf-8").splitlines()
        head = _front_matter(lines)
        missing = [k for k in ("name", "description") if not head.get(k)]
        if missing:
            detail = "needs front matter (--- ... ---) with " + " and ".join(
                f"{k}:" for k in missing
            )
            found.append(Finding(rel, 1, "skill", detail))
    return found


def _front_matter(lines: list[str]) -> dict[str, str]:
    if not lines or lines[0].strip() != "---":
        return {}
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == "---":
            return fields
        key, sep, value = line.partition(":")
        if sep and not key.startswith((" ", "\t")):
            fields[key.strip()] = value.strip().strip("\"'")
    return {}

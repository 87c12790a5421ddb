"""soul.check on a commit that is not checked out here: its tree, streamed from the host.

`git archive` gives the commit's files, but it obeys the tree's own
.gitattributes: an `export-ignore` line would hide a file from the check while
the push still carries it. So the archive is compared with `git ls-tree`, and a
path the archive left out is a finding of its own. The tar is unpacked with
tarfile's `data` filter (no absolute paths, no links leaving the tree, no
devices); what the filter refuses is a finding too, never an exception.
"""

from __future__ import annotations

import dataclasses
import io
import tarfile
import tempfile
from pathlib import Path

from .check import CheckReport, Finding, check_soul

_GITLINK = "160000"  # a submodule: a commit id, no files to check


def tree_paths(listing: bytes) -> set[str]:
    """Paths of the blobs (files and symlinks) in `git ls-tree -r -z` output."""
    paths: set[str] = set()
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        mode = meta.split(b" ", 1)[0].decode(errors="replace")
        if mode != _GITLINK:
            paths.add(path.decode(errors="replace"))
    return paths


def check_tree(listing: bytes, archive: bytes, agent: str | None, label: str) -> CheckReport:
    """check_soul on the files of one commit; `label` stands for the root in the report."""
    with tempfile.TemporaryDirectory(prefix="warden-soul-") as tmp:
        root = Path(tmp) / "tree"
        root.mkdir()
        unpacked, problems = _unpack(archive, root)
        report = check_soul(root, agent)
    hidden = sorted(tree_paths(listing) - unpacked)
    problems += [
        Finding(
            path,
            None,
            "export-ignore",
            "left out of git archive by .gitattributes, yet"
            " the push would carry it; remove the attribute so it can be checked",
        )
        for path in hidden
    ]
    findings = tuple(sorted(set(report.findings) | set(problems)))
    return dataclasses.replace(report, root=Path(label), findings=findings)


def _unpack(archive: bytes, root: Path) -> tuple[set[str], list[Finding]]:
    names: set[str] = set()
    problems: list[Finding] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            for member in tar:
                name = member.name.rstrip("/")
                if not member.isdir():
                    names.add(name)
                try:
                    tar.extract(member, root, filter="data")
                except tarfile.FilterError as exc:
                    problems.append(Finding(name, None, "unsafe-path", _why(exc)))
    except tarfile.TarError as exc:
        problems.append(Finding(".", None, "archive", f"git archive output unreadable: {exc}"))
    return names, problems


def _why(exc: tarfile.FilterError) -> str:
    if isinstance(exc, tarfile.LinkOutsideDestinationError | tarfile.AbsoluteLinkError):
        return "symbolic link pointing outside the soul"
    if isinstance(exc, tarfile.AbsolutePathError | tarfile.OutsideDestinationError):
        return "path outside the soul"
    return "not a regular file or directory"

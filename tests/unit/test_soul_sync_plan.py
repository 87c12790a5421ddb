"""soul.sync's parts that need no host: the scripts, the probe's parser, the commit check.

The commit check runs on trees made by real git here (git archive, git ls-tree), as
the host's git makes them; the end-to-end cases over SSH are in
tests/integration/test_soul_sync.py.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from setup.config import AgentConfig
from setup.errors import HostError, Refused
from setup.soul import remote
from setup.soul.remote import Clone, Probe, ProbeFailed
from setup.soul.sync import HostSync, clone_of, exit_code, host_key_path, sync_hosts
from setup.soul.tree import check_tree, tree_paths
from setup.transport import Executor, Result
from tests.harness.agents import config_of
from tests.harness.souls import aws_key
from tests.portability import scan

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "souls" / "example"
REPO = "ssh://git@hub.example.org/srv/git/atlas-soul.git"
HEAD = "a" * 40
HUB = "b" * 40


def soul_config(**overrides: str) -> AgentConfig:
    return config_of(WARDEN_SOUL_REPO=REPO, **overrides)


def clone() -> Clone:
    return clone_of(soul_config())


# ------------------------------------------------------------------ scripts


def every_script() -> dict[str, str]:
    c = clone()
    return {
        "probe": remote.probe_script(c),
        "commits": remote.commits_script(c, HUB, HEAD),
        "listing": remote.listing_script(c, HEAD),
        "archive": remote.archive_script(c, HEAD),
        "fast-forward": remote.fast_forward_script(c, HEAD, HUB),
        "push": remote.push_script(c, HEAD),
    }


def portability_problems(text: str) -> list[str]:
    """The scan, minus git's own long options: git is the same program on FreeBSD
    (devel/git from packages), so `git rev-list --reverse` is portable; any other
    tool's GNU-style option still counts."""
    return [p for p in scan(text) if not re.search(r"GNU-style --[a-z-]+ on git:", p)]


def agent_part(script: str) -> str:
    """The script the agent's sh runs: the word after `/bin/sh -c` on the timeout line."""
    start = script.index(f"\ntimeout --foreground -k 5 {remote.SECONDS} ") + 1
    words = shlex.split(script[start : script.index(' </dev/null >"$_w_tmp/out"', start)])
    return words[words.index("-c") + 1]


@pytest.mark.parametrize("name", sorted(every_script()))
def test_each_sync_script_and_its_agent_part_parse_pass_shellcheck_and_stay_portable(
    name: str, tmp_path: Path
) -> None:
    assert shutil.which("shellcheck"), "shellcheck is required (apt-get install shellcheck)"
    outer = every_script()[name]
    for part, text in (("root", outer), ("agent", agent_part(outer))):
        parsed = subprocess.run(["sh", "-n"], input=text.encode(), capture_output=True)
        assert parsed.returncode == 0, (part, parsed.stderr)
        path = tmp_path / f"{part}.sh"
        path.write_text(text)
        checked = subprocess.run(
            ["shellcheck", "-s", "sh", str(path)], capture_output=True, text=True
        )
        assert checked.returncode == 0, (part, checked.stdout)
        assert portability_problems(text) == [], part


def test_git_runs_as_the_agent_in_its_clone_with_strict_batch_ssh() -> None:
    script = remote.probe_script(clone())
    # warden's one as-user primitive: no login shell, no startup file, bounded
    assert "timeout --foreground -k 5 300 chroot -u atlas -g atlas -G atlas / " in script
    assert "/usr/bin/env -i HOME=/home/atlas USER=atlas LOGNAME=atlas" in script
    assert "su " not in script
    inner = agent_part(script)
    assert "cd /home/atlas/soul || exit 70" in inner
    ssh = shlex.split(inner.split("GIT_SSH_COMMAND=", 1)[1].split(";", 1)[0])[0]
    assert ssh.split() == [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "ConnectTimeout=15",
    ]


def test_with_a_soul_key_ssh_uses_only_the_deploy_key_placed_in_the_agents_ssh_dir() -> None:
    config = soul_config(WARDEN_SOUL_KEY="/home/operator/.ssh/atlas-soul")
    key = host_key_path(config)
    assert key == "/home/atlas/.ssh/soul_deploy_key"
    command = remote.ssh_command(clone_of(config))
    assert f"-o IdentitiesOnly=yes -i {key}" in command
    probe = agent_part(remote.probe_script(clone_of(config)))
    assert f"if [ ! -r {key} ]; then echo key=missing; exit 0; fi" in probe
    assert probe.index("key=missing") < probe.index("git fetch")
    assert "key=missing" not in remote.probe_script(clone())
    assert Probe.parse(result("state=present\norigin=same\nkey=missing\n")).key == "missing"


def test_the_origin_url_is_compared_on_the_host_and_never_printed() -> None:
    inner = agent_part(remote.probe_script(clone()))
    assert f'"$(git config --get remote.origin.url)" != {REPO}' in inner
    assert "echo origin=other" in inner and 'echo "$(git config' not in inner


def test_the_push_is_of_the_checked_commit_and_never_forced() -> None:
    inner = agent_part(remote.push_script(clone(), HEAD))
    assert f"git push --quiet origin {HEAD}:refs/heads/main" in inner
    assert "--force" not in inner and "+" not in inner.split("git push", 1)[1]


def test_a_fast_forward_happens_only_from_the_head_the_probe_saw() -> None:
    inner = agent_part(remote.fast_forward_script(clone(), HEAD, HUB))
    assert f'"$(git rev-parse --verify -q HEAD)" != {HEAD}' in inner
    assert f"git merge --ff-only --quiet {HUB}" in inner


def test_anything_but_a_commit_id_is_refused_before_it_reaches_a_script() -> None:
    with pytest.raises(ValueError, match="not a commit id"):
        remote.push_script(clone(), "HEAD; rm -rf /")
    with pytest.raises(ValueError, match="not a commit id"):
        remote.commits_script(clone(), HUB, "main")


def test_a_ref_that_is_no_branch_name_is_refused_with_exit_2() -> None:
    config = soul_config().model_copy(update={"soul_ref": "a..b"})
    with pytest.raises(Refused, match=r"WARDEN_SOUL_REF='a\.\.b' is not a branch name"):
        clone_of(config)


def test_an_agent_without_a_soul_repo_is_refused() -> None:
    with pytest.raises(Refused, match="sets no WARDEN_SOUL_REPO"):
        clone_of(config_of())


# ------------------------------------------------------------------ the probe


def result(stdout: str, rc: int = 0, stderr: str = "") -> Result:
    return Result(rc, stdout.encode(), stderr)


def test_the_probe_reads_head_hub_counts_and_dirt() -> None:
    probe = Probe.parse(
        result(
            "state=present\norigin=same\nfetch=ok\n"
            f"head={HEAD}\nhub={HUB}\nbranch=main\ndirty=       2\ncounts=3\t1\n"
        )
    )
    assert probe == Probe(
        state="present",
        origin="same",
        fetch="ok",
        head=HEAD,
        hub=HUB,
        branch="main",
        dirty=2,
        ahead=3,
        behind=1,
    )


def test_a_probe_that_never_said_whether_a_clone_exists_fails_with_stderr() -> None:
    with pytest.raises(ProbeFailed, match="su: unknown login: atlas"):
        Probe.parse(result("", 1, "su: unknown login: atlas\n"))


def test_a_probe_printing_something_else_than_a_commit_id_fails() -> None:
    with pytest.raises(ProbeFailed, match="not a commit id"):
        Probe.parse(result("state=present\norigin=same\nfetch=ok\nhead=$(evil)\n"))


def test_git_boilerplate_is_dropped_from_a_failure() -> None:
    stderr = (
        "No ED25519 host key is known for hub and you have requested strict checking.\n"
        "Host key verification failed.\n"
        "fatal: Could not read from remote repository.\n\n"
        "Please make sure you have the correct access rights\nand the repository exists.\n"
    )
    assert remote.failure(result("", 128, stderr)) == (
        "No ED25519 host key is known for hub and you have requested strict checking."
        " / Host key verification failed."
    )


# ------------------------------------------------------------------ checking a commit


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(repo),
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t.invalid",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t.invalid",
        },
    ).stdout


def committed(tmp_path: Path, change: dict[str, str] | None = None) -> tuple[bytes, bytes]:
    """(ls-tree listing, archive) of souls/example with *change* applied, made by real git."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    for rel, text in (change or {}).items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "c")
    return (
        git(repo, "ls-tree", "-r", "-z", "--full-tree", "HEAD"),
        git(repo, "archive", "--format=tar", "HEAD"),
    )


def test_the_example_soul_at_a_commit_passes(tmp_path: Path) -> None:
    report = check_tree(*committed(tmp_path), "atlas", "a:/home/atlas/soul@abc")
    assert report.ok and report.findings == ()
    assert str(report.root) == "a:/home/atlas/soul@abc"


def test_a_secret_in_a_commit_is_found_without_its_value(tmp_path: Path) -> None:
    key_id = aws_key()
    user = (EXAMPLE / "USER.md").read_text()
    listing, archive = committed(tmp_path, {"USER.md": user + f"\nkey = {key_id}\n"})
    report = check_tree(listing, archive, "atlas", "x")
    assert not report.ok
    assert [(f.path, f.rule) for f in report.findings] == [("USER.md", "secret")]
    assert key_id not in json.dumps(report.to_json())


def test_a_file_hidden_from_git_archive_by_export_ignore_is_refused(tmp_path: Path) -> None:
    listing, archive = committed(
        tmp_path, {".gitattributes": "notes.md export-ignore\n", "notes.md": f"{aws_key()}\n"}
    )
    assert "notes.md" in tree_paths(listing)
    report = check_tree(listing, archive, "atlas", "x")
    assert [(f.path, f.rule) for f in report.findings] == [("notes.md", "export-ignore")]


def test_a_symlink_leaving_the_soul_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo)
    (repo / "passwd.md").symlink_to("/etc/passwd")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "c")
    report = check_tree(
        git(repo, "ls-tree", "-r", "-z", "--full-tree", "HEAD"),
        git(repo, "archive", "--format=tar", "HEAD"),
        "atlas",
        "x",
    )
    assert [(f.path, f.rule, f.detail) for f in report.findings] == [
        ("passwd.md", "unsafe-path", "symbolic link pointing outside the soul")
    ]


def test_a_submodule_entry_is_no_file_to_check() -> None:
    listing = f"160000 commit {HEAD}\tvendor/x\x00100644 blob {HUB}\tSOUL.md\x00".encode()
    assert tree_paths(listing) == {"SOUL.md"}


# ------------------------------------------------------------------ hosts and exit codes


def test_an_unreachable_host_is_reported_and_the_others_are_still_tried() -> None:
    tried: list[str] = []

    def connect(target: str) -> Executor:
        tried.append(target)
        raise HostError(f"{target}: cannot connect: [Errno 111] Connection refused")

    rows = sync_hosts(soul_config(), ["a", "b"], connect)
    assert tried == ["a", "b"]
    assert [(r.target, r.state, r.exit_code) for r in rows] == [
        ("a", "unreachable", 3),
        ("b", "unreachable", 3),
    ]
    assert "Connection refused" in rows[0].advice
    assert exit_code(rows) == 3


def test_the_exit_code_is_the_highest_of_any_host() -> None:
    rows = [HostSync("a", "in sync", 0), HostSync("b", "diverged", 1), HostSync("c", "missing", 0)]
    assert exit_code(rows) == 1
    assert exit_code([]) == 0


@pytest.mark.parametrize(
    ("row", "shown"),
    [
        (HostSync("h", "ahead", 0, ahead=2), "ahead 2"),
        (HostSync("h", "behind", 0, behind=1), "behind 1"),
        (HostSync("h", "diverged", 1, ahead=1, behind=3), "diverged (1 ahead, 3 behind)"),
        (HostSync("h", "dirty", 1, dirty=4), "dirty (4 uncommitted change(s))"),
        (HostSync("h", "missing", 0), "missing (no clone)"),
        (HostSync("h", "blocked", 1, why="fetch failed"), "blocked (fetch failed)"),
    ],
)
def test_each_state_reads_as_the_table_shows_it(row: HostSync, shown: str) -> None:
    assert row.shown_state == shown
    assert row.to_json()["shown"] == shown


def test_invoke_soul_sync_refuses_a_bad_env_before_any_connection(tmp_path: Path) -> None:
    env = tmp_path / "atlas.env"
    env.write_text("AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_HOST=unreachable.invalid\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoke",
            "--search-root",
            str(ROOT),
            "soul.sync",
            "--env",
            str(env),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "sets no WARDEN_SOUL_REPO" in done.stderr
    assert "cannot connect" not in done.stderr

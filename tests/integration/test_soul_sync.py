"""soul.sync with real git over real SSH: a bare hub on one test host, clones on two others.

The agent hosts reach the hub's sshd with the agent's own key and the hub's host
key pinned (tests/soulhub.py); the operator reaches them through the hub
(ProxyJump), as warden reaches a guest behind its host.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from setup.config import load_config
from setup.soul.sync import HostSync, exit_code, sync_hosts
from setup.transport import Executor, SSHExecutor
from tests.harness.souls import aws_key
from tests.operator import Operator
from tests.soulhub import AGENT, CLONE, HUB_REPO, SoulHosts, build
from tests.testhost import TestNetwork, generate_key


@pytest.fixture
def soul(test_network: TestNetwork, tmp_path: Path) -> SoulHosts:
    return build(test_network, tmp_path)


@pytest.fixture
def operator(tmp_path: Path, soul: SoulHosts) -> Operator:
    return Operator(
        tmp_path / "home", [("hub", soul.hub, None), ("a", soul.a, "hub"), ("b", soul.b, "hub")]
    )


@pytest.fixture
def env(operator: Operator, soul: SoulHosts) -> Path:
    return operator.env_file(AGENT, host="a", extra=f"WARDEN_SOUL_REPO={soul.url}\n")


def sync(operator: Operator, env: Path, hosts: str = "a,b") -> list[HostSync]:
    """soul.sync in this process, over the operator's ssh_config (one connection per host)."""

    def connect(target: str) -> Executor:
        return SSHExecutor(target, ssh_config=operator.ssh_config)

    return sync_hosts(load_config(env), hosts.split(","), connect)


def rows(results: list[HostSync]) -> dict[str, HostSync]:
    return {r.target: r for r in results}


def hub_commit(soul: SoulHosts, path: str, text: str) -> str:
    """Someone else pushes to the hub (as its git user, in a scratch clone on the hub)."""
    script = (
        f"rm -rf /tmp/scratch && git clone -q {HUB_REPO} /tmp/scratch && cd /tmp/scratch"
        f" && printf '%s' '{text}' > {path} && git add {path}"
        " && git -c user.name=other -c user.email=other@warden.invalid commit -q -m other"
        " && git push -q origin main"
    )
    soul.hub.exec(["su", "git", "-c", script])
    return soul.hub_tip()


def test_a_commit_pushed_from_one_host_shows_behind_on_the_other_and_sync_fast_forwards_it(
    soul: SoulHosts, operator: Operator, env: Path
) -> None:
    new = soul.commit(soul.a, "memories/curated/tides.md", "# Tides\n\nTwice a day.\n", "tides")
    soul.as_agent(soul.a, "git push -q origin main")
    assert soul.hub_tip() == new

    shown = operator.warden("soul.sync", "--env", str(env), "--host", "a,b")
    assert shown.returncode == 0, shown.stderr
    table = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if "│" in line}
    assert "in sync" in table["a"] and "nothing to do" in table["a"]
    assert "behind 1" in table["b"] and f"fast-forwarded to {new[:12]}" in table["b"]
    assert soul.head(soul.b) == new
    assert soul.as_agent(soul.b, "cat memories/curated/tides.md") == "# Tides\n\nTwice a day.\n"

    again = operator.warden("soul.sync", "--env", str(env), "--host", "a,b", "--json")
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert [(h["host"], h["state"]) for h in document["hosts"]] == [
        ("a", "in sync"),
        ("b", "in sync"),
    ]
    assert document["exit_code"] == 0 and document["clone"] == CLONE


def test_a_commit_only_on_one_host_is_checked_pushed_and_fast_forwarded_elsewhere_in_one_run(
    soul: SoulHosts, operator: Operator, env: Path
) -> None:
    skill = "---\nname: tides\ndescription: Read the tide tables.\n---\n\n# Tides\n"
    new = soul.commit(soul.b, "skills/tides/SKILL.md", skill, "a skill")
    found = rows(sync(operator, env))
    assert (found["b"].shown_state, found["b"].action) == (
        "ahead 1",
        f"pushed 1 commit(s), hub now {new[:12]}",
    )
    assert (found["a"].shown_state, found["a"].action) == (
        "behind 1",
        f"fast-forwarded to {new[:12]}",
    )
    assert soul.hub_tip() == soul.head(soul.a) == soul.head(soul.b) == new
    assert exit_code(list(found.values())) == 0


def test_local_commits_on_both_hosts_show_diverged_and_are_left_alone(
    soul: SoulHosts, operator: Operator, env: Path
) -> None:
    hub = hub_commit(soul, "memories/curated/hub.md", "from elsewhere\n")
    head_a = soul.commit(soul.a, "memories/curated/a.md", "from a\n", "a")
    head_b = soul.commit(soul.b, "memories/curated/b.md", "from b\n", "b")

    found = rows(sync(operator, env))
    for host, head in (("a", head_a), ("b", head_b)):
        row = found[host]
        assert (row.state, row.ahead, row.behind) == ("diverged", 1, 1)
        assert (row.head, row.hub) == (head, hub)
        assert row.shown_state == "diverged (1 ahead, 1 behind)"
        assert row.action == "left alone" and row.exit_code == 1
        assert "nothing was merged, rebased or pushed" in row.advice
        assert "git pull --rebase origin main" in row.advice
    assert exit_code(list(found.values())) == 1
    assert (soul.head(soul.a), soul.head(soul.b)) == (head_a, head_b)
    assert soul.hub_tip() == hub
    assert soul.as_agent(soul.a, "git status --porcelain") == ""


def test_two_hosts_ahead_push_the_first_and_leave_the_second_diverged(
    soul: SoulHosts, operator: Operator, env: Path
) -> None:
    head_a = soul.commit(soul.a, "memories/curated/a.md", "from a\n", "a")
    head_b = soul.commit(soul.b, "memories/curated/b.md", "from b\n", "b")

    found = rows(sync(operator, env))
    assert found["a"].action == f"pushed 1 commit(s), hub now {head_a[:12]}"
    assert found["a"].exit_code == 0
    assert found["b"].state == "diverged" and found["b"].exit_code == 1
    assert soul.hub_tip() == head_a and soul.head(soul.b) == head_b


def test_a_dirty_clone_is_left_alone_and_named(
    soul: SoulHosts, operator: Operator, env: Path
) -> None:
    hub = hub_commit(soul, "memories/curated/hub.md", "from elsewhere\n")
    before = soul.head(soul.b)
    soul.as_agent(soul.b, "printf 'draft\\n' >> USER.md")

    found = rows(sync(operator, env))
    assert found["a"].action == f"fast-forwarded to {hub[:12]}"
    assert found["b"].shown_state == "dirty (1 uncommitted change(s))"
    assert found["b"].exit_code == 1 and "commit them" in found["b"].advice
    assert soul.head(soul.b) == before
    assert soul.as_agent(soul.b, "tail -n 1 USER.md") == "draft\n"


def test_an_aws_key_in_user_md_is_refused_by_soul_check_and_by_the_push(
    soul: SoulHosts, operator: Operator, env: Path, tmp_path: Path
) -> None:
    key_id = aws_key()
    hub = soul.hub_tip()
    user_md = soul.as_agent(soul.a, "cat USER.md")
    bad = soul.commit(soul.a, "USER.md", user_md + f"\naws_access_key_id = {key_id}\n", "aws")

    # soul.check refuses the same commit, checked out here
    export = tmp_path / "export"
    export.mkdir()
    tar = soul.a.exec(["su", AGENT, "-c", f"cd {CLONE} && git archive --format=tar {bad}"])
    with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as archive:
        archive.extractall(export, filter="data")
    checked = operator.warden("soul.check", str(export), "--json")
    assert checked.returncode == 2, checked.stderr
    assert key_id not in checked.stdout
    findings = json.loads(checked.stdout)["findings"]
    assert any(f["path"] == "USER.md" and f["rule"] == "secret" for f in findings)

    pushed = operator.warden("soul.sync", "--env", str(env), "--host", "a", "--json")
    assert pushed.returncode == 1, pushed.stderr
    assert key_id not in pushed.stdout + pushed.stderr
    (row,) = json.loads(pushed.stdout)["hosts"]
    assert (row["state"], row["action"]) == ("ahead", "refused: nothing pushed")
    (refusal,) = row["refused"]
    assert refusal["commit"] == bad
    line = len((user_md + "\n").splitlines()) + 1
    assert {(f["path"], f["line"], f["rule"]) for f in refusal["findings"]} == {
        ("USER.md", line, "secret")
    }
    assert soul.hub_tip() == hub and soul.head(soul.a) == bad


def test_a_private_key_file_is_refused_even_when_a_later_commit_deletes_it(
    soul: SoulHosts, operator: Operator, env: Path, tmp_path: Path
) -> None:
    generate_key(tmp_path / "id_ed25519")
    private = (tmp_path / "id_ed25519").read_text()
    hub = soul.hub_tip()
    by_name = soul.commit(soul.a, "notes/id_ed25519", private, "oops, a key")
    by_content = soul.commit(soul.a, "notes/handover.md", private, "and pasted")
    soul.as_agent(soul.a, "git rm -q -r notes && git commit -q -m 'remove the keys'")

    (row,) = sync(operator, env, "a")
    assert row.action == "refused: nothing pushed" and row.exit_code == 1
    refused = {r.commit: {(f.location, f.rule) for f in r.findings} for r in row.refused}
    assert refused == {
        by_name: {("notes/id_ed25519", "private-key")},
        by_content: {("notes/id_ed25519", "private-key"), ("notes/handover.md:1", "private-key")},
    }
    assert "rewrite the commits" in row.advice and "history" in row.advice
    assert soul.hub_tip() == hub
    body = private.splitlines()[1]
    assert all(body not in f.detail for r in row.refused for f in r.findings)


def test_an_unpinned_hub_key_fails_the_fetch_a_missing_clone_and_host_are_reported(
    soul: SoulHosts, operator: Operator, env: Path
) -> None:
    soul.a.exec(f"rm /home/{AGENT}/.ssh/known_hosts")
    soul.b.exec(f"rm -rf {CLONE}")
    found = rows(sync(operator, env, "a,b,nowhere"))
    assert found["a"].shown_state == "blocked (fetch failed)" and found["a"].exit_code == 1
    assert "Host key verification failed" in found["a"].advice
    assert soul.as_agent(soul.a, "ls ~/.ssh") == "id_ed25519\n", "a hub key was recorded"
    assert found["b"].shown_state == "missing (no clone)" and found["b"].exit_code == 0
    assert found["nowhere"].state == "unreachable" and found["nowhere"].exit_code == 3
    assert exit_code(list(found.values())) == 3

"""What a host needs for soul.sync: the deploy key and the hub's host key, pinned from
the operator's known_hosts (never learnt on first use)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from setup.plan import StepPlan
from setup.soul.access import hub_host, hub_known_hosts
from setup.steps import soul
from setup.steps.soul import SoulState, _hub_access
from tests.harness.agents import agent


def test_hub_hosts_are_read_from_ssh_and_scp_urls_only() -> None:
    assert hub_host("git@hub.example.org:souls/atlas.git") == ("hub.example.org", 22)
    assert hub_host("ssh://git@hub.example.org:2222/souls/atlas.git") == ("hub.example.org", 2222)
    assert hub_host("https://hub.example.org/souls/atlas.git") is None
    assert hub_host("/srv/souls/atlas.git") is None


def known_hosts(tmp_path: Path) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(
        "hub.example.org ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIHy2LcaqdmO1R8nM4zmQXbbP9Df4RHRYq2YtC5pz3Lq6\n"
        "[hub.example.org]:2222 ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIMW1w2b5c9tqS0nAZ8mO1x8Vq6kC5mXk3sQ8O0rSx3cA\n"
    )
    return path


def test_the_hubs_key_comes_from_the_operators_known_hosts(tmp_path: Path) -> None:
    path = known_hosts(tmp_path)
    (line,) = hub_known_hosts("git@hub.example.org:souls/atlas.git", path) or []
    assert line.startswith("hub.example.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHy2")
    (line,) = hub_known_hosts("ssh://git@hub.example.org:2222/a.git", path) or []
    assert line.startswith("[hub.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMW1")
    assert hub_known_hosts("git@other.example.org:a.git", path) is None
    assert hub_known_hosts("https://hub.example.org/a.git", path) == []


def test_the_deploy_key_is_placed_as_a_secret_and_the_hub_key_in_its_own_block(
    tmp_path: Path,
) -> None:
    key = tmp_path / "deploy"
    material = "b3BlbnNzaC1rZXktdjEAAAAAkeymaterial"
    key.write_text(
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{material}\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    config = agent(
        tmp_path,
        "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=none\n"
        f"WARDEN_SOUL_REPO=git@hub.example.org:souls/atlas.git\nWARDEN_SOUL_KEY={key}\n",
    )
    git_block = (
        "# BEGIN warden agent=atlas\n10.0.1.2 ssh-ed25519 AAAAjail\n# END warden agent=atlas\n"
    )
    state = SoulState(
        None,
        local_key=key.read_text(),
        host_key=None,
        known_hosts=git_block,
        hub_lines=["hub.example.org ssh-ed25519 AAAAhub"],
    )
    step = StepPlan("soul")
    _hub_access(step, config, state)
    deploy, pinned = step.changes
    assert deploy.secret and deploy.files[0].secret and deploy.files[0].mode == 0o600
    assert material not in str(deploy.to_json()) and material not in deploy.sh(redact=True)
    assert deploy.files[0].path == "/home/atlas/.ssh/soul_deploy_key"
    content = pinned.files[0].content
    assert content.startswith(git_block), "the git step's block stays as it is"
    assert "# BEGIN warden agent=atlas soul hub\nhub.example.org ssh-ed25519 AAAAhub\n" in content
    again = StepPlan("soul")
    _hub_access(again, config, replace(state, host_key=state.local_key, known_hosts=content))
    assert again.changes == [] and again.findings == []


def test_a_hub_whose_key_the_operator_does_not_know_is_a_warning(tmp_path: Path) -> None:
    config = agent(
        tmp_path,
        "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=none\n"
        "WARDEN_SOUL_REPO=git@hub.example.org:souls/atlas.git\n",
    )
    step = StepPlan("soul")
    _hub_access(step, config, SoulState(None, known_hosts=None, hub_lines=None))
    assert step.changes == []
    (finding,) = step.findings
    assert finding.level == "warning" and "not in your known_hosts" in finding.detail
    assert soul.NAME == "soul"

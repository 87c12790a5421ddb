"""Step plans are pure: facts in, changes out; a host already right plans nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from setup.config import AgentConfig, load_config
from setup.facts import Facts, Interface, Section
from setup.layout import PF_CONF, PF_WARDEN_CONF, credentials, rc_script
from setup.pfconf import BEGIN, foreign_lines, with_include
from setup.planner import make_plan
from setup.registry import entry_for
from setup.steps import host, network, pf, service, user
from tests.harness.agents import BASE, agent, with_registered
from tests.harness.facts import bravo, right_network


@pytest.fixture
def config(tmp_path: Path) -> AgentConfig:
    return agent(tmp_path)


def summaries(step: object) -> list[str]:
    return [c.summary for c in step.changes]  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- host


def test_host_on_a_fresh_host_installs_packages_and_bootstraps_the_release(
    config: AgentConfig,
) -> None:
    step = host.plan(config, bravo())
    text = "\n".join(summaries(step))
    assert "install packages: bastille, tmux, git, postgresql17-client" in text
    assert "bootstrap FreeBSD 14.3-RELEASE" in text
    assert step.refusals == []
    bootstrap = next(c for c in step.changes if "bootstrap" in c.summary)
    assert bootstrap.commands[0].endswith("|| bastille bootstrap 14.3-RELEASE")
    assert bootstrap.slow


def test_host_bootstraps_the_release_without_its_patch_level(config: AgentConfig) -> None:
    step = host.plan(config, bravo(userland="14.3-RELEASE-p2"))
    assert any("bastille bootstrap 14.3-RELEASE" in cmd for c in step.changes for cmd in c.commands)


def test_host_already_right_plans_nothing(config: AgentConfig) -> None:
    facts = bravo(
        packages=dict.fromkeys(host.packages(config), True),
        sysctl=dict.fromkeys(host.PFIL_SYSCTLS, "0"),
        rc_conf={"bastille_enable": "YES"},
        files={
            "/usr/local/etc/bastille/bastille.conf": 'bastille_network_vnet_type="if_bridge"\n',
            "/etc/devfs.rules": "[bastille_vnet=13]\nadd include $devfsrules_jail\n",
            "/etc/sysctl.conf": host.sysctl_conf(None, host.PFIL_SYSCTLS),
            "/boot/loader.conf": 'if_bridge_load="YES"\n',
            "/usr/local/etc/newsyslog.conf.d/warden.conf": host.render(
                "newsyslog/journal.conf.j2", journal="/var/db/warden/journal/warden.jsonl"
            ),
        },
        probes={"host.releases": Section("14.3-RELEASE\n", 0)},
    )
    step = host.plan(config, facts)
    assert step.changes == [] and step.refusals == []


def test_host_refuses_a_devfs_ruleset_13_of_another_name(config: AgentConfig) -> None:
    step = host.plan(config, bravo(files={"/etc/devfs.rules": "[myjails=13]\nadd hide\n"}))
    assert any("[myjails]" in r and "ruleset 13" in r for r in step.refusals)


def test_host_appends_the_devfs_ruleset_after_the_operators_rules(config: AgentConfig) -> None:
    mine = "[localrules=10]\nadd path 'da*' mode 0660\n"
    step = host.plan(config, bravo(files={"/etc/devfs.rules": mine}))
    write = next(f for c in step.changes for f in c.files if f.path == "/etc/devfs.rules")
    assert write.content.startswith(mine) and "[bastille_vnet=13]\n" in write.content
    change = next(c for c in step.changes if c.files and c.files[0].path == "/etc/devfs.rules")
    assert change.commands[1:] == ("service devfs restart",)


def test_sysctl_conf_changes_a_wrong_value_in_place_and_drops_a_repeat() -> None:
    before = (
        "# mine\nkern.ipc.somaxconn=1024\nnet.link.bridge.pfil_member=1\n"
        "net.link.bridge.pfil_member=1  # again\n"
    )
    after = host.sysctl_conf(before, host.PFIL_SYSCTLS)
    assert after.startswith("# mine\nkern.ipc.somaxconn=1024\nnet.link.bridge.pfil_member=0\n")
    assert after.count("pfil_member") == 1
    assert after.count("pfil_bridge=0") == 1 and after.count("pfil_onlyip=0") == 1
    assert host.sysctl_conf(after, host.PFIL_SYSCTLS) == after


def test_host_refuses_to_bootstrap_when_zfs_is_on_but_bastille_does_not_know(
    config: AgentConfig,
) -> None:
    step = host.plan(config, bravo(rc_conf={"zfs_enable": "YES"}))
    assert any("bastille_zfs_enable" in r for r in step.refusals)


def test_host_needs_no_release_for_an_agent_without_jails(tmp_path: Path) -> None:
    step = host.plan(agent(tmp_path, BASE + "WARDEN_RUNTIME=bhyve\n"), bravo())
    assert not any("bootstrap" in s for s in summaries(step))


# --------------------------------------------------------------------------- network


def test_network_on_a_fresh_host_creates_persists_and_addresses_the_bridge(
    config: AgentConfig,
) -> None:
    step = network.plan(config, bravo())
    commands = [cmd for c in step.changes for cmd in c.commands]
    text = "\n".join(commands)
    assert "then ifconfig bridge create name warden0 >/dev/null 2>&1 ; fi" in text
    assert "sysrc cloned_interfaces+=bridge0" in commands
    assert "sysrc ifconfig_bridge0_name=warden0" in commands
    assert "then ifconfig warden0 inet 10.0.1.1/24 alias ; fi" in text
    assert "sysrc 'ifconfig_warden0_alias0=inet 10.0.1.1/24'" in commands
    assert "sysrc gateway_enable=YES" in commands
    assert "sysctl net.inet.ip.forwarding=1" in commands


def test_network_picks_a_bridge_number_free_in_rc_conf(config: AgentConfig) -> None:
    rc = {"cloned_interfaces": "lo1 bridge0", "ifconfig_bridge0_name": "vm0"}
    step = network.plan(config, bravo(rc_conf=rc))
    commands = [cmd for c in step.changes for cmd in c.commands]
    assert "sysrc cloned_interfaces+=bridge1" in commands
    assert "sysrc ifconfig_bridge1_name=warden0" in commands


def test_network_already_right_plans_nothing(config: AgentConfig) -> None:
    facts = right_network(config, with_registered(bravo(), config))
    step = network.plan(config, facts)
    assert step.changes == [] and step.refusals == []


def test_network_compares_values_not_presence(config: AgentConfig) -> None:
    facts = right_network(config, with_registered(bravo(), config))
    facts = replace(facts, rc_conf={**facts.rc_conf, "gateway_enable": "NO"})
    assert summaries(network.plan(config, facts)) == [
        "rc.conf: gateway_enable='YES' (was 'NO'): forwarding at boot"
    ]


def test_a_second_agent_gets_the_next_alias_index(config: AgentConfig, tmp_path: Path) -> None:
    orion = agent(tmp_path, "AGENT_NAME=orion\nAGENT_SUBNET_BASE=10.0.2\n", "orion.env")
    facts = right_network(config, with_registered(bravo(), config))
    commands = [cmd for c in network.plan(orion, facts).changes for cmd in c.commands]
    assert "sysrc 'ifconfig_warden0_alias1=inet 10.0.2.1/24'" in commands
    assert not any("alias0" in cmd for cmd in commands)


def test_an_alias_index_somebody_else_wrote_is_a_conflict(config: AgentConfig) -> None:
    facts = right_network(config, with_registered(bravo(), config))
    facts = replace(
        facts, rc_conf={**facts.rc_conf, "ifconfig_warden0_alias0": "inet 192.168.9.1/24"}
    )
    step = network.plan(config, facts)
    assert any("ifconfig_warden0_alias0" in r and "did not write" in r for r in step.refusals)


# --------------------------------------------------------------------------- pf

OPERATOR_PF = """ext_if = "vtnet0"
set skip on lo0
nat on $ext_if inet from 192.168.5.0/24 to any -> ($ext_if)
# filtering
block in all
pass out quick keep state
pass in on $ext_if proto tcp to port ssh
"""


def test_pf_conf_gets_the_include_between_translation_and_filtering() -> None:
    text = with_include(OPERATOR_PF, "vtnet0")
    lines = text.splitlines()
    at = lines.index('include "/etc/pf.warden.conf"')
    assert lines[at - 2].startswith("# filtering") and lines[at - 1].startswith(BEGIN)
    assert lines[at + 2] == "block in all"
    assert foreign_lines(text) == OPERATOR_PF.split("\n")
    assert with_include(text, "vtnet0") == text


def test_pf_conf_adopts_the_guides_hand_written_include_once() -> None:
    text = OPERATOR_PF.replace("# filtering\n", 'include "/etc/pf.warden.conf"\n')
    result = with_include(text + 'include "/etc/pf.warden.conf"\n', "vtnet0")
    assert result.count('include "/etc/pf.warden.conf"') == 1
    assert result.count(BEGIN) == 1


def test_pf_conf_without_filter_rules_gets_the_block_last_with_a_newline() -> None:
    assert with_include("set skip on lo0", "em0") == (
        "set skip on lo0\n"
        "# BEGIN warden: NAT and filtering for the agents on warden0 (managed block)\n"
        'include "/etc/pf.warden.conf"\n# END warden\n'
    )


def test_a_host_without_pf_conf_gets_a_minimal_one_that_keeps_ssh_open() -> None:
    text = with_include(None, "em0")
    rules = [line for line in text.splitlines() if not line.startswith("#")]
    assert 'ext_if = "em0"' in rules and any("port ssh" in r for r in rules)
    assert not any(r.startswith("block") for r in rules)


def test_pf_include_nats_every_agent_and_blocks_between_them(
    config: AgentConfig, tmp_path: Path
) -> None:
    orion = agent(tmp_path, "AGENT_NAME=orion\nAGENT_SUBNET_BASE=10.0.2\n", "orion.env")
    step = pf.plan(orion, with_registered(bravo(), config))
    include = next(f for c in step.changes for f in c.files if f.path == PF_WARDEN_CONF).content
    assert "table <warden_agents> const { 10.0.1.0/24, 10.0.2.0/24 }" in include
    assert "nat on $warden_ext_if inet from <warden_agents> to any -> ($warden_ext_if:0)" in include
    assert "block in quick on $warden_if inet from 10.0.1.0/24 to { 10.0.2.0/24 }" in include
    assert "block in quick on $warden_if inet from 10.0.2.0/24 to { 10.0.1.0/24 }" in include
    assert 'warden_ext_if = "vtnet0"' in include


def test_pf_uses_warden_ext_if_over_the_default_route(tmp_path: Path) -> None:
    config = agent(tmp_path, BASE + "WARDEN_EXT_IF=igb1\n")
    step = pf.plan(config, bravo())
    include = next(f for c in step.changes for f in c.files if f.path == PF_WARDEN_CONF).content
    assert 'warden_ext_if = "igb1"' in include


def test_pf_without_a_default_route_or_warden_ext_if_is_refused(config: AgentConfig) -> None:
    step = pf.plan(config, bravo(routes=()))
    assert step.refusals and "WARDEN_EXT_IF" in step.refusals[0]


def right_pf(config: AgentConfig, facts: Facts) -> Facts:
    step = pf.plan(config, facts)
    files = {f.path: f.content for c in step.changes for f in c.files}
    return replace(
        facts,
        files={**facts.files, **files},
        probes={**facts.probes, "pf.table": Section("   10.0.1.0/24\n", 0)},
        pf="enabled",
        rc_conf={**facts.rc_conf, "pf_enable": "YES"},
    )


def test_pf_already_right_plans_nothing(config: AgentConfig) -> None:
    facts = right_pf(config, bravo(target="bravo.example"))
    assert pf.plan(config, facts).changes == []


def test_pf_reloads_when_the_running_table_differs_from_the_files(config: AgentConfig) -> None:
    facts = right_pf(config, bravo())
    facts = replace(facts, probes={"pf.table": Section("", 1)})
    step = pf.plan(config, facts)
    assert len(step.changes) == 1 and "check with pfctl -nf, load" in step.changes[0].summary
    assert "write /etc/pf.warden.conf" not in step.changes[0].summary


def test_a_remote_pf_load_arms_a_dead_man_and_asks_for_confirmation(config: AgentConfig) -> None:
    change = pf.plan(config, bravo(target="bravo.example")).changes[-1]
    assert change.confirm is not None
    confirm, load = change.confirm.sh(), change.sh()
    assert 'mv "$_pf_dir/unconfirmed.$_w_run" "$_pf_dir/confirmed.$_w_run"' in confirm
    assert "warden_put /etc/pf.warden.conf 0644 root wheel" in confirm
    assert "nohup /bin/sh" in load
    assert f" {pf.DEADMAN_SECONDS} " in load
    # the check and the load read the staged files; /etc changes only on confirmation
    assert 'include "/var/db/warden/pf/stage/pf.warden.conf"' in load
    assert 'pfctl -f "$_pf_dir/stage/pf.conf"' in load
    assert "warden_put /etc/pf.warden.conf " not in load
    # what the plan shows is what runs: the same operations, the files as diffs
    assert [f.path for f in change.files] == ["/etc/pf.warden.conf", "/etc/pf.conf"]
    assert change.commands == (change.ops[0].shown(),)
    local = pf.plan(config, bravo(target="local")).changes[-1]
    assert local.confirm is None and "nohup" not in local.sh()
    assert "warden_put /etc/pf.warden.conf 0644 root wheel" in local.sh()


def test_a_pf_conf_with_a_begin_marker_and_no_end_is_refused_not_truncated(
    config: AgentConfig,
) -> None:
    broken = OPERATOR_PF.replace("# filtering\n", "# BEGIN warden: x\n")
    step = pf.plan(config, bravo(files={PF_CONF: broken}, pf="enabled"))
    assert step.changes == [] and "marked block" in step.refusals[0]


def test_pf_conf_without_a_final_newline_gets_one() -> None:
    assert with_include("pass all", "em0").endswith("# END warden\npass all\n")


def test_pf_refuses_a_host_whose_rules_are_not_in_etc_pf_conf(config: AgentConfig) -> None:
    custom = pf.plan(config, bravo(rc_conf={"pf_rules": "/usr/local/etc/pf.conf"}))
    assert "pf_rules=/usr/local/etc/pf.conf" in custom.refusals[0]
    elsewhere = pf.plan(config, bravo(pf="enabled"))
    assert "does not exist" in elsewhere.refusals[0]


def test_pf_will_not_turn_on_a_blocking_ruleset_under_the_operators_session(
    config: AgentConfig,
) -> None:
    step = pf.plan(config, bravo(files={PF_CONF: OPERATOR_PF}, pf="disabled"))
    assert step.changes == [] and "freeze the SSH session" in step.refusals[0]


def test_pf_refuses_a_default_route_interface_it_cannot_write(config: AgentConfig) -> None:
    facts = bravo()
    odd = replace(facts.routes[0], netif="vtnet0;x")
    step = pf.plan(config, replace(facts, routes=(odd,)))
    assert "WARDEN_EXT_IF" in step.refusals[0]


def test_pf_keeps_the_operators_pf_conf_lines(config: AgentConfig) -> None:
    step = pf.plan(config, bravo(files={PF_CONF: OPERATOR_PF}, pf="enabled"))
    write = next(f for c in step.changes for f in c.files if f.path == PF_CONF)
    assert write.before == OPERATOR_PF
    assert foreign_lines(write.content) == OPERATOR_PF.split("\n")


# --------------------------------------------------------------------------- user


def test_user_on_a_fresh_host_creates_group_user_and_credentials(config: AgentConfig) -> None:
    step = user.plan(config, bravo())
    commands = [cmd for c in step.changes for cmd in c.commands]
    assert "pw groupshow atlas >/dev/null 2>&1 || pw groupadd atlas -g 2001" in commands
    assert (
        "pw usershow atlas >/dev/null 2>&1 || pw useradd atlas -u 2001 -g atlas "
        "-c 'warden agent atlas' -d /home/atlas -m -M 0750 -s /bin/sh"
    ) in commands
    secret = next(f for c in step.changes for f in c.files)
    assert secret.path == credentials("atlas") and secret.mode == 0o600 and secret.secret
    assert secret.owner == "atlas" and "content not shown" in secret.diff()


def test_user_uid_skips_ids_taken_by_users_groups_and_other_agents(
    config: AgentConfig, tmp_path: Path
) -> None:
    orion = agent(tmp_path, "AGENT_NAME=orion\nAGENT_SUBNET_BASE=10.0.2\n", "orion.env")
    facts = bravo(users={"root": 0, "bob": 2002}, groups={"wheel": 0, "staff": 2003})
    facts = with_registered(facts, orion)  # orion takes 2001
    assert json.loads(facts.registry["orion"])["uid"] == 2001
    assert entry_for(config, facts).uid == 2004


def ls(mode: str, uid: int, gid: int, path: str) -> str:
    return f"{mode} 2 {uid} {gid} 512 Nov 21 10:00 {path}\n"


def test_user_already_right_plans_nothing_and_fixes_a_loose_credentials_mode(
    config: AgentConfig,
) -> None:
    facts = with_registered(bravo(), config)
    facts = replace(facts, users={**facts.users, "atlas": 2001}, groups={"atlas": 2001})
    paths = ls("drwxr-x---", 2001, 2001, "/home/atlas")
    paths += ls("drwxr-xr-x", 0, 0, "/usr/local/etc/warden/agents/atlas")
    right = paths + ls("-rw-------", 2001, 2001, credentials("atlas"))
    facts = replace(facts, probes={"user.paths": Section(right, 0)})
    assert user.plan(config, facts).changes == []
    loose = paths + ls("-rw-r--r--", 2001, 2001, credentials("atlas"))
    step = user.plan(config, replace(facts, probes={"user.paths": Section(loose, 0)}))
    assert [c.commands for c in step.changes] == [
        (f"chown atlas:atlas {credentials('atlas')}", f"chmod 0600 {credentials('atlas')}")
    ]


def test_a_user_of_the_agents_name_made_by_someone_else_is_refused(config: AgentConfig) -> None:
    plan = make_plan(config, bravo(users={"atlas": 1001}), ["user"], register=True)
    assert any("user named 'atlas'" in r for r in plan.refusals)


# --------------------------------------------------------------------------- service


def test_service_without_a_command_is_refused(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(BASE)
    step = service.plan(load_config(env), bravo())
    assert step.refusals and "WARDEN_AGENT_COMMAND" in step.refusals[0]


def test_service_on_its_own_needs_the_user_and_tmux_first(config: AgentConfig) -> None:
    facts = with_registered(bravo(), config)
    plan = make_plan(config, facts, ["service"], register=False)
    assert "service: tmux is not installed: run --step host first" in plan.refusals
    assert any("run --step user first" in r for r in plan.refusals)
    whole = make_plan(config, facts, ["host", "user", "service"], register=False)
    assert not any("first" in r for r in whole.refusals)


def right_service(config: AgentConfig, facts: Facts) -> Facts:
    files = {path: content for path, (content, _) in service.rendered(config).items()}
    return replace(
        facts,
        files={**facts.files, **files},
        rc_conf={**facts.rc_conf, "atlas_enable": "YES"},
        probes={
            "service.status": Section("atlas is running as pid 4242.\n", 0),
            "service.logdir": Section(
                ls("drwxr-x---", 0, 2001, "/var/log/warden/atlas")
                + ls("-rw-r-----", 2001, 2001, "/var/log/warden/atlas/agent.log"),
                0,
            ),
        },
    )


def test_service_running_and_unchanged_plans_nothing(config: AgentConfig) -> None:
    facts = right_service(config, with_registered(bravo(), config))
    assert service.plan(config, facts).changes == []


def test_service_restarts_only_when_its_script_or_settings_change(
    config: AgentConfig, tmp_path: Path
) -> None:
    facts = right_service(config, with_registered(bravo(), config))
    relocalised = agent(tmp_path, BASE + "SYSTEM_LOCALE=de_DE.UTF-8\n", "de.env")
    step = service.plan(relocalised, facts)
    assert [c.commands for c in step.changes][-1] == (
        "service atlas restart || :",
        "service atlas onestatus",
    )
    rotated = replace(
        facts, files={**facts.files, "/usr/local/etc/newsyslog.conf.d/atlas.conf": ""}
    )
    assert not any("restart" in s for s in summaries(service.plan(config, rotated)))


def test_service_starts_a_stopped_agent(config: AgentConfig) -> None:
    facts = right_service(config, with_registered(bravo(), config))
    facts = replace(facts, probes={**facts.probes, "service.status": Section("", 1)})
    assert [c.commands for c in service.plan(config, facts).changes] == [
        ("service atlas start || :", "service atlas onestatus")
    ]


def test_an_rc_d_script_warden_did_not_write_is_never_overwritten(config: AgentConfig) -> None:
    facts = with_registered(bravo(files={rc_script("atlas"): "#!/bin/sh\n# mine\n"}), config)
    step = service.plan(config, facts)
    assert step.changes == [] and "warden did not write it" in step.refusals[0]


def test_the_session_environment_carries_the_agents_locales(config: AgentConfig) -> None:
    env = service.rendered(config)["/usr/local/etc/warden/agents/atlas/agent.env"][0]
    assert "LANG=en_US.UTF-8\n" in env and "DISPLAY_LOCALE=en-US\n" in env
    run = service.rendered(config)["/usr/local/libexec/warden/atlas/run"][0]
    assert run.rstrip().endswith("exec /bin/sh -c 'claude --resume'")


def test_the_log_directory_is_roots_so_the_agent_cannot_plant_links_for_newsyslog(
    config: AgentConfig,
) -> None:
    facts = right_service(config, with_registered(bravo(), config))
    agent_owned = ls("drwxr-x---", 2001, 2001, "/var/log/warden/atlas")
    agent_owned += ls("-rw-r-----", 2001, 2001, "/var/log/warden/atlas/agent.log")
    facts = replace(facts, probes={**facts.probes, "service.logdir": Section(agent_owned, 0)})
    change = service.plan(config, facts).changes[0]
    assert "chown root:atlas /var/log/warden/atlas &&" in change.commands[0]
    assert "chown atlas:atlas /var/log/warden/atlas/agent.log" in change.commands


def test_a_host_on_a_stable_branch_needs_warden_release(config: AgentConfig) -> None:
    step = host.plan(config, bravo(userland="15.0-STABLE"))
    assert "WARDEN_RELEASE" in step.refusals[0]
    assert not any("bootstrap" in s for s in summaries(step))


def test_the_pfil_sysctls_warn_when_another_bridge_is_filtered(config: AgentConfig) -> None:
    public = Interface("vm-public", ("UP",), (), members=("tap0",), groups=("bridge",))
    step = host.plan(config, bravo(interfaces={**bravo().interfaces, "vm-public": public}))
    assert any("vm-public" in f.detail for f in step.findings if f.level == "warning")

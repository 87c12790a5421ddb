"""Role jail steps are pure: facts in, changes out; a jail already right plans nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from setup import bastillefile, jail
from setup.blocks import broken, with_block
from setup.config import AgentConfig
from setup.db.catalog import Catalog
from setup.domains import Host, JailUser
from setup.facts import Section
from setup.hostsfile import block
from setup.layout import credentials, template_stamp
from setup.planner import make_plan
from setup.render import render
from setup.steps import cms, db, git, llama_cpp
from tests.harness.agents import BASE, agent
from tests.harness.facts import db_ready, jail_done, ready_host

JAIL = "atlasgit"


@pytest.fixture
def config(tmp_path: Path) -> AgentConfig:
    return agent(tmp_path, BASE + "WARDEN_NAMESERVER=192.0.2.53\n")


def summaries(step: object) -> list[str]:
    return [c.summary for c in step.changes]  # type: ignore[attr-defined]


def commands(step: object) -> list[str]:
    return [cmd for c in step.changes for cmd in c.commands]  # type: ignore[attr-defined]


def test_a_new_jail_is_created_by_exact_name_with_the_agents_gateway_and_nameserver(
    config: AgentConfig,
) -> None:
    step = git.plan(config, ready_host(config))
    assert step.refusals == []
    text = "\n".join(commands(step))
    assert (
        f"if ! bastille list jails | grep -qx {JAIL} ; then bastille create -B -g 10.0.1.1 "
        f"-n 192.0.2.53 {JAIL} 14.3-RELEASE 10.0.1.2/24 warden0 ; fi"
    ) in text
    assert f"jls -j {JAIL} jid >/dev/null 2>&1 ||" in text
    # read back inside the jail, by its own sysrc: its rc.conf is the jail's
    readback = next(c for c in commands(step) if "ifconfig_vnet0" in c)
    assert readback.startswith(f"warden_run 600 'jail {JAIL}' jexec -l -U root {JAIL} /bin/sh -c ")
    assert "sysrc -n" in readback and "inet 10.0.1.2/24" in readback
    assert "defaultrouter" in readback


def test_the_templates_files_go_in_from_inside_the_jail_and_warden_applies_its_verbs(
    config: AgentConfig,
) -> None:
    step = git.plan(config, ready_host(config))
    change = next(c for c in step.changes if "template" in c.summary)
    # the role's files are placed from inside the jail, never copied in from the host
    assert [str(f.location) for f in change.files] == [
        f"{JAIL}:/usr/local/etc/warden/sshd_config",
        template_stamp(JAIL),
    ]
    text = "\n".join(change.commands)
    # never `bastille template`: its template.sh evaluates the jail's ifconfig as host root
    assert "bastille template" not in text
    assert f"pkg -j {JAIL} install -y git" in change.commands
    assert f"jexec -l -U root {JAIL} /bin/sh -c 'sysrc sshd_enable=YES'" in text
    assert "pw useradd git -u 2000" in text and f"bastille restart {JAIL}" not in text
    assert "service sshd onestatus" in change.commands[-2]
    assert template_stamp(JAIL) in change.commands[-1]


def test_a_bastillefile_verb_warden_does_not_apply_is_refused_before_anything_runs() -> None:
    for line in ("CP usr /", "MOUNT /a /b nullfs ro 0 0", "LINE_IN_FILE x /etc/y", "INCLUDE x"):
        with pytest.raises(ValueError, match="not a verb warden applies"):
            bastillefile.bastillefile_ops(JAIL, f"PKG git\n{line}\n")
    ops = bastillefile.bastillefile_ops("atlasdb", "CONFIG set sysvshm new\nRESTART\n")
    assert [op.sh() for op in ops] == [
        "bastille config atlasdb set sysvshm new",
        "bastille restart atlasdb",
    ]


def test_a_jail_already_right_plans_nothing(config: AgentConfig) -> None:
    step = git.plan(config, jail_done(config, "git", ready_host(config)))
    assert step.changes == [] and step.refusals == []


def test_a_changed_template_is_applied_again_and_an_unchanged_one_is_not(
    config: AgentConfig,
) -> None:
    facts = jail_done(config, "git", ready_host(config))
    stale = replace(facts, files={**facts.files, template_stamp(JAIL): "0" * 64 + "\n"})
    (again,) = git.plan(config, stale).changes
    assert again.summary.startswith(f"apply the git template to jail {JAIL}")
    # the files are already there: only the apply and the stamp
    assert [f.path for f in again.files] == [template_stamp(JAIL)]


def test_the_jails_host_key_is_made_before_the_template_starts_sshd_then_pinned(
    config: AgentConfig,
) -> None:
    first = summaries(git.plan(config, ready_host(config)))
    assert first[0].startswith("create VNET jail atlasgit")
    assert first[1].startswith("SSH host key of jail atlasgit")
    assert first[2].startswith("apply the git template")
    assert first[3].startswith("SSH key of the agent's user atlas")
    facts = jail_done(config, "git", ready_host(config))
    known = facts.file(git.known_hosts(config)) or ""
    assert "git.atlas.home.arpa,10.0.1.2 ssh-ed25519 AAAAjail\n" in known
    allowed = facts.file(git.authorized_keys(config))
    assert allowed == "restrict ssh-ed25519 AAAAagent warden agent atlas\n"
    assert "    IdentityFile /home/atlas/.ssh/id_ed25519\n" in (
        facts.file(git.ssh_config(config)) or ""
    )


def test_the_agents_own_known_hosts_lines_are_kept(config: AgentConfig) -> None:
    facts = jail_done(config, "git", ready_host(config))
    mine = "github.com ssh-ed25519 AAAAgithub\n"
    facts = replace(facts, files={**facts.files, git.known_hosts(config): mine})
    (change,) = git.plan(config, facts).changes
    assert change.files[0].content.startswith(mine)
    assert change.files[0].owner == "atlas" and change.files[0].mode == 0o600


def test_a_stopped_service_is_started_without_reapplying_the_template(
    config: AgentConfig,
) -> None:
    facts = jail_done(config, "git", ready_host(config), service="stopped")
    step = git.plan(config, facts)
    assert summaries(step) == [f"start sshd in jail {JAIL} (it has stopped)"]
    assert (
        "jexec -l -U root atlasgit /bin/sh -c 'service sshd start'" in step.changes[0].commands[0]
    )


def test_a_stopped_jail_is_started_and_read_back(config: AgentConfig) -> None:
    facts = jail_done(config, "git", ready_host(config))
    # stopped, nothing can be asked inside it: its network is unknown, not wrong
    facts = replace(
        facts,
        jails_running=(),
        probes={k: v for k, v in facts.probes.items() if k != jail.probe_name(JAIL)},
    )
    step = git.plan(config, facts)
    assert summaries(step)[0] == f"start jail {JAIL}"
    assert step.changes[0].commands[0] == f"bastille start {JAIL}"
    assert any(f"jls -j {JAIL} jid" in c for c in step.changes[0].commands)
    assert any("ifconfig_vnet0" in c for c in step.changes[0].commands)
    assert step.refusals == []


def test_a_jail_whose_network_differs_is_refused_with_the_difference(
    config: AgentConfig,
) -> None:
    facts = jail_done(config, "git", ready_host(config))
    wrong = Section("ifconfig_vnet0=inet 10.0.1.2\ndefaultrouter=192.168.1.1\n", 0)
    facts = replace(facts, probes={**facts.probes, jail.probe_name(JAIL): wrong})
    step = git.plan(config, facts)
    assert step.changes == []
    (reason,) = step.refusals
    assert reason.code == "git.jail-network-differs"
    assert "ifconfig_vnet0 is 'inet 10.0.1.2', expected 'inet 10.0.1.2/24'" in reason
    assert "defaultrouter is '192.168.1.1', expected '10.0.1.1'" in reason


def test_a_host_resolving_through_loopback_needs_warden_nameserver(tmp_path: Path) -> None:
    config = agent(tmp_path)
    facts = ready_host(config, nameservers=("127.0.0.1",))
    step = git.plan(config, facts)
    assert step.changes == []
    assert [r.code for r in step.refusals] == ["git.no-nameserver"]
    assert "127.0.0.1" in step.refusals[0]


def test_the_hosts_first_reachable_resolver_is_given_to_jails(tmp_path: Path) -> None:
    config = agent(tmp_path)
    facts = ready_host(config, nameservers=("127.0.0.1", "192.0.2.7"))
    assert " -n 192.0.2.7 " in "\n".join(commands(git.plan(config, facts)))


def test_a_jail_step_without_warden0_says_to_run_the_network_step_first(
    config: AgentConfig,
) -> None:
    facts = replace(ready_host(config), interfaces={})
    plan = make_plan(config, facts, ["git"], register=True)
    assert "git.needs-network" in [r.code for r in plan.refusals]


def test_a_jail_step_without_the_agents_gateway_says_to_run_the_network_step_first(
    config: AgentConfig,
) -> None:
    facts = ready_host(config)
    bridge = replace(facts.interfaces["warden0"], inet=())
    facts = replace(facts, interfaces={**facts.interfaces, "warden0": bridge})
    plan = make_plan(config, facts, ["git"], register=True)
    assert any("10.0.1.1 is not on warden0: run --step network first" in r for r in plan.refusals)


def test_a_jail_step_without_the_release_says_to_run_the_host_step_first(
    config: AgentConfig,
) -> None:
    facts = ready_host(config)
    facts = replace(facts, probes={**facts.probes, "host.releases": Section("", 0)})
    plan = make_plan(config, facts, ["git"], register=True)
    assert any(
        "14.3-RELEASE is not bootstrapped: run --step host first" in r for r in plan.refusals
    )


def test_limits_without_racct_are_a_warning_that_says_how_to_enable_it(tmp_path: Path) -> None:
    config = agent(
        tmp_path, BASE + "WARDEN_NAMESERVER=192.0.2.53\nWARDEN_LIMITS=git:memoryuse=1G\n"
    )
    step = git.plan(config, jail_done(config, "git", ready_host(config)))
    assert step.changes == []
    (finding,) = step.findings
    assert finding.level == "warning"
    assert "kern.racct.enable=1" in finding.detail and "reboot" in finding.detail


def test_limits_with_racct_are_removed_then_added_and_read_back(tmp_path: Path) -> None:
    env = BASE + "WARDEN_NAMESERVER=192.0.2.53\nWARDEN_LIMITS=git:memoryuse=1G,pcpu=50\n"
    config = agent(tmp_path, env)
    facts = jail_done(config, "git", ready_host(config))
    rctl = f"/usr/local/bastille/jails/{JAIL}/rctl.conf"
    facts = replace(
        facts,
        sysctl={**facts.sysctl, "kern.racct.enable": "1"},
        files={**facts.files, rctl: f"jail:{JAIL}:memoryuse:deny=2G/jail\n"},
    )
    step = git.plan(config, facts)
    (change,) = step.changes
    assert change.commands[0] == f"bastille limits {JAIL} remove memoryuse"
    assert change.commands[1] == f"bastille limits {JAIL} add memoryuse 1G"
    assert f"grep -qx jail:{JAIL}:memoryuse:deny=1G/jail" in change.commands[2]
    assert f"bastille limits {JAIL} add pcpu 50" in change.commands
    done = replace(
        facts,
        files={
            **facts.files,
            rctl: f"jail:{JAIL}:memoryuse:deny=1G/jail\njail:{JAIL}:pcpu:deny=50/jail\n",
        },
    )
    assert git.plan(config, done).changes == []


def test_llama_cpp_serves_the_configured_model_on_the_jail_address(tmp_path: Path) -> None:
    env = (
        "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=llama-cpp\n"
        "WARDEN_NAMESERVER=192.0.2.53\nWARDEN_LLAMA_MODEL=/var/db/llama/model.gguf\n"
    )
    config = agent(tmp_path, env)
    tree = bastillefile.rendered(config, "llama-cpp", **llama_cpp.STEP.spec.context(config))
    assert "SYSRC llama_server_model=/var/db/llama/model.gguf" in tree["Bastillefile"]
    assert not any(line.startswith("MOUNT") for line in tree["Bastillefile"].splitlines())
    assert 'llama_server_args="--host 10.0.1.4 --port 8080"' in tree["Bastillefile"]


def test_a_role_that_is_not_in_warden_roles_plans_nothing(config: AgentConfig) -> None:
    assert cms.STEP.plan(config, ready_host(config)).changes == []
    assert cms.STEP.files(config) == [] and cms.STEP.probes(config) == {}


# --------------------------------------------------------------------------- /etc/hosts


def test_the_hosts_block_keeps_every_other_line_and_is_replaced_in_place(
    config: AgentConfig,
) -> None:
    before = (
        "127.0.0.1\tlocalhost\n# BEGIN warden agent=atlas\nold\n# END warden agent=atlas\n::1 x\n"
    )
    after = with_block(before, "atlas", block(config))
    assert after.startswith("127.0.0.1\tlocalhost\n# BEGIN warden agent=atlas\n10.0.1.1\t")
    assert after.endswith("# END warden agent=atlas\n::1 x\n")
    assert "10.0.1.5\tdb.atlas.home.arpa atlasdb\n" in after
    assert "10.0.1.2\tgit.atlas.home.arpa atlasgit\n" in after
    assert "old" not in after
    assert with_block(after, "atlas", block(config)) == after


def test_a_hosts_file_with_a_lone_marker_is_refused_not_guessed_at(config: AgentConfig) -> None:
    text = "127.0.0.1 localhost\n# BEGIN warden agent=atlas\n10.9.9.9 mine\n"
    assert broken(text, "atlas", "/etc/hosts") is not None
    facts = replace(ready_host(config), files={"/etc/hosts": text})
    from setup.steps import network

    step = network.plan(config, facts)
    assert [r.code for r in step.refusals] == ["network.marked-block-broken"]


# --------------------------------------------------------------------------- db


def test_db_generates_both_passwords_once_as_secret_files(config: AgentConfig) -> None:
    step = db.plan(config, ready_host(config))
    writes = [f for c in step.changes for f in c.files if "/secrets/" in f.path]
    assert [w.path for w in writes] == [db.admin_secret(config), db.agent_secret(config)]
    assert all(w.secret and w.mode == 0o600 and len(w.content.strip()) >= 40 for w in writes)
    assert all("content not shown" in w.diff() for w in writes)
    assert step.changes[-1].deferred


def test_db_plans_the_admin_bootstrap_as_a_secret_when_warden_cannot_log_in(
    config: AgentConfig,
) -> None:
    state = db.DbState(
        reachable=True,
        problem="password authentication failed",
        admin_password="a" * 43,
        agent_password="b" * 43,
        credentials="",
    )
    step = db.plan(config, db_ready(config, state))
    (change,) = step.changes
    assert change.secret
    runs = change.sh()
    assert (
        "jexec -l -U postgres atlasdb /bin/sh -c 'psql -X -q -v ON_ERROR_STOP=1 -d postgres'"
        in runs
    )
    assert "SCRAM-SHA-256$4096:" in runs and "a" * 43 not in runs
    shown = change.to_json()["commands"][0]
    assert "with a secret, not shown" in shown and "SCRAM" not in shown
    assert "SCRAM" not in change.sh(redact=True)


def test_db_on_an_unreachable_server_refuses_with_the_reason(config: AgentConfig) -> None:
    state = db.DbState(reachable=False, problem="cannot reach the db jail 10.0.1.5:5432")
    step = db.plan(config, db_ready(config, state))
    assert step.refusals == ["db: cannot reach the db jail 10.0.1.5:5432"]
    assert step.refusals[0].code == "db.state-unreadable"


def test_db_with_an_empty_server_plans_sql_and_the_dsn(config: AgentConfig) -> None:
    state = db.DbState(
        reachable=True,
        admin_ok=True,
        catalog=Catalog(roles={}, databases={}, inside={}),
        admin_password="a" * 43,
        agent_password="b" * 43,
        credentials="# header\n",
    )
    step = db.plan(config, db_ready(config, state))
    sql = [c for c in step.changes if c.sql is not None]
    assert sql and all(not c.commands for c in sql)
    dsn = step.changes[-1]
    assert dsn.files[0].path == credentials("atlas") and dsn.files[0].secret
    assert dsn.files[0].content == (
        render("service/credentials.j2", agent="atlas")
        + f"WARDEN_DB_DSN='postgresql://atlas:{'b' * 43}@10.0.1.5:5432/atlas_brain'\n"
        f"DATABASE_URL='postgresql://atlas:{'b' * 43}@10.0.1.5:5432/atlas_brain'\n"
    )
    assert "b" * 43 not in str(step.changes[-1].to_json())


def test_the_credentials_file_is_rendered_whole_never_merged_with_what_was_read() -> None:
    text = db.credentials_text("atlas", "new")
    assert text.startswith(render("service/credentials.j2", agent="atlas"))
    assert text.endswith("WARDEN_DB_DSN='new'\nDATABASE_URL='new'\n")


def test_the_llama_model_directory_is_mounted_read_only_into_the_jail(tmp_path: Path) -> None:
    env = (
        "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=llama-cpp\n"
        "WARDEN_NAMESERVER=192.0.2.53\nWARDEN_LLAMA_MODEL=model.gguf\n"
    )
    config = agent(tmp_path, env)
    tree = bastillefile.rendered(config, "llama-cpp", **llama_cpp.STEP.spec.context(config))
    assert "SYSRC llama_server_model=/var/db/llama/model.gguf" in tree["Bastillefile"]
    facts = ready_host(config)
    (change,) = [c for c in llama_cpp.STEP.plan(config, facts).changes if "template" in c.summary]
    fstab = next(f for f in change.files if f.path.endswith("/fstab"))
    # the fstab line Bastille's MOUNT would write; jail(8) mounts it at the restart, after
    # checking that no component of the mount point is a link (never a mount from the host);
    # the jail is made by this run, so the fstab keeps the release's line bastille create
    # writes for a thin jail (without it the jail would have no base system)
    release = "/usr/local/bastille/releases/14.3-RELEASE"
    base = f"{release} /usr/local/bastille/jails/atlasllamacpp/root/.bastille nullfs ro 0 0"
    line = "/var/db/llama /usr/local/bastille/jails/atlasllamacpp/root/var/db/llama nullfs ro 0 0"
    assert fstab.content == base + "\n" + line + "\n"
    assert fstab.domain == Host()
    text = "\n".join(change.commands)
    assert "jexec -l -U root atlasllamacpp /bin/sh -c 'mkdir -p /var/db/llama'" in text
    assert "bastille restart atlasllamacpp" in change.commands
    assert "mount" not in text.replace("nullfs", "")


def test_the_git_jails_files_are_written_inside_the_jail_and_the_agents_as_the_agent(
    config: AgentConfig,
) -> None:
    first = git.plan(config, ready_host(config))
    host_key = next(c for c in first.changes if c.summary.startswith("SSH host key"))
    assert host_key.ops[0].domain == JailUser("atlasgit")
    assert " jexec -l -U root atlasgit /bin/sh -c " in host_key.sh()
    agent_key = next(c for c in first.changes if c.summary.startswith("SSH key of the agent"))
    assert {op.domain for op in agent_key.ops} == {git.agent(config)}
    assert " chroot -u atlas -g atlas -G atlas / /usr/bin/env -i " in agent_key.sh()
    assert "su " not in agent_key.sh()
    facts = jail_done(config, "git", ready_host(config))
    facts = replace(facts, files={**facts.files, git.authorized_keys(config): None})
    (allow,) = git.plan(config, facts).changes
    assert allow.files[0].domain == JailUser("atlasgit")
    assert " jexec -l -U root atlasgit /bin/sh -c " in allow.sh()
    facts = replace(facts, files={**facts.files, git.known_hosts(config): None})
    pin = next(c for c in git.plan(config, facts).changes if "known_hosts" in c.summary)
    assert " chroot -u atlas " in pin.sh() and "warden_put" not in pin.sh()


def test_a_leftover_directory_of_a_jail_bastille_no_longer_has_is_refused_not_reused(
    config: AgentConfig,
) -> None:
    facts = ready_host(config)
    facts = replace(facts, probes={**facts.probes, jail.leftover_probe(JAIL): Section("", 0)})
    step = git.plan(config, facts)
    assert step.changes == []
    (reason,) = step.refusals
    assert reason.code == "git.leftover-jail-directory"
    assert f"/usr/local/bastille/jails/{JAIL} exists but Bastille has no jail {JAIL}" in reason

"""The double's Bastille jails, jexec and pkg -j behave as Bastille 1.4.4 and FreeBSD do.

Every test runs the double through the sh wrappers install_double writes (so commands
run by jexec and by Bastillefile CMD lines reach the double on PATH), against a temp
state and root with bastille 1.4.4, a 14.3-RELEASE bootstrapped and the bridge warden0.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.double.fbsd.pkg import BASTILLE_CONF_SAMPLE
from tests.double.fbsd.state import build_default_state
from tests.double.install import install_double, seed_state

Run = Callable[..., subprocess.CompletedProcess[str]]
JAILS = "usr/local/bastille/jails"
CREATE = ["bastille", "create", "-B", "-g", "10.77.3.1", "-n", "10.77.3.1"]
WARDEN0 = {
    "name": "warden0",
    "kind": "bridge",
    "index": 3,
    "up": True,
    "mtu": 1500,
    "ether": "58:9c:fc:10:00:01",
    "inet": [{"addr": "10.77.3.1", "prefixlen": 24}],
    "members": [],
    "groups": ["bridge"],
    "description": None,
}


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Path]:
    if os.geteuid() != 0:
        pytest.fail("the jail tests install packages and switch users: run them as root")
    interfaces = [*build_default_state()["interfaces"], WARDEN0]
    seed_state(
        tmp_path / "state",
        {"interfaces": interfaces, "next_ifindex": 4, "bastille": {"version": "1.4.4"}},
    )
    root = tmp_path / "root"
    (root / "usr/local/bastille/releases/14.3-RELEASE").mkdir(parents=True)
    conf = root / "usr/local/etc/bastille/bastille.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text(BASTILLE_CONF_SAMPLE)
    (root / "etc").mkdir()
    (root / "etc/resolv.conf").write_text("nameserver 192.0.2.53\n")
    install_double(tmp_path / "bin", state_dir=str(tmp_path / "state"))
    return {"root": root, "state": tmp_path / "state", "bin": tmp_path / "bin"}


@pytest.fixture
def run(host: dict[str, Path]) -> Run:
    env = {k: v for k, v in os.environ.items() if k != "ASSUME_ALWAYS_YES"}
    env.update(PATH=f"{host['bin']}:{os.environ['PATH']}", FREEBSD_DOUBLE_ROOT=str(host["root"]))

    def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv), env=env, input=stdin, capture_output=True, text=True, timeout=60
        )

    return run


def state(host: dict[str, Path]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((host["state"] / "state.json").read_text())
    return data


def create(run: Run, name: str = "a3db", ip: str = "10.77.3.10/24") -> Any:
    result = run(*CREATE, name, "14.3-RELEASE", ip, "warden0")
    assert result.returncode == 0, result.stderr
    return result


def jail_file(host: dict[str, Path], name: str, path: str) -> str:
    return (host["root"] / JAILS / name / path).read_text()


def bastillefile(host: dict[str, Path], text: str) -> str:
    """A Bastillefile at /tmp/tpl of the (double's) host; its path as the host sees it."""
    directory = host["root"] / "tmp/tpl"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Bastillefile").write_text(text)
    return "/tmp/tpl"


# ------------------------------------------------------------------------- create


def test_create_writes_the_jail_files_and_leaves_a_running_vnet_jail_on_the_bridge(
    run: Run, host: dict[str, Path]
) -> None:
    create(run)
    conf = jail_file(host, "a3db", "jail.conf")
    assert "  vnet.interface = e0b_a3db;" in conf
    assert '  exec.prestart += "ifconfig warden0 addm e0a_a3db";' in conf
    assert "  devfs_ruleset = 13;" in conf
    rc_conf = jail_file(host, "a3db", "root/etc/rc.conf")
    for line in (
        'ifconfig_e0b_a3db_name="vnet0"',
        'ifconfig_vnet0="inet 10.77.3.10/24"',
        'defaultrouter="10.77.3.1"',
    ):
        assert line in rc_conf.splitlines()
    assert jail_file(host, "a3db", "root/etc/resolv.conf") == "nameserver 10.77.3.1\n"
    assert jail_file(host, "a3db", "settings.conf") == 'boot="on"\npriority="99"\n'
    assert "nullfs ro 0 0" in jail_file(host, "a3db", "fstab")
    assert (host["root"] / JAILS / "a3db").stat().st_mode & 0o777 == 0o700
    # JID 2: create starts the jail, then restarts it (reference/freebsd.md §1.2)
    jls = run("jls").stdout.splitlines()
    assert jls[1].split() == ["2", "a3db", "/usr/local/bastille/jails/a3db/root"]
    assert run("jls", "-j", "a3db", "jid").stdout == "2\n"
    assert run("jls", "-j", "a3db", "ip4.addr").stdout == "-\n"
    bridge = next(i for i in state(host)["interfaces"] if i["name"] == "warden0")
    assert bridge["members"] == ["e0a_a3db"]
    assert "member: e0a_a3db" in run("ifconfig", "warden0").stdout
    assert run("bastille", "list", "jails").stdout == "a3db\n"


def test_create_twice_is_refused_with_jail_already_exists(run: Run) -> None:
    create(run)
    again = run(*CREATE, "a3db", "14.3-RELEASE", "10.77.3.11/24", "warden0")
    assert again.returncode == 1
    assert "[ERROR]: Jail already exists: a3db" in again.stderr
    assert again.stdout == "\n"  # error_exit's blank line


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("atlas-cms", "[ERROR]: VNET jail names may not contain (-|_) characters."),
        ("atlas_cms", "[ERROR]: VNET jail names may not contain (-|_) characters."),
        ("1234", "[ERROR]: Jail names may not contain only digits."),
        ("a.b", "[ERROR]: Jail names may not contain special characters!"),
        ("_ab", "[ERROR]: Jail names may not begin with (-|_) characters!"),
    ],
)
def test_a_bad_jail_name_is_refused_with_bastilles_text(run: Run, name: str, message: str) -> None:
    result = run(*CREATE, name, "14.3-RELEASE", "10.77.3.10/24", "warden0")
    assert (result.returncode, message in result.stderr) == (1, True), result.stderr
    assert run("bastille", "list", "jails").stdout == ""


def test_create_on_an_interface_that_is_not_a_bridge_or_missing_is_refused(run: Run) -> None:
    for interface in ("vtnet0", "nosuch0"):
        result = run(*CREATE, "a3db", "14.3-RELEASE", "10.77.3.10/24", interface)
        assert result.returncode == 1
        assert f"[ERROR]: Interface is not a bridge: {interface}" in result.stderr


def test_create_of_a_release_not_bootstrapped_is_refused(run: Run) -> None:
    result = run(*CREATE, "a3db", "14.2-RELEASE", "10.77.3.10/24", "warden0")
    assert result.returncode == 1
    assert (
        "[ERROR]: Release must be bootstrapped first.\nSee 'bastille bootstrap'." in result.stderr
    )


def test_create_gives_a_missing_mask_slash_24_and_refuses_a_bad_ip(
    run: Run, host: dict[str, Path]
) -> None:
    create(run, ip="10.77.3.10")
    assert 'ifconfig_vnet0="inet 10.77.3.10/24"' in jail_file(host, "a3db", "root/etc/rc.conf")
    bad = run(*CREATE, "a3web", "14.3-RELEASE", "10.77.3.300/24", "warden0")
    assert (bad.returncode, "[ERROR]: Invalid: (10.77.3.300/24)." in bad.stderr) == (1, True)


def test_create_warns_when_the_ip_is_already_on_an_interface(run: Run) -> None:
    result = create(run, ip="10.77.3.1/24")
    assert "[WARNING]: IP address in use (10.77.3.1)." in result.stderr


def test_create_without_g_takes_the_hosts_default_gateway(run: Run, host: dict[str, Path]) -> None:
    result = run("bastille", "create", "-B", "a3db", "14.3-RELEASE", "10.77.3.10/24", "warden0")
    assert result.returncode == 0
    # the trap of reference/freebsd.md §1.2: the host's gateway (192.0.2.1), not the agent's .1
    assert 'defaultrouter="192.0.2.1"' in jail_file(host, "a3db", "root/etc/rc.conf")


def test_a_name_over_11_characters_gets_an_e0a_bastille_epair(
    run: Run, host: dict[str, Path]
) -> None:
    create(run, name="atlasollama1")
    assert "vnet.interface = e0b_bastille0;" in jail_file(host, "atlasollama1", "jail.conf")
    assert 'ifconfig_e0b_bastille0_name="vnet0"' in jail_file(
        host, "atlasollama1", "root/etc/rc.conf"
    )
    names = [i["name"] for i in state(host)["interfaces"]]
    assert "e0a_bastille0" in names


def test_create_takes_priority_tags_no_boot_and_static_mac(run: Run, host: dict[str, Path]) -> None:
    result = run(
        *CREATE, "-p", "20", "--tags", "agent3,db", "--no-boot", "-M",
        "a3db", "14.3-RELEASE", "10.77.3.10/24", "warden0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert jail_file(host, "a3db", "settings.conf") == 'boot="off"\npriority="20"\n'
    assert jail_file(host, "a3db", "tags") == "agent3\ndb\n"
    assert "e0a_a3db ether 58:9c:fc:" in jail_file(host, "a3db", "jail.conf")


def test_an_unmodelled_create_option_exits_64(run: Run) -> None:
    result = run("bastille", "create", "-T", "a3db", "14.3-RELEASE", "10.77.3.10/24", "warden0")
    assert result.returncode == 64
    assert "not modelled" in result.stderr


# ------------------------------------------------------------------------- TARGET, start, stop


def test_a_unique_prefix_targets_the_jail_it_starts(run: Run, host: dict[str, Path]) -> None:
    create(run)
    stopped = run("bastille", "stop", "a3")
    assert stopped.returncode == 0
    assert "[a3db]:\na3db: removed" in stopped.stderr
    assert state(host)["jails"] == []
    assert run("jls", "-j", "a3db").returncode == 1


def test_an_ambiguous_prefix_is_refused_and_nothing_stops(run: Run, host: dict[str, Path]) -> None:
    create(run, "a3db", "10.77.3.10/24")
    create(run, "a3web", "10.77.3.11/24")
    result = run("bastille", "stop", "a3")
    assert result.returncode == 1
    assert "Multiple jails found for a3:\na3db\na3web" in result.stderr
    assert len(state(host)["jails"]) == 2


def test_a_tag_targets_the_jails_carrying_it(run: Run, host: dict[str, Path]) -> None:
    result = run(*CREATE, "--tags", "agent3", "a3db", "14.3-RELEASE", "10.77.3.10/24", "warden0")
    assert result.returncode == 0
    assert run("bastille", "stop", "agent3").returncode == 0
    assert state(host)["jails"] == []


def test_an_unknown_target_is_jail_not_found(run: Run) -> None:
    result = run("bastille", "stop", "nosuch")
    assert (result.returncode, 'Jail not found "nosuch"' in result.stderr) == (1, True)


def test_start_of_a_running_jail_exits_0_saying_so(run: Run) -> None:
    create(run)
    result = run("bastille", "start", "a3db")
    assert (result.returncode, "Jail is already running." in result.stderr) == (0, True)


def test_stop_of_a_stopped_jail_exits_0_saying_so(run: Run) -> None:
    create(run)
    run("bastille", "stop", "a3db")
    result = run("bastille", "stop", "a3db")
    assert (result.returncode, "Jail is already stopped." in result.stderr) == (0, True)


def test_a_failed_jail_start_still_exits_0(run: Run, host: dict[str, Path]) -> None:
    create(run)
    run("bastille", "stop", "a3db")
    # reference/freebsd.md §1.7: a leftover e0a_a3db makes the prestart rename fail
    assert run("ifconfig", "epair7", "create").returncode == 0
    assert run("ifconfig", "epair7a", "name", "e0a_a3db").returncode == 0
    result = run("bastille", "start", "a3db")
    assert result.returncode == 0  # reference/freebsd.md §1.4: jail -c's result is not propagated
    assert "File exists" in result.stderr
    assert run("jls", "-j", "a3db", "jid").returncode == 1


def test_restart_stops_and_starts_the_jail_with_a_new_jid(run: Run) -> None:
    create(run)
    before = run("jls", "-j", "a3db", "jid").stdout
    assert run("bastille", "restart", "a3db").returncode == 0
    assert run("jls", "-j", "a3db", "jid").stdout != before


def test_destroy_refuses_a_running_jail_without_a(run: Run) -> None:
    create(run)
    result = run("bastille", "destroy", "-y", "a3db")
    assert result.returncode == 1
    assert "Jail is running.\nUse [-a|--auto] to auto-stop the jail." in result.stderr
    assert run("bastille", "list", "jails").stdout == "a3db\n"


def test_destroy_without_y_and_an_empty_stdin_is_invalid_input(run: Run) -> None:
    create(run)
    run("bastille", "stop", "a3db")
    result = run("bastille", "destroy", "a3db", stdin="")
    assert (result.returncode, "Invalid input" in result.stderr) == (1, True)
    assert run("bastille", "list", "jails").stdout == "a3db\n"


def test_destroy_afy_stops_and_removes_the_jail_and_its_epair(
    run: Run, host: dict[str, Path]
) -> None:
    create(run)
    result = run("bastille", "destroy", "-afy", "a3db")
    assert (result.returncode, "Destroying jail..." in result.stderr) == (0, True)
    assert not (host["root"] / JAILS / "a3db").exists()
    assert "e0a_a3db" not in [i["name"] for i in state(host)["interfaces"]]
    assert state(host)["jails"] == []


# ------------------------------------------------------------------------- cmd/pkg/sysrc/service


def test_cmd_on_a_stopped_jail_exits_0_with_jail_is_not_running(run: Run) -> None:
    create(run)
    run("bastille", "stop", "a3db")
    result = run("bastille", "cmd", "a3db", "false")
    assert result.returncode == 0  # the trap: skipped, not counted
    assert "[a3db]:\nJail is not running.\nUse [-a|--auto] to auto-start the jail." in result.stderr


def test_cmd_a_starts_a_stopped_jail_and_runs_the_command(run: Run) -> None:
    create(run)
    run("bastille", "stop", "a3db")
    result = run("bastille", "cmd", "-a", "a3db", "sysrc", "-n", "defaultrouter")
    assert (result.returncode, result.stdout) == (0, "10.77.3.1\n")


def test_cmd_that_fails_reports_command_failed_and_exits_1(run: Run) -> None:
    create(run)
    result = run("bastille", "cmd", "a3db", "sh", "-c", "exit 7")
    assert result.returncode == 1  # the real code (7) is lost (reference/freebsd.md §1.4)
    assert "[ERROR]: Command failed on 1 jails." in result.stderr


def test_bastille_sysrc_edits_the_jails_rc_conf(run: Run, host: dict[str, Path]) -> None:
    create(run)
    result = run("bastille", "sysrc", "a3db", "nginx_enable=YES")
    assert (result.returncode, result.stdout) == (0, "nginx_enable:  -> YES\n")
    assert 'nginx_enable="YES"' in jail_file(host, "a3db", "root/etc/rc.conf")
    assert not (host["root"] / "etc/rc.conf").exists()


def test_bastille_pkg_y_installs_into_the_jail_not_the_host(run: Run) -> None:
    create(run)
    result = run("bastille", "pkg", "-y", "a3db", "install", "nginx")
    assert result.returncode == 0, result.stderr
    assert "[1/1] Installing nginx-1.28.0..." in result.stdout
    assert run("pkg", "-j", "a3db", "info", "-e", "nginx").returncode == 0
    assert run("jexec", "a3db", "pkg", "info", "-e", "nginx").returncode == 0
    assert run("pkg", "info", "-e", "nginx").returncode == 1


def test_pkg_j_installs_into_a_running_jail_and_refuses_a_missing_one(run: Run) -> None:
    create(run)
    installed = run("pkg", "-j", "a3db", "install", "-y", "git")
    assert installed.returncode == 0, installed.stderr
    assert run("pkg", "-j", "a3db", "info", "-e", "git").returncode == 0
    missing = run("pkg", "-j", "nosuch", "info", "-e", "git")
    assert (missing.returncode, missing.stderr) == (1, 'pkg: jail "nosuch" not found\n')


def test_service_on_a_stopped_jail_exits_0_with_jail_is_not_running(run: Run) -> None:
    create(run)
    run("bastille", "stop", "a3db")
    result = run("bastille", "service", "a3db", "sshd", "onestart")
    assert (result.returncode, "Jail is not running." in result.stderr) == (0, True)


# ------------------------------------------------------------------------- config, limits


def test_config_set_takes_property_and_value_as_two_words(run: Run, host: dict[str, Path]) -> None:
    create(run)
    result = run("bastille", "config", "a3db", "set", "sysvshm", "new")
    assert result.returncode == 0, result.stderr
    assert "  sysvshm = new;\n}" in jail_file(host, "a3db", "jail.conf")
    assert run("bastille", "config", "a3db", "get", "sysvshm").stdout == "new\n"
    assert run("bastille", "config", "a3db", "get", "sysvsem").stdout == "not set\n"


def test_config_set_with_an_equals_sign_is_an_unsupported_property(
    run: Run, host: dict[str, Path]
) -> None:
    create(run)
    result = run("bastille", "config", "a3db", "set", "sysvshm=new")
    assert result.returncode == 1
    assert "[ERROR]: Unsupported property: sysvshm=new" in result.stderr
    assert "sysvshm" not in jail_file(host, "a3db", "jail.conf")


def test_limits_without_racct_fails_with_bastilles_error(run: Run, host: dict[str, Path]) -> None:
    create(run)
    result = run("bastille", "limits", "a3db", "add", "memoryuse", "2G")
    assert result.returncode == 1
    assert "Racct not enabled. Append 'kern.racct.enable=1' to /boot/loader.conf" in result.stderr
    assert not (host["root"] / JAILS / "a3db/rctl.conf").exists()


def test_limits_add_writes_rctl_conf_and_a_re_add_does_not_update_it(
    run: Run, host: dict[str, Path]
) -> None:
    data = state(host)
    data["sysctl"]["kern.racct.enable"]["value"] = "1"
    (host["state"] / "state.json").write_text(json.dumps(data))
    create(run)
    assert run("bastille", "limits", "a3db", "add", "memoryuse", "2G").returncode == 0
    assert run("bastille", "limits", "a3db", "add", "memoryuse", "4G").returncode == 0
    # reference/freebsd.md §1.4: the update regex never matches, so the first value stays
    assert jail_file(host, "a3db", "rctl.conf") == "jail:a3db:memoryuse:deny=2G/jail\n"
    assert run("bastille", "limits", "a3db", "remove", "memoryuse").returncode == 0
    assert jail_file(host, "a3db", "rctl.conf") == ""


# ------------------------------------------------------------------------- template


def test_template_applies_every_hook_in_order(run: Run, host: dict[str, Path]) -> None:
    create(run)
    tpl = bastillefile(
        host,
        "# a comment\n\n"
        "ARG+ PG_LISTEN\n"
        "ARG GREETING=hello\n"
        "PKG nginx \\\n  git\n"
        "SYSRC nginx_enable=YES\n"
        "CONFIG set sysvsem new\n"
        "CP usr /\n"
        "RENDER /usr/local/etc/site.conf\n"
        "LINE_IN_FILE \"include '${JAIL_NAME}'\" /usr/local/etc/extra.conf\n"
        "LIF \"include '${JAIL_NAME}'\" /usr/local/etc/extra.conf\n"
        "MOUNT /srv/data /srv/data nullfs rw 0 0\n"
        "RESTART\n"
        "SERVICE nginx start\n"
        "CMD echo ${GREETING} ${JAIL_IP} > /dev/null\n",
    )
    site = host["root"] / "tmp/tpl/usr/local/etc/site.conf"
    site.parent.mkdir(parents=True)
    site.write_text("listen ${PG_LISTEN} on ${JAIL_IP}\n")
    result = run("bastille", "template", "a3db", tpl, "--arg", "PG_LISTEN=10.77.3.10")
    assert result.returncode == 0, result.stderr
    assert f"Template applied: {tpl}" in result.stderr
    assert run("pkg", "-j", "a3db", "info", "-e", "git").returncode == 0
    assert 'nginx_enable="YES"' in jail_file(host, "a3db", "root/etc/rc.conf")
    assert "  sysvsem = new;" in jail_file(host, "a3db", "jail.conf")
    rendered = jail_file(host, "a3db", "root/usr/local/etc/site.conf")
    assert rendered == "listen 10.77.3.10 on 10.77.3.10\n"
    assert jail_file(host, "a3db", "root/usr/local/etc/extra.conf") == "include 'a3db'\n"
    fstab = jail_file(host, "a3db", "fstab").splitlines()
    assert fstab[-1] == "/srv/data /usr/local/bastille/jails/a3db/root/srv/data nullfs rw 0 0"
    status = run("jexec", "a3db", "service", "nginx", "status")
    assert (status.returncode, status.stdout.startswith("nginx is running as pid")) == (0, True)


def test_template_aborts_on_the_first_failing_line(run: Run, host: dict[str, Path]) -> None:
    create(run)
    tpl = bastillefile(host, "SYSRC a_var=1\nCMD exit 3\nSYSRC b_var=2\n")
    result = run("bastille", "template", "a3db", tpl)
    assert result.returncode == 1
    assert "[ERROR]: Failed to execute command: cmd" in result.stderr
    rc_conf = jail_file(host, "a3db", "root/etc/rc.conf")
    assert ('a_var="1"' in rc_conf, "b_var" in rc_conf) == (True, False)


def test_template_with_a_missing_mandatory_arg_fails(run: Run, host: dict[str, Path]) -> None:
    create(run)
    tpl = bastillefile(host, "ARG+ PG_LISTEN\nCMD true\n")
    result = run("bastille", "template", "a3db", tpl)
    assert (result.returncode, "No value provided for arg: PG_LISTEN" in result.stderr) == (1, True)


def test_template_on_a_stopped_jail_exits_0_with_jail_is_not_running(
    run: Run, host: dict[str, Path]
) -> None:
    create(run)
    run("bastille", "stop", "a3db")
    tpl = bastillefile(host, "SYSRC a_var=1\n")
    result = run("bastille", "template", "a3db", tpl)
    assert result.returncode == 0  # the trap of reference/freebsd.md §1.5
    assert "Jail is not running." in result.stderr
    assert "a_var" not in jail_file(host, "a3db", "root/etc/rc.conf")


def test_an_unmodelled_template_hook_exits_64(run: Run, host: dict[str, Path]) -> None:
    create(run)
    tpl = bastillefile(host, "INCLUDE other/template\n")
    assert run("bastille", "template", "a3db", tpl).returncode == 64


# ------------------------------------------------------------------------- jexec


def test_jexec_on_a_stopped_jail_fails_with_jexecs_error(run: Run) -> None:
    create(run)
    run("bastille", "stop", "a3db")
    result = run("jexec", "-l", "a3db", "true")
    assert (result.returncode, result.stderr) == (1, 'jexec: jail "a3db" not found\n')


def test_jexec_returns_the_commands_exit_code_and_marks_the_jail(
    run: Run, host: dict[str, Path]
) -> None:
    create(run)
    assert run("jexec", "a3db", "sh", "-c", "exit 7").returncode == 7
    shown = run(
        "jexec", "-l", "a3db", "sh", "-c", 'echo "$FREEBSD_DOUBLE_JAIL $FREEBSD_DOUBLE_ROOT"'
    )
    assert shown.stdout == f"a3db {host['root'] / JAILS / 'a3db/root'}\n"


def test_jexec_l_gives_a_clean_login_environment(run: Run) -> None:
    create(run)
    shown = run("jexec", "-l", "a3db", "sh", "-c", 'echo "$HOME|$USER|${ASSUME_ALWAYS_YES:-unset}"')
    assert shown.stdout == "/root|root|unset\n"


def test_jexec_u_runs_the_command_as_that_user_of_the_jail(run: Run) -> None:
    create(run)
    result = run("jexec", "-U", "nobody", "a3db", "id", "-u")
    assert (result.returncode, result.stdout) == (0, "65534\n")
    unknown = run("jexec", "-U", "nosuch", "a3db", "id", "-u")
    assert (unknown.returncode, unknown.stderr) == (1, "jexec: nosuch: no such user\n")


def test_sysrc_inside_a_jail_edits_the_jails_rc_conf(run: Run, host: dict[str, Path]) -> None:
    create(run)
    result = run("jexec", "a3db", "sysrc", "postgresql_enable=YES")
    assert (result.returncode, result.stdout) == (0, "postgresql_enable:  -> YES\n")
    assert 'postgresql_enable="YES"' in jail_file(host, "a3db", "root/etc/rc.conf")


# ------------------------------------------------------------------------- services in a jail


def test_service_start_twice_exits_1_inside_a_jail(run: Run) -> None:
    create(run)
    run("jexec", "a3db", "pkg", "install", "-y", "nginx")
    first = run("jexec", "a3db", "service", "nginx", "onestart")
    assert (first.returncode, first.stdout) == (0, "Starting nginx.\n")
    second = run("jexec", "a3db", "service", "nginx", "onestart")
    assert second.returncode == 1
    assert second.stderr.startswith("nginx already running?  (pid=")


def test_stop_of_a_stopped_service_exits_1_and_status_reports_it(run: Run) -> None:
    create(run)
    run("jexec", "a3db", "pkg", "install", "-y", "ollama")
    stop = run("jexec", "a3db", "service", "ollama", "onestop")
    assert (stop.returncode, stop.stderr) == (1, "ollama not running?\n")
    status = run("jexec", "a3db", "service", "ollama", "onestatus")
    assert (status.returncode, status.stdout) == (1, "ollama is not running.\n")


def test_start_of_a_disabled_service_says_cannot_and_exits_0(run: Run) -> None:
    create(run)
    run("jexec", "a3db", "pkg", "install", "-y", "nginx")
    result = run("jexec", "a3db", "service", "nginx", "start")
    assert result.returncode == 0
    assert result.stdout == (
        "Cannot 'start' nginx. Set nginx_enable to YES in /etc/rc.conf or use 'onestart' "
        "instead of 'start'.\n"
    )
    assert run("jexec", "a3db", "service", "nginx", "enabled").returncode == 1


def test_a_service_whose_package_is_missing_does_not_exist(run: Run) -> None:
    create(run)
    result = run("jexec", "a3db", "service", "postgresql", "onestatus")
    assert result.returncode == 1
    assert result.stdout.startswith("postgresql does not exist in /etc/rc.d or the local startup")


def test_sshd_of_the_base_system_runs_in_a_fresh_jail(run: Run) -> None:
    create(run)
    result = run("jexec", "a3db", "service", "sshd", "onestart")
    assert (result.returncode, result.stdout) == (0, "Starting sshd.\n")


def test_service_state_is_per_jail_and_ends_with_the_jail(run: Run) -> None:
    create(run, "a3db", "10.77.3.10/24")
    create(run, "a3git", "10.77.3.11/24")
    run("jexec", "a3db", "service", "sshd", "onestart")
    assert run("jexec", "a3git", "service", "sshd", "onestatus").returncode == 1
    run("bastille", "restart", "a3db")
    assert run("jexec", "a3db", "service", "sshd", "onestatus").returncode == 1


def test_llama_server_needs_its_model_file(run: Run, host: dict[str, Path]) -> None:
    create(run)
    run("jexec", "a3db", "pkg", "install", "-y", "llama-cpp")
    refused = run("jexec", "a3db", "service", "llama_server", "onestart")
    assert (refused.returncode, "is not readable." in refused.stderr) == (1, True)
    model = host["root"] / JAILS / "a3db/root/models/m.gguf"
    model.parent.mkdir(parents=True)
    model.write_text("gguf")
    run("jexec", "a3db", "sysrc", "llama_server_model=/models/m.gguf")
    assert run("jexec", "a3db", "service", "llama_server", "onestart").returncode == 0


def test_postgresql_initdb_creates_pg_version_once(run: Run, host: dict[str, Path]) -> None:
    create(run)
    assert run("jexec", "a3db", "pkg", "install", "-y", "postgresql17-server").returncode == 0
    disabled = run("jexec", "a3db", "service", "postgresql", "initdb")
    assert (disabled.returncode, disabled.stdout.startswith("Cannot 'initdb' postgresql.")) == (
        0,
        True,
    )
    run("jexec", "a3db", "sysrc", "postgresql_enable=YES")
    first = run("jexec", "a3db", "service", "postgresql", "initdb")
    assert first.returncode == 0, first.stderr
    assert jail_file(host, "a3db", "root/var/db/postgres/data17/PG_VERSION") == "17\n"
    second = run("jexec", "a3db", "service", "postgresql", "initdb")
    assert second.returncode == 1
    assert 'initdb: error: directory "/var/db/postgres/data17" exists but is not empty' in (
        second.stderr
    )


def test_postgresql_start_status_and_start_again(run: Run, host: dict[str, Path]) -> None:
    create(run)
    run("jexec", "a3db", "pkg", "install", "-y", "postgresql16-server")
    not_yet = run("jexec", "a3db", "service", "postgresql", "onestart")
    assert (not_yet.returncode, "does not exist" in not_yet.stderr) == (1, True)
    assert run("jexec", "a3db", "service", "postgresql", "oneinitdb").returncode == 0
    assert run("jexec", "a3db", "service", "postgresql", "onestart").returncode == 0
    status = run("jexec", "a3db", "service", "postgresql", "onestatus")
    assert (status.returncode, status.stdout.startswith("pg_ctl: server is running")) == (0, True)
    assert (host["root"] / JAILS / "a3db/root/var/db/postgres/data16/postmaster.pid").exists()
    again = run("jexec", "a3db", "service", "postgresql", "onestart")
    assert again.returncode == 1
    run("jexec", "a3db", "service", "postgresql", "onestop")
    stopped = run("jexec", "a3db", "service", "postgresql", "onestatus")
    assert (stopped.returncode, stopped.stdout) == (3, "pg_ctl: no server running\n")


def test_an_unknown_rc_directive_prints_rc_subr_usage_and_exits_1(run: Run) -> None:
    create(run)
    run("jexec", "a3db", "pkg", "install", "-y", "ollama")
    result = run("jexec", "a3db", "service", "ollama", "reload")
    assert result.returncode == 1
    assert "/usr/local/etc/rc.d/ollama: unknown directive 'reload'." in result.stderr

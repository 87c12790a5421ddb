"""The FreeBSD test double prints what the real commands print (outputs.md samples)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.double.install import (
    COMMANDS,
    Run,
    install_double,
    read_calls,
    runner,
    seed_state,
)

DOUBLE = Path(__file__).resolve().parents[1] / "freebsd_double.py"


@pytest.fixture
def host(tmp_path: Path) -> dict[str, Path]:
    state, root = tmp_path / "state", tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    seed_state(state)
    return {"state": state, "root": root}


@pytest.fixture
def run(host: dict[str, Path]) -> Run:
    return runner(host["state"], host["root"])


def reseed(host: dict[str, Path], overrides: dict[str, Any]) -> None:
    seed_state(host["state"], overrides)


# ---------------------------------------------------------------- sysrc (reference/outputs.md §2)

SYSRC_CONF = 'test_enable="NO"\ntest2_list=""\ntest_list="item1"\ntest1_enable="YES"\n'


@pytest.fixture
def conf(host: dict[str, Path]) -> Path:
    path = host["root"] / "etc" / "test.conf"
    path.write_text(SYSRC_CONF)
    return path


F = "/etc/test.conf"


def test_sysrc_prints_the_name_and_value_of_a_set_variable(run: Run, conf: Path) -> None:
    result = run("sysrc", "-f", F, "test_enable")
    assert (result.stdout, result.stderr, result.returncode) == ("test_enable: NO\n", "", 0)


@pytest.mark.parametrize(
    ("argv", "printed"),
    [
        # the form community.general's sysrc module reads: "PATH: value"
        (("-v", "-n", "test_enable"), f"{F}: NO\n"),
        (("-v", "test_enable"), f"{F}: test_enable: NO\n"),
        (("-v", "-e", "test_enable"), f': {F}; test_enable="NO"\n'),
        (("-v", "test_enable=YES"), f"{F}: test_enable: NO -> YES\n"),
        (("-v", "-N", "test_enable"), f"{F}: test_enable\n"),
    ],
)
def test_sysrc_v_prefixes_each_line_with_the_file_that_holds_the_variable(
    run: Run, conf: Path, argv: tuple[str, ...], printed: str
) -> None:
    result = run("sysrc", "-f", F, *argv)
    assert (result.stdout, result.returncode) == (printed, 0)


def test_sysrc_v_with_c_or_x_is_not_modelled(run: Run, conf: Path) -> None:
    assert run("sysrc", "-f", F, "-v", "-c", "test_enable=NO").returncode == 64
    assert run("sysrc", "-f", F, "-v", "-x", "test_enable").returncode == 64


def test_sysrc_prints_an_empty_value_after_the_colon_and_a_space(run: Run, conf: Path) -> None:
    assert run("sysrc", "-f", F, "test2_list").stdout == "test2_list: \n"


def test_sysrc_reports_an_unset_variable_on_stderr_and_exits_1(run: Run, conf: Path) -> None:
    result = run("sysrc", "-f", F, "noexist")
    assert (result.stdout, result.stderr, result.returncode) == (
        "",
        "sysrc: unknown variable 'noexist'\n",
        1,
    )


def test_sysrc_prints_known_variables_even_when_another_is_unknown(run: Run, conf: Path) -> None:
    result = run("sysrc", "-f", F, "test_enable", "noexist")
    assert result.stdout == "test_enable: NO\n"
    assert result.stderr == "sysrc: unknown variable 'noexist'\n"
    assert result.returncode == 1


def test_sysrc_setting_an_unset_variable_prints_two_spaces_and_writes_quotes(
    run: Run, host: dict[str, Path]
) -> None:
    path = host["root"] / "etc" / "new.conf"
    path.write_text("")
    result = run("sysrc", "-f", "/etc/new.conf", "test_enable=YES")
    assert (result.stdout, result.returncode) == ("test_enable:  -> YES\n", 0)
    assert path.read_text() == 'test_enable="YES"\n'
    assert (
        run("sysrc", "-f", "/etc/new.conf", "test_enable=YES").stdout == "test_enable: YES -> YES\n"
    )


def test_sysrc_setting_an_empty_value_prints_an_empty_arrow_side(run: Run, conf: Path) -> None:
    assert run("sysrc", "-f", F, "test2_enable=").stdout == "test2_enable:  -> \n"
    assert 'test2_enable=""' in conf.read_text()


def test_sysrc_plus_equals_appends_a_list_item(run: Run, conf: Path) -> None:
    assert run("sysrc", "-f", F, "test_list+=item2").stdout == "test_list: item1 -> item1 item2\n"
    assert 'test_list="item1 item2"' in conf.read_text()


def test_sysrc_minus_equals_removes_a_list_item(run: Run, conf: Path) -> None:
    assert run("sysrc", "-f", F, "test_list-=item1").stdout == "test_list: item1 -> \n"


def test_sysrc_x_removes_the_line_silently(run: Run, conf: Path) -> None:
    result = run("sysrc", "-f", F, "-x", "test1_enable")
    assert (result.stdout, result.stderr, result.returncode) == ("", "", 0)
    assert "test1_enable" not in conf.read_text()


def test_sysrc_x_of_an_unknown_variable_fails_with_the_unknown_message(
    run: Run, conf: Path
) -> None:
    result = run("sysrc", "-f", F, "-x", "noexist")
    assert (result.stderr, result.returncode) == ("sysrc: unknown variable 'noexist'\n", 1)


def test_sysrc_c_on_a_name_checks_that_it_is_set(run: Run, conf: Path) -> None:
    ok, missing = run("sysrc", "-f", F, "-c", "test_enable"), run("sysrc", "-f", F, "-c", "noexist")
    assert (ok.stdout, ok.stderr, ok.returncode) == ("", "", 0)
    assert (missing.stderr, missing.returncode) == ("sysrc: unknown variable 'noexist'\n", 1)


def test_sysrc_c_with_a_value_exits_0_only_when_already_equal(run: Run, conf: Path) -> None:
    same, other = (
        run("sysrc", "-f", F, "-c", "test_enable=NO"),
        run("sysrc", "-f", F, "-c", "test_enable=YES"),
    )
    assert (same.stdout, same.returncode) == ("", 0)
    assert (other.stdout, other.stderr, other.returncode) == ("", "", 1)
    assert 'test_enable="NO"' in conf.read_text()


def test_sysrc_c_with_plus_equals_checks_membership_on_15(
    run: Run, conf: Path, host: dict[str, Path]
) -> None:
    reseed(host, {"freebsd_version": {"userland": "15.0-RELEASE"}})
    conf.write_text('test_list="item1 item2"\n')
    assert run("sysrc", "-f", F, "-c", "test_list+=item1").returncode == 0
    assert run("sysrc", "-f", F, "-c", "test_list+=item3").returncode == 1


def test_sysrc_c_with_plus_equals_compares_the_raw_value_on_14(run: Run, conf: Path) -> None:
    # FreeBSD 14 sysrc compares ${1#*=} with the current value (no list logic).
    conf.write_text('test_list="item1 item2"\n')
    assert run("sysrc", "-f", F, "-c", "test_list+=item1").returncode == 1


def test_sysrc_capital_f_names_the_file_holding_the_variable(run: Run, conf: Path) -> None:
    assert run("sysrc", "-f", F, "-F", "test_enable").stdout == f"test_enable: {F}\n"


def test_sysrc_a_lists_only_variables_set_in_the_files(run: Run, host: dict[str, Path]) -> None:
    (host["root"] / "etc" / "a.conf").write_text('test_enable="YES"\n')
    assert run("sysrc", "-f", "/etc/a.conf", "-a").stdout == "test_enable: YES\n"


def test_sysrc_n_prints_the_bare_value_and_i_hides_unknowns(run: Run, conf: Path) -> None:
    assert run("sysrc", "-f", F, "-n", "test_enable").stdout == "NO\n"
    hidden = run("sysrc", "-in", "--", "memcached_enable")
    assert (hidden.stdout, hidden.stderr, hidden.returncode) == ("", "", 1)


def test_sysrc_e_prints_shell_assignments(run: Run, conf: Path) -> None:
    assert run("sysrc", "-f", F, "-e", "test_enable").stdout == 'test_enable="NO"\n'


def test_sysrc_reads_defaults_but_bastille_enable_is_not_one(run: Run) -> None:
    assert run("sysrc", "-n", "pf_enable").stdout == "NO\n"
    assert run("sysrc", "cloned_interfaces").stdout == "cloned_interfaces: \n"
    assert run("sysrc", "bastille_enable").stderr == "sysrc: unknown variable 'bastille_enable'\n"


def test_sysrc_writes_rc_conf_under_the_root_and_replaces_the_last_occurrence(
    run: Run, host: dict[str, Path]
) -> None:
    rc_conf = host["root"] / "etc" / "rc.conf"
    rc_conf.write_text('x_flags="1"\n# c\nx_flags="2"\n')
    assert run("sysrc", "x_flags=3").stdout == "x_flags: 2 -> 3\n"
    assert rc_conf.read_text() == 'x_flags="1"\n# c\nx_flags="3"\n'
    assert run("sysrc", "gateway_enable=YES").stdout == "gateway_enable: NO -> YES\n"
    assert rc_conf.read_text().endswith('gateway_enable="YES"\n')


def test_sysrc_refuses_names_with_characters_not_allowed_in_shell(run: Run) -> None:
    result = run("sysrc", "vm.kmem_size=1")
    assert (result.stderr, result.returncode) == (
        "sysrc: vm.kmem_size: name contains characters not allowed in shell\n",
        1,
    )


def test_sysrc_treats_options_after_a_name_as_unknown_names(run: Run) -> None:
    # reference/outputs.md §2 (salt #25530): options must come first.
    assert "sysrc: unknown variable '-f'" in run("sysrc", "sshd_enable", "-f", "x").stderr


# ---------------------------------------------------------------- versions, sysctl, kldstat


def test_uname_and_freebsd_version_print_the_freebsd_formats(run: Run) -> None:
    assert run("uname", "-a").stdout == (
        "FreeBSD testhost 14.3-RELEASE FreeBSD 14.3-RELEASE "
        "releng/14.3-n271432-8c9ce319fef7 GENERIC amd64\n"
    )
    assert run("uname", "-srm").stdout == "FreeBSD 14.3-RELEASE amd64\n"
    assert run("uname").stdout == "FreeBSD\n"
    assert run("freebsd-version", "-kru").stdout == "14.3-RELEASE\n" * 3
    assert run("freebsd-version").stdout == "14.3-RELEASE\n"


def test_freebsd_version_prints_kernel_running_userland_in_that_order(
    run: Run, host: dict[str, Path]
) -> None:
    reseed(
        host,
        {
            "freebsd_version": {
                "userland": "14.1-RELEASE-p2",
                "running": "14.1-RELEASE",
                "kernel": "14.1-RELEASE",
            }
        },
    )
    assert run("freebsd-version", "-u", "-k").stdout == "14.1-RELEASE\n14.1-RELEASE-p2\n"


def test_sysctl_reports_unknown_oids_but_prints_the_others(run: Run) -> None:
    result = run("sysctl", "kern.racct.enable", "x.y", "net.inet.ip.forwarding")
    assert result.stdout == "kern.racct.enable: 0\nnet.inet.ip.forwarding: 0\n"
    assert result.stderr == "sysctl: unknown oid 'x.y'\n"
    assert result.returncode == 1
    assert run("sysctl", "-i", "x.y").returncode == 0
    assert run("sysctl", "-n", "kern.racct.enable").stdout == "0\n"


def test_sysctl_sets_a_writable_oid_and_refuses_a_read_only_tunable(run: Run) -> None:
    assert run("sysctl", "net.inet.ip.forwarding=1").stdout == "net.inet.ip.forwarding: 0 -> 1\n"
    assert run("sysctl", "-n", "net.inet.ip.forwarding").stdout == "1\n"
    tunable = run("sysctl", "kern.racct.enable=1")
    assert tunable.stderr == (
        "sysctl: oid 'kern.racct.enable' is a read only tunable\n"
        "sysctl: Tunable values are set in /boot/loader.conf\n"
    )
    assert tunable.returncode == 1


def test_bridge_sysctls_exist_only_once_if_bridge_is_loaded(run: Run) -> None:
    assert run("sysctl", "net.link.bridge.pfil_member").returncode == 1
    assert run("kldstat", "-qm", "if_bridge").returncode == 1
    assert run("ifconfig", "bridge", "create").stdout == "bridge0\n"
    assert run("kldstat", "-q", "-m", "if_bridge").returncode == 0
    assert run("sysctl", "net.link.bridge.pfil_member").stdout == "net.link.bridge.pfil_member: 1\n"


def test_kldstat_prints_the_table_and_module_probes(run: Run) -> None:
    table = run("kldstat").stdout.splitlines()
    assert table[0] == "Id Refs Address                Size Name"
    assert re.fullmatch(r" 1 +\d+ 0xffffffff80200000 +[0-9a-f]+ kernel", table[1])
    missing = run("kldstat", "-m", "vmm")
    assert (missing.stderr, missing.returncode) == (
        "kldstat: can't find module vmm: No such file or directory\n",
        1,
    )
    assert run("kldstat", "-m", "kernel").stdout.splitlines()[0] == "Id  Refs Name"


# ---------------------------------------------------------------- pkg, bastille, jls, pfctl


def test_pkg_info_probes_and_prints_the_head_format(run: Run) -> None:
    assert run("pkg", "info", "-e", "pkg").returncode == 0
    absent = run("pkg", "info", "-e", "bastille")
    assert (absent.stdout, absent.stderr, absent.returncode) == ("", "", 1)
    lines = run("pkg", "info", "pkg").stdout.splitlines()
    assert lines[:3] == ["pkg-2.1.2", "Name           : pkg", "Version        : 2.1.2"]
    assert "Architecture   : FreeBSD:14:amd64" in lines
    missing = run("pkg", "info", "bastille")
    assert (missing.stderr, missing.returncode) == ("pkg: No package(s) matching bastille\n", 1)
    assert run("pkg", "-v").stdout == "2.1.2\n"


def test_bastille_is_not_found_until_installed(run: Run) -> None:
    result = run("bastille", "-v")
    assert (result.stdout, result.stderr, result.returncode) == ("", "bastille: not found\n", 127)


def test_bastille_1_4_prints_its_version_on_stderr(run: Run, host: dict[str, Path]) -> None:
    reseed(host, {"bastille": {"version": "1.4.4"}})
    for flag in ("-v", "--version"):
        result = run("bastille", flag)
        assert (result.stdout, result.stderr, result.returncode) == ("", "1.4.4\n", 0)


def test_bastille_before_1_4_printed_its_version_on_stdout(run: Run, host: dict[str, Path]) -> None:
    reseed(host, {"bastille": {"version": "1.2.2.251204"}})
    assert run("bastille", "-v").stdout == "1.2.2.251204\n"


def test_bastille_list_jails_names_the_jails_with_a_jail_conf(
    run: Run, host: dict[str, Path]
) -> None:
    reseed(host, {"bastille": {"version": "1.4.4"}})
    assert (
        run("bastille", "list", "jails").stdout,
        run("bastille", "list", "jails").returncode,
    ) == ("", 0)
    for name in ("a3db", "a1web"):
        jail = host["root"] / "usr/local/bastille/jails" / name
        jail.mkdir(parents=True)
        (jail / "jail.conf").write_text(f"{name} {{}}\n")
    (host["root"] / "usr/local/bastille/jails/broken").mkdir()
    assert run("bastille", "list", "jails").stdout == "a1web\na3db\n"


def test_jls_prints_the_header_and_fails_on_a_missing_jail(run: Run, host: dict[str, Path]) -> None:
    missing = run("jls", "-j", "nosuch")
    assert missing.stdout == "   JID  IP Address      Hostname                      Path\n"
    assert (missing.stderr, missing.returncode) == ('jls: jail "nosuch" not found\n', 1)
    assert run("jls", "-j", "nosuch", "jid").stdout == ""
    reseed(
        host,
        {
            "jails": [
                {
                    "jid": 24,
                    "name": "a3db",
                    "hostname": "a3db",
                    "path": "/usr/local/bastille/jails/a3db/root",
                    "ip4": [],
                }
            ]
        },
    )
    assert run("jls", "-j", "a3db", "jid").stdout == "24\n"
    assert run("jls", "-j", "a3db", "ip4.addr").stdout == "-\n"
    assert run("jls", "name").stdout == "a3db\n"
    assert run("jls").stdout.splitlines()[1] == (
        "    24                  a3db                          /usr/local/bastille/jails/a3db/root"
    )


def test_pfctl_needs_the_pf_module(run: Run) -> None:
    result = run("pfctl", "-s", "info")
    assert (result.stderr, result.returncode) == ("pfctl: /dev/pf: No such file or directory\n", 1)


def test_pfctl_enable_twice_fails_and_info_shows_the_status_line(
    run: Run, host: dict[str, Path]
) -> None:
    reseed(
        host,
        {
            "kld": [
                {
                    "id": 1,
                    "name": "kernel",
                    "refs": 14,
                    "address": "0xffffffff80200000",
                    "size": 1,
                    "modules": ["kernel"],
                },
                {
                    "id": 2,
                    "name": "pf.ko",
                    "refs": 1,
                    "address": "0xffffffff82000000",
                    "size": 1,
                    "modules": ["pf"],
                },
            ]
        },
    )
    assert run("pfctl", "-s", "info").stdout.splitlines()[0] == (
        "Status: Disabled                              Debug: Urgent"
    )
    assert run("pfctl", "-s", "Running").returncode == 1
    first = run("pfctl", "-e")
    assert (first.stderr, first.returncode) == ("pf enabled\n", 0)
    again = run("pfctl", "-e")
    assert (again.stderr, again.returncode) == ("pfctl: pf already enabled\n", 1)
    assert run("pfctl", "-si").stdout.splitlines()[0] == (
        "Status: Enabled for 0 days 00:00:00           Debug: Urgent"
    )
    assert run("pfctl", "-s", "Running").stdout == "Enabled\n"


# ---------------------------------------------------------------- exit 64, calls.log, install


@pytest.mark.parametrize(
    "argv",
    [
        ("uname", "-z"),
        ("sysrc", "-A"),
        ("sysctl", "-a"),
        ("kldstat", "-v"),
        ("pkg", "install", "-r", "FreeBSD", "-y", "tmux"),
        ("ifconfig", "vtnet0", "mtu", "9000"),
        ("netstat", "-r"),
        ("route", "add", "default", "10.0.0.1"),
        ("jls", "-v"),
        ("pfctl", "-F", "all"),
        ("service", "-j", "web", "sshd", "status"),
    ],
)
def test_unmodelled_commands_and_flags_exit_64_naming_them(run: Run, argv: tuple[str, ...]) -> None:
    result = run(*argv)
    assert result.returncode == 64
    assert "freebsd-double: not modelled" in result.stderr
    assert result.stdout == ""


def test_every_call_is_logged_with_its_exit_status(run: Run, host: dict[str, Path]) -> None:
    run("uname", "-r")
    run("sysctl", "nosuch")
    assert read_calls(host["state"]) == [
        {"argv": ["uname", "-r"], "rc": 0},
        {"argv": ["sysctl", "nosuch"], "rc": 1},
    ]


def test_an_injected_fault_stops_the_kth_call_before_it_acts(
    run: Run, host: dict[str, Path]
) -> None:
    reseed(host, {"fault": {"at": 2, "action": "exit"}})
    assert run("uname").returncode == 0
    assert run("sysrc", "sshd_enable=YES").returncode == 70
    assert not (host["root"] / "etc" / "rc.conf").exists()
    assert run("sysrc", "sshd_enable=YES").returncode == 0
    assert [c["rc"] for c in read_calls(host["state"])] == [0, 70, 0]


def test_installed_wrappers_and_symlinks_answer_as_the_command(
    tmp_path: Path, host: dict[str, Path]
) -> None:
    bin_dir = tmp_path / "bin"
    install_double(bin_dir, state_dir=str(host["state"]))
    assert sorted(p.name for p in bin_dir.iterdir()) == sorted(COMMANDS)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FREEBSD_DOUBLE_ROOT": str(host["root"]),
    }
    env.pop("FREEBSD_DOUBLE_STATE", None)
    result = subprocess.run(
        ["sh", "-c", "uname -s && freebsd-version -u"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == "FreeBSD\n14.3-RELEASE\n"
    link = tmp_path / "uname"
    link.symlink_to(DOUBLE)
    direct = subprocess.run(
        [sys.executable, str(link), "-m"],
        capture_output=True,
        text=True,
        env={**env, "FREEBSD_DOUBLE_STATE": str(host["state"])},
    )
    assert direct.stdout == "amd64\n"
    assert [c["argv"] for c in read_calls(host["state"])][-1] == ["uname", "-m"]

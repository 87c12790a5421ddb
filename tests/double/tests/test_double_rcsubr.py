"""The stub /etc/rc.subr and the double's `service` outside a test host.

What needs an rc.d script really run under `service` (rc.conf, sysrc, /etc paths)
is in tests/integration/test_service_double.py; here: shellcheck, the functions
that touch no path, what `service` says without running a script, installation.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.double.install import (
    RC_D,
    RC_SUBR,
    Run,
    install_base_system,
    install_double,
    runner,
    seed_state,
)

SH_FILES = [RC_SUBR, *sorted(p for p in RC_D.iterdir() if p.is_file())]


def sh(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a POSIX sh snippet that has sourced the stub rc.subr."""
    return subprocess.run(
        ["sh", "-c", f". {RC_SUBR}\n{script}", "sh", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ["PATH"]},
    )


@pytest.mark.parametrize("path", SH_FILES, ids=lambda p: p.name)
def test_the_stub_rc_subr_and_rc_d_scripts_pass_shellcheck_as_posix_sh(path: Path) -> None:
    assert shutil.which("shellcheck"), "shellcheck is required (apt-get install shellcheck)"
    result = subprocess.run(
        ["shellcheck", "-s", "sh", "-x", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("path", SH_FILES, ids=lambda p: p.name)
def test_the_stub_rc_subr_and_rc_d_scripts_parse_under_sh(path: Path) -> None:
    result = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_stub_says_it_is_a_test_double() -> None:
    assert "TEST DOUBLE" in RC_SUBR.read_text().splitlines()[0]
    assert "STUB" in (RC_D / "devfs").read_text()


@pytest.mark.parametrize("value", ["YES", "yes", "True", "on", "1"])
def test_checkyesno_accepts_yes_true_on_and_1_in_any_case(value: str) -> None:
    result = sh('v="$1"; checkyesno v', value)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize("value", ["NO", "no", "FALSE", "Off", "0"])
def test_checkyesno_refuses_no_false_off_and_0_silently(value: str) -> None:
    result = sh('v="$1"; checkyesno v', value)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "")


def test_checkyesno_warns_about_any_other_value_as_rc_subr_does() -> None:
    # rc.subr checkyesno; reference/outputs.md §6 shows the same warning from a real host
    result = sh('v="maybe"; checkyesno v')
    assert result.returncode == 1
    assert result.stderr == "sh: WARNING: $v is not set properly - see rc.conf(5).\n"


def test_checkyesno_warns_about_an_unset_variable_too() -> None:
    result = sh("checkyesno never_set_enable")
    assert result.returncode == 1
    assert "$never_set_enable is not set properly - see rc.conf(5)." in result.stderr


def test_err_prints_an_error_line_and_exits_with_its_first_argument() -> None:
    result = sh('err 3 "it broke"; echo not reached')
    assert (result.returncode, result.stdout, result.stderr) == (3, "", "sh: ERROR: it broke\n")


def test_info_and_debug_print_only_when_rc_info_and_rc_debug_say_so() -> None:
    quiet = sh('info "hello"; debug "there"')
    assert (quiet.stdout, quiet.stderr) == ("", "")
    loud = sh('rc_info=YES rc_debug=YES; info "hello"; debug "there"')
    assert (loud.stdout, loud.stderr) == ("sh: INFO: hello\n", "sh: DEBUG: there\n")


def test_set_rcvar_names_the_enable_variable() -> None:
    assert sh("name=foo; set_rcvar; set_rcvar bar").stdout == "foo_enable\nbar_enable\n"


def test_a_disabled_service_cannot_start_and_the_verb_still_exits_0() -> None:
    # reference/outputs.md §6 (netdata #3469): the exact text, on stdout, status 0
    result = sh('name=x; rcvar=x_enable; x_enable=NO; start_cmd=":"; run_rc_command start')
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "Cannot 'start' x. Set x_enable to YES in /etc/rc.conf or use 'onestart' "
        "instead of 'start'.\n"
    )


def test_an_unknown_verb_prints_rc_subr_usage_and_exits_1() -> None:
    result = sh('name=x; start_cmd=":"; run_rc_command bogus')
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "sh: unknown directive 'bogus'.\n"
        "Usage: sh [fast|force|one|quiet](start|stop|restart|rcvar|enable|disable|delete"
        "|enabled|describe|extracommands)\n"
    )


def test_a_function_of_rc_subr_that_is_not_modelled_exits_64() -> None:
    result = sh("load_kld pf")
    assert result.returncode == 64
    assert result.stderr.startswith(
        "rc.subr (test double): not modelled: rc.subr function load_kld"
    )


# ---------------------------------------------------------------- service, no script run


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    seed_state(tmp_path / "state")
    return root


@pytest.fixture
def run(tmp_path: Path, root: Path) -> Run:
    return runner(tmp_path / "state", root)


def script(root: Path, path: str, text: str, mode: int = 0o555) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    target.chmod(mode)


def test_service_names_the_local_startup_dirs_when_a_script_does_not_exist(run: Run) -> None:
    # usr.sbin/service/service.sh: two lines on stdout, exit 1
    result = run("service", "nosuch", "start")
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == (
        "nosuch does not exist in /etc/rc.d or the local startup\n"
        "directories (/usr/local/etc/rc.d), or is not executable\n"
    )


def test_service_does_not_run_a_script_that_is_not_executable(run: Run, root: Path) -> None:
    script(root, "/usr/local/etc/rc.d/x", "#!/bin/sh\necho ran\n", mode=0o644)
    result = run("service", "x", "start")
    assert result.returncode == 1
    assert "x does not exist in /etc/rc.d" in result.stdout
    assert "ran" not in result.stdout


def test_service_with_a_script_but_no_verb_prints_its_usage_and_exits_1(run: Run) -> None:
    result = run("service", "x")
    assert result.returncode == 1
    assert result.stdout.startswith("\nUsage:\nservice [-j <jail name or id>] -e\n")
    assert "-l\tList all scripts in /etc/rc.d and /usr/local/etc/rc.d\n" in result.stdout


def test_service_dash_h_prints_its_usage_and_exits_0(run: Run) -> None:
    result = run("service", "-h")
    assert result.returncode == 0
    assert "-e\tShow services that are enabled\n" in result.stdout


@pytest.mark.parametrize("argv", [["-j", "web", "-e"], ["-R"], ["-r"], ["-x", "sshd", "start"]])
def test_service_forms_the_double_does_not_model_exit_64(run: Run, argv: list[str]) -> None:
    result = run("service", *argv)
    assert result.returncode == 64
    assert result.stderr.startswith("freebsd-double: not modelled (exit 64): service")


def test_service_dash_l_lists_etc_rc_d_then_local_startup(run: Run, root: Path) -> None:
    script(root, "/etc/rc.d/sshd", "#!/bin/sh\n")
    script(root, "/etc/rc.d/cron", "#!/bin/sh\n")
    script(root, "/usr/local/etc/rc.d/bastille", "#!/bin/sh\n")
    assert run("service", "-l").stdout == "cron\nsshd\nbastille\n"
    verbose = run("service", "-v", "-l").stdout
    assert verbose == "From /etc/rc.d:\ncron\nsshd\nFrom /usr/local/etc/rc.d:\nbastille\n"


def test_service_dash_e_lists_the_scripts_whose_rcvar_is_yes(run: Run, root: Path) -> None:
    body = "#!/bin/sh\n# PROVIDE: {n}\n. /etc/rc.subr\nname={n}\nrcvar={r}\n"
    script(root, "/etc/rc.d/sshd", body.format(n="sshd", r="${name}_enable"))
    script(root, "/etc/rc.d/cron", body.format(n="cron", r='"${name}_enable"'))
    script(root, "/etc/rc.d/devfs", "#!/bin/sh\n# PROVIDE: devfs\nname=devfs\n")
    script(root, "/usr/local/etc/rc.d/agent", body.format(n="agent", r="`set_rcvar`"))
    script(root, "/usr/local/etc/rc.d/off", body.format(n="off", r="off_enable"))
    (root / "etc" / "rc.conf").write_text('sshd_enable="YES"\nagent_enable=yes\noff_enable=NO\n')
    result = run("service", "-e")
    # cron_enable is YES in /etc/defaults/rc.conf (the double's sysrc defaults)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "/etc/rc.d/cron\n/etc/rc.d/sshd\n/usr/local/etc/rc.d/agent\n"


def test_service_dash_e_reads_rc_conf_d_files_of_the_service(run: Run, root: Path) -> None:
    script(
        root,
        "/usr/local/etc/rc.d/agent",
        "#!/bin/sh\n# PROVIDE: agent\nname=agent\nrcvar=agent_enable\n",
    )
    (root / "usr" / "local" / "etc" / "rc.conf.d").mkdir(parents=True)
    (root / "usr" / "local" / "etc" / "rc.conf.d" / "agent").write_text("agent_enable=YES\n")
    assert run("service", "-e").stdout == "/usr/local/etc/rc.d/agent\n"


# ---------------------------------------------------------------- installation


def test_install_base_system_puts_rc_subr_defaults_and_rc_d_stubs_under_the_root(
    tmp_path: Path,
) -> None:
    install_base_system(tmp_path)
    install_base_system(tmp_path)  # again, over the read-only copies
    rc_subr = tmp_path / "etc" / "rc.subr"
    assert rc_subr.read_bytes() == RC_SUBR.read_bytes()
    assert stat.S_IMODE(rc_subr.stat().st_mode) == 0o444
    devfs = tmp_path / "etc" / "rc.d" / "devfs"
    assert stat.S_IMODE(devfs.stat().st_mode) == 0o555
    defaults = (tmp_path / "etc" / "defaults" / "rc.conf").read_text()
    assert 'local_startup="/usr/local/etc/rc.d"\n' in defaults
    assert 'rc_conf_files="/etc/rc.conf /etc/rc.conf.local"\n' in defaults


def test_the_defaults_file_parses_under_sh_to_the_values_sysrc_knows(tmp_path: Path) -> None:
    install_base_system(tmp_path)
    result = subprocess.run(
        [
            "sh",
            "-c",
            '. "$1" && printf "%s|%s" "$cron_enable" "$devfs_rulesets"',
            "sh",
            str(tmp_path / "etc" / "defaults" / "rc.conf"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.stdout == "YES|/etc/defaults/devfs.rules /etc/devfs.rules"


def test_the_wrappers_tell_service_where_the_double_bin_dir_is(tmp_path: Path) -> None:
    install_double(tmp_path / "bin", state_dir="/var/db/freebsd-double", seen_as="/opt/d/bin")
    wrapper = (tmp_path / "bin" / "service").read_text()
    assert "FREEBSD_DOUBLE_BIN=/opt/d/bin\nexport FREEBSD_DOUBLE_BIN\n" in wrapper
    assert "export FREEBSD_DOUBLE_STATE\n" in wrapper

"""`service` runs rc.d scripts on a test host as FreeBSD 14 does (stub /etc/rc.subr).

The scripts are real sh run by the double's `service` (usr.sbin/service/service.sh)
and source the stub tests/double/rc.subr installed at /etc/rc.subr; what they print
and their exit statuses come from libexec/rc/rc.subr and outputs §6.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.testhost import TestHost

# A service in rc.subr conventions (ref §2.3): custom start/stop/status methods, no
# command, so no pid: the marker file is the "process".
MARKER = "/var/run/x.up"
X_SCRIPT = f"""#!/bin/sh
# PROVIDE: x
# REQUIRE: LOGIN
# KEYWORD: shutdown
. /etc/rc.subr
name=x
rcvar=x_enable
load_rc_config $name
: "${{x_enable:=NO}}"
: "${{x_fail_precmd:=NO}}"
extra_commands=status
start_cmd=x_start
stop_cmd=x_stop
status_cmd=x_status
start_precmd=x_precmd
start_postcmd=x_postcmd
x_precmd() {{
	if checkyesno x_fail_precmd; then
		echo "x: precondition failed"
		return 2
	fi
}}
x_postcmd() {{ echo "x: postcmd"; }}
x_start() {{ touch {MARKER}; echo "Starting x."; }}
x_stop() {{
	[ -e {MARKER} ] || {{ echo "x: not started" >&2; return 3; }}
	rm -f {MARKER}
	echo "Stopping x."
}}
x_status() {{
	if [ -e {MARKER} ]; then
		echo "x is running."
	else
		echo "x is not running."
		return 1
	fi
}}
run_rc_command "$1"
"""

# rc.subr run_rc_command; the text of outputs §6
CANNOT = (
    "Cannot '{verb}' x. Set x_enable to YES in /etc/rc.conf or use 'one{verb}' "
    "instead of '{verb}'.\n"
)


def run(host: TestHost, command: str) -> tuple[int, str, str]:
    result = host.exec(command, check=False)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


@pytest.fixture
def host(make_test_host: Callable[..., TestHost]) -> TestHost:
    h = make_test_host("svc")
    h.write_file("/usr/local/etc/rc.d/x", X_SCRIPT, mode=0o555)
    return h


def enable(host: TestHost) -> None:
    assert run(host, "sysrc x_enable=YES")[0] == 0


def test_the_test_host_has_the_stub_rc_subr_and_base_scripts(host: TestHost) -> None:
    assert b"TEST DOUBLE" in host.read_file("/etc/rc.subr")
    assert host.exec("stat -c %a /etc/rc.subr /etc/rc.d/devfs").stdout == b"444\n555\n"
    assert b'cron_enable="YES"' in host.read_file("/etc/defaults/rc.conf")


@pytest.mark.parametrize("verb", ["start", "restart", "stop", "disable"])
def test_a_disabled_service_prints_cannot_and_exits_0(host: TestHost, verb: str) -> None:
    # rc.subr: every verb but rcvar/delete/enable/describe/status, and stop only
    # when no pid is known (always, for a script without command/procname)
    assert run(host, f"service x {verb}") == (0, CANNOT.format(verb=verb), "")
    assert not host.exists(MARKER)


def test_status_of_a_disabled_service_runs_its_status_method(host: TestHost) -> None:
    # FreeBSD 14 rc.subr skips the rcvar check for status (the outputs §6 "Cannot
    # 'status'" sample is from an older release); a failing method gives 1
    assert run(host, "service x status") == (1, "x is not running.\n", "")


def test_onestatus_of_a_stopped_service_says_not_running_and_exits_1(host: TestHost) -> None:
    assert run(host, "service x onestatus") == (1, "x is not running.\n", "")


def test_an_enabled_service_starts_reports_running_and_stops(host: TestHost) -> None:
    enable(host)
    assert run(host, "service x start") == (0, "Starting x.\nx: postcmd\n", "")
    assert host.exists(MARKER)
    assert run(host, "service x status") == (0, "x is running.\n", "")
    assert run(host, "service x stop") == (0, "Stopping x.\n", "")
    assert not host.exists(MARKER)


def test_onestart_runs_a_disabled_service_without_enabling_it(host: TestHost) -> None:
    assert run(host, "service x onestart")[0] == 0
    assert host.exists(MARKER)
    assert run(host, "service x enabled")[0] == 1


def test_stopping_a_stopped_service_exits_1_whatever_its_stop_cmd_returned(
    host: TestHost,
) -> None:
    # rc.subr _run_rc_doit: a failed method makes run_rc_command return 1 (not 3)
    enable(host)
    assert run(host, "service x stop") == (1, "", "x: not started\n")


def test_forcestop_returns_the_stop_cmd_status_itself(host: TestHost) -> None:
    # with force, _run_rc_doit keeps going and run_rc_command returns $_return
    assert run(host, "service x forcestop") == (3, "", "x: not started\n")


def test_a_failing_precmd_stops_the_verb_with_status_1(host: TestHost) -> None:
    enable(host)
    assert run(host, "sysrc x_fail_precmd=YES")[0] == 0
    assert run(host, "service x start") == (1, "x: precondition failed\n", "")
    assert not host.exists(MARKER)


def test_restart_is_stop_then_start_and_ignores_the_status_of_stop(host: TestHost) -> None:
    enable(host)
    status, out, err = run(host, "service x restart")
    assert (status, out, err) == (0, "Starting x.\nx: postcmd\n", "x: not started\n")
    assert run(host, "service x restart") == (0, "Stopping x.\nStarting x.\nx: postcmd\n", "")


def test_restart_fails_when_start_fails(host: TestHost) -> None:
    enable(host)
    assert run(host, "sysrc x_fail_precmd=YES")[0] == 0
    assert run(host, "service x restart")[0] == 1


def test_enable_and_disable_edit_rc_conf_through_sysrc(host: TestHost) -> None:
    # rc.subr: "NAME enabled in FILE" from sysrc's answer
    assert run(host, "service x enable") == (0, "x enabled in /etc/rc.conf\n", "")
    assert run(host, "service x enabled")[0] == 0
    assert run(host, "sysrc -n x_enable") == (0, "YES\n", "")
    assert run(host, "service x disable") == (0, "x disabled in /etc/rc.conf\n", "")
    assert run(host, "service x enabled")[0] == 1


def test_rcvar_prints_the_variable_and_its_value(host: TestHost) -> None:
    assert run(host, "service x rcvar") == (0, '# x\n#\nx_enable="NO"\n#   (default: "")\n\n', "")


def test_an_unknown_verb_prints_rc_subr_usage_and_exits_1(host: TestHost) -> None:
    status, out, err = run(host, "service x frobnicate")
    assert (status, out) == (1, "")
    assert err == (
        "/usr/local/etc/rc.d/x: unknown directive 'frobnicate'.\n"
        "Usage: /usr/local/etc/rc.d/x [fast|force|one|quiet](start|stop|restart|rcvar"
        "|enable|disable|delete|enabled|describe|extracommands|status|status)\n"
    )


def test_a_missing_script_gets_service_messages_and_exit_1(host: TestHost) -> None:
    assert run(host, "service nosuch start") == (
        1,
        "nosuch does not exist in /etc/rc.d or the local startup\n"
        "directories (/usr/local/etc/rc.d), or is not executable\n",
        "",
    )


def test_the_script_runs_with_service_clean_environment(host: TestHost) -> None:
    # service.sh: env -i HOME=/ PATH=/sbin:/bin:/usr/sbin:/usr/bin, plus the double's
    # bin dir first so sysrc & co still reach the double
    host.write_file(
        "/usr/local/etc/rc.d/envdump",
        "#!/bin/sh\n. /etc/rc.subr\nname=envdump\nstart_cmd=dump\n"
        'dump() { pwd; echo "$HOME"; echo "$PATH"; echo "${LOGNAME:-unset}"; }\n'
        'run_rc_command "$1"\n',
        mode=0o555,
    )
    status, out, _ = run(host, "cd /tmp && LOGNAME=root service envdump start")
    assert status == 0
    cwd, home, path, logname = out.splitlines()
    assert (cwd, home, logname) == ("/", "/", "unset")
    assert path.endswith(":/sbin:/bin:/usr/sbin:/usr/bin")
    assert path.split(":")[0] == "/usr/local/libexec/freebsd-double/bin"


def test_service_dash_e_lists_enabled_scripts_by_full_path(host: TestHost) -> None:
    assert run(host, "service -e") == (0, "", "")
    enable(host)
    assert run(host, "service -e") == (0, "/usr/local/etc/rc.d/x\n", "")


def test_devfs_restart_works_with_good_devfs_rules(host: TestHost) -> None:
    host.write_file(
        "/etc/devfs.rules",
        "[devfsrules_jail_warden=13]\nadd include $devfsrules_jail_vnet\nadd path 'bpf*' unhide\n",
    )
    assert run(host, "service devfs restart") == (0, "", "")


def test_devfs_restart_warns_about_a_bad_ruleset_header_and_still_exits_0(
    host: TestHost,
) -> None:
    # rc.subr devfs_rulesets_from_file / devfs_init_rulesets; rc.d/devfs ignores it
    host.write_file("/etc/devfs.rules", "[warden=abc]\nadd path 'bpf*' unhide\n")
    assert run(host, "service devfs restart") == (
        0,
        "",
        "/etc/rc.d/devfs: WARNING: devfs_rulesets_from_file: cannot extract rule number"
        " ([warden=abc])\n"
        "/etc/rc.d/devfs: WARNING: devfs_init_rulesets: could not read rules from"
        " /etc/devfs.rules\n",
    )


SLEEPER = """#!/bin/sh
. /etc/rc.subr
name=sleeper
rcvar=sleeper_enable
load_rc_config $name
: "${sleeper_enable:=NO}"
command=/bin/sleep
command_args="1000 >/dev/null 2>&1 &"
run_rc_command "$1"
"""


def test_a_command_service_is_started_found_by_name_and_stopped(host: TestHost) -> None:
    # rc.subr built-in start/status/stop: check_process on procname (= command)
    host.write_file("/usr/local/etc/rc.d/sleeper", SLEEPER, mode=0o555)
    assert run(host, "service sleeper onestatus") == (1, "sleeper is not running.\n", "")
    assert run(host, "service sleeper onestart") == (0, "Starting sleeper.\n", "")
    status, out, _ = run(host, "service sleeper onestatus")
    assert status == 0
    assert out.startswith("sleeper is running as pid ")
    pid = out.removeprefix("sleeper is running as pid ").removesuffix(".\n")
    assert run(host, "service sleeper onestart") == (
        1,
        "",
        f"sleeper already running?  (pid={pid}).\n",
    )
    status, out, _ = run(host, "service sleeper onestop")
    assert (status, out.splitlines()[0]) == (0, "Stopping sleeper.")
    assert run(host, "service sleeper onestop") == (1, "", "sleeper not running?\n")


def test_a_start_form_that_needs_freebsd_exits_64(host: TestHost) -> None:
    host.write_file(
        "/usr/local/etc/rc.d/sleeper",
        SLEEPER.replace("run_rc_command", "sleeper_user=www\nrun_rc_command"),
        mode=0o555,
    )
    status, _, err = run(host, "service sleeper onestart")
    assert status == 64
    assert err.startswith("rc.subr (test double): not modelled: sleeper_user (su -m)")

"""The vocabulary: words quoted and secrets masked by construction, operations rendered
in their domain, and the library's bounded runner doing what setup/domains.py promises
(in this machine's sh: its timeout, mktemp and tail are the same options on FreeBSD)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from setup.command import Raw, Secret, cmd, glue
from setup.domains import HOST, HostUser, JailUser, Location, bounded
from setup.ops import Run, directory, put, sysrc_add, sysrc_delete, sysrc_remove, sysrc_set
from setup.shell import LIBRARY

AGENT = HostUser("atlas", "atlas", "/home/atlas")


def test_a_plain_word_is_always_one_quoted_word_and_sh_syntax_must_be_raw() -> None:
    line = cmd("echo", "a b; rm -rf /", "$HOME", Raw("|"), cmd("tr", "a", "b"))
    assert line.sh() == "echo 'a b; rm -rf /' '$HOME' | tr a b"
    assert (
        glue(Raw('"$d"/'), "14.3 RELEASE", "/COPYRIGHT").sh() == "\"$d\"/'14.3 RELEASE'/COPYRIGHT"
    )
    with pytest.raises(TypeError):
        cmd("echo", True).sh()  # type: ignore[arg-type]


def test_a_secret_word_runs_quoted_and_is_shown_masked_wherever_it_is_nested() -> None:
    line = cmd("psql", "-c", cmd("echo", Secret("pw 1")))
    assert line.sh() == "psql -c echo 'pw 1'"
    assert line.shown() == "psql -c echo ***" and line.secret
    op = Run(line, AGENT)
    assert "'pw 1'" in op.sh() and "pw 1" not in op.shown() and op.secret


def test_an_agents_file_is_written_as_the_agent_and_shown_without_its_content() -> None:
    write = put(Location(AGENT, "/home/atlas/.ssh/config"), "Host x\n", 0o600, "atlas", "atlas")
    runs = write.sh()
    assert runs.startswith(
        "warden_run 600 'write /home/atlas/.ssh/config' chroot -u atlas -g atlas -G atlas / "
        "/usr/bin/env -i HOME=/home/atlas USER=atlas LOGNAME=atlas SHELL=/bin/sh "
    )
    assert "\nHost x\n" in runs and "warden_put" not in runs and "chown" not in runs
    assert "Host x" not in write.shown() and write.shown().endswith(
        "(its content on stdin: its diff is shown)"
    )


def test_a_jails_file_is_written_inside_the_jail_by_its_root_and_given_to_its_owner() -> None:
    write = put(Location(JailUser("atlasgit"), "/srv/git/.ssh/authorized_keys"), "k\n", 0o644,
                "git", "git")  # fmt: skip
    runs = write.sh()
    assert " jexec -l -U root atlasgit /bin/sh -c " in runs
    assert "chown git:git" in runs and "/usr/local/bastille/jails" not in runs


def test_a_hosts_file_is_placed_by_root_and_a_directory_in_a_users_domain_is_not_chowned() -> None:
    assert (
        put("/etc/hosts", "x\n", 0o644).sh().startswith("warden_put /etc/hosts 0644 root wheel <<")
    )
    assert directory(Location(AGENT, "/home/atlas/.ssh"), 0o700).command.sh() == (
        "mkdir -p /home/atlas/.ssh && chmod 0700 /home/atlas/.ssh"
    )
    assert directory("/var/log/warden/atlas", 0o750, "root", "atlas").domain == HOST


def test_sysrc_sets_adds_removes_a_word_and_deletes_and_runs_inside_a_jail() -> None:
    assert sysrc_set("pf_enable", "YES").sh() == "sysrc pf_enable=YES"
    assert sysrc_set("x", "a b", file="/etc/x.conf").sh() == "sysrc -f /etc/x.conf 'x=a b'"
    assert sysrc_add("cloned_interfaces", "bridge0").sh() == "sysrc cloned_interfaces+=bridge0"
    assert sysrc_remove("vm_list", "atlas").sh() == "sysrc vm_list-=atlas"
    assert sysrc_delete("atlas_enable").sh() == "sysrc -x atlas_enable"
    inside = sysrc_set("sshd_enable", "YES", jail="atlasgit")
    assert inside.domain == JailUser("atlasgit") and "'sysrc sshd_enable=YES'" in inside.sh()
    with pytest.raises(ValueError):
        sysrc_set("a;b", "x")


def sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", f"{LIBRARY}warden_tmp || exit 1\nwarden_on_exit warden_cleanup\n{script}"],
        capture_output=True,
        text=True,
        timeout=60,
        input="root's script would go on here\n",
    )


def test_the_bounded_runner_gives_dev_null_as_stdin_and_its_output_only_on_failure() -> None:
    ok = sh(f"{bounded(HOST, 'cat; echo said', 10, 'reader').sh()} </dev/null; echo rc=$?")
    assert ok.stdout == "rc=0\n"
    failed = sh(f"{bounded(HOST, 'echo why >&2; exit 3', 10, 'x').sh()} </dev/null; echo rc=$?")
    assert (failed.stdout, failed.stderr) == ("rc=3\n", "why\n")


def test_a_command_that_never_ends_is_stopped_named_and_fails_with_1_under_set_e() -> None:
    started = time.monotonic()
    done = sh(f"set -e\n{bounded(HOST, 'sleep 60', 1, 'a hook').sh()} </dev/null\necho after")
    assert time.monotonic() - started < 15
    assert done.returncode == 1 and "after" not in done.stdout
    assert done.stderr.strip() == "warden: a hook: stopped after 1s (it did not finish)"


def test_a_descendant_that_keeps_the_output_open_does_not_hold_the_runner(tmp_path: Path) -> None:
    started = time.monotonic()
    body = f"(sleep 30; echo late > {tmp_path}/late) & echo quick"
    done = sh(f"{bounded(HOST, body, 10, 'x').sh()} </dev/null; echo rc=$?")
    assert time.monotonic() - started < 10 and done.stdout == "rc=0\n"


def test_the_scripts_private_directory_is_removed_when_the_script_ends() -> None:
    done = sh('echo "$_w_tmp"')
    assert done.stdout.startswith("/tmp/warden.")
    assert not Path(done.stdout.strip()).exists()


@pytest.mark.parametrize("path", ["/home//atlas/x", "/home/./atlas", "/etc/../root", "/a/b/."])
def test_a_path_that_does_not_name_itself_plainly_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="unsafe path"):
        put(path, "x\n", 0o644)

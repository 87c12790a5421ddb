"""The double's newsyslog rotates like newsyslog.c: files, modes, owners, messages."""

from __future__ import annotations

import bz2
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.double.install import Run, read_calls, runner, seed_state

LOG = "/var/log/warden/a3.log"
# reference/freebsd.md §2.7's example line.
WARDEN_CONF = f"{LOG}  agent3:agent3 640 14 10240 @T00 JN\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.fail("newsyslog tests chown rotated logs: run them as root (euid 0)")
    root = tmp_path / "root"
    (root / "etc" / "newsyslog.conf.d").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0::/root:/bin/sh\nagent3:x:1003:1003::/home/agent3:/bin/sh\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nwheel:x:10:\nagent3:x:1003:\n")
    (root / "var" / "log" / "warden").mkdir(parents=True)
    seed_state(tmp_path / "state")
    return root


@pytest.fixture
def run(tmp_path: Path, root: Path) -> Run:
    return runner(tmp_path / "state", root)


def conf(root: Path, text: str, name: str = "warden.conf") -> None:
    (root / "etc" / "newsyslog.conf.d" / name).write_text(text)


def host(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def owner_mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


def test_F_rotates_into_log_0_bz2_and_later_writes_land_in_the_new_log(
    run: Run, root: Path
) -> None:
    conf(root, WARDEN_CONF)
    log = host(root, LOG)
    log.write_text("before rotation\n")
    result = run("newsyslog", "-F")
    assert (result.stdout, result.stderr, result.returncode) == ("", "", 0)
    old = bz2.decompress(host(root, LOG + ".0.bz2").read_bytes()).decode()
    assert old.startswith("before rotation\n")
    assert old.endswith(": logfile turned over due to -F request\n")  # log_trim()
    assert not host(root, LOG + ".0").exists()
    assert owner_mode(host(root, LOG + ".0.bz2")) == (1003, 1003, 0o640)
    assert owner_mode(log) == (1003, 1003, 0o640)
    # createlog() starts the new log with the same status line, and nothing else.
    assert re.fullmatch(
        r"\w{3} [ \d]\d \d\d:\d\d:\d\d testhost newsyslog\[\d+\]: "
        r"logfile turned over due to -F request\n",
        log.read_text(),
    )
    with open(log, "a") as fh:  # a writer that opens the log for each write
        fh.write("after rotation\n")
    assert log.read_text().endswith("after rotation\n")
    assert b"after" not in bz2.decompress(host(root, LOG + ".0.bz2").read_bytes())


def test_rotations_shift_the_old_logs_and_keep_count_of_them(run: Run, root: Path) -> None:
    conf(root, f"{LOG}  agent3:agent3 640 2 * * JN\n")
    log = host(root, LOG)
    for n in range(3):
        log.write_text(f"generation {n}\n")
        assert run("newsyslog", "-F").returncode == 0
    kept = sorted(p.name for p in log.parent.iterdir())
    assert kept == ["a3.log", "a3.log.0.bz2", "a3.log.1.bz2"]
    assert b"generation 2" in bz2.decompress(host(root, LOG + ".0.bz2").read_bytes())
    assert b"generation 1" in bz2.decompress(host(root, LOG + ".1.bz2").read_bytes())


def test_a_log_over_its_size_rotates_without_F_and_p_leaves_log_0_plain(
    run: Run, root: Path
) -> None:
    conf(root, f"{LOG}  agent3:agent3 600 5 1 * ZNp\n")
    host(root, LOG).write_text("x" * 2048)
    result = run("newsyslog", "-v")
    assert f"{LOG} <5Z>: size (Kb): 2 [1] --> trimming log....\n" in result.stdout
    assert host(root, LOG + ".0").read_text().endswith("logfile turned over due to size>1K\n")
    assert not host(root, LOG + ".0.gz").exists()
    assert owner_mode(host(root, LOG)) == (1003, 1003, 0o600)


def test_n_prints_newsyslogs_plan_and_changes_nothing(run: Run, root: Path) -> None:
    conf(root, f"{LOG}  agent3:wheel 640 2 * * J\n")
    host(root, LOG).write_text("keep me\n")
    host(root, LOG + ".0.bz2").write_bytes(bz2.compress(b"older\n"))
    result = run("newsyslog", "-n", "-F")
    rm = [f"\trm -f {LOG}.{n}{s}" for n in (2, 1) for s in ("", ".gz", ".bz2", ".xz", ".zst")]
    assert result.stdout.splitlines() == [
        f"{LOG} <2J>: trimming",
        *rm,
        f"\tmv {LOG}.0.bz2 {LOG}.1.bz2",
        f"\tln {LOG} {LOG}.0",
        f"\ttouch {LOG}.0\t\t# Update mtime for 'when'-interval processing",
        f"\tchmod 640 {LOG}.0",
        f"\tchown 1003:10 {LOG}.0",
        "Start new log...",
        f"\tmktemp {LOG}.zXXXXXX",
        f"\tchown 1003:10 {LOG}.zXXXXXX",
        f"\tchmod 640 {LOG}.zXXXXXX",
        f"\tmv {LOG}.zXXXXXX {LOG}",
        "Compress all rotated log file(s)...",
        f"\tbzip2 {LOG}.0",
        f"\tchmod 640 {LOG}.0.bz2",
        f"\tchown 1003:10 {LOG}.0.bz2",
    ]
    assert host(root, LOG).read_text() == "keep me\n"
    assert sorted(p.name for p in host(root, LOG).parent.iterdir()) == ["a3.log", "a3.log.0.bz2"]


def test_C_creates_logs_with_the_C_flag_and_their_directory(run: Run, root: Path) -> None:
    conf(root, "/var/log/warden/new/a4.log  agent3: 600 3 * * C\n/var/log/a5.log 640 3 * *\n")
    plain = run("newsyslog", "-v")
    assert "/var/log/warden/new/a4.log <3>: does not exist, skipped (no -C option).\n" in (
        plain.stdout
    )
    created = run("newsyslog", "-Cv")
    assert "/var/log/warden/new/a4.log <3>: does not exist -> will create.\n" in created.stdout
    assert "/var/log/a5.log <3>: does not exist, skipped (no C flag).\n" in created.stdout
    a4 = host(root, "/var/log/warden/new/a4.log")
    assert a4.read_text().endswith(": logfile first created\n")
    assert owner_mode(a4) == (1003, 0, 0o600)  # "agent3:" leaves the group alone
    assert stat.S_IMODE(a4.parent.stat().st_mode) == 0o755
    assert not host(root, "/var/log/a5.log").exists()


def test_without_a_pid_file_or_N_syslogd_is_signalled_in_the_call_log_only(
    run: Run, root: Path, tmp_path: Path
) -> None:
    conf(root, f"{LOG}  agent3:agent3 640 3 * *\n")
    host(root, LOG).write_text("x\n")
    assert run("newsyslog", "-F").returncode == 0
    calls = read_calls(tmp_path / "state")
    assert calls[-2]["argv"] == ["kill", "-HUP", "syslogd"]
    assert calls[-2]["pidfile"] == "/var/run/syslog.pid"
    assert calls[-1]["argv"] == ["newsyslog", "-F"]


def test_the_process_in_the_pid_file_gets_the_configured_signal(
    run: Run, root: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "got-usr1"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            f"signal.signal(signal.SIGUSR1, lambda *a: open({str(marker)!r}, 'w').close())\n"
            "print('ready', flush=True)\n"
            "time.sleep(20)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        pidfile = host(root, "/var/run/warden/a3.pid")
        pidfile.parent.mkdir(parents=True)
        pidfile.write_text(f"{child.pid}\n")
        conf(root, f"{LOG}  agent3:agent3 640 3 * * - /var/run/warden/a3.pid SIGUSR1\n")
        host(root, LOG).write_text("x\n")
        plan = run("newsyslog", "-n", "-F").stdout.splitlines()
        # FreeBSD numbers the signal: SIGUSR1 is 30 there.
        assert f"\tkill -30 {child.pid} \t\t# /var/run/warden/a3.pid" in plan
        assert not marker.exists()
        assert run("newsyslog", "-F").returncode == 0
        deadline = time.monotonic() + 5
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


def test_a_missing_pid_file_is_warned_about_and_the_log_still_rotates(run: Run, root: Path) -> None:
    conf(root, f"{LOG}  agent3:agent3 640 3 * * J /var/run/gone.pid\n")
    host(root, LOG).write_text("x\n")
    result = run("newsyslog", "-F")
    assert (result.stderr, result.returncode) == (
        "newsyslog: pid file doesn't exist: /var/run/gone.pid\n",
        0,
    )
    assert host(root, LOG + ".0.bz2").exists()


def test_logfile_operands_limit_the_work_to_those_entries(run: Run, root: Path) -> None:
    conf(root, f"{LOG}  agent3:agent3 640 3 * * N\n/var/log/warden/b.log 640 3 * * N\n")
    host(root, LOG).write_text("a\n")
    host(root, "/var/log/warden/b.log").write_text("b\n")
    assert run("newsyslog", "-F", "/var/log/warden/b.log").returncode == 0
    assert host(root, "/var/log/warden/b.log.0").exists()
    assert not host(root, LOG + ".0").exists()


def test_include_globs_skip_dotfiles_and_other_suffixes(run: Run, root: Path) -> None:
    conf(root, f"{LOG} 640 3 * * N\n", name=".hidden.conf")
    conf(root, f"{LOG} 640 3 * * N\n", name="warden.conf.bak")
    result = run("newsyslog", "-v")
    assert "Processing /etc/newsyslog.conf.d" not in result.stdout
    assert "a3.log" not in result.stdout


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (f"{LOG} nobody:wheel 640 3 * *", "error in config file; unknown user"),
        (f"{LOG} 9x 3 * *", "error in config file; bad permissions"),
        (f"{LOG} 640 3 100 @T25", "malformed 'at' value"),
        (f"{LOG} 640", "missing field in config file"),
        (f"{LOG} 640 3 * * - /var/run/x.pid SIGBOGUS", "illegal signal in config file"),
    ],
)
def test_malformed_lines_stop_newsyslog_with_its_message_and_exit_1(
    run: Run, root: Path, line: str, message: str
) -> None:
    conf(root, line + "\n")
    result = run("newsyslog", "-F")
    assert (result.stdout, result.stderr, result.returncode) == (
        "",
        f"newsyslog: {message}:\n{line}\n\n",
        1,
    )


def test_an_illegal_flag_names_the_letter(run: Run, root: Path) -> None:
    conf(root, f"{LOG} 640 3 * * JQ\n")
    result = run("newsyslog")
    assert (result.stderr, result.returncode) == (
        "newsyslog: illegal flag in config file -- Q\n",
        1,
    )


def test_F_and_N_together_are_refused_with_the_usage(run: Run) -> None:
    result = run("newsyslog", "-F", "-N")
    assert result.stderr.startswith("newsyslog: Only one of -F and -N may be specified.\n")
    assert result.returncode == 1


def test_unmodelled_newsyslog_forms_exit_64(run: Run, root: Path) -> None:
    for argv in (("-s",), ("-R", "me", LOG), ("-t", "DEFAULT")):
        result = run("newsyslog", *argv)
        assert result.returncode == 64
        assert "freebsd-double: not modelled" in result.stderr
    conf(root, f"{LOG} 640 3 * * U /var/run/x.pid\n")
    assert run("newsyslog").returncode == 64

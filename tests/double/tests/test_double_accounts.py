"""The double's pw(8) writes the Linux account files a test host's su/id/ls read."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.double.install import Run, runner, seed_state

PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
)
GROUP = "root:x:0:\nwheel:x:10:root\nstaff:x:50:\nnogroup:x:65534:\n"
SHADOW = "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.fail("pw tests chown homes and mail files: run them as root (euid 0)")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    (root / "etc" / "shadow").write_text(SHADOW)
    (root / "etc" / "shadow").chmod(0o640)
    (root / "var" / "mail").mkdir(parents=True)
    seed_state(tmp_path / "state")
    return root


@pytest.fixture
def run(tmp_path: Path, root: Path) -> Run:
    return runner(tmp_path / "state", root)


def entry(root: Path, name: str, file: str) -> list[str]:
    for line in (root / "etc" / file).read_text().splitlines():
        if line.split(":")[0] == name:
            return line.split(":")
    raise AssertionError(f"{name} not in {file}")


def names(root: Path, file: str) -> list[str]:
    return [line.split(":")[0] for line in (root / "etc" / file).read_text().splitlines()]


def test_useradd_without_ids_gives_uid_1001_and_a_group_of_the_same_name_and_id(
    run: Run, root: Path
) -> None:
    result = run("pw", "useradd", "agent3", "-c", "warden agent 3", "-s", "/bin/sh")
    assert (result.stdout, result.stderr, result.returncode) == ("", "", 0)
    assert entry(root, "agent3", "passwd") == [
        "agent3", "x", "1001", "1001", "warden agent 3", "/home/agent3", "/bin/sh",
    ]  # fmt: skip
    assert entry(root, "agent3", "group") == ["agent3", "x", "1001", ""]
    assert entry(root, "agent3", "shadow") == ["agent3", "*", "", "", "", "", "", "", ""]
    assert (root / "etc" / "shadow").stat().st_mode & 0o777 == 0o640


def test_the_next_uid_follows_the_highest_one_in_use(run: Run, root: Path) -> None:
    assert run("pw", "useradd", "-n", "a", "-u", "1500").returncode == 0
    assert run("pw", "useradd", "b").returncode == 0
    assert entry(root, "b", "passwd")[2:4] == ["1501", "1501"]


def test_usershow_prints_the_master_passwd_line(run: Run) -> None:
    run("pw", "useradd", "agent3", "-u", "1003", "-d", "/var/db/agent3", "-s", "/bin/sh")
    result = run("pw", "usershow", "agent3")
    assert (result.stdout, result.returncode) == (
        "agent3:*:1003:1003::0:0:User &:/var/db/agent3:/bin/sh\n",
        0,
    )
    assert run("pw", "usershow", "-u", "1003").stdout == result.stdout


def test_useradd_of_an_existing_login_exits_65_with_pws_text(run: Run, root: Path) -> None:
    run("pw", "useradd", "agent3")
    before = (root / "etc" / "passwd").read_text()
    result = run("pw", "useradd", "agent3")
    assert (result.stderr, result.returncode) == ("pw: login name `agent3' already exists\n", 65)
    assert (root / "etc" / "passwd").read_text() == before


def test_useradd_with_a_uid_in_use_exits_65_unless_o_is_given(run: Run, root: Path) -> None:
    result = run("pw", "useradd", "x", "-u", "0")
    assert (result.stderr, result.returncode) == ("pw: uid `0' has already been allocated\n", 65)
    assert "x" not in names(root, "passwd")
    assert run("pw", "useradd", "toor", "-u", "0", "-g", "wheel", "-o").returncode == 0
    assert entry(root, "toor", "passwd")[2:4] == ["0", "10"]


def test_a_missing_group_exits_67_and_changes_nothing(run: Run, root: Path) -> None:
    for argv in (("-g", "nosuch"), ("-G", "wheel,nosuch")):
        result = run("pw", "useradd", "agent3", *argv)
        assert (result.stderr, result.returncode) == ("pw: group `nosuch' does not exist\n", 67)
    assert "agent3" not in names(root, "passwd")
    assert "agent3" not in names(root, "group")


def test_useradd_g_uses_that_group_and_adds_the_G_memberships(run: Run, root: Path) -> None:
    assert run("pw", "useradd", "agent3", "-g", "staff", "-G", "wheel,50").returncode == 0
    assert entry(root, "agent3", "passwd")[3] == "50"
    assert "agent3" not in names(root, "group")
    assert run("pw", "groupshow", "wheel").stdout == "wheel:*:10:root,agent3\n"
    assert run("pw", "groupshow", "staff").stdout == "staff:*:50:agent3\n"


def test_useradd_m_makes_home_and_its_parent_owned_and_moded_as_pw_does(
    run: Run, root: Path
) -> None:
    assert not (root / "home").exists()
    assert run("pw", "useradd", "agent3", "-u", "1003", "-m").returncode == 0
    home = (root / "home" / "agent3").stat()
    assert (home.st_uid, home.st_gid, stat.S_IMODE(home.st_mode)) == (1003, 1003, 0o755)
    assert (root / "home").stat().st_uid == 0
    mailbox = (root / "var" / "mail" / "agent3").stat()
    assert (mailbox.st_uid, stat.S_IMODE(mailbox.st_mode)) == (1003, 0o600)
    assert run("pw", "useradd", "agent4", "-m", "-M", "0700").returncode == 0
    assert stat.S_IMODE((root / "home" / "agent4").stat().st_mode) == 0o700


def test_usershow_and_groupshow_of_missing_names_use_their_own_exit_codes(run: Run) -> None:
    user = run("pw", "usershow", "nosuch")
    assert (user.stderr, user.returncode) == ("pw: no such user `nosuch'\n", 67)
    group = run("pw", "groupshow", "nosuch")
    assert (group.stderr, group.returncode) == ("pw: unknown group `nosuch'\n", 65)


def test_groupadd_takes_the_next_gid_or_the_given_one_and_refuses_duplicates(
    run: Run, root: Path
) -> None:
    assert run("pw", "groupadd", "warden").returncode == 0
    assert entry(root, "warden", "group") == ["warden", "x", "1001", ""]
    assert run("pw", "groupadd", "pgusers", "-g", "2000").returncode == 0
    assert run("pw", "groupshow", "pgusers").stdout == "pgusers:*:2000:\n"
    again = run("pw", "groupadd", "warden")
    assert (again.stderr, again.returncode) == ("pw: group name `warden' already exists\n", 65)
    taken = run("pw", "groupadd", "other", "-g", "2000")
    assert (taken.stderr, taken.returncode) == ("pw: gid `2000' has already been allocated\n", 65)


def test_userdel_r_removes_the_user_its_group_memberships_mailbox_and_home(
    run: Run, root: Path
) -> None:
    run("pw", "useradd", "agent3", "-m", "-G", "wheel")
    notes = root / "home" / "agent3" / "notes"
    notes.write_text("x")
    os.chown(notes, 1001, 1001)  # rm_r.c removes only what the user owns
    assert run("pw", "userdel", "agent3", "-r").returncode == 0
    assert "agent3" not in names(root, "passwd")
    assert "agent3" not in names(root, "shadow")
    assert "agent3" not in names(root, "group")
    assert entry(root, "wheel", "group") == ["wheel", "x", "10", "root"]
    assert not (root / "home" / "agent3").exists()
    assert not (root / "var" / "mail" / "agent3").exists()
    gone = run("pw", "userdel", "agent3")
    assert (gone.stderr, gone.returncode) == ("pw: no such user `agent3'\n", 67)


def test_usermod_changes_the_comment_shell_home_and_group(run: Run, root: Path) -> None:
    run("pw", "useradd", "agent3")
    result = run("pw", "usermod", "agent3", "-c", "Agent", "-s", "/bin/csh", "-g", "staff",
                 "-d", "/srv/agent3")  # fmt: skip
    warning = "pw: WARNING: home `/srv/agent3' does not exist\n"
    assert (result.stderr, result.returncode) == (warning, 0)
    assert entry(root, "agent3", "passwd")[3:] == ["50", "Agent", "/srv/agent3", "/bin/csh"]


def test_a_colon_in_the_comment_is_refused_as_pw_does(run: Run) -> None:
    result = run("pw", "useradd", "agent3", "-c", "a:b")
    assert (result.stderr, result.returncode) == (
        "pw: invalid character `:' at position 1 in gecos field\n",
        65,
    )


def test_unmodelled_pw_forms_exit_64(run: Run) -> None:
    for argv in (("useradd", "agent3", "-k", "/usr/share/skel"), ("lock", "agent3"), ()):
        result = run("pw", *argv)
        assert result.returncode == 64
        assert "freebsd-double: not modelled" in result.stderr


def test_linux_id_and_su_see_the_user_pw_added(run: Run, root: Path) -> None:
    """The point of the Linux formats: bind the files over /etc in a mount namespace."""
    if shutil.which("unshare") is None or shutil.which("su") is None:
        pytest.skip("needs unshare(1) and su(1) to look through a private /etc")
    assert run("pw", "useradd", "agent3", "-G", "wheel", "-s", "/bin/sh").returncode == 0
    binds = " && ".join(
        f"mount --bind {root}/etc/{name} /etc/{name}" for name in ("passwd", "group", "shadow")
    )
    script = f"{binds} && id agent3 && su -s /bin/sh agent3 -c 'id -un'"
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "uid=1001(agent3) gid=1001(agent3) groups=1001(agent3),10(wheel)",
        "agent3",
    ]

"""pw(8) useradd/usershow/usermod/userdel, groupadd/groupshow/groupdel.

TEST DOUBLE, not FreeBSD.
"""

from __future__ import annotations

import contextlib
import os
import re

from .common import EX_SOFTWARE, EX_USAGE, Unsupported, die, err, host_path, out, parse_opts
from .state import atomic_write, locked

# FreeBSD pw(8) edits /etc/master.passwd and rebuilds the databases with pwd_mkdb.
# The test host is Linux, whose su(1), id(1) and ls -l read /etc/passwd, /etc/group
# and /etc/shadow (and /etc/gshadow when present), and cannot use master.passwd.  So
# the double writes those Linux files under FREEBSD_DOUBLE_ROOT: passwd
# "name:x:uid:gid:gecos:home:shell", shadow "name:*:::::::" (locked, like pw's "*"),
# group "name:x:gid:members".  Not modelled: pw.conf(5) (the compiled-in defaults
# below are used), skeleton dotfiles (/usr/share/skel), /var/log/userlog (pw_log),
# crontab/at-job removal on userdel, NIS, -V/-R, and every flag not listed.

EX_DATAERR = 65
EX_NOUSER = 67
EX_OSFILE = 72
EX_IOERR = 74
EX_NOPERM = 77
EX_CONFIG = 78

PW_FILES = {
    "passwd": "/etc/passwd",
    "shadow": "/etc/shadow",
    "group": "/etc/group",
    "gshadow": "/etc/gshadow",
}
# pw_conf.c compiled-in defaults: uid/gid range 1000-32000, home root /home,
# shellpath /bin, default shell sh.
PW_MIN_ID, PW_MAX_ID = 1000, 32000
PW_LOGNAMESIZE = 32  # MAXLOGNAME - 1 (sys/param.h, MAXLOGNAME 33)


class AccountDb:
    """The host's account files under FREEBSD_DOUBLE_ROOT, kept as lines.

    Lines that are not entries (comments, NIS "+"/"-" lines) are kept as they are.
    Call with the state lock held (cmd_pw does) so concurrent pw runs serialise,
    as pw's own lock on master.passwd does.
    """

    def __init__(self) -> None:
        self.lines: dict[str, list[str] | None] = {}
        for kind, path in PW_FILES.items():
            try:
                with open(host_path(path), encoding="utf-8") as fh:
                    self.lines[kind] = fh.read().splitlines()
            except FileNotFoundError:
                self.lines[kind] = None
        self.dirty: set[str] = set()

    def rows(self, kind: str) -> list[list[str]]:
        return [
            line.split(":")
            for line in self.lines[kind] or []
            if line and line[0] not in "#+-" and line.count(":") >= 2
        ]

    def find(
        self, kind: str, name: str | None = None, ident: int | None = None
    ) -> list[str] | None:
        for row in self.rows(kind):
            if name is not None and row[0] == name:
                return row
            if ident is not None and len(row) > 2 and row[2] == str(ident):
                return row
        return None

    def user(self, name: str | None = None, uid: int | None = None) -> list[str] | None:
        return self.find("passwd", name, uid)

    def group(self, name: str | None = None, gid: int | None = None) -> list[str] | None:
        return self.find("group", name, gid)

    def put(self, kind: str, fields: list[str]) -> None:
        """Replace the entry with this name, or append it."""
        if kind == "gshadow" and self.lines[kind] is None:
            return  # only kept in step when the host has one
        lines = self.lines[kind] if self.lines[kind] is not None else []
        new = ":".join(fields)
        for i, line in enumerate(lines):
            if line.split(":", 1)[0] == fields[0] and line[:1] not in ("#", "+", "-"):
                lines[i] = new
                break
        else:
            lines.append(new)
        self.lines[kind] = lines
        self.dirty.add(kind)

    def drop(self, kind: str, name: str) -> None:
        lines = self.lines[kind]
        if lines is None:
            return
        kept = [line for line in lines if line.split(":", 1)[0] != name or line[:1] == "#"]
        if kept != lines:
            self.lines[kind] = kept
            self.dirty.add(kind)

    def put_group(self, name: str, gid: str, members: list[str]) -> None:
        row = self.group(name)
        password = row[1] if row else "x"
        self.put("group", [name, password, gid, ",".join(members)])
        shadow = self.find("gshadow", name)
        self.put("gshadow", [*(shadow or [name, "!", ""])[:3], ",".join(members)])

    def save(self) -> None:
        for kind in sorted(self.dirty):
            path = host_path(PW_FILES[kind])
            text = "\n".join(self.lines[kind] or []) + "\n"
            try:
                st = os.stat(path)
                mode, owner = st.st_mode & 0o7777, (st.st_uid, st.st_gid)
            except FileNotFoundError:
                mode, owner = (0o640 if "shadow" in kind else 0o644), None
                os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, text, mode)
            if owner is not None and owner != (os.geteuid(), os.getegid()):
                os.chown(path, *owner)


def _gr_members(row: list[str]) -> list[str]:
    return [m for m in (row[3] if len(row) > 3 else "").split(",") if m]


def _pw_checkname(name: str, gecos: bool) -> str:
    # pw_user.c pw_checkname(): the bad characters, the leading '-', a final '$'.
    bad = ":" if gecos else ' ,\t:+&#%$^()!@~*?<>=|\\/"'
    showtype = "gecos field" if gecos else "userid/group name"
    at: int | None = 0 if (not gecos and name.startswith("-")) else None
    if at is None:
        for i, ch in enumerate(name):
            if ch in bad or ch == "\x7f" or (not gecos and (ch < " " or ord(ch) > 127)):
                at = i
                break
    if at is not None and not gecos and name[at] == "$" and at == len(name) - 1:
        at = None
    if at is not None:
        ch = name[at]
        show = f"`{ch}'" if " " <= ch < "\x7f" else f"0x{ord(ch):02x}"
        die(f"pw: invalid character {show} at position {at} in {showtype}", EX_DATAERR)
    if not gecos and len(name) > PW_LOGNAMESIZE:
        die(f"pw: name too long `{name}' (max is {PW_LOGNAMESIZE})", EX_USAGE)
    return name


def _pw_checkid(text: str) -> int:
    # pw_utils.c pw_checkid(): strtounum() failure is errx(EX_USAGE, "Bad id ...").
    if not text.isdigit():
        die(f"pw: Bad id '{text}': invalid", EX_USAGE)
    value = int(text)
    if value > 0xFFFFFFFE:
        die(f"pw: Bad id '{text}': too large", EX_USAGE)
    return value


def _pw_need_root() -> None:
    # pw_user.c pw_user_add()/pw_user_mod(): errx(EX_NOPERM, "you must be root").
    if os.geteuid() != 0:
        die("pw: you must be root", EX_NOPERM)


def _pw_group_arg(db: AccountDb, text: str) -> list[str]:
    # pw_user.c group_from_name_or_id(): by name, else by numeric id.
    row = db.group(text)
    if row is None and text.isdigit():
        row = db.group(gid=int(text))
    if row is None:
        die(f"pw: group `{text}' does not exist", EX_NOUSER)
    return row


def _pw_group_list(db: AccountDb, text: str) -> list[str]:
    # pw_user.c split_groups(): separators ", \t".
    return [_pw_group_arg(db, part)[0] for part in re.split(r"[, \t]+", text) if part]


def _pw_next_id(used: set[int]) -> int | None:
    # pw_uidpolicy()/gr_gidpolicy(): one past the highest id in use in the range;
    # bitmap.c bm_lastset() is 0 for an empty map, so a fresh host gets 1001.
    last = max((i - PW_MIN_ID for i in used if PW_MIN_ID <= i <= PW_MAX_ID), default=0)
    nxt = PW_MIN_ID + last + 1
    return nxt if nxt <= PW_MAX_ID else None


def _pw_next_uid(db: AccountDb) -> int:
    used = {int(r[2]) for r in db.rows("passwd") if r[2].isdigit()}
    nxt = _pw_next_id(used)
    if nxt is None:  # pw_uidpolicy() falls back to the first unused uid
        nxt = next((i for i in range(PW_MIN_ID, PW_MAX_ID + 1) if i not in used), None)
    if nxt is None:
        die("pw: unable to allocate a new uid - range fully used", EX_SOFTWARE)
    return nxt


def _pw_next_gid(db: AccountDb) -> int:
    nxt = _pw_next_id({int(r[2]) for r in db.rows("group") if r[2].isdigit()})
    if nxt is None:  # gr_gidpolicy() has no fallback when reuse is off
        die("pw: unable to allocate a new gid - range fully used", EX_SOFTWARE)
    return nxt


def _pw_shell(shell: str) -> str:
    # pw_user.c shell_path(): a full path (or "") is used as given; a bare name is
    # looked for in shellpath /bin.  Every FreeBSD has /bin/sh, so the default "sh"
    # needs no check (a test root may have no bin/).  No /etc/shells check (pw has none).
    if shell == "" or shell.startswith("/"):
        return shell
    if shell == "sh":
        return "/bin/sh"
    if os.access(host_path(f"/bin/{shell}"), os.X_OK):
        return f"/bin/{shell}"
    die("pw: no default shell available or defined", EX_CONFIG)  # shell_path()'s text


def _pw_mode(text: str) -> int:
    # pw_user.c validate_mode(): setmode(3); only octal modes are modelled.
    if not text[:1].isdigit():
        raise Unsupported(f"pw: symbolic -M mode {text!r}")
    if not re.fullmatch(r"[0-7]+", text) or int(text, 8) > 0o7777:
        die(f"pw: invalid directory creation mode '{text}'", EX_DATAERR)
    return int(text, 8)


def _pw_operand(arg1: str | None) -> tuple[str | None, int | None]:
    # pw.c main() passes the first non-option word; all digits means an id.
    if arg1 is None:
        return None, None
    if arg1.isdigit():
        return None, _pw_checkid(arg1)
    return arg1, None


def _pw_lookup_user(db: AccountDb, name: str | None, uid: int | None) -> list[str]:
    if uid is None and name is None:
        die("pw: username or id required", EX_DATAERR)
    row = db.user(_pw_checkname(name, False)) if name is not None else db.user(uid=uid)
    if row is None:
        if name is None:
            die(f"pw: no such uid `{uid}'", EX_NOUSER)
        die(f"pw: no such user `{name}'", EX_NOUSER)
    return row


def _pw_mkhome(home: str, mode: int, uid: int, gid: int) -> None:
    # pw_user.c create_and_populate_homedir() -> mkdir_home_parents() + copymkdir().
    path = host_path(home)
    if os.path.exists(path) and not os.path.isdir(path):
        die(f"pw: root home `{home}' is not a directory", EX_OSFILE)
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        # Real pw makes a missing top-level parent as /usr/<dir> plus a symlink
        # /<dir> -> usr/<dir>.  Not modelled (/usr is not in the test-host overlay):
        # the parents are plain directories, 0777 & ~umask (_DEF_DIRMODE), root's.
        os.makedirs(parent, 0o777, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, mode)  # mkdirat(): the umask applies, as in copymkdir()
    os.chown(path, uid, gid)


def _pw_mailbox(name: str, uid: int, gid: int, create: bool) -> None:
    # pw_user.c: useradd touches /var/mail/NAME 0600 (silently skipped when the
    # directory is missing); userdel removes it.
    path = host_path(f"/var/mail/{name}")
    if not create:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    if os.path.isdir(os.path.dirname(path)):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chown(path, uid, gid)


def _pw_rm_r(path: str, uid: int) -> None:
    # rm_r.c: remove what the user owns (and symlinks); directories last.
    for entry in os.scandir(path):
        st = entry.stat(follow_symlinks=False)
        if entry.is_dir(follow_symlinks=False):
            _pw_rm_r(entry.path, uid)
        elif entry.is_symlink() or st.st_uid == uid:
            os.unlink(entry.path)
    st = os.lstat(path)
    if os.path.islink(path):
        os.unlink(path)
    elif st.st_uid == uid:
        with contextlib.suppress(OSError):
            os.rmdir(path)


def _pw_useradd(arg1: str | None, rest: list[str]) -> int:
    # pw_user.c pw_user_add(); modelled: -n -u -c -d -g -G -m -M -s -w no -o.
    name, uid = _pw_operand(arg1)
    if name is not None:
        name = _pw_checkname(name, False)
    opts, extra = parse_opts(rest, "n:u:c:d:g:G:mM:s:w:o", "pw useradd")
    if extra:
        raise Unsupported(f"pw useradd: operands {extra}")
    db = AccountDb()
    gecos = home = shell = grname = uid_text = None
    groups: list[str] = []
    createhome = dup_ok = False
    homemode = 0o777  # _DEF_DIRMODE; mkdir() applies the umask (pw(8) -M)
    for flag, value in opts:
        if flag == "-n":
            name = _pw_checkname(value, False)
        elif flag == "-u":
            uid_text = value
        elif flag == "-c":
            gecos = _pw_checkname(value, True)
        elif flag == "-d":
            home = value
        elif flag == "-g":
            if value == "":
                raise Unsupported("pw useradd: -g ''")
            grname = _pw_group_arg(db, value)[0]
        elif flag == "-G":
            groups += _pw_group_list(db, value)
        elif flag == "-m":
            createhome = True
        elif flag == "-M":
            homemode = _pw_mode(value)
        elif flag == "-s":
            shell = value
        elif flag == "-w":
            if value != "no":  # pw_password(): "no" is the locked "*"
                raise Unsupported(f"pw useradd: -w {value}")
        elif flag == "-o":
            dup_ok = True
    _pw_need_root()
    if uid_text is not None:
        uid = _pw_checkid(uid_text)
    if uid is None and name is None:
        die("pw: user name or id required", EX_DATAERR)
    if name is None:
        die("pw: login name required", EX_DATAERR)
    if db.user(name) is not None:
        die(f"pw: login name `{name}' already exists", EX_DATAERR)
    # pw_uidpolicy(): a given uid must be free unless -o.
    if uid is not None and not dup_ok and db.user(uid=uid) is not None:
        die(f"pw: uid `{uid}' has already been allocated", EX_DATAERR)
    if uid is None:
        uid = _pw_next_uid(db)
    gid = _pw_useradd_gid(db, grname, name, uid)
    home = home if home is not None else f"/home/{name}"  # pw_homepolicy()
    shell = _pw_shell(shell if shell is not None else "sh")
    gecos = gecos if gecos is not None else "User &"  # pw_user.c fakeuser gecos
    db.put("passwd", [name, "x", str(uid), str(gid), gecos, home, shell])
    db.put("shadow", [name, "*", "", "", "", "", "", "", ""])
    for group in groups:  # gr_add() skips a user who is already a member
        row = db.group(group)
        if row is not None and name not in _gr_members(row):
            db.put_group(group, row[2], [*_gr_members(row), name])
    db.save()
    _pw_mailbox(name, uid, gid, create=True)
    if createhome and home.startswith("/") and len(home) > 1:
        _pw_mkhome(home, homemode, uid, gid)
    return 0


def _pw_useradd_gid(db: AccountDb, grname: str | None, name: str, uid: int) -> int:
    # pw_user.c pw_gidpolicy(): -g's group; else an existing member-less group named
    # like the user; else a new group NAME with gid == uid when that gid is free.
    if grname is not None:
        row = db.group(grname)
        assert row is not None
        return int(row[2])
    row = db.group(name)
    if row is not None and not _gr_members(row):
        return int(row[2])
    gid = uid if db.group(gid=uid) is None else _pw_next_gid(db)
    if row is not None:  # groupadd() -> addgrent() refuses the existing name
        die(f"pw: group '{name}' already exists", EX_IOERR)
    db.put_group(_pw_checkname(name, False), str(gid), [])
    return gid


def _pw_usershow(arg1: str | None, rest: list[str]) -> int:
    # pw_user.c pw_user_show() -> print_user() -> pw_make(): the master.passwd line
    # name:passwd:uid:gid:class:change:expire:gecos:home:shell.  The password comes
    # from /etc/shadow; class is empty and change/expire 0 (never set here).
    name, uid = _pw_operand(arg1)
    opts, extra = parse_opts(rest, "n:u:", "pw usershow")
    if extra:
        raise Unsupported(f"pw usershow: operands {extra}")
    for flag, value in opts:
        if flag == "-n":
            name = value
        else:
            uid = _pw_checkid(value)
    db = AccountDb()
    row = _pw_lookup_user(db, name, uid)
    shadow = db.find("shadow", row[0])
    password = shadow[1] if shadow else row[1]
    out(":".join([row[0], password, row[2], row[3], "", "0", "0", *row[4:7]]))
    return 0


def _pw_usermod(arg1: str | None, rest: list[str]) -> int:
    # pw_user.c pw_user_mod(); modelled: -n -c -d -g -G -s.
    name, uid = _pw_operand(arg1)
    opts, extra = parse_opts(rest, "n:c:d:g:G:s:", "pw usermod")
    if extra:
        raise Unsupported(f"pw usermod: operands {extra}")
    db = AccountDb()
    changes: dict[int, str] = {}
    groups: list[str] | None = None
    for flag, value in opts:
        if flag == "-n":
            name = value
        elif flag == "-c":
            changes[4] = _pw_checkname(value, True)
        elif flag == "-d":
            changes[5] = value
        elif flag == "-g":
            changes[3] = _pw_group_arg(db, value)[2]
        elif flag == "-G":
            groups = _pw_group_list(db, value)
        elif flag == "-s":
            changes[6] = value
    _pw_need_root()
    row = _pw_lookup_user(db, name, uid)
    if 6 in changes:
        changes[6] = _pw_shell(changes[6])
    if row[2] == "0":
        changes.pop(3, None)  # "if (grname && pwd->pw_uid != 0)"
    if 5 in changes:
        path = host_path(changes[5])
        if not os.path.exists(path):
            err(f"pw: WARNING: home `{changes[5]}' does not exist")
        elif not os.path.isdir(path):
            err(f"pw: WARNING: home `{changes[5]}' is not a directory")
    new = list(row)
    for index, value in changes.items():
        new[index] = value
    if new != row:  # perform_chgpwent() only when edited
        db.put("passwd", new)
    if groups is not None:  # drop from every group, then add to the -G ones
        for group in db.rows("group"):
            if row[0] in _gr_members(group) and group[0] not in groups:
                db.put_group(group[0], group[2], [m for m in _gr_members(group) if m != row[0]])
        for group_name in groups:
            group = db.group(group_name)
            if group is not None and row[0] not in _gr_members(group):
                db.put_group(group_name, group[2], [*_gr_members(group), row[0]])
    db.save()
    return 0


def _pw_userdel(arg1: str | None, rest: list[str]) -> int:
    # pw_user.c pw_user_del(); modelled: -n -u -r.
    name, uid = _pw_operand(arg1)
    opts, extra = parse_opts(rest, "n:u:r", "pw userdel")
    if extra:
        raise Unsupported(f"pw userdel: operands {extra}")
    deletehome = False
    for flag, value in opts:
        if flag == "-n":
            name = value
        elif flag == "-u":
            uid = _pw_checkid(value)
        else:
            deletehome = True
    db = AccountDb()
    row = _pw_lookup_user(db, name, uid)
    login, user_id, home = row[0], int(row[2]), row[5]
    if login == "root":
        die("pw: cannot remove user 'root'", EX_DATAERR)
    primary = db.group(gid=int(row[3])) if row[3].isdigit() else None
    db.drop("passwd", login)
    db.drop("shadow", login)
    # The user's own group goes too when it has no members and is the primary one.
    own = db.group(login)
    if own is not None and not _gr_members(own) and primary is not None and primary[0] == login:
        db.drop("group", login)
        db.drop("gshadow", login)
    for group in db.rows("group"):
        if login in _gr_members(group):
            db.put_group(group[0], group[2], [m for m in _gr_members(group) if m != login])
    db.save()
    _pw_mailbox(login, user_id, 0, create=False)
    if deletehome and home.startswith("/") and db.user(uid=user_id) is None:
        path = host_path(home)
        if os.path.lexists(path):
            _pw_rm_r(path, user_id)
    return 0


def _pw_groupadd(arg1: str | None, rest: list[str]) -> int:
    # pw_group.c pw_group_add(); modelled: -n -g -M -o.
    name, gid = _pw_operand(arg1)
    opts, extra = parse_opts(rest, "n:g:M:o", "pw groupadd")
    if extra:
        raise Unsupported(f"pw groupadd: operands {extra}")
    db = AccountDb()
    member_list: list[str] = []
    dup_ok = False
    for flag, value in opts:
        if flag == "-n":
            name = value
        elif flag == "-g":
            gid = _pw_checkid(value)
        elif flag == "-M":
            member_list = [m for m in re.split(r"[, \t]+", value) if m]
        else:
            dup_ok = True
    if name is None:
        die("pw: group name required", EX_DATAERR)
    if db.group(name) is not None:
        die(f"pw: group name `{name}' already exists", EX_DATAERR)
    if gid and not dup_ok and db.group(gid=gid) is not None:  # gr_gidpolicy(): id > 0
        die(f"pw: gid `{gid}' has already been allocated", EX_DATAERR)
    if not gid:
        gid = _pw_next_gid(db)
    _pw_checkname(name, False)
    names: list[str] = []
    for member in member_list:  # grp_add_members() -> lookup_pwent()
        row = db.user(member) or (db.user(uid=int(member)) if member.isdigit() else None)
        if row is None:
            die(f"pw: user `{member}' does not exist", EX_NOUSER)
        if row[0] not in names:
            names.append(row[0])
    db.put_group(name, str(gid), names)
    db.save()
    return 0


def _pw_getgroup(db: AccountDb, name: str | None, gid: int | None) -> list[str]:
    # pw_group.c getgroup(): note EX_DATAERR here, not EX_NOUSER.
    if gid is None and name is None:
        die("pw: groupname or id required", EX_DATAERR)
    row = db.group(name) if name is not None else db.group(gid=gid)
    if row is None:
        if name is None:
            die(f"pw: unknown gid `{gid}'", EX_DATAERR)
        die(f"pw: unknown group `{name}'", EX_DATAERR)
    return row


def _pw_group_target(arg1: str | None, rest: list[str], cmd: str) -> list[str]:
    name, gid = _pw_operand(arg1)
    opts, extra = parse_opts(rest, "n:g:", cmd)
    if extra:
        raise Unsupported(f"{cmd}: operands {extra}")
    for flag, value in opts:
        if flag == "-n":
            name = value
        else:
            gid = _pw_checkid(value)
    return _pw_getgroup(AccountDb(), name, gid)


def _pw_groupshow(arg1: str | None, rest: list[str]) -> int:
    # pw_group.c print_group() -> gr_make(): name:passwd:gid:members.  pw writes
    # "*" as the group password; the Linux group file says "x" (gshadow), shown as "*".
    row = _pw_group_target(arg1, rest, "pw groupshow")
    password = "*" if row[1] == "x" else row[1]
    out(":".join([row[0], password, row[2], ",".join(_gr_members(row))]))
    return 0


def _pw_groupdel(arg1: str | None, rest: list[str]) -> int:
    # pw_group.c pw_group_del(): no check that the group is someone's primary group.
    row = _pw_group_target(arg1, rest, "pw groupdel")
    db = AccountDb()
    db.drop("group", row[0])
    db.drop("gshadow", row[0])
    db.save()
    return 0


PW_COMMANDS = {
    "useradd": _pw_useradd,
    "usershow": _pw_usershow,
    "usermod": _pw_usermod,
    "userdel": _pw_userdel,
    "groupadd": _pw_groupadd,
    "groupshow": _pw_groupshow,
    "groupdel": _pw_groupdel,
}


def cmd_pw(args: list[str]) -> int:
    # pw.c main(): `pw COMMAND [name|id] [switches]`; errors are errx() -> "pw: ...".
    if not args or args[0] not in PW_COMMANDS:
        raise Unsupported(f"pw: {' '.join(args) or '(no command)'}")
    rest = args[1:]
    arg1 = None
    if rest and not rest[0].startswith("-"):
        arg1, rest = rest[0], rest[1:]
    with locked(exclusive=True):
        return PW_COMMANDS[args[0]](arg1, rest)

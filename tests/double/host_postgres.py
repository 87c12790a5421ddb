"""freebsd-double: PostgreSQL on the HOST (`pkg install postgresqlNN-server`, `service postgresql`).

TEST DOUBLE, not FreeBSD.  Two parts:

* `after_install` (the double's host `pkg install`): what databases/postgresqlNN-server
  leaves on the host, the port's account (USERS/GROUPS postgres, uid/gid 770, home
  /var/db/postgres owned by it, shell /bin/sh; a same-named account of the Linux
  machine the test host copied, e.g. Debian's uid 101, is replaced by it) and an
  executable /usr/local/etc/rc.d/postgresql.  That script (RC_SCRIPT) is the port's
  files/postgresql.in in shape: it sources /etc/rc.subr (on a test host the double's
  stub, tests/double/rc.subr, so rc.subr's prefixes, rcvar check, "Cannot 'start' ..."
  refusal and usage are rc.subr's own), load_rc_config, the port's defaults
  (postgresql_data "~postgres/dataNN" of the installed server, postgresql_flags,
  postgresql_initdb_flags, postgresql_user), extra_commands "reload initdb", and the
  port's *_cmd methods, which run this file as a program instead of
  `su -l postgres -c "exec pg_ctl ..."`.

* `main` (this file run by that script): the real work, Debian's PostgreSQL 15 as the
  jail side runs it (jail_postgres.rc_command: pg_ctl/initdb as the user, socket in
  /var/run/postgresql, log in /var/db/postgres/server.log).  Only in a "vnet" test host
  (tests/testhost.py TestNetwork: its own network namespace, so port 5432 and the
  host's addresses are its own); anywhere else it exits 64 (not modelled).

The test host's teardown stops every postmaster of the host before its PID namespace
ends (tests/testhost.py TestHost._stop_postgres).
"""

from __future__ import annotations

import os
import re
import sys

from fbsd.common import host_path  # type: ignore[import-not-found]  # the package next to this file
from fbsd.state import atomic_write, read_state  # type: ignore[import-not-found]

PORT_UID = PORT_GID = 770  # databases/postgresqlNN-server: USERS=postgres GROUPS=postgres
PORT_HOME = "/var/db/postgres"
PASSWD_LINE = f"postgres:x:{PORT_UID}:{PORT_GID}:PostgreSQL Daemon:{PORT_HOME}:/bin/sh"
GROUP_LINE = f"postgres:x:{PORT_GID}:"
RC_PATH = "/usr/local/etc/rc.d/postgresql"
#: Fallback interpreter, as the double's wrappers (install.JAIL_PYTHON).
SYSTEM_PYTHON = "/usr/bin/python3"
ACTIONS = ("start", "stop", "restart", "reload", "status", "initdb")

# The port's files/postgresql.in (databases/postgresql17-server), %%PG_USER%% and
# %%PG_VERSION%% substituted; its methods call this file (see the module docstring).
# postgresql_profiles and the profile argument ($2) are not modelled (exit 64).
RC_SCRIPT = """\
#!/bin/sh
#
# postgresql: TEST DOUBLE of databases/postgresql{version}-server's rc.d script
# (files/postgresql.in), written by the FreeBSD test double's `pkg install`
# (warden tests/double/host_postgres.py).  NOT FreeBSD: its methods run Debian's
# PostgreSQL 15 through host_postgres.py instead of su -l postgres -c pg_ctl.
#
# PROVIDE: postgresql
# REQUIRE: DAEMON
# KEYWORD: shutdown
#
# shellcheck disable=SC2034

if [ ! -r /etc/rc.subr ]; then
\techo "freebsd-double: not modelled (exit 64): $0 without the stub /etc/rc.subr" >&2
\texit 64
fi

command=/usr/local/bin/pg_ctl

# shellcheck source=/dev/null
. /etc/rc.subr

load_rc_config postgresql

# set defaults
postgresql_enable=${{postgresql_enable:-"NO"}}
postgresql_flags=${{postgresql_flags:-"-w -s -m fast"}}
postgresql_user=${{postgresql_user:-"postgres"}}
eval postgresql_data="${{postgresql_data:-"~${{postgresql_user}}/data{version}"}}"
postgresql_login_class=${{postgresql_login_class:-"default"}}
postgresql_initdb_flags=${{postgresql_initdb_flags:-"--encoding=utf-8 --lc-collate=C"}}

name=postgresql
rcvar=postgresql_enable
extra_commands="reload initdb"

start_cmd="postgresql_command start"
stop_cmd="postgresql_command stop"
restart_cmd="postgresql_command restart"
reload_cmd="postgresql_command reload"
status_cmd="postgresql_command status"

initdb_cmd="postgresql_initdb"

if [ -n "$2" ] || [ -n "${{postgresql_profiles}}" ]; then
\techo "freebsd-double: not modelled (exit 64): postgresql profiles" >&2
\texit 64
fi

_double_python={python}
[ -x "$_double_python" ] || _double_python={fallback}

postgresql_command()
{{
\t"$_double_python" {program} "$1" "${{postgresql_data}}" "${{postgresql_user}}" \\
\t    "${{postgresql_flags}}" "${{postgresql_initdb_flags}}"
\t_double_rc=$?
\t[ "$_double_rc" -ne 64 ] || exit 64  # the double's exit-64 rule (rc.subr would say 1)
\treturn "$_double_rc"
}}

postgresql_initdb()
{{
\tpostgresql_command initdb
}}

run_rc_command "$1"
"""


def _replace_entry(path: str, line: str) -> None:
    """Put LINE in a passwd-style file, replacing the entry of the same name (Linux files
    the double's pw also writes; 0644 so that every user's getpwnam reads it)."""
    name = line.split(":", 1)[0]
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        text = ""
    kept = [ln for ln in text.splitlines() if ln.split(":", 1)[0] != name]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, "\n".join([*kept, line]) + "\n", 0o644)


def port_account(root: str) -> None:
    """The server port's account under ROOT (a jail's root, or the host's "/")."""
    passwd = os.path.join(root, "etc/passwd")
    try:
        with open(passwd, encoding="utf-8") as fh:
            present = re.search(rf"^{re.escape(PASSWD_LINE)}$", fh.read(), re.M) is not None
    except FileNotFoundError:
        present = False
    if not present:
        _replace_entry(passwd, PASSWD_LINE)
        _replace_entry(os.path.join(root, "etc/group"), GROUP_LINE)
    home = os.path.join(root, PORT_HOME.lstrip("/"))
    os.makedirs(home, exist_ok=True)
    os.chown(home, PORT_UID, PORT_GID)


def after_install(servers: list[str]) -> None:
    """Host `pkg install` of SERVERS (postgresqlNN-server names): the account and the rc.d
    script of the first one (the port's %%PG_VERSION%% is in the script's data dir)."""
    port_account(host_path("/"))
    version = servers[0][len("postgresql") : -len("-server")]
    script = RC_SCRIPT.format(
        version=version,
        python=_sh_word(os.path.realpath(sys.executable)),
        fallback=SYSTEM_PYTHON,
        program=_sh_word(os.path.abspath(__file__)),
    )
    path = host_path(RC_PATH)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, script, 0o555)


def _sh_word(path: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_./+-]+", path):
        raise ValueError(f"host_postgres: a path the rc.d script cannot name: {path!r}")
    return path


def main(argv: list[str]) -> int:
    """ACTION DATA USER FLAGS INITDB_FLAGS, from the rc.d script's methods."""
    if len(argv) != 5 or argv[0] not in ACTIONS:
        sys.stderr.write(f"freebsd-double: not modelled (exit 64): host_postgres.py {argv}\n")
        return 64
    action, data, user, flags, initdb_flags = argv
    import jail_kernel as jk  # type: ignore[import-not-found]  # siblings, on sys.path
    import jail_postgres  # type: ignore[import-not-found]

    if jk.mode() != "vnet":
        sys.stderr.write(
            "freebsd-double: not modelled (exit 64): a real PostgreSQL on the host runs only "
            "in a test host with its own network namespace (tests/testhost.py TestNetwork)\n"
        )
        return 64
    conf = {"postgresql_user": user, "postgresql_flags": flags,
            "postgresql_initdb_flags": initdb_flags}  # fmt: skip
    if action in ("start", "restart"):
        # On FreeBSD the agents' gateways are on warden0 from the network step on; in a
        # test host the double makes that bridge real only at the first jail start, so a
        # server listening on a gateway makes it real here (before any jail).
        for iface in read_state()["interfaces"]:
            if iface["kind"] == "bridge":
                jk.sync_bridge(iface["name"], iface["inet"], create=True)
    sys.stdout.flush()
    return int(jail_postgres.rc_command(action, data, conf))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

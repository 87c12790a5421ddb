"""pkg(8): -v, info [-e] NAME, install [-qy] NAME..., and -j JAIL (jails.py).

TEST DOUBLE, not FreeBSD.  Installing tmux, git or a PostgreSQL client links the
Linux program of the same name into /usr/local/bin; postgresqlNN-server on the host
leaves the port's account and rc.d script (host_postgres.py).
"""

from __future__ import annotations

import getopt
import os
import re
import sys
from typing import Any

from .common import (
    EX_SOFTWARE,
    Unsupported,
    die,
    err,
    host_path,
    host_program,
    in_jail,
    jails_module,
    out,
    parse_opts,
    sibling,
    userland_major,
)
from .state import atomic_write, mutate_state, read_state

PKG_ORIGINS = {
    "pkg": "ports-mgmt/pkg",
    "bastille": "sysutils/bastille",
    "tmux": "sysutils/tmux",
    "git": "devel/git",
    "vm-bhyve": "sysutils/vm-bhyve",
    # ollama, llama-cpp, gitea: reference/freebsd.md §2.8; the rest are port paths [unconfirmed].
    "postgresql16-client": "databases/postgresql16-client",
    "postgresql17-client": "databases/postgresql17-client",
    "postgresql18-client": "databases/postgresql18-client",
    "postgresql15-server": "databases/postgresql15-server",
    "postgresql16-server": "databases/postgresql16-server",
    "postgresql17-server": "databases/postgresql17-server",
    "postgresql18-server": "databases/postgresql18-server",
    "postgresql17-contrib": "databases/postgresql17-contrib",
    "nginx": "www/nginx",
    "bhyve-firmware": "sysutils/bhyve-firmware",
    "qemu-tools": "emulators/qemu",
    "ollama": "misc/ollama",
    "llama-cpp": "misc/llama-cpp",
    "gitea": "www/gitea",
}


def cmd_pkg(args: list[str]) -> int:
    if args and args[0].startswith("-j"):
        return int(jails_module().pkg_j(args))  # pkg -j JAIL ...: the jail's packages
    state = read_state()
    packages: dict[str, Any] = jails_module().package_set(state) if in_jail() else state["packages"]
    if args in (["-v"], ["--version"]):
        out(_pkg_version(packages["pkg"]))  # pkg(8) -v: the version of pkg
        return 0
    if args and args[0] == "install":
        return _pkg_install(args[1:])
    if not args or args[0] != "info":
        raise Unsupported(f"pkg: {' '.join(args) or '(no subcommand)'}")
    opts, rest = parse_opts(args[1:], "e", "pkg info")
    if len(rest) != 1:
        raise Unsupported("pkg info: exactly one package name is modelled")
    name = rest[0]
    if opts:
        # pkg-info(8) -e: no output, rc 0 installed / 1 not (reference/outputs.md §7).
        return 0 if name in packages else 1
    if name not in packages:
        err(f"pkg: No package(s) matching {name}")  # reference/outputs.md §7, pkg >= 1.16
        return 1
    entry = packages[name]
    version = _pkg_version(entry)
    origin = entry.get("origin") if isinstance(entry, dict) else None
    major = userland_major(state)
    # Head of `pkg info NAME`, reference/outputs.md §7 (wazuh #10713) [trimmed there, so here too].
    out(f"{name}-{version}")
    out(f"Name           : {name}")
    out(f"Version        : {version}")
    out("Installed on   : Thu Jan  1 00:00:00 2026 UTC")
    out(f"Origin         : {origin or PKG_ORIGINS.get(name, 'misc/' + name)}")
    out(f"Architecture   : FreeBSD:{major}:{state['uname']['machine']}")
    return 0


def _pkg_version(entry: Any) -> str:
    return str(entry["version"] if isinstance(entry, dict) else entry)


# pkg install (pkg-install(8), freebsd/pkg src/install.c).  Installable packages and
# their versions; state["pkg_catalog"] (name -> version) replaces this when set.
# bastille, tmux, git and vm-bhyve versions: reference/freebsd.md §0/§1; the others are placeholders
# [unconfirmed], seed pkg_catalog when a test depends on a version.
PKG_CATALOG: dict[str, str] = {
    "bastille": "1.4.4",
    "tmux": "3.5a",
    "git": "2.51.0",
    "postgresql15-client": "15.14",
    "postgresql16-client": "16.10",
    "postgresql17-client": "17.6",
    "postgresql18-client": "18.0",
    "postgresql15-server": "15.14",
    "postgresql16-server": "16.10",
    "postgresql17-server": "17.6",
    "postgresql18-server": "18.0",
    "postgresql17-contrib": "17.6",
    "nginx": "1.28.0",
    "vm-bhyve": "1.7.5",
    "bhyve-firmware": "1.0_2",
    "qemu-tools": "10.0.3",
    "ollama": "0.11.4",
    "llama-cpp": "6210",
    "gitea": "1.24.5",
}
# bastille.conf.sample values of reference/freebsd.md §1.1 (BastilleBSD/bastille
# usr/local/etc/bastille/bastille.conf.sample); the port's pkg-plist has
# "@sample etc/bastille/bastille.conf.sample", which copies it to bastille.conf
# when that file is missing.
BASTILLE_CONF_SAMPLE = """\
## default paths
bastille_prefix="/usr/local/bastille"
bastille_jailsdir="${bastille_prefix}/jails"
bastille_releasesdir="${bastille_prefix}/releases"
bastille_templatesdir="${bastille_prefix}/templates"
bastille_logsdir="/var/log/bastille"

## pf configuration path
bastille_pf_conf="/etc/pf.conf"

## default jail resolv.conf
bastille_resolv_conf="/etc/resolv.conf"

## ZFS options
bastille_zfs_enable="NO"
bastille_zfs_zpool=""

## Networking
bastille_network_vnet_type="if_bridge"
bastille_network_loopback="bastille0"
bastille_network_pf_ext_if="ext_if"
bastille_network_pf_table="jails"
bastille_network_gateway=""

## Default Templates
bastille_template_vnet="default/vnet"
"""
# Packages whose /usr/local/bin programs later commands run: the double links the
# Linux programs of the same names (found on the real PATH) there.  Required ones
# fail the install loudly when missing; psql only when present.  devel/git's
# pkg-plist installs git-shell, git-upload-pack and git-receive-pack in bin/ too (the
# git jail's user has git-shell as its shell; git-shell runs the other two).
PKG_LINKED_PROGRAMS: dict[str, tuple[tuple[str, ...], bool]] = {
    "tmux": (("tmux",), True),
    "git": (("git", "git-shell", "git-upload-pack", "git-receive-pack"), True),
    "postgresql15-client": (("psql",), False),
    "postgresql16-client": (("psql",), False),
    "postgresql17-client": (("psql",), False),
    "postgresql18-client": (("psql",), False),
}


def _pkg_yes_env() -> bool:
    # pkg.conf(5): any option can be set from the environment; ASSUME_ALWAYS_YES
    # is a boolean (yes/true/on/1, case-insensitive).
    value = os.environ.get("ASSUME_ALWAYS_YES", "")
    return value.strip().lower() in ("yes", "true", "on", "1")


def _pkg_query(prompt: str) -> bool:
    # src/utils.c vquery_yesno(): y/Y/yes -> yes, n/N/no -> no, empty line -> the
    # default (no), EOF -> no, anything else asks again.
    sys.stdout.write(prompt)
    sys.stdout.flush()
    while True:
        line = sys.stdin.readline() if sys.stdin is not None else ""
        if line in ("", "\n"):
            return False
        if line in ("y\n", "Y\n") or line.lower() == "yes\n":
            return True
        if line in ("n\n", "N\n") or line.lower() == "no\n":
            return False
        out("Please type 'Y[es]' or 'N[o]' to make a selection")
        sys.stdout.write(prompt)
        sys.stdout.flush()


def _pkg_install(args: list[str]) -> int:
    # src/install.c exec_install(); modelled: -y -q and exact package names.
    try:
        opts, names = getopt.getopt(args, "qy")
    except getopt.GetoptError as exc:
        raise Unsupported(f"pkg install: {exc}") from exc
    flags = {flag for flag, _ in opts}
    quiet = "-q" in flags
    yes = "-y" in flags or _pkg_yes_env()
    if not names:
        err("Usage: pkg install [-AfInFMqRUy] [-r reponame] [-Cgix] <pkg-name> ...\n")
        err("For more information see 'pkg help install'.")
        return 1
    if any(not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", n) for n in names):
        raise Unsupported(f"pkg install: only exact package names are modelled: {names}")
    if os.geteuid() != 0:
        die("pkg: Insufficient privileges to install packages", 1)  # install.c
    state = read_state()
    catalog: dict[str, str] = state.get("pkg_catalog") or PKG_CATALOG
    if not quiet:
        # src/update.c pkgcli_update() (repository "FreeBSD", already fresh).
        out("Updating FreeBSD repository catalogue...")
        out("FreeBSD repository is up to date.")
        out("All repositories are up to date.")
    missing = [n for n in names if n not in catalog]
    for name in missing:
        # libpkg pkg_jobs.c, seen pasted verbatim; pkg_jobs_add() fails -> rc 1.
        err(
            f"pkg: No packages available to install matching '{name}' have been found "
            "in the repositories"
        )
    if missing:
        return 1
    installed = jails_module().package_set(state) if in_jail() else state["packages"]
    todo = sorted({n for n in names if n not in installed})
    if not todo:
        # reference/outputs.md §7 (pkg #2698; #2625: the last line also with -q), rc 0.
        if not quiet:
            out("Checking integrity... done (0 conflicting)")
        out("The most recent versions of packages are already installed")
        return 0
    links = _pkg_links(todo)  # fail loudly before anything changes
    if not quiet:
        # src/utils.c print_jobs_summary(); sizes/download lines are not modelled
        # (the catalog has no sizes), nor are dependencies.
        out(f"The following {len(todo)} package(s) will be affected (of {len(todo)} checked):")
        out()
        out("New packages to be INSTALLED:")
        for name in todo:
            out(f"\t{name}: {catalog[name]}")
        out()
        out(f"Number of packages to be installed: {len(todo)}")
    # install.c: with -q the question is not asked and the answer is `yes`
    # (-y / ASSUME_ALWAYS_YES); declining leaves everything as it was, rc 1.
    proceed = yes if (quiet or yes) else _pkg_query("\nProceed with this action? [y/N]: ")
    if not proceed:
        return 1
    with mutate_state() as st:
        for name in todo:
            version = catalog[name]
            db = jails_module().package_set(st) if in_jail() else st["packages"]
            db[name] = {"version": version, "origin": PKG_ORIGINS.get(name)}
            if name == "bastille" and not in_jail():
                st["bastille"] = {"version": version}  # `bastille --version` works
                _pkg_bastille_conf()
        for link, target in links:
            if not os.path.lexists(link):
                os.makedirs(os.path.dirname(link), exist_ok=True)
                os.symlink(target, link)
        if in_jail():
            jails_module().after_install(todo)  # the jail's rc.d scripts, the postgres account
        elif servers := [n for n in todo if re.fullmatch(r"postgresql[0-9]+-server", n)]:
            # the port's account and its rc.d script, run by the host's `service`
            sibling("host_postgres").after_install(servers)
    if not quiet:
        # reference/outputs.md §7 (FreeBSD Journal 2023 transcript, fetch lines left out).
        out("Checking integrity... done (0 conflicting)")
        for i, name in enumerate(todo, 1):
            out(f"[{i}/{len(todo)}] Installing {name}-{catalog[name]}...")
            out(f"[{i}/{len(todo)}] Extracting {name}-{catalog[name]}: 100%")
    return 0


def _pkg_links(todo: list[str]) -> list[tuple[str, str]]:
    links = []
    for name in todo:
        if name not in PKG_LINKED_PROGRAMS:
            continue
        programs, required = PKG_LINKED_PROGRAMS[name]
        for program in programs:
            target = host_program(program)
            if target is None:
                if required:
                    die(
                        f"freebsd-double: pkg install {name}: no Linux `{program}' on PATH to "
                        f"stand in for /usr/local/bin/{program}",
                        EX_SOFTWARE,
                    )
                continue
            links.append((host_path(f"/usr/local/bin/{program}"), target))
    return links


def _pkg_bastille_conf() -> None:
    directory = host_path("/usr/local/etc/bastille")
    os.makedirs(directory, exist_ok=True)
    atomic_write(os.path.join(directory, "bastille.conf.sample"), BASTILLE_CONF_SAMPLE, 0o644)
    conf = os.path.join(directory, "bastille.conf")
    if not os.path.exists(conf):  # @sample: an existing bastille.conf is kept
        atomic_write(conf, BASTILLE_CONF_SAMPLE, 0o644)

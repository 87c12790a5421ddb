"""freebsd-double: a TEST DOUBLE for FreeBSD commands. This is not FreeBSD.

A stdlib-only package stands in for the FreeBSD commands the toolkit runs on a
throwaway Linux test host (design.md, "Testing without FreeBSD").  It is called as
``freebsd_double.py COMMAND ARGS...`` (the entry script next to this package, which
the sh wrappers written by install.py run) or through a symlink to that script whose
basename is the command; on a test host the wrappers ask the host's server.py, which
imported the package once.

Commands: freebsd-version uname sysctl kldstat pkg lockf bastille sysrc ifconfig
netstat route jls pfctl kldload service pw newsyslog jexec vm chroot, one module each
(pfctl: pfctl.py with pfctl_lexer.py, pfctl_parser.py and pfctl_show.py); the table
of them and main() are in dispatch.py, the state in state.py, the fault hook in
faults.py, shared helpers in common.py.  Bastille jails, jexec, `pkg -j` and what runs
inside a jail live in jails.py next to this package (loaded on demand; its docstring
says what a jail is here: real inside a test host, with jail_kernel.py and
jail_postgres.py, else jexec runs commands on the HOST's filesystem).  A host `pkg
install postgresqlNN-server` leaves the port's account and an rc.d script whose
`service postgresql` is a real PostgreSQL (host_postgres.py); `vm` is vm.py.
What each one accepts is listed in its handler; the output formats come from the
notes in tests/double/reference/, cited as "reference/outputs.md §N" (what the commands
print) and "reference/freebsd.md §N" (how the tools behave), or from the FreeBSD source
file named in the comment.

THE EXIT-64 RULE: any command, subcommand, flag or argument form that is not
modelled here prints "freebsd-double: ..." on stderr and exits 64 (EX_USAGE),
so the toolkit cannot drift into syntax nobody checked against a source.
"""

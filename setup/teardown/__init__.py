"""`invoke teardown`: remove one agent from a host, and only that agent.

The session it replaces:
    jexec -l -U postgres atlasdb pg_dump -Fc -d atlas_brain > /var/db/warden/dumps/...
    service atlas stop; sysrc -x atlas_enable; rm /usr/local/etc/rc.d/atlas ...
    bastille destroy -a -y atlasdb (by exact name) ...
    ifconfig warden0 inet 10.0.1.1 -alias; sysrc -x ifconfig_warden0_alias0
    the /etc/hosts block; pf.warden.conf without atlas (checked, loaded safely)
    pw userdel atlas -r; rm -r the secrets; rm the registry entry
The database is always dumped first, with the jail's own pg_dump (a client older than
the server refuses). The plan is computed like setup's and shown first; everything is
derived from the .env and what the host has, so a teardown cut halfway is finished by
running it again, and a finished one plans nothing.
"""

from .job import TeardownJob, files, gather_for, probes
from .kept import KeptDb, brain_check, read_kept_db
from .names import DUMPS, KEPT_DB, NAME, UNREGISTER
from .plan import alias_key, kill_all, listed, plan_teardown

__all__ = [
    "DUMPS",
    "KEPT_DB",
    "NAME",
    "UNREGISTER",
    "KeptDb",
    "TeardownJob",
    "alias_key",
    "brain_check",
    "files",
    "gather_for",
    "kill_all",
    "listed",
    "plan_teardown",
    "probes",
    "read_kept_db",
]

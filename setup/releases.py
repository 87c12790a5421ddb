"""Which FreeBSD release jails get, and which ones Bastille has bootstrapped.

Shared by the host step (which bootstraps the release) and the role jail steps (which
need it), so neither imports the other.
"""

from __future__ import annotations

import re

from .config import AgentConfig
from .facts import Facts, Probe
from .layout import BASTILLE_CONF, BASTILLE_RELEASES

PROBE = "host.releases"

# sh that sets $d to Bastille's releases directory, as bastille.conf says (sysrc
# evaluates the file, so ${bastille_prefix}/releases comes out expanded).
RELEASES_DIR = (
    f"d=$(sysrc -f {BASTILLE_CONF} -n bastille_releasesdir 2>/dev/null) || d={BASTILLE_RELEASES}"
)


def releases_probe() -> dict[str, Probe]:
    """The releases Bastille has completely bootstrapped (their COPYRIGHT exists)."""
    return {
        PROBE: Probe(
            RELEASES_DIR
            + '; for r in "$d"/*; do if [ -f "$r/COPYRIGHT" ]; then basename "$r"; fi; done'
        )
    }


def jail_release(config: AgentConfig, facts: Facts) -> str:
    """The release jails get: WARDEN_RELEASE, else the host's (a -pN patch level is not
    something `bastille bootstrap` can fetch)."""
    return config.release or re.sub(r"-p\d+$", "", facts.userland)

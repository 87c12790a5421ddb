"""cms: nginx serving the agent's static site from its own jail.

The session it replaces: `bastille create ... atlascms ...`, `bastille pkg atlascms
install nginx`, an nginx.conf listening on the jail's address, `sysrc nginx_enable=YES`,
`service nginx start`. The jail work is setup/jail.py's; this names the role.
"""

from __future__ import annotations

from ..jail import JailRole, JailStep

SITE_ROOT = "/usr/local/www/site"
PACKAGES = ("nginx",)

STEP = JailStep(
    JailRole(
        step="cms",
        role="cms",
        service="nginx",
        context=lambda config: {"packages": PACKAGES, "site_root": SITE_ROOT},
    )
)

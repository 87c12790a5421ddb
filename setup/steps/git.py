"""git: bare repositories under /srv/git in the agent's git jail, over SSH for git only.

The session it replaces: `bastille pkg atlasgit install git`, a `git` user whose shell is
git-shell, `git init --bare /srv/git/atlas-soul.git`, an sshd that listens on the jail's
address and lets only `git` in by key, `service sshd start`.
"""

from __future__ import annotations

from ..jail import JailRole, JailStep

STEP = JailStep(
    JailRole(
        step="git",
        role="git",
        service="sshd",
        context=lambda config: {"repos": [f"{config.agent_name}-soul"]},
    )
)

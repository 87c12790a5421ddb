"""user: the agent's unprivileged user, its home and its credentials file.

The session it replaces:
    pw groupadd atlas -g 2001
    pw useradd atlas -u 2001 -g atlas -c "warden agent atlas" -d /home/atlas -m -s /bin/sh
    install -d /usr/local/etc/warden/agents/atlas; touch .../credentials; chmod 0600 ...
The UID is the one the host registry records for the agent, so it never changes on
a re-run. A user of that name that warden did not create is never taken over.
"""

from __future__ import annotations

from ..config import AgentConfig
from ..facts import Facts, Probe, Stat, stat_probe, stats
from ..layout import agent_etc, credentials, home
from ..ops import directory, put, pw_groupadd, pw_useradd, run
from ..plan import Change, StepPlan
from ..registry import entry_for, load_entries
from ..render import render

NAME = "user"
SHELL = "/bin/sh"


def comment(config: AgentConfig) -> str:
    """The GECOS field: says who made the user and for which agent."""
    return f"warden agent {config.agent_name}"


def packages(config: AgentConfig) -> list[str]:
    """pw(8) is in the base system."""
    return []


def files(config: AgentConfig) -> list[str]:
    """The credentials file's content is secret and never read; see probes."""
    return []


def probes(config: AgentConfig) -> dict[str, Probe]:
    """Mode and owner of the home, the settings directory and the credentials file (root
    asks only of its own paths: the home itself sits in /home, root's)."""
    paths = (home(config.agent_user), agent_etc(config.agent_name), credentials(config.agent_name))
    return {"user.paths": stat_probe(paths)}


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """Group, user, home, the settings directory and an empty credentials file."""
    step = StepPlan(NAME)
    user, agent = config.agent_user, config.agent_name
    uid = entry_for(config, facts).uid
    assert uid is not None
    entries, _ = load_entries(facts)
    registered = agent in entries
    if user in facts.users and facts.users[user] != uid and registered:
        step.refuse(
            "user.uid-changed",
            f"user: {user} has UID {facts.users[user]} on {facts.target}, but warden "
            f"created it as {uid}: it was changed by hand; fix it or remove it",
        )
        return step
    if user in facts.groups and facts.groups[user] != uid:
        step.refuse(
            "user.group-exists",
            f"user: a group named {user} already exists with GID {facts.groups[user]} "
            "and warden did not create it; set WARDEN_AGENT_USER",
        )
        return step
    if user not in facts.groups:
        step.changes.append(
            Change(NAME, f"group {user} (GID {uid})", ops=(pw_groupadd(user, uid),))
        )
    if user not in facts.users:
        step.changes.append(
            Change(
                NAME,
                f"user {user} (UID {uid}, home {home(user)}) for agent {agent}",
                ops=(pw_useradd(user, uid, user, comment(config), home(user), SHELL),),
            )
        )
    have = stats(facts.probe("user.paths"))
    if user in facts.users and home(user) not in have:
        # /home is root's: root makes the directory, then hands it over
        step.changes.append(
            Change(
                NAME,
                f"home {home(user)} for {user}",
                ops=(directory(home(user), 0o750, user, user),),
            )
        )
    etc = agent_etc(agent)
    if have.get(etc) != Stat("drwxr-xr-x", 0, 0):
        step.changes.append(
            Change(
                NAME,
                f"settings directory {etc} (root, 0755)",
                ops=(directory(etc, 0o755),),
            )
        )
    secret = credentials(agent)
    if secret not in have:
        step.changes.append(
            Change(
                NAME,
                f"credentials file {secret} (0600, {user}), filled by later steps",
                ops=(
                    put(
                        secret,
                        render("service/credentials.j2", agent=agent),
                        0o600,
                        user,
                        user,
                        secret=True,
                    ),
                ),
            )
        )
    elif have[secret] != Stat("-rw-------", uid, uid):
        step.changes.append(
            Change(
                NAME,
                f"credentials file {secret}: back to 0600, owned by {user}",
                ops=(run("chown", f"{user}:{user}", secret), run("chmod", "0600", secret)),
            )
        )
    return step

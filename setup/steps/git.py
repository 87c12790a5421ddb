"""git: bare repositories under /srv/git in the agent's git jail, over SSH for git only.

The session it replaces:
    bastille create ... atlasgit ...
    ssh-keygen -t ed25519 -f /usr/local/bastille/jails/atlasgit/root/etc/ssh/ssh_host_ed25519_key
    bastille template atlasgit .../git     (git, a `git` user with git-shell, bare repos,
                                            an sshd on the jail's address for `git` only)
    su atlas -c 'ssh-keygen -t ed25519'; its public key into the jail's authorized_keys
    the jail's host key into atlas's known_hosts (pinned: no trust on first use)
warden makes the jail's host key itself, from the host, before sshd ever starts, so the
agent's known_hosts names the right key from the first connection on.
"""

from __future__ import annotations

import re
from typing import Any

from .. import jail
from ..blocks import broken, markers
from ..command import cmd
from ..config import AgentConfig
from ..domains import HostUser, JailUser, Location
from ..facts import Facts, Probe
from ..hostsfile import DOMAIN
from ..layout import GIT_UID, home
from ..ops import Run, block, directory, keygen, put
from ..plan import Change, StepPlan

NAME = "git"
ROUNDS = 2  # the keys are pinned once the jail (and its host key) exists
_KEY_TYPE = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521))")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _context(config: AgentConfig) -> dict[str, Any]:
    return {"repos": repos(config), "git_uid": GIT_UID}


SPEC = jail.JailRole(step=NAME, role="git", service="sshd", context=_context)


def repos(config: AgentConfig) -> list[str]:
    """The bare repositories: the agent's soul mirror."""
    return [f"{config.agent_name}-soul"]


def agent(config: AgentConfig) -> HostUser:
    """The agent's user: its SSH files are its own, read and written as it."""
    user = config.agent_user
    return HostUser(user, user, home(user))


def jail_root(config: AgentConfig) -> JailUser:
    return JailUser(config.jail_names["git"])


def agent_key(config: AgentConfig) -> str:
    """The agent user's private key (never read by warden; only its .pub is)."""
    return f"{home(config.agent_user)}/.ssh/id_ed25519"


HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"  # inside the git jail
AUTHORIZED_KEYS = "/srv/git/.ssh/authorized_keys"  # inside the git jail


def host_key_pub(config: AgentConfig) -> Location:
    """The git jail's sshd host key, read inside the jail."""
    return Location(jail_root(config), HOST_KEY + ".pub")


def authorized_keys(config: AgentConfig) -> Location:
    """Who may log in as `git` in the jail: the agent's key, restricted (written by the
    jail's root, owned by its git user)."""
    return Location(jail_root(config), AUTHORIZED_KEYS)


def agent_pub(config: AgentConfig) -> Location:
    return Location(agent(config), agent_key(config) + ".pub")


def known_hosts(config: AgentConfig) -> Location:
    return Location(agent(config), f"{home(config.agent_user)}/.ssh/known_hosts")


def ssh_config(config: AgentConfig) -> Location:
    return Location(agent(config), f"{home(config.agent_user)}/.ssh/config")


def git_host(config: AgentConfig) -> str:
    """The name the agent reaches its git jail by (the /etc/hosts block)."""
    return f"git.{config.agent_name}.{DOMAIN}"


def packages(config: AgentConfig) -> list[str]:
    return jail.packages(config)


def files(config: AgentConfig) -> list[str | Location]:
    """The jail's, plus the public keys and the agent's SSH files (no private key), each
    read in its own domain: the agent's as the agent, the jail's inside the jail."""
    if not jail.is_mine(config, SPEC.role):
        return []
    return [
        *jail.files(config, SPEC.role),
        agent_pub(config),
        host_key_pub(config),
        authorized_keys(config),
        known_hosts(config),
        ssh_config(config),
    ]


def probes(config: AgentConfig) -> dict[str, Probe]:
    return jail.probes(config, SPEC)


def requires(config: AgentConfig, facts: Facts) -> list[tuple[str, str]]:
    missing = jail.requires(config, facts, SPEC.role)
    if jail.is_mine(config, SPEC.role) and config.agent_user not in facts.users:
        missing.append(("user", f"the agent's user {config.agent_user} does not exist"))
    return missing


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """The jail (with a host key warden made), the agent's key, and both pinned."""
    step, _ = jail.plan(config, facts, SPEC)
    if not jail.is_mine(config, SPEC.role) or step.refusals:
        return step
    user = config.agent_user
    ssh_dir = f"{home(user)}/.ssh"
    before_template = next(
        (i for i, c in enumerate(step.changes) if "template" in c.summary), len(step.changes)
    )
    host_pub = facts.file(host_key_pub(config))
    jail_name = config.jail_names["git"]
    if host_pub is None:
        # made inside the jail, so it can be pinned before sshd first starts
        step.changes.insert(
            before_template,
            Change(
                NAME,
                f"SSH host key of jail {jail_name} (made by warden, so it can be pinned "
                "before sshd first starts)",
                ops=(
                    Run(cmd("mkdir", "-p", "/etc/ssh"), jail_root(config)),
                    keygen(HOST_KEY, jail_name, jail_root(config)),
                ),
            ),
        )
    agent_pub_key = facts.file(agent_pub(config))
    if agent_pub_key is None:
        key = agent_key(config)
        step.changes.append(
            Change(
                NAME,
                f"SSH key of the agent's user {user} ({key}) for its git jail",
                ops=(
                    directory(Location(agent(config), ssh_dir), 0o700),
                    keygen(key, f"warden agent {config.agent_name}", agent(config)),
                ),
            )
        )
    if host_pub is None or agent_pub_key is None:
        return step
    _pin(step, config, facts, host_pub, agent_pub_key)
    return step


def _one_key(text: str) -> tuple[str, str] | None:
    """(type, base64) of the one public key a .pub file holds, or None when it holds
    anything else (a second line, options, a garbled key)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        return None
    words = lines[0].split()
    if len(words) < 2 or not _KEY_TYPE.fullmatch(words[0]) or not _BASE64.fullmatch(words[1]):
        return None
    return words[0], words[1]


def _pin(step: StepPlan, config: AgentConfig, facts: Facts, host_pub: str, own_pub: str) -> None:
    """The agent's key in the jail, the jail's key and a Host entry in the agent's SSH
    files (inside warden's marked blocks: the agent's own lines stay)."""
    host, mine = _one_key(host_pub), _one_key(own_pub)
    if mine is None:
        step.refuse(
            "git.agent-key-invalid",
            f"git: {agent_pub(config)} does not hold exactly one public key: fix it or remove "
            "it (warden makes a new key pair then)",
        )
        return
    if host is None:
        step.refuse(
            "git.host-key-invalid",
            f"git: the git jail's host key {host_key_pub(config)} is not one public key: "
            "remove it inside the jail (warden makes a new one then)",
        )
        return
    allowed = f"restrict {mine[0]} {mine[1]} warden agent {config.agent_name}\n"
    where = authorized_keys(config)
    if facts.file(where) != allowed:
        step.changes.append(
            Change(
                NAME,
                f"let the agent's key (only) log in as git in jail {config.jail_names['git']}",
                # written inside the jail, as its git user: the directory is the jail's
                ops=(put(where, allowed, 0o644, "git", "git", before=facts.file(where)),),
            )
        )
    key_type, key_data = host
    names = f"{git_host(config)},{config.role_ips['git']}"
    wanted = {
        known_hosts(config): [f"{names} {key_type} {key_data}"],
        ssh_config(config): [
            f"Host {git_host(config)} {config.role_ips['git']}",
            "    User git",
            f"    IdentityFile {agent_key(config)}",
            "    IdentitiesOnly yes",
            "    StrictHostKeyChecking yes",
        ],
    }
    user = config.agent_user
    for location, lines in wanted.items():
        before = facts.file(location)
        problem = broken(before, config.agent_name, location.path)
        if problem is not None:
            step.refuse("git.marked-block-broken", f"git: {problem}; fix the file by hand")
            continue
        # the agent's own file, read and written as the agent (setup/domains.py)
        write = block(
            location, before, config.agent_name, block_lines(config, lines), 0o600, user, user
        )
        if write is not None:
            step.changes.append(
                Change(
                    NAME,
                    f"{location.path}: the git jail {git_host(config)} "
                    + (
                        "(its host key, pinned)"
                        if location.path.endswith("known_hosts")
                        else "(Host entry)"
                    ),
                    ops=(write,),
                )
            )


def block_lines(config: AgentConfig, lines: list[str]) -> list[str]:
    begin, end = markers(config.agent_name)
    return [begin, *lines, end]

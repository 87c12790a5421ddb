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

from typing import Any

from .. import jail
from ..config import AgentConfig
from ..facts import Facts
from ..hostsfile import DOMAIN, broken, markers, with_block
from ..layout import home, jail_dir
from ..plan import Change, FileWrite, StepPlan
from ..shell import heredoc, q

NAME = "git"
ROUNDS = 2  # the keys are pinned once the jail (and its host key) exists
GIT_UID = 2000  # the jail's `git` user (templates/bastille/git/Bastillefile.j2)


def _context(config: AgentConfig) -> dict[str, Any]:
    return {"repos": repos(config), "git_uid": GIT_UID}


SPEC = jail.JailRole(step=NAME, role="git", service="sshd", context=_context)


def repos(config: AgentConfig) -> list[str]:
    """The bare repositories: the agent's soul mirror."""
    return [f"{config.agent_name}-soul"]


def agent_key(config: AgentConfig) -> str:
    """The agent user's private key (never read by warden; only its .pub is)."""
    return f"{home(config.agent_user)}/.ssh/id_ed25519"


def host_key(config: AgentConfig) -> str:
    """The git jail's sshd host key, seen from the host."""
    return f"{jail_dir(config.jail_names['git'])}/root/etc/ssh/ssh_host_ed25519_key"


def authorized_keys(config: AgentConfig) -> str:
    """Who may log in as `git` in the jail: the agent's key, restricted."""
    return f"{jail_dir(config.jail_names['git'])}/root/srv/git/.ssh/authorized_keys"


def known_hosts(config: AgentConfig) -> str:
    return f"{home(config.agent_user)}/.ssh/known_hosts"


def ssh_config(config: AgentConfig) -> str:
    return f"{home(config.agent_user)}/.ssh/config"


def git_host(config: AgentConfig) -> str:
    """The name the agent reaches its git jail by (the /etc/hosts block)."""
    return f"git.{config.agent_name}.{DOMAIN}"


def packages(config: AgentConfig) -> list[str]:
    return jail.packages(config)


def files(config: AgentConfig) -> list[str]:
    """The jail's, plus the public keys and the agent's SSH files (no private key)."""
    if not jail.is_mine(config, SPEC.role):
        return []
    return [
        *jail.files(config, SPEC.role),
        agent_key(config) + ".pub",
        host_key(config) + ".pub",
        authorized_keys(config),
        known_hosts(config),
        ssh_config(config),
    ]


def probes(config: AgentConfig) -> dict[str, str]:
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
    host_pub = facts.file(host_key(config) + ".pub")
    jail_name = config.jail_names["git"]
    if host_pub is None:
        key = "/etc/ssh/ssh_host_ed25519_key"  # inside the jail: made there, not through
        # a path root in the jail could have turned into a link to a host file
        step.changes.insert(
            before_template,
            Change(
                NAME,
                f"SSH host key of jail {jail_name} (made by warden, so it can be pinned "
                "before sshd first starts)",
                commands=(
                    f"jexec -l {q(jail_name)} sh -c "
                    + q(
                        f"mkdir -p /etc/ssh && {{ [ -f {key} ] || "
                        f"ssh-keygen -q -t ed25519 -N '' -C {jail_name} -f {key}; }}"
                    ),
                ),
            ),
        )
    agent_pub = facts.file(agent_key(config) + ".pub")
    if agent_pub is None:
        key = agent_key(config)
        step.changes.append(
            Change(
                NAME,
                f"SSH key of the agent's user {user} ({key}) for its git jail",
                # as the agent: its home is its own, and root must not follow its links
                commands=(
                    f"su {user} -c "
                    + q(
                        f"umask 077; mkdir -p {ssh_dir} && chmod 0700 {ssh_dir} && "
                        f"{{ [ -f {key} ] || ssh-keygen -q -t ed25519 -N '' "
                        f"-C 'warden agent {config.agent_name}' -f {key}; }}"
                    ),
                ),
            )
        )
    if host_pub is None or agent_pub is None:
        return step
    _pin(step, config, facts, host_pub.strip(), agent_pub.strip())
    return step


def _pin(step: StepPlan, config: AgentConfig, facts: Facts, host_pub: str, agent_pub: str) -> None:
    """The agent's key in the jail, the jail's key and a Host entry in the agent's SSH
    files (inside warden's marked blocks: the agent's own lines stay)."""
    user = config.agent_user
    allowed = f"restrict {agent_pub}\n"
    if facts.file(authorized_keys(config)) != allowed:
        jail_name = config.jail_names["git"]
        delimiter, body = heredoc(allowed)
        inside = "/srv/git/.ssh/authorized_keys"
        step.changes.append(
            Change(
                NAME,
                f"let the agent's key (only) log in as git in jail {jail_name}",
                files=(
                    FileWrite(
                        authorized_keys(config),
                        allowed,
                        0o644,
                        before=facts.file(authorized_keys(config)),
                    ),
                ),
                # written inside the jail, as its git user: the directory is the jail's
                script=(
                    f"jexec -l -U git {q(jail_name)} sh -c "
                    + q(f"umask 022; cat > {inside}.new && mv -f {inside}.new {inside}")
                    + f" <<'{delimiter}'\n{body}{delimiter}"
                ),
            )
        )
    key_type, key_data = host_pub.split()[:2]
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
    for path, lines in wanted.items():
        before = facts.file(path)
        problem = broken(before, config.agent_name, path)
        if problem is not None:
            step.refusals.append(f"git: {problem}; fix the file by hand")
            continue
        content = with_block(before, config.agent_name, block_lines(config, lines))
        if content != before:
            step.changes.append(
                Change(
                    NAME,
                    f"{path}: the git jail {git_host(config)} "
                    + (
                        "(its host key, pinned)" if path.endswith("known_hosts") else "(Host entry)"
                    ),
                    files=(
                        FileWrite(
                            path,
                            content,
                            0o600,
                            owner=user,
                            group=user,
                            before=before,
                            as_user=user,
                        ),
                    ),
                )
            )


def block_lines(config: AgentConfig, lines: list[str]) -> list[str]:
    begin, end = markers(config.agent_name)
    return [begin, *lines, end]

"""service: the agent's rc.d script, its tmux session and its log rotation.

The session it replaces (guide §6): write /usr/local/etc/rc.d/atlas, `sysrc
atlas_enable=YES`, `service atlas start`. Whether it runs is decided by `service
atlas onestatus` (rc.subr's `status` succeeds for a disabled service and `start`
fails for a running one, so neither exit code says "running"). A re-run restarts the
agent only when its script, launcher or settings changed.
"""

from __future__ import annotations

from ..command import Raw, cmd
from ..config import AgentConfig
from ..facts import Facts, Probe, Stat, stat_probe, stats
from ..layout import (
    TMUX,
    agent_env,
    agent_libexec,
    credentials,
    home,
    log_dir,
    log_file,
    newsyslog_conf,
    rc_script,
    tmux_socket_dir,
)
from ..ops import Run, directory, either, put, run
from ..plan import Change, StepPlan
from ..rcconf import setting
from ..registry import entry_for
from ..render import render
from .host import needs_jails

NAME = "service"
MARKER = "# warden-managed: agent="


def launcher(agent: str) -> str:
    """The first program of the agent's tmux session."""
    return f"{agent_libexec(agent)}/run"


def log_pipe(agent: str) -> str:
    """What tmux pipe-pane feeds the session's output to."""
    return f"{agent_libexec(agent)}/log"


def packages(config: AgentConfig) -> list[str]:
    """The session runs in tmux."""
    return ["tmux"]


def files(config: AgentConfig) -> list[str]:
    """The rc.d script, the launcher and log pipe, the session env, the rotation."""
    agent = config.agent_name
    return [
        rc_script(agent),
        launcher(agent),
        log_pipe(agent),
        agent_env(agent),
        newsyslog_conf(agent),
    ]


def probes(config: AgentConfig) -> dict[str, Probe]:
    """Is the session running (onestatus: right whether or not it is enabled), and the
    log directory's mode and owner (root's directory: root asks)."""
    agent = config.agent_name
    return {
        "service.status": Probe(f"service {agent} onestatus"),
        "service.logdir": stat_probe([log_dir(agent), log_file(agent)]),
    }


def requires(config: AgentConfig, facts: Facts) -> list[tuple[str, str]]:
    """The user and tmux come from earlier steps."""
    missing: list[tuple[str, str]] = []
    if not facts.packages.get("tmux"):
        missing.append(("host", "tmux is not installed"))
    if config.agent_user not in facts.users:
        missing.append(("user", f"the agent's user {config.agent_user} does not exist"))
    return missing


def rendered(config: AgentConfig) -> dict[str, tuple[str, int]]:
    """{path: (content, mode)} of every file this step manages."""
    agent, user = config.agent_name, config.agent_user
    socket = f"{tmux_socket_dir(agent)}/tmux.sock"
    common = {"agent": agent, "user": user, "socket": socket, "tmux": TMUX, "home": home(user)}
    return {
        rc_script(agent): (
            render(
                "rc.d/agent.j2",
                **common,
                assistant=config.assistant_name,
                launcher=launcher(agent),
                jails=needs_jails(config),
                v="${" + agent + "_",
            ),
            0o555,
        ),
        launcher(agent): (
            render(
                "service/run.j2",
                **common,
                env_file=agent_env(agent),
                credentials=credentials(agent),
                log_pipe=log_pipe(agent),
                command=config.agent_command or "",
            ),
            0o555,
        ),
        log_pipe(agent): (render("service/log.j2", agent=agent, log=log_file(agent)), 0o555),
        agent_env(agent): (
            render(
                "service/agent.env.j2",
                agent=agent,
                assistant=config.assistant_name,
                system_locale=config.system_locale,
                display_locale=config.display_locale,
                assistant_locale=config.assistant_locale,
            ),
            0o644,
        ),
        newsyslog_conf(agent): (
            render("newsyslog/agent.conf.j2", agent=agent, user=user, log=log_file(agent)),
            0o644,
        ),
    }


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """Files, log directory, enable, then start (or restart after a change)."""
    step = StepPlan(NAME)
    agent, user = config.agent_name, config.agent_user
    if config.agent_command is None:
        step.refuse(
            "service.no-agent-command",
            f"service: WARDEN_AGENT_COMMAND is not set in {config.source}: it is what the "
            "service runs in tmux",
        )
        return step
    script = facts.file(rc_script(agent))
    if script is not None and f"{MARKER}{agent}\n" not in script:
        step.refuse(
            "service.rc-script-not-warden",
            f"service: {rc_script(agent)} exists and warden did not write it; it is never "
            "overwritten: choose another AGENT_NAME or remove it",
        )
        return step
    writes = [
        put(path, content, mode, before=facts.file(path))
        for path, (content, mode) in rendered(config).items()
        if facts.file(path) != content
    ]
    if writes:
        names = ", ".join(w.path for w in writes)
        step.changes.append(
            Change(NAME, f"service files of agent {agent}: {names}", ops=tuple(writes))
        )
    uid = entry_for(config, facts).uid
    # root owns the directory (newsyslog, as root, rotates in it: the agent must not be
    # able to plant links there); the agent owns only its log file.
    assert uid is not None
    have = stats(facts.probe("service.logdir"))
    if have.get(log_dir(agent)) != Stat("drwxr-x---", 0, uid) or have.get(log_file(agent)) != Stat(
        "-rw-r-----", uid, uid
    ):
        step.changes.append(
            Change(
                NAME,
                f"log directory {log_dir(agent)} (root:{user}, 0750) and {log_file(agent)} "
                f"({user}, 0640)",
                ops=(
                    directory(log_dir(agent), 0o750, "root", user),
                    Run(
                        cmd(
                            Raw("if [ ! -f"),
                            log_file(agent),
                            Raw("] || [ -L"),
                            log_file(agent),
                            Raw("]; then"),
                            cmd("rm", "-f", log_file(agent)),
                            Raw(";"),
                            Raw(":"),
                            Raw(">"),
                            log_file(agent),
                            Raw("; fi"),
                        )
                    ),
                    run("chown", f"{user}:{user}", log_file(agent)),
                    run("chmod", "0640", log_file(agent)),
                ),
            )
        )
    enable = setting(NAME, facts.rc_conf, f"{agent}_enable", "YES", why="starts at boot")
    if enable is not None:
        step.changes.append(enable)
    status = facts.probe("service.status")
    running = status is not None and status.rc == 0
    restart = any(w.path != newsyslog_conf(agent) for w in writes)
    if not running or restart:
        verb = "restart" if running else "start"
        step.changes.append(
            Change(
                NAME,
                f"{verb} agent {agent} (tmux session {agent}, as {user})"
                + (" because its script or settings changed" if running else ""),
                # start/restart exit codes are advisory; onestatus decides.
                ops=(
                    Run(either(cmd("service", agent, verb), Raw(":"))),
                    run("service", agent, "onestatus"),
                ),
            )
        )
    return step

"""A soul hub and two agent hosts for soul.sync's tests: real git over real SSH.

    hub (bare repository, user `git`, sshd)      reached by the operator directly
     ├── a  (user atlas, clone /home/atlas/soul)  reached through hub (ProxyJump)
     └── b  (user atlas, clone /home/atlas/soul)  reached through hub (ProxyJump)

The agent hosts sit behind the hub's network namespace, so their git reaches the
hub's sshd at its own address (a route via the link) with nothing changed in the
machine's own network. Each agent host gets a tmpfs on /home (the overlays do not
cover it), a real `atlas` user with its own SSH key, the hub's host key pinned in
~/.ssh/known_hosts, and a clone made as the soul step makes it: `git clone` of
the hub as atlas, origin = WARDEN_SOUL_REPO.
"""

from __future__ import annotations

import ipaddress
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.testhost import TestHost, TestNetwork, generate_key

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "souls" / "example"
AGENT = "atlas"
HUB_DIR = "/var/db/hub"
HUB_REPO = f"{HUB_DIR}/soul.git"
CLONE = f"/home/{AGENT}/soul"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "warden test",
    "GIT_AUTHOR_EMAIL": "test@warden.invalid",
    "GIT_COMMITTER_NAME": "warden test",
    "GIT_COMMITTER_EMAIL": "test@warden.invalid",
}


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), **GIT_ENV},
    )
    return done.stdout


@dataclass
class SoulHosts:
    hub: TestHost
    a: TestHost
    b: TestHost

    @property
    def url(self) -> str:
        return f"ssh://git@{self.hub.address}{HUB_REPO}"

    def hub_tip(self, branch: str = "main") -> str:
        return (
            self.hub.exec(["git", "--git-dir", HUB_REPO, "rev-parse", f"refs/heads/{branch}"])
            .stdout.decode()
            .strip()
        )

    def as_agent(self, host: TestHost, script: str) -> str:
        """Run sh *script* as atlas in its clone (how the agent itself works)."""
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in GIT_ENV.items())
        inner = f"cd {CLONE} && export {env} && {script}"
        return host.exec(["su", AGENT, "-c", inner]).stdout.decode()

    def head(self, host: TestHost) -> str:
        return self.as_agent(host, "git rev-parse HEAD").strip()

    def commit(self, host: TestHost, path: str, text: str, message: str) -> str:
        """Write *path* in the clone as atlas and commit it; the new HEAD."""
        quoted = shlex.quote(path)
        self.as_agent(
            host,
            f"mkdir -p \"$(dirname {quoted})\" && printf '%s' {shlex.quote(text)} > {quoted}"
            f" && git add -- {quoted} && git commit -q -m {shlex.quote(message)}",
        )
        return self.head(host)


def soul_hub(where: Path) -> Path:
    """A bare hub holding the example soul, on the operator's machine (the soul step's
    tests, which need no hub host)."""
    work, hub = where / "work", where / "atlas-soul.git"
    shutil.copytree(EXAMPLE, work)
    git = ["git", "-c", "user.name=op", "-c", "user.email=op@example.org"]
    for argv in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-q", "-m", "atlas's soul"],
    ):
        subprocess.run([*git, *argv], cwd=work, check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(hub)], check=True)
    return hub


def build(network: TestNetwork, workdir: Path) -> SoulHosts:
    """The three hosts, the hub seeded with souls/example, a clone on both agent hosts."""
    hub = network.host("hub", double=False)
    # the agent hosts have the FreeBSD double: warden runs git as the agent through
    # FreeBSD's chroot -u (setup/domains.py), which Debian's chroot does not have
    a = network.host("a", behind=hub)
    b = network.host("b", behind=hub)
    hosts = SoulHosts(hub, a, b)
    _seed_hub(hub, workdir)
    for host in (a, b):
        _agent_host(hosts, host, workdir)
    return hosts


def _seed_hub(hub: TestHost, workdir: Path) -> None:
    soul = workdir / "seed"
    shutil.copytree(EXAMPLE, soul)
    _git("init", "-q", "-b", "main", cwd=soul)
    _git("add", "-A", cwd=soul)
    _git("commit", "-q", "-m", "the example soul", cwd=soul)
    bare = workdir / "soul.git"
    _git("clone", "-q", "--bare", str(soul), str(bare), cwd=workdir)
    hub.exec(f"useradd -M -d {HUB_DIR} -s /bin/sh -p '*' git && mkdir -p {HUB_DIR}")
    archive = subprocess.run(
        ["tar", "-C", str(workdir), "-cf", "-", "soul.git"], capture_output=True, check=True
    ).stdout
    hub.exec(["tar", "-C", HUB_DIR, "-xf", "-"], input=archive)
    hub.exec(f"chown -R git:git {HUB_DIR}")


def _agent_host(hosts: SoulHosts, host: TestHost, workdir: Path) -> None:
    assert host.netns is not None
    link = str(ipaddress.ip_address(host.address) - 1)  # the hub's end of the /30
    subprocess.run(
        ["ip", "-n", host.netns, "route", "add", f"{hosts.hub.address}/32", "via", link],
        check=True,
        capture_output=True,
    )
    key = workdir / f"{host.name}_agent_key"
    public = generate_key(key)
    # the hub's sshd reads one authorized_keys file for every user
    hosts.hub.exec(f"printf '%s\\n' {shlex.quote(public)} >> /run/testhost/authorized_keys")
    host.exec("mount -t tmpfs -o mode=0755 tmpfs /home")
    host.exec(f"useradd -m -d /home/{AGENT} -s /bin/sh -p '*' {AGENT}")
    ssh = f"/home/{AGENT}/.ssh"
    host.write_file(f"{ssh}/id_ed25519", key.read_bytes(), 0o600)
    host.write_file(f"{ssh}/known_hosts", hosts.hub.host_key_line() + "\n", 0o644)
    host.exec(f"chown -R {AGENT}:{AGENT} {ssh} && chmod 700 {ssh}")
    home_env = f"HOME=/home/{AGENT}"
    ssh_cmd = "ssh -o BatchMode=yes -o StrictHostKeyChecking=yes"
    host.exec(
        [
            "su",
            AGENT,
            "-c",
            f"cd /home/{AGENT} && {home_env} GIT_SSH_COMMAND={shlex.quote(ssh_cmd)}"
            f" git clone -q --branch main {shlex.quote(hosts.url)} {CLONE}",
        ]
    )

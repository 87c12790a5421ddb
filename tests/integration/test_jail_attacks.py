"""Root inside a role jail attacks the host, on a test host whose jails are real: a
hostile configuration in the git jail's soul mirror, a link at the path the role's
files are placed at, a link swapped under the log `logs --role` reads, and a link at the
llama jail's mount point. None of them may make host root run, write, read or mount
anything the jail chose.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.site import operator_for, require_test_hosts
from tests.soulhub import soul_hub
from tests.testhost import TestNetwork

pytestmark = pytest.mark.slow

ROLES = (
    "WARDEN_ROLES=git,llama-cpp\nWARDEN_NAMESERVER=192.0.2.53\n"
    "WARDEN_LLAMA_MODEL=/var/db/llama/model.gguf\n"
)


class Site:
    def __init__(self, network: TestNetwork, home: Path) -> None:
        self.host = network.host("h1")
        self.host.write_file("/var/db/llama/model.gguf", "not really a model\n")
        self.operator = operator_for(home, self.host)
        self.hub = soul_hub(home.parent)
        soul = f"WARDEN_SOUL_REPO={self.hub}\nWARDEN_SOUL_REF=main\n"
        self.env = self.operator.env_file("atlas", "10.0.1", extra=ROLES + soul)
        first = self.setup()
        assert first.returncode == 0, first.stderr[-3000:] + first.stdout[-3000:]

    def setup(self) -> subprocess.CompletedProcess[str]:
        return self.operator.warden("setup", "--env", str(self.env), "--yes", timeout=600)

    def in_jail(self, jail: str, script: str, user: str = "root") -> str:
        result = self.host.exec(["jexec", "-l", "-U", user, jail, "/bin/sh", "-c", script])
        return result.stdout.decode()


@pytest.fixture(scope="module")
def site(client_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_test_hosts(network=True)
    with TestNetwork(client_key=client_key) as network:
        yield Site(network, tmp_path_factory.mktemp("attacks") / "home")


def hub_commit(site: Site, text: str) -> None:
    """The soul moves on at the hub (so the next setup fetches into the mirror)."""
    work = site.hub.parent / "work"
    (work / "USER.md").write_text(text)
    git = ["git", "-c", "user.name=op", "-c", "user.email=op@example.org"]
    subprocess.run([*git, "commit", "-q", "-am", "more"], cwd=work, check=True)
    subprocess.run(["git", "push", "-q", str(site.hub), "main"], cwd=work, check=True)


def test_a_hostile_mirror_configuration_runs_nothing_on_the_host(site: Site) -> None:
    mirror = "/srv/git/atlas-soul.git"
    # root in the git jail: an alternates file, and a command git runs for alternate refs
    site.in_jail(
        "atlasgit",
        f"git init -q --bare /srv/git/other.git && "
        f"echo /srv/git/other.git/objects > {mirror}/objects/info/alternates && "
        f"git --git-dir={mirror} config core.alternateRefsCommand "
        "'touch /var/db/warden/pwned; touch /tmp/pwned-in-the-jail; true'",
    )
    hub_commit(site, "# User\n\nMoved on.\n")
    result = site.setup()
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert "push" in result.stdout  # the mirror was fetched into again
    assert not site.host.exists("/var/db/warden/pwned")  # never host root's git
    assert not site.host.exists("/tmp/pwned-in-the-jail")


def test_a_link_at_the_path_of_the_roles_files_is_followed_only_inside_the_jail(
    site: Site,
) -> None:
    # Bastille's CP would copy from the host through this link into the host's /etc
    site.in_jail(
        "atlasgit",
        "rm -rf /usr/local/etc/warden && ln -s /etc /usr/local/etc/warden",
    )
    site.host.exec("rm -f /var/db/warden/jails/atlasgit.template.sha256")
    result = site.setup()
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert "apply the git template to jail atlasgit" in result.stdout
    assert not site.host.exists("/etc/sshd_config")  # the host's /etc got nothing
    assert "ListenAddress 10.0.1.2" in site.in_jail("atlasgit", "cat /etc/sshd_config")


def test_a_link_swapped_under_logs_role_never_reads_a_host_file(site: Site) -> None:
    mark = f"warden-canary-{secrets.token_hex(6)}"
    site.host.exec(f"umask 077; printf '%s\\n' {mark} > /root/canary")
    site.in_jail("atlasgit", "mkdir -p /var/log && ln -sfn /root/canary /var/log/auth.log")
    planted = site.operator.warden("logs", "--env", str(site.env), "--role", "git")
    assert mark not in planted.stdout + planted.stderr
    swapper = (
        "while :; do ln -sfn /root/canary /var/log/a.l && mv -f /var/log/a.l /var/log/auth.log;"
        " echo line > /var/log/a.f && mv -f /var/log/a.f /var/log/auth.log; done"
    )
    site.host.exec(f"nohup jexec -l atlasgit /bin/sh -c {swapper!r} >/dev/null 2>&1 & sleep 1")
    for _ in range(5):
        result = site.operator.warden("logs", "--env", str(site.env), "--role", "git")
        assert result.returncode in (0, 1, 3), result.stderr
        assert mark not in result.stdout + result.stderr


def test_a_link_at_the_llama_jails_mount_point_is_refused_by_jail_8_never_mounted(
    site: Site,
) -> None:
    # root in the llama jail turns the next mount point into a link to its (the host's) /
    site.host.write_file("/var/db/llama2/model.gguf", "another model\n")
    site.in_jail("atlasllamacpp", "ln -s / /var/db/llama2")
    env = site.env.read_text().replace("/var/db/llama/model.gguf", "/var/db/llama2/model.gguf")
    site.env.write_text(env)
    result = site.setup()
    assert result.returncode == 1, result.stdout[-3000:]
    assert "is a symbolic link" in result.stdout + result.stderr
    assert not site.host.exists("/model.gguf")  # nothing was mounted over the host's /
    assert site.host.exists("/etc/passwd")

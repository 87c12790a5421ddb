"""Role jails end to end on a test host whose jails are real enough: a thin-jail root
that jexec enters, a network namespace per VNET jail on a real warden0 bridge, and a
real PostgreSQL as the db jail's service (the FreeBSD commands are still the double).

Agent atlas gets db, git and cms jails and its soul (a hub repository on the operator's
machine); orion gets a db jail of its own; vega uses atlas's db jail (WARDEN_DB_AGENT).
Each setup runs twice and the second run must change nothing; the agent's DSN reaches
its database; the soul is cloned, mirrored and seeded; tearing orion down dumps its
brain first (the dump restores into a fresh PostgreSQL) and leaves atlas exactly as it
was; atlas cannot be torn down while vega uses its jail; tearing vega down dumps and
drops its database on atlas's server and takes it out of atlas's pg_hba.conf.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.site import agent_dsn, operator_for, require_test_hosts, setup_json, sh
from tests.soulhub import soul_hub
from tests.testhost import TestNetwork

pytestmark = pytest.mark.slow

ROLES = "WARDEN_ROLES=db,git,cms\nWARDEN_NAMESERVER=192.0.2.53\n"


class Site:
    def __init__(self, network: TestNetwork, home: Path) -> None:
        self.host = network.host("h1")
        self.operator = operator_for(home, self.host)
        self.hub = soul_hub(home.parent)
        soul = f"WARDEN_SOUL_REPO={self.hub}\nWARDEN_SOUL_REF=main\n"
        self.env = self.operator.env_file("atlas", "10.0.1", extra=ROLES + soul)
        self.first = setup_json(self.operator, self.env)
        self.second = setup_json(self.operator, self.env)
        orion_roles = "WARDEN_ROLES=db\nWARDEN_NAMESERVER=192.0.2.53\n"
        self.orion = self.operator.env_file("orion", "10.0.2", extra=orion_roles)
        self.orion_first = setup_json(self.operator, self.orion)
        self.orion_second = setup_json(self.operator, self.orion)
        vega_roles = "WARDEN_ROLES=db\nWARDEN_DB_AGENT=atlas\n"
        self.vega = self.operator.env_file("vega", "10.0.3", extra=vega_roles)
        self.vega_first = setup_json(self.operator, self.vega)
        self.vega_second = setup_json(self.operator, self.vega)
        self.atlas_after_vega = setup_json(self.operator, self.env)


@pytest.fixture(scope="module")
def site(client_key: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_test_hosts(network=True)
    with TestNetwork(client_key=client_key) as network:
        yield Site(network, tmp_path_factory.mktemp("jails") / "home")


def test_a_second_setup_with_three_role_jails_changes_nothing(site: Site) -> None:
    applied = {s["step"] for s in site.first["applied"]}
    assert {"db", "git", "cms", "soul"} <= applied
    assert site.second["change_count"] == 0 and site.second["applied"] == [], site.second
    assert site.orion_second["change_count"] == 0, site.orion_second


def test_the_soul_is_cloned_at_the_hubs_commit_mirrored_and_seeded(site: Site) -> None:
    commit = subprocess.run(
        ["git", "-C", str(site.hub), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # as root on the agent's clone: git wants the directory named safe
    head = sh(
        site.host, "git -c safe.directory=/home/atlas/soul -C /home/atlas/soul rev-parse HEAD"
    )
    head = head.strip()
    assert head == commit
    assert sh(site.host, "stat -c %U /home/atlas/soul").strip() == "atlas"
    assert site.host.exists("/home/atlas/CLAUDE.md")
    mirror = "/usr/local/bastille/jails/atlasgit/root/srv/git/atlas-soul.git"
    assert commit in sh(site.host, f"git --git-dir={mirror} rev-list --all")
    skills_dsn = agent_dsn(site).replace("/atlas_brain", "/system_skills")
    rows = sh(site.host, f"psql -X -A -t {skills_dsn!r} -c 'select path from soul_skills'")
    assert sorted(rows.split()) == [
        "skills/daily-review/SKILL.md",
        "skills/freebsd-jail-check/SKILL.md",
    ]


def test_each_jail_runs_with_its_address_and_the_agents_gateway(site: Site) -> None:
    for jail, ip in (("atlasdb", "10.0.1.5"), ("atlasgit", "10.0.1.2"), ("atlascms", "10.0.1.3")):
        sh(site.host, f"jls -j {jail} jid")
        rc = f"/usr/local/bastille/jails/{jail}/root/etc/rc.conf"
        assert sh(site.host, f"sysrc -f {rc} -n ifconfig_vnet0").strip() == f"inet {ip}/24"
        assert sh(site.host, f"sysrc -f {rc} -n defaultrouter").strip() == "10.0.1.1"
    hosts = site.host.read_file("/etc/hosts").decode()
    assert "10.0.1.5\tdb.atlas.home.arpa atlasdb" in hosts


def test_the_agents_dsn_reaches_its_own_database_and_no_other(site: Site) -> None:
    dsn = agent_dsn(site)
    assert dsn.startswith("postgresql://atlas:") and dsn.endswith("@10.0.1.5:5432/atlas_brain")
    mode = sh(site.host, "ls -ln /usr/local/etc/warden/agents/atlas/credentials").split()[0]
    assert mode == "-rw-------"
    query = "select current_user, current_database()"
    out = sh(site.host, f"psql -X -A -t {dsn!r} -c {query!r}")
    assert out.strip() == "atlas|atlas_brain"
    other = site.host.exec(
        f"psql -X -A -t {dsn.replace('atlas_brain', 'postgres')!r} -c 'select 1'", check=False
    )
    assert other.returncode != 0, "the agent reaches only its own and the shared databases"


def test_the_git_jail_has_the_soul_mirror_and_pins_its_host_key(site: Site) -> None:
    root = "/usr/local/bastille/jails/atlasgit/root"
    assert site.host.exists(f"{root}/srv/git/atlas-soul.git/HEAD")
    key = site.host.read_file(f"{root}/etc/ssh/ssh_host_ed25519_key.pub").decode().split()[1]
    known = site.host.read_file("/home/atlas/.ssh/known_hosts").decode()
    assert f"git.atlas.home.arpa,10.0.1.2 ssh-ed25519 {key}" in known
    allowed = site.host.read_file(f"{root}/srv/git/.ssh/authorized_keys").decode()
    agent_key = site.host.read_file("/home/atlas/.ssh/id_ed25519.pub").decode()
    assert allowed == "restrict " + agent_key


def test_the_agent_reads_its_soul_mirror_over_ssh_from_the_git_jails_real_sshd(
    site: Site,
) -> None:
    commit = subprocess.run(
        ["git", "-C", str(site.hub), "rev-parse", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the agent's own key, its ~/.ssh/config Host entry and the pinned jail key:
    # BatchMode, so an unknown key or a password prompt fails instead of waiting
    ls_remote = "GIT_SSH_COMMAND='ssh -o BatchMode=yes' git ls-remote "
    listed = sh(
        site.host,
        "su -l atlas -c " + shlex.quote(ls_remote + "git.atlas.home.arpa:atlas-soul.git"),
    )
    assert f"{commit}\trefs/heads/main" in listed
    shell = site.host.exec(
        "su -l atlas -c 'ssh -o BatchMode=yes git.atlas.home.arpa id'", check=False
    )
    assert shell.returncode != 0 and b"uid=" not in shell.stdout, "git-shell runs git only"
    root = site.host.exec(
        "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        "root@10.0.1.2 true",
        check=False,
    )
    assert root.returncode != 0, "only the agent's key, as git"


def test_status_reports_every_jail_and_its_service_healthy(site: Site) -> None:
    result = site.operator.warden("status", "--env", str(site.env), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["check"]: c for c in json.loads(result.stdout)["hosts"][0]["agents"][0]["checks"]}
    for name in ("jail atlasdb", "db service", "jail atlasgit", "git service", "cms service"):
        assert checks[name]["ok"], checks[name]


def fresh_postgres_restore(dump: Path, tmp_path: Path) -> str:
    """Restore into a throwaway PostgreSQL (initdb as postgres, a socket only) and read
    back the agent's memory."""
    data, sock = tmp_path / "data", tmp_path / "sock"
    for path in (tmp_path, data, sock):
        path.mkdir(exist_ok=True)
        subprocess.run(["chown", "postgres:postgres", str(path)], check=True)
    dump.chmod(0o644)
    bin_dir = Path("/usr/lib/postgresql/15/bin")

    def as_postgres(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True, check=False
        )

    assert (
        as_postgres(str(bin_dir / "initdb"), "-A", "trust", "--no-sync", "-D", str(data)).returncode
        == 0
    )
    opts = f"-c listen_addresses='' -k {sock} -c fsync=off"
    # -l: the server's output goes to a file, not to the pipes this test reads to the end
    log = str(tmp_path / "server.log")
    started = as_postgres(
        str(bin_dir / "pg_ctl"), "-D", str(data), "-l", log, "-o", opts, "-w", "start"
    )
    assert started.returncode == 0, started.stderr
    try:
        assert as_postgres(str(bin_dir / "createdb"), "-h", str(sock), "restored").returncode == 0
        restored = as_postgres(
            str(bin_dir / "pg_restore"),
            "-h",
            str(sock),
            "-d",
            "restored",
            "--no-owner",
            "--no-privileges",
            str(dump),
        )
        assert restored.returncode == 0, restored.stderr
        read = as_postgres(
            str(bin_dir / "psql"),
            "-X",
            "-A",
            "-t",
            "-h",
            str(sock),
            "-d",
            "restored",
            "-c",
            "select note from memory",
        )
        assert read.returncode == 0, read.stderr
        return read.stdout.strip()
    finally:
        as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")


def atlas_status(site: Site) -> list[dict[str, Any]]:
    result = site.operator.warden("status", "--env", str(site.env), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks: list[dict[str, Any]] = json.loads(result.stdout)["hosts"][0]["agents"][0]["checks"]
    return checks


def teardown_with_a_memory(site: Site, agent: str, env: Path, note: str) -> list[dict[str, Any]]:
    """The agent writes a memory, then is torn down; atlas's status from before."""
    dsn = agent_dsn(site, agent)
    write = f"create table memory (note text); insert into memory values ('{note}')"
    sh(site.host, f"psql -X -q {dsn!r} -c {write!r}")
    before = atlas_status(site)
    result = site.operator.warden("teardown", "--env", str(env), "--yes", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return before


def test_teardown_of_orion_dumps_its_brain_first_and_leaves_atlas_as_it_was(site: Site) -> None:
    before = teardown_with_a_memory(site, "orion", site.orion, "the backup window")
    dumps = sh(site.host, "ls /var/db/warden/dumps").split()
    (dump,) = dumps
    assert dump.startswith("orion_brain-") and dump.endswith(".dump")
    jails = sh(site.host, "bastille list jails").split()
    assert "oriondb" not in jails and {"atlasdb", "atlasgit", "atlascms"} <= set(jails)
    assert not site.host.exists("/var/db/warden/agents/orion.json")
    assert not site.host.exists("/usr/local/etc/warden/secrets/orion")
    assert "10.0.2.0/24" not in site.host.read_file("/etc/pf.warden.conf").decode()
    assert_atlas_unchanged(site, before)
    assert restored_memory(site, dump) == "the backup window"


def assert_atlas_unchanged(site: Site, before: list[dict[str, Any]]) -> None:
    """atlas's status as it was, and its next setup plans nothing."""
    assert atlas_status(site) == before
    again = setup_json(site.operator, site.env)
    assert again["change_count"] == 0, again


def restored_memory(site: Site, dump: str) -> str:
    """The dump restored into a fresh PostgreSQL on this machine: its memory table."""
    # pytest's tmp_path is root's (0700): the postgres user needs a directory of its own
    work = Path(tempfile.mkdtemp(prefix="warden-restore-"))
    try:
        work.chmod(0o755)
        local = work / dump
        local.write_bytes(site.host.read_file(f"/var/db/warden/dumps/{dump}"))
        return fresh_postgres_restore(local, work / "pg")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_vega_uses_atlass_db_jail_and_neither_role_opens_the_others_brain(site: Site) -> None:
    assert site.vega_second["change_count"] == 0, site.vega_second
    # atlas's own run computes the same pg_hba.conf, with vega in it
    assert site.atlas_after_vega["change_count"] == 0, site.atlas_after_vega
    assert "vegadb" not in sh(site.host, "bastille list jails").split()
    vega = agent_dsn(site, "vega")
    assert vega.startswith("postgresql://vega:") and vega.endswith("@10.0.1.5:5432/vega_brain")
    query = "select current_user, current_database()"
    assert sh(site.host, f"psql -X -A -t {vega!r} -c {query!r}").strip() == "vega|vega_brain"
    atlas = agent_dsn(site)
    for dsn, other in ((vega, "atlas_brain"), (atlas, "vega_brain")):
        mine = dsn.rsplit("/", 1)[1]
        refused = site.host.exec(f"psql -X {dsn.replace(mine, other)!r} -c 'select 1'", check=False)
        assert refused.returncode != 0, f"{dsn.split('@')[0]} opened {other}"
    include = site.host.read_file("/etc/pf.warden.conf").decode()
    assert (
        "pass in quick on $warden_if inet proto tcp from 10.0.3.0/24 to 10.0.1.5 port 5432"
        in include
    )
    entry = json.loads(site.host.read_file("/var/db/warden/agents/vega.json"))
    assert entry["borrows"] == {"db": "atlas"} and entry["jails"] == {}
    status = site.operator.warden("status", "--env", str(site.vega), "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    checks = json.loads(status.stdout)["hosts"][0]["agents"][0]["checks"]
    assert {"check": "db service", "ok": True,
            "detail": "postgresql running in atlas's jail atlasdb"} in checks  # fmt: skip


def test_atlas_cannot_be_torn_down_while_vega_uses_its_db_jail(site: Site) -> None:
    result = site.operator.warden("teardown", "--env", str(site.env), "--yes", timeout=600)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "vega uses its db jail" in result.stdout + result.stderr
    assert "atlasdb" in sh(site.host, "bastille list jails").split()


def in_atlasdb(site: Site, query: str, database: str = "postgres") -> str:
    return sh(site.host, f"jexec -l -U postgres atlasdb psql -X -A -t -d {database} -c {query!r}")


def test_teardown_of_vega_dumps_then_drops_its_database_on_atlass_server(site: Site) -> None:
    before = teardown_with_a_memory(site, "vega", site.vega, "vega was here")
    dumps = [d for d in sh(site.host, "ls /var/db/warden/dumps").split() if d.startswith("vega")]
    (dump,) = dumps
    assert "vega_brain" not in in_atlasdb(site, "select datname from pg_database").split()
    assert in_atlasdb(site, "select count(*) from pg_roles where rolname = 'vega'") == "0\n"
    hba = site.host.read_file(
        "/usr/local/bastille/jails/atlasdb/root/usr/local/etc/warden/pg_hba.conf"
    ).decode()
    assert "vega" not in hba and "atlas_brain" in hba
    assert "10.0.3.0/24" not in site.host.read_file("/etc/pf.warden.conf").decode()
    assert_atlas_unchanged(site, before)
    assert restored_memory(site, dump) == "vega was here"

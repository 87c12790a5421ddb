"""`invoke ansible.inventory`: warden's agents as an Ansible inventory, and no secret in it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from setup import ansible_inventory as inv
from setup.config import load_config
from setup.errors import Refused
from setup.registry import RegistryEntry

ROOT = Path(__file__).resolve().parents[2]
SECRETS = "/usr/local/etc/warden/secrets/atlas"  # README: State on the host
ANSIBLE_BIN = ROOT / ".venv-ansible" / "bin"
ATLAS = (
    "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_HOST=root@web1.example.org:2222\n"
    "WARDEN_ROLES=db,git,llama-cpp\nWARDEN_LLAMA_MODEL=/var/db/llama/m.gguf\n"
    "WARDEN_SOUL_REPO=https://git.example.org/atlas/soul.git\n"
)
ORION_ENTRY = RegistryEntry(
    agent="orion",
    subnet="10.0.2.0/24",
    gateway="10.0.2.1",
    alias_index=1,
    runtime="jail",
    roles=["git"],
    jails={"git": "oriongit"},
    addresses={"git": "10.0.2.2"},
    agent_user="orion",
    uid=2002,
    toolkit_version="0.1.0",
    config_digest="0" * 64,
)


def env_file(tmp_path: Path, text: str = ATLAS, name: str = "atlas.env") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def atlas(tmp_path: Path) -> inv.AgentRecord:
    return inv.AgentRecord.from_config(load_config(env_file(tmp_path)))


def orion() -> inv.AgentRecord:
    return inv.AgentRecord.from_entry("web1.example.org", ORION_ENTRY)


def walk_keys(data: Any) -> list[str]:
    if isinstance(data, dict):
        return [str(k) for k in data] + [k for v in data.values() for k in walk_keys(v)]
    if isinstance(data, list):
        return [k for v in data for k in walk_keys(v)]
    return []


def test_an_agent_from_its_env_becomes_one_host_with_its_db_names_and_one_group_per_role(
    tmp_path: Path,
) -> None:
    data = yaml.safe_load(inv.render([atlas(tmp_path)]))
    assert data == {
        "all": {
            "children": {
                "warden_agents": {
                    "hosts": {
                        "atlas": {
                            "ansible_host": "web1.example.org",
                            "ansible_user": "root",
                            "ansible_port": 2222,
                            "warden_target": "root@web1.example.org:2222",
                            "warden_agent": "atlas",
                            "warden_agent_user": "atlas",
                            "warden_runtime": "jail",
                            "warden_subnet": "10.0.1.0/24",
                            "warden_gateway": "10.0.1.1",
                            "warden_roles": ["db", "git", "llama-cpp"],
                            "warden_jails": {
                                "db": "atlasdb",
                                "git": "atlasgit",
                                "llama-cpp": "atlasllamacpp",
                            },
                            "warden_addresses": {
                                "db": "10.0.1.5",
                                "git": "10.0.1.2",
                                "llama-cpp": "10.0.1.4",
                            },
                            "warden_db_jail": "atlasdb",
                            "warden_db_address": "10.0.1.5",
                            "warden_db_port": 5432,
                            "warden_db_admin_role": "warden",
                            "warden_db_role": "atlas",
                            "warden_db_brain": "atlas_brain",
                            "warden_db_shared": ["system_ops", "system_brain", "system_skills"],
                            "warden_db_admin_secret": f"{SECRETS}/pg-admin",
                            "warden_db_agent_secret": f"{SECRETS}/pg-agent",
                        }
                    }
                },
                "warden_role_db": {"hosts": {"atlas": {}}},
                "warden_role_git": {"hosts": {"atlas": {}}},
                "warden_role_llama_cpp": {"hosts": {"atlas": {}}},
            }
        }
    }


def test_agents_from_a_registry_and_an_env_are_sorted_and_grouped_together(
    tmp_path: Path,
) -> None:
    data = inv.build_inventory([orion(), atlas(tmp_path)])
    children = data["all"]["children"]
    assert list(children["warden_agents"]["hosts"]) == ["atlas", "orion"]
    assert children["warden_role_git"]["hosts"] == {"atlas": {}, "orion": {}}
    assert children["warden_role_db"]["hosts"] == {"atlas": {}}
    orion_vars = children["warden_agents"]["hosts"]["orion"]
    assert orion_vars["ansible_host"] == "web1.example.org"
    assert "ansible_user" not in orion_vars and "ansible_port" not in orion_vars
    assert not any(key.startswith("warden_db_") for key in orion_vars), "orion has no db jail"


def test_the_inventory_holds_no_password_and_no_soul_url(tmp_path: Path) -> None:
    text = inv.render([atlas(tmp_path), orion()])
    keys = walk_keys(yaml.safe_load(text))
    assert not [k for k in keys if "password" in k.lower() or "dsn" in k.lower()]
    assert "git.example.org" not in text
    assert "DATABASE_URL" not in text and "postgresql://" not in text


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("local", {"ansible_connection": "local"}),
        ("web1", {"ansible_host": "web1"}),
        ("admin@10.0.0.7", {"ansible_host": "10.0.0.7", "ansible_user": "admin"}),
        ("web1:2200", {"ansible_host": "web1", "ansible_port": 2200}),
        ("[2001:db8::5]:22", {"ansible_host": "2001:db8::5", "ansible_port": 22}),
        ("root@2001:db8::5", {"ansible_host": "2001:db8::5", "ansible_user": "root"}),
    ],
)
def test_each_kind_of_warden_target_becomes_ansible_connection_variables(
    target: str, expected: dict[str, Any]
) -> None:
    assert inv.connection_vars(target) == expected


def test_the_same_agent_on_two_hosts_is_refused_naming_both(tmp_path: Path) -> None:
    other = inv.AgentRecord.from_entry("web2", ORION_ENTRY)
    with pytest.raises(Refused, match=r"orion is on web1\.example\.org .* and on web2") as info:
        inv.build_inventory([orion(), other])
    assert info.value.exit_code == 2


def test_the_same_agent_from_its_env_and_its_hosts_registry_is_one_host(tmp_path: Path) -> None:
    from_env = atlas(tmp_path)
    from_registry = inv.AgentRecord(**{**from_env.__dict__, "origin": "registry"})
    hosts = inv.build_inventory([from_env, from_registry])["all"]["children"]["warden_agents"]
    assert list(hosts["hosts"]) == ["atlas"]


def test_every_scalar_is_quoted_so_yaml_reads_back_strings_not_numbers_or_booleans() -> None:
    data = {"a": {"version": "17", "flag": "yes", "n": 5, "b": True, "empty": {}, "l": ["1.0"]}}
    assert yaml.safe_load(inv.to_yaml(data)) == data


def invoke(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(ROOT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_invoke_ansible_inventory_writes_the_file_it_is_given(tmp_path: Path) -> None:
    env = env_file(tmp_path)
    out = tmp_path / "inventory.yml"
    result = invoke("ansible.inventory", "--env", str(env), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert yaml.safe_load(out.read_text()) == yaml.safe_load(inv.render([atlas(tmp_path)]))
    assert out.stat().st_mode & 0o777 == 0o644


def test_a_bad_env_exits_2_naming_the_file_and_key_and_writes_nothing(tmp_path: Path) -> None:
    env = env_file(tmp_path, "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=8.8.8\n")
    out = tmp_path / "inventory.yml"
    result = invoke("ansible.inventory", "--env", str(env), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert "atlas.env" in result.stderr and "AGENT_SUBNET_BASE='8.8.8'" in result.stderr
    assert not out.exists()


def test_an_unreachable_host_exits_3_and_no_partial_inventory_is_written(tmp_path: Path) -> None:
    env = env_file(tmp_path)
    out = tmp_path / "inventory.yml"
    result = invoke(
        "ansible.inventory", "--env", str(env), "--host", "127.0.0.1:1", "--out", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "no inventory written" in result.stderr and "127.0.0.1" in result.stderr
    assert not out.exists()


def test_ansible_inventory_reads_the_export_as_the_same_hosts_groups_and_variables(
    tmp_path: Path,
) -> None:
    tool = ANSIBLE_BIN / "ansible-inventory"
    if not tool.exists():
        pytest.fail(f"{tool} missing: bash .ci/install creates .venv-ansible", pytrace=False)
    path = tmp_path / "inventory.yml"
    path.write_text(inv.render([atlas(tmp_path), orion()]), encoding="utf-8")
    result = subprocess.run(
        [str(tool), "-i", str(path), "--list"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": f"{ANSIBLE_BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    listed = json.loads(result.stdout)
    hostvars = listed["_meta"]["hostvars"]
    expected = inv.build_inventory([atlas(tmp_path), orion()])["all"]["children"]
    assert hostvars == expected["warden_agents"]["hosts"]
    assert listed["warden_role_db"]["hosts"] == ["atlas"]
    assert listed["warden_role_git"]["hosts"] == ["atlas", "orion"]
    assert listed["warden_role_llama_cpp"]["hosts"] == ["atlas"]

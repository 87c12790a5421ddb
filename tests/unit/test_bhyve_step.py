"""The bhyve step's plan (facts in, changes out), the pin, and the double's `vm`."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from setup.config import AgentConfig, load_config
from setup.errors import Refused
from setup.facts import Facts, Interface, Section, fresh_host
from setup.steps import bhyve
from setup.vm import GuestSecrets, generate_key, host_pub_path, pin
from tests.double import install

ENV = "AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_RUNTIME=bhyve\nWARDEN_ROLES=none\n"
OPERATOR_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK+MH4E8KO32N5CXRvXVqvyZVl0+6ue4DobdhU0FqFd+ op"


def agent(tmp_path: Path, text: str = ENV) -> AgentConfig:
    env = tmp_path / ".env"
    env.write_text(text + "WARDEN_AGENT_COMMAND=/bin/sh\n")
    return load_config(env)


def host_with_bridge(**changes: object) -> Facts:
    facts = replace(fresh_host("h1"), assumed=False)
    bridge = Interface("warden0", ("UP",), (ipaddress.IPv4Interface("10.0.1.1/24"),))
    return replace(facts, interfaces={**facts.interfaces, "warden0": bridge}, **changes)  # type: ignore[arg-type]


def probe(text: str) -> dict[str, Section]:
    return {bhyve.PROBE: Section(text, 0)}


def test_a_fresh_host_gets_vm_bhyve_a_switch_on_warden0_and_a_guest_made_with_user_data(
    tmp_path: Path,
) -> None:
    config = agent(tmp_path)
    secrets = GuestSecrets(generate_key("atlas"), (OPERATOR_KEY,))
    facts = host_with_bridge().with_extra(bhyve.NAME, secrets)
    step = bhyve.plan(config, facts)
    assert step.refusals == []
    commands = "\n".join(c.sh() for c in step.changes)
    assert "pkg install -y vm-bhyve bhyve-firmware qemu-tools" in commands
    assert "vm switch create -t manual -b warden0 warden" in commands
    assert "vm create -t warden-atlas -s 20G -c 2 -m 4G" in commands and " -C -u " in commands
    assert " -n " not in commands
    assert "sysrc vm_list+=atlas" in commands and "vm start atlas" in commands
    create = next(c for c in step.changes if c.summary.startswith("create the guest"))
    staged = next(f for f in create.files if f.path.endswith("vm-user-data"))
    assert staged.secret and staged.mode == 0o600
    data = yaml.safe_load(staged.content)
    vtnet0 = data["network"]["ethernets"]["vtnet0"]
    assert vtnet0 == {
        "addresses": ["10.0.1.10/24"],
        "gateway4": "10.0.1.1",
        "nameservers": {"addresses": ["192.0.2.1"]},
    }
    assert data["ssh_pwauth"] is False and "default" not in data["users"]
    assert data["users"] == [{"name": "root", "ssh_authorized_keys": [OPERATOR_KEY]}]
    assert data["ssh_keys"]["ed25519_private"] == secrets.key.private
    # The private key never shows: not in the plan's JSON, not in a rendered script.
    shown = json.dumps([c.to_json() for c in step.changes]) + create.sh(redact=True)
    assert "PRIVATE KEY" not in shown and "PRIVATE KEY" not in repr(secrets)


def right_host(config: AgentConfig) -> Facts:
    template = bhyve.render(
        "vm-bhyve/template.conf.j2", agent="atlas", cpus=2, memory="4G", disk="20G",
        switch="warden",
    )  # fmt: skip
    text = (
        "dir /usr/local/vm\nhas .config\nhas .templates\nhas .img\n"
        "image FreeBSD-14.3-RELEASE-amd64-BASIC-CLOUDINIT-ufs.raw\nguest yes\n"
        "mode .cloud-init drwx------ 0\nmode .cloud-init/user-data -rw------- 0\n"
        "mode seed.iso -rw------- 0\nswitch warden manual warden0\n"
        "list atlas  default  uefi  2  4G  -  Yes [1]  Running (4242)\n"
        f"@@template\n{template}"
    )
    return host_with_bridge(
        packages={"vm-bhyve": True, "bhyve-firmware": True, "qemu-tools": True},
        modules={"vmm": True, "nmdm": True},
        rc_conf={"vm_enable": "YES", "vm_dir": "/usr/local/vm", "vm_list": "atlas"},
        probes=probe(text),
        files={host_pub_path("atlas"): generate_key("atlas").public + "\n"},
    )


def test_a_host_whose_guest_is_already_right_plans_nothing(tmp_path: Path) -> None:
    config = agent(tmp_path)
    step = bhyve.plan(config, right_host(config))
    assert step.refusals == [] and step.changes == []


def test_a_stopped_guest_is_started_and_vm_start_on_a_running_one_is_not_an_error(
    tmp_path: Path,
) -> None:
    config = agent(tmp_path)
    facts = right_host(config)
    section = facts.probes[bhyve.PROBE]
    stopped = section.output.replace("Running (4242)", "Stopped")
    step = bhyve.plan(config, replace(facts, probes=probe(stopped)))
    assert [c.summary for c in step.changes] == ["start the guest atlas at 10.0.1.10"]
    assert "|| vm list" in step.changes[0].sh()


def test_role_jails_in_a_vm_are_refused_naming_the_key(tmp_path: Path) -> None:
    config = agent(tmp_path, ENV.replace("WARDEN_ROLES=none", "WARDEN_ROLES=db"))
    step = bhyve.plan(config, host_with_bridge())
    assert [r.code for r in step.refusals] == ["bhyve.roles-in-vm"]
    assert "WARDEN_ROLES=none" in step.refusals[0]


def test_a_guest_warden_did_not_create_is_refused(tmp_path: Path) -> None:
    config = agent(tmp_path)
    facts = right_host(config)
    step = bhyve.plan(config, replace(facts, files={}))
    assert "bhyve.guest-not-warden" in [r.code for r in step.refusals]


def test_a_jail_agent_plans_nothing_in_the_bhyve_step(tmp_path: Path) -> None:
    config = agent(tmp_path, ENV.replace("WARDEN_RUNTIME=bhyve\n", ""))
    assert bhyve.plan(config, host_with_bridge()).changes == []
    assert bhyve.probes(config) == {} and bhyve.packages(config) == []


def test_the_pin_is_written_once_and_another_key_for_that_address_is_refused(
    tmp_path: Path,
) -> None:
    known = tmp_path / "known_hosts"
    key = generate_key("atlas").public
    assert pin(str(known), "10.0.1.10", key) is True
    assert pin(str(known), "10.0.1.10", key) is False
    assert known.read_text().count("10.0.1.10 ssh-ed25519 ") == 1
    with pytest.raises(Refused, match=r"ssh-keygen -R 10\.0\.1\.10"):
        pin(str(known), "10.0.1.10", generate_key("atlas").public)


@pytest.fixture
def vm(tmp_path: Path) -> install.Run:
    run = install.runner(tmp_path / "state", tmp_path / "root")
    install.seed_state(tmp_path / "state", {"packages": {"vm-bhyve": "1.7.5"}})
    (tmp_path / "root/etc").mkdir(parents=True)
    (tmp_path / "root/usr/local/vm").mkdir(parents=True)
    (tmp_path / "root/etc/rc.conf").write_text('vm_dir="/usr/local/vm"\n')
    assert run("vm", "init").returncode == 0
    (tmp_path / "root/usr/local/vm/.templates/t.conf").write_text(
        'loader="uefi"\ncpu=1\nmemory=1G\ndisk0_type="virtio-blk"\ndisk0_name="disk0.img"\n'
        'disk0_dev="file"\n'
    )
    return run


def test_the_double_refuses_a_second_start_and_a_second_create_as_vm_bhyve_does(
    vm: install.Run,
) -> None:
    assert vm("vm", "create", "-t", "t", "-s", "1G", "g1").returncode == 0
    again = vm("vm", "create", "-t", "t", "g1")
    assert again.returncode == 1 and "virtual machine already exists" in again.stderr
    assert vm("vm", "start", "g1").returncode == 0
    second = vm("vm", "start", "g1")
    assert second.returncode == 1
    assert "  ! guest appears to be running already" in second.stdout
    assert "Running (" in vm("vm", "list").stdout


def test_the_double_checks_names_and_exits_64_on_what_it_does_not_model(vm: install.Run) -> None:
    bad = vm("vm", "create", "-t", "t", "-bad")
    assert bad.returncode == 64  # getopt: -b is no option of create
    assert vm("vm", "create", "-t", "t", "x").returncode == 1  # one character: invalid
    assert vm("vm", "create", "-n", "ip=10.0.0.2/24", "g2").returncode == 64
    assert vm("vm", "destroy", "g2").returncode == 64

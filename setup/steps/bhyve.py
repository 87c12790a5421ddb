"""bhyve: the agent's own VM (WARDEN_RUNTIME=bhyve), made on the host with vm-bhyve.

The session it replaces (ref §3):
    pkg install vm-bhyve bhyve-firmware qemu-tools
    sysrc vm_enable=YES vm_dir=/usr/local/vm; mkdir -p /usr/local/vm; vm init
    vm switch create -t manual -b warden0 warden
    vm img https://download.freebsd.org/.../FreeBSD-14.3-RELEASE-amd64-BASIC-CLOUDINIT-ufs.raw.xz
    vi /usr/local/vm/.templates/warden-atlas.conf; vi user-data
    vm create -t warden-atlas -s 20G -c 2 -m 4G -i FreeBSD-...-ufs.raw -C -u user-data atlas
    sysrc vm_list+=atlas; vm start atlas
The guest sits at WARDEN_VM_IP on warden0 (a manual switch: the bridge stays the
network step's), its gateway is the agent's .1, and its cloud-init user-data (`-u`:
FreeBSD's nuageinit needs vtnet0 and gateway4, which `-n` does not write) gives root
the operator's keys, turns password logins off and installs the SSH host key warden
made, pinned in the operator's known_hosts before the first boot (setup/vm.py).
`vm start` on a running guest exits 1, so the guest's state is read first.
"""

from __future__ import annotations

import ipaddress
import re

from .. import jail
from ..command import Raw, cmd
from ..config import AgentConfig
from ..errors import Refusal
from ..facts import Facts, Probe
from ..layout import BRIDGE, DEFAULT_VM_DIR, secrets_dir
from ..ops import Put, Run, both, directory, either, put, run, sysrc_add
from ..plan import Change, StepPlan, install
from ..rcconf import setting
from ..releases import jail_release
from ..render import render
from ..shell import q
from ..vm import GuestSecrets, guest_key, host_key_path, host_pub_path, operator_keys

NAME = "bhyve"
SWITCH = "warden"
PROBE = "bhyve.vm"
# vm-util util::check_name
_VM_NAME = re.compile(r"[a-z0-9][.a-z0-9_-]{0,229}[a-z0-9]", re.IGNORECASE)
IMAGE_URL = "https://download.freebsd.org/releases/VM-IMAGES/{release}/amd64/Latest/{image}.xz"


def vm_name(config: AgentConfig) -> str:
    """The guest is named after its agent (`vm start atlas`)."""
    return config.agent_name


def template_name(config: AgentConfig) -> str:
    return f"warden-{config.agent_name}"


def image_name(release: str) -> str:
    """FreeBSD's cloud-init VM image (nuageinit, sshd enabled) [name per the release's
    VM-IMAGES folder: unconfirmed for releases before 14.2]."""
    return f"FreeBSD-{release}-amd64-BASIC-CLOUDINIT-ufs.raw"


def user_data_path(config: AgentConfig) -> str:
    """Where the user-data waits for `vm create -u` (removed right after)."""
    return f"{secrets_dir(config.agent_name)}/vm-user-data"


def packages(config: AgentConfig) -> list[str]:
    """vm-bhyve, UEFI firmware for the guest, qemu-img for `vm create -i` (ref §3.1)."""
    return ["vm-bhyve", "bhyve-firmware", "qemu-tools"] if config.runtime == "bhyve" else []


def files(config: AgentConfig) -> list[str]:
    """The public half of the guest's host key (the private half is never read back
    with the facts)."""
    return [host_pub_path(config.agent_name)] if config.runtime == "bhyve" else []


def probes(config: AgentConfig) -> dict[str, Probe]:
    """The datastore ($vm_dir, resolved for zfs:), its folders, the image, the guest,
    the modes of its cloud-init files, the switches, the guest's row of `vm list`, and
    warden's template (last, framed)."""
    if config.runtime != "bhyve":
        return {}
    name = q(vm_name(config))
    script = f"""vm_dir=$(sysrc -n vm_dir 2>/dev/null) || vm_dir=
case "$vm_dir" in
    zfs:*) vm_dir=$(zfs get -H -o value mountpoint "${{vm_dir#zfs:}}" 2>/dev/null) || vm_dir= ;;
esac
echo "dir $vm_dir"
if [ -n "$vm_dir" ] && [ -d "$vm_dir" ]; then
    for d in .config .templates .img; do if [ -d "$vm_dir/$d" ]; then echo "has $d"; fi; done
    for f in "$vm_dir"/.img/*; do if [ -f "$f" ]; then echo "image ${{f##*/}}"; fi; done
    if [ -f "$vm_dir"/{name}/{name}.conf ]; then echo "guest yes"; fi
    for f in .cloud-init .cloud-init/user-data seed.iso; do
        if [ -e "$vm_dir"/{name}/"$f" ]; then
            echo "mode $f $(ls -ldn "$vm_dir"/{name}/"$f" | awk '{{print $1, $3}}')"
        fi
    done
    if [ -d "$vm_dir/.config" ] && command -v vm >/dev/null 2>&1; then
        vm switch list | awk 'NR > 1 {{print "switch", $1, $2, $3}}'
        vm list | awk -v n={name} 'NR > 1 && $1 == n {{print "list", $0}}'
    fi
    if [ -f "$vm_dir"/.templates/{q(template_name(config) + ".conf")} ]; then
        echo "@@template"; cat "$vm_dir"/.templates/{q(template_name(config) + ".conf")}
    fi
fi"""
    return {PROBE: Probe(script)}


class VmState:
    """The probe's answer, parsed."""

    def __init__(self, facts: Facts) -> None:
        section = facts.probe(PROBE)
        text = section.output if section is not None else ""
        head, _, template = text.partition("@@template\n")
        self.template: str | None = template if "@@template\n" in text else None
        self.dir = ""
        self.has: set[str] = set()
        self.images: set[str] = set()
        self.guest = False
        self.modes: dict[str, tuple[str, str]] = {}
        self.switches: dict[str, tuple[str, str]] = {}
        self.row: str | None = None
        for line in head.splitlines():
            word, _, rest = line.partition(" ")
            parts = rest.split()
            if word == "dir":
                self.dir = rest.strip()
            elif word == "has":
                self.has.add(rest.strip())
            elif word == "image":
                self.images.add(rest.strip())
            elif word == "guest":
                self.guest = True
            elif word == "mode" and len(parts) == 3:
                self.modes[parts[0]] = (parts[1], parts[2])
            elif word == "switch" and len(parts) == 3:
                self.switches[parts[0]] = (parts[1], parts[2])
            elif word == "list":
                self.row = rest

    @property
    def running(self) -> bool:
        """`vm list` says `Running (pid)` (outputs §9)."""
        return self.row is not None and "Running (" in self.row


def requires(config: AgentConfig, facts: Facts) -> list[tuple[str, str]]:
    """The guest's switch is warden0, and its gateway is the agent's .1 there."""
    if config.runtime != "bhyve":
        return []
    bridge = facts.interfaces.get(BRIDGE)
    if bridge is None:
        return [("network", f"{BRIDGE} does not exist")]
    if not any(a.ip == config.gateway for a in bridge.inet):
        return [("network", f"the agent's gateway {config.gateway} is not on {BRIDGE}")]
    return []


def enrich(executor: object, config: AgentConfig, facts: Facts) -> Facts:
    """Before the guest exists: its host key (kept on the host, else new for this run)
    and the operator's public keys for root, from the operator's machine."""
    if config.runtime != "bhyve" or VmState(facts).guest:
        return facts
    from ..transport import Executor

    assert isinstance(executor, Executor)
    key = guest_key(executor, config.agent_name, facts.file(host_pub_path(config.agent_name)))
    return facts.with_extra(NAME, GuestSecrets(key, operator_keys(executor)))


def plan(config: AgentConfig, facts: Facts) -> StepPlan:
    """Packages, vm-bhyve on at boot, the datastore, the switch, the template, the
    image, the key, the guest, its place in vm_list, and the guest running."""
    step = StepPlan(NAME)
    if config.runtime != "bhyve":
        return step
    refusals = _refusals(config, facts)
    if refusals:
        step.refusals += refusals
        return step
    state = VmState(facts)
    step.changes += install(NAME, facts, packages(config))
    rc_conf = facts.rc_conf
    change = setting(NAME, rc_conf, "vm_enable", "YES", why="guests in vm_list start at boot")
    if change is not None:
        step.changes.append(change)
    vm_dir = state.dir or DEFAULT_VM_DIR
    if not rc_conf.get("vm_dir"):
        change = setting(NAME, rc_conf, "vm_dir", DEFAULT_VM_DIR, why="vm-bhyve's datastore")
        if change is not None:
            step.changes.append(change)
    if not {".config", ".templates", ".img"} <= state.has or not facts.modules.get("vmm"):
        step.changes.append(
            Change(
                NAME,
                f"vm init (datastore {vm_dir}; loads vmm, nmdm, if_bridge, if_tuntap)",
                ops=(run("mkdir", "-p", vm_dir), run("vm", "init")),
            )
        )
    _switch(step, state)
    template = render(
        "vm-bhyve/template.conf.j2",
        agent=config.agent_name,
        cpus=config.vm_cpus,
        memory=config.vm_memory,
        disk=config.vm_disk,
        switch=SWITCH,
    )
    template_path = f"{vm_dir}/.templates/{template_name(config)}.conf"
    if state.template != template:
        step.changes.append(
            Change(
                NAME,
                f"vm-bhyve template {template_name(config)} ({config.vm_cpus} CPUs, "
                f"{config.vm_memory} memory, {config.vm_disk} disk)",
                ops=(put(template_path, template, 0o644, before=state.template),),
            )
        )
    release = jail_release(config, facts)
    image = image_name(release)
    if not state.guest and image not in state.images:
        step.changes.append(
            Change(
                NAME,
                f"download the {release} cloud-init VM image ({image}; takes minutes)",
                ops=(run("vm", "img", IMAGE_URL.format(release=release, image=image)),),
                slow=True,
            )
        )
    _guest(step, config, facts, state, vm_dir, image)
    words = rc_conf.get("vm_list", "").split()
    if vm_name(config) not in words:
        step.changes.append(
            Change(
                NAME,
                f"rc.conf: vm_list+={vm_name(config)} (the guest starts at boot)",
                ops=(sysrc_add("vm_list", vm_name(config)),),
            )
        )
    if not state.running:
        name = vm_name(config)
        step.changes.append(
            Change(
                NAME,
                f"start the guest {vm_name(config)} at {config.vm_ip}",
                # `vm start` exits 1 for a running guest: that is fine, nothing else is.
                # umask 077: the first start makes seed.iso, which holds the private key.
                ops=(
                    Run(
                        either(
                            cmd(Raw("( umask 077 &&"), cmd("vm", "start", name), Raw(")")),
                            cmd(
                                cmd("vm", "list"),
                                Raw("|"),
                                cmd("awk", "-v", f"n={name}", "NR > 1 && $1 == n"),
                                Raw("|"),
                                cmd("grep", "-q", "Running ("),
                            ),
                        )
                    ),
                ),
            )
        )
    return step


def _refusals(config: AgentConfig, facts: Facts) -> list[Refusal]:
    reasons: list[Refusal] = []

    def refuse(code: str, text: str) -> None:
        reasons.append(Refusal(code, text))

    if config.roles:
        refuse(
            "bhyve.roles-in-vm",
            "bhyve: role jails inside the VM are not built yet (the VM holds the agent's "
            f"/24 on its vtnet0): set WARDEN_ROLES=none with WARDEN_RUNTIME=bhyve "
            f"(it is {','.join(config.roles)})",
        )
    if not _VM_NAME.fullmatch(vm_name(config)):
        refuse(
            "bhyve.name-too-short",
            f"bhyve: vm-bhyve needs a guest name of at least two characters; "
            f"AGENT_NAME {config.agent_name!r} is too short for WARDEN_RUNTIME=bhyve",
        )
    if facts.machine and facts.machine != "amd64":
        refuse(
            "bhyve.not-amd64",
            f"bhyve: the host is {facts.machine}; warden knows FreeBSD's amd64 VM image only",
        )
    if jail.nameserver(config, facts) is None:
        refuse(
            "bhyve.no-nameserver",
            "bhyve: the guest needs a resolver and the host has none that a guest can reach: "
            "set WARDEN_NAMESERVER",
        )
    state = VmState(facts)
    switch = state.switches.get(SWITCH)
    if switch is not None and switch != ("manual", BRIDGE):
        refuse(
            "bhyve.switch-not-warden",
            f"bhyve: vm-bhyve already has a switch named {SWITCH} ({switch[0]} on "
            f"{switch[1]}), not warden's manual switch on {BRIDGE}; rename or remove it",
        )
    if state.guest and facts.file(host_pub_path(config.agent_name)) is None:
        refuse(
            "bhyve.guest-not-warden",
            f"bhyve: a guest named {vm_name(config)} exists in {state.dir} and warden did not "
            f"create it (no {host_pub_path(config.agent_name)}); remove it or choose another "
            "AGENT_NAME",
        )
    return reasons


def _switch(step: StepPlan, state: VmState) -> None:
    if SWITCH not in state.switches:
        step.changes.append(
            Change(
                NAME,
                f"vm switch {SWITCH}: guests on {BRIDGE} (manual: the bridge stays the "
                "network step's)",
                ops=(run("vm", "switch", "create", "-t", "manual", "-b", BRIDGE, SWITCH),),
            )
        )


def _guest(
    step: StepPlan, config: AgentConfig, facts: Facts, state: VmState, vm_dir: str, image: str
) -> None:
    name = vm_name(config)
    cloud = f"{vm_dir}/{vm_name(config)}/.cloud-init"
    if state.guest:
        wrong = [
            (path, mode)
            for path, mode in (
                (".cloud-init", "drwx------"),
                (".cloud-init/user-data", "-rw-------"),
                ("seed.iso", "-rw-------"),
            )
            if path in state.modes and state.modes[path] != (mode, "0")
        ]
        if wrong:
            step.changes.append(
                Change(
                    NAME,
                    "the guest's cloud-init files (they hold its private host key): root only",
                    ops=tuple(
                        Run(
                            both(
                                cmd("chown", "root", f"{vm_dir}/{vm_name(config)}/{path}"),
                                cmd(
                                    "chmod",
                                    "0700" if mode.startswith("d") else "0600",
                                    f"{vm_dir}/{vm_name(config)}/{path}",
                                ),
                            )
                        )
                        for path, mode in wrong
                    ),
                )
            )
        return
    secrets = facts.extras.get(NAME)
    summary = (
        f"create the guest {vm_name(config)} ({config.vm_cpus} CPUs, {config.vm_memory}, "
        f"{config.vm_disk} disk) at {config.vm_ip}/{config.subnet.prefixlen}, gateway "
        f"{config.gateway}, with its own SSH host key"
    )
    if not isinstance(secrets, GuestSecrets):
        # Offline: the key is made (and pinned) only when a plan is applied.
        step.changes.append(Change(NAME, summary + " (made when applied)", deferred=True))
        return
    if not secrets.operator_keys:
        step.refuse(
            "bhyve.no-operator-key",
            "bhyve: no public key of yours was found for root in the guest (looked for the "
            "IdentityFile of the host in ~/.ssh/config, plus .pub, else ~/.ssh/id_ed25519.pub, "
            "id_ecdsa.pub, id_rsa.pub)",
        )
        return
    agent = config.agent_name
    address = ipaddress.IPv4Interface(f"{config.vm_ip}/{config.subnet.prefixlen}")
    user_data = render(
        "vm-bhyve/user-data.j2",
        agent=agent,
        hostname=f"{agent}.vm.home.arpa",
        operator_keys=secrets.operator_keys,
        host_private=secrets.key.private.strip(),
        host_public=secrets.key.public,
        address=address.with_prefixlen,
        gateway=str(config.gateway),
        nameserver=jail.nameserver(config, facts),
    )
    pub = facts.file(host_pub_path(agent))
    key_files: tuple[Put, ...] = ()
    if pub is None:
        key_files = (
            put(host_key_path(agent), secrets.key.private, 0o600, secret=True),
            put(host_pub_path(agent), secrets.key.public + "\n", 0o644),
        )
    staged = user_data_path(config)
    step.changes.append(
        Change(
            NAME,
            summary,
            ops=(
                directory(secrets_dir(agent), 0o700),
                *key_files,
                put(staged, user_data, 0o600, secret=True),
                # umask 077: vm-bhyve's copy of the user-data (and later seed.iso) hold
                # the private host key.
                Run(
                    cmd(
                        Raw("( umask 077 &&"),
                        cmd(
                            "vm",
                            "create",
                            "-t",
                            template_name(config),
                            "-s",
                            config.vm_disk,
                            "-c",
                            config.vm_cpus,
                            "-m",
                            config.vm_memory,
                            "-i",
                            image,
                            "-C",
                            "-u",
                            staged,
                            name,
                        ),
                        Raw(")"),
                    )
                ),
                run("rm", "-f", staged),
                run("chmod", "0700", cloud),
            ),
        )
    )

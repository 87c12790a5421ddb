"""A role jail: the Bastille VNET jail a role runs in, its template, its read-back.

The session it replaces (guide §4), for role db of agent atlas:
    bastille list jails | grep -qx atlasdb ||
        bastille create -B -g 10.0.1.1 -n 192.0.2.53 atlasdb 14.3-RELEASE 10.0.1.5/24 warden0
    (the role's files, placed inside the jail)
    pkg -j atlasdb install -y postgresql17-server ...; jexec atlasdb sysrc ...; ...
        (the role's Bastillefile, one verb at a time)
    jls -j atlasdb; jexec atlasdb sysrc -n ifconfig_vnet0
    jexec atlasdb service postgresql onestatus
Bastille exits 0 on many failures and matches names by prefix, so nothing here trusts
its exit code or its name matching: the exact name is checked first, and every change
ends by reading back what it was meant to make, inside the jail (its rc.conf is the
jail's: the host never reads or sources it).

The role's Bastillefile (templates/bastille/<role>/) is warden's own and applied by
warden, verb by verb (PKG, SYSRC, CONFIG, RESTART, CMD), each where it belongs: never
through `bastille template`, whose template.sh runs the jail's own `ifconfig` and
evaluates what it prints as host root, and whose CP, LINE_IN_FILE and MOUNT act from the
host on paths the jail's root controls (docs/freebsd/sources.md §6). It is applied only
when the tree's sha256 differs from the one recorded after the last successful apply.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .bastillefile import BASTILLEFILE, TEMPLATES, bastillefile_ops, digest, rendered
from .command import Command, Raw, cmd
from .config import AgentConfig
from .domains import JailUser, Location
from .facts import Facts, Probe
from .layout import BASTILLE_RELEASES, BRIDGE, jail_dir, template_dir, template_stamp
from .ops import Op, Run, both, check, either, fail, put, quiet, run, unless
from .plan import Change, Finding, StepPlan
from .registry import borrowed_roles, owned_roles
from .releases import jail_release, releases_probe
from .shared import lent_jail
from .shell import q


def _no_context(config: AgentConfig) -> dict[str, Any]:
    return {}


def _no_mounts(config: AgentConfig) -> list[tuple[str, str]]:
    return []


# What an older warden rendered into a template directory for `bastille template` (the
# files now go into the jail from inside it, the Bastillefile is applied by warden):
# removed before an apply.
STALE = ("usr", "Bastillefile")


@dataclass(frozen=True)
class JailRole:
    """What differs between roles: the step name, the service that proves the role
    works, and the values its templates need beyond the common ones."""

    step: str
    role: str
    service: str
    context: Callable[[AgentConfig], dict[str, Any]] = field(default=_no_context)
    # host directories the role reads, mounted read-only at the same path in the jail
    mounts: Callable[[AgentConfig], list[tuple[str, str]]] = field(default=_no_mounts)


class JailStep:
    """A role's step: the interface of setup/steps (NAME, packages, files, probes,
    requires, plan), all of it the role jail's."""

    def __init__(self, spec: JailRole) -> None:
        self.spec = spec
        self.NAME = spec.step

    def packages(self, config: AgentConfig) -> list[str]:
        return packages(config)

    def files(self, config: AgentConfig) -> list[str | Location]:
        return files(config, self.spec.role)

    def probes(self, config: AgentConfig) -> dict[str, Probe]:
        return probes(config, self.spec)

    def requires(self, config: AgentConfig, facts: Facts) -> list[tuple[str, str]]:
        return requires(config, facts, self.spec.role)

    def plan(self, config: AgentConfig, facts: Facts) -> StepPlan:
        step, _ = plan(config, facts, self.spec)
        return step


def is_mine(config: AgentConfig, role: str) -> bool:
    """This agent has the role's jail itself (not another agent's, not in a VM)."""
    return config.runtime == "jail" and role in owned_roles(config)


def nameserver(config: AgentConfig, facts: Facts) -> str | None:
    """WARDEN_NAMESERVER, else the host's first resolver that a jail can reach."""
    if config.nameserver is not None:
        return str(config.nameserver)
    for server in facts.nameservers:
        try:
            if not ipaddress.ip_address(server).is_loopback:
                return server
        except ValueError:
            continue
    return None


def packages(config: AgentConfig) -> list[str]:
    """Bastille itself is the host step's."""
    return ["bastille"]


def jail_files(config: AgentConfig, role: str) -> list[Location]:
    """The role's files inside its jail (read and written there, as the jail's root)."""
    inside = jail_root(config, role)
    return [
        Location(inside, "/" + p.relative_to(TEMPLATES / role).as_posix().removesuffix(".j2"))
        for p in sorted((TEMPLATES / role).rglob("*.j2"))
        if p.name != BASTILLEFILE + ".j2"
    ]


def jail_root(config: AgentConfig, role: str) -> JailUser:
    return JailUser(config.jail_names[role])


def fstab(jail: str) -> str:
    """Bastille's fstab of the jail (outside its root: root's), mounted by jail(8)."""
    return f"{jail_dir(jail)}/fstab"


def files(config: AgentConfig, role: str) -> list[str | Location]:
    """What the plan reads whole: the template's stamp, the jail's limits and fstab
    (root's), and the role's files inside the jail (the jail root's)."""
    if not is_mine(config, role):
        return []
    jail = config.jail_names[role]
    return [
        template_stamp(jail),
        f"{jail_dir(jail)}/rctl.conf",
        fstab(jail),
        *jail_files(config, role),
    ]


def probe_name(jail: str) -> str:
    return f"jail.{jail}"


# Inside the jail: its network settings as its rc.conf has them (its own sysrc reads
# them, in the jail), and whether the role's service runs.
def _inside(service: str) -> str:
    return (
        "printf 'ifconfig_vnet0=%s\\n' \"$(sysrc -n ifconfig_vnet0 2>/dev/null)\"; "
        "printf 'defaultrouter=%s\\n' \"$(sysrc -n defaultrouter 2>/dev/null)\"; "
        f"if service {q(service)} onestatus >/dev/null 2>&1; "
        "then echo service=running; else echo service=stopped; fi"
    )


def probes(config: AgentConfig, spec: JailRole) -> dict[str, Probe]:
    """The jail's network settings and whether its service runs (onestatus: `status`
    says 0 for a disabled service), asked inside the jail; nothing when it is stopped.
    And whether Bastille's directory of that name exists (root's: a jail that is not
    defined must not have one)."""
    if not is_mine(config, spec.role):
        return {}
    jail = config.jail_names[spec.role]
    return {
        probe_name(jail): Probe(_inside(spec.service), jail_root(config, spec.role)),
        leftover_probe(jail): Probe(f"test -e {q(jail_dir(jail))}"),
        **releases_probe(),
    }


def leftover_probe(jail: str) -> str:
    return f"jail.{jail}.dir"


def probed(facts: Facts, jail: str) -> dict[str, str]:
    return probe_values(facts, probe_name(jail))


def probe_values(facts: Facts, name: str) -> dict[str, str]:
    """The `key=value` lines a probe printed."""
    section = facts.probe(name)
    values: dict[str, str] = {}
    for line in section.output.splitlines() if section is not None else ():
        key, sep, value = line.partition("=")
        if sep:
            values[key] = value
    return values


def requires(config: AgentConfig, facts: Facts, role: str) -> list[tuple[str, str]]:
    """The bridge and the agent's gateway on it (network), Bastille and the release
    (host): a jail step never makes them itself."""
    if not is_mine(config, role):
        return []
    missing: list[tuple[str, str]] = []
    bridge = facts.interfaces.get(BRIDGE)
    if bridge is None:
        missing.append(("network", f"the {BRIDGE} bridge is missing"))
    elif not any(a.ip == config.gateway for a in bridge.inet):
        missing.append(("network", f"the agent's gateway {config.gateway} is not on {BRIDGE}"))
    if facts.bastille_version is None:
        missing.append(("host", "Bastille is not installed"))
    else:
        release = jail_release(config, facts)
        section = facts.probe("host.releases")
        if section is not None and release not in section.output.split():
            missing.append(("host", f"the jail release {release} is not bootstrapped"))
    return missing


def plan(config: AgentConfig, facts: Facts, spec: JailRole) -> tuple[StepPlan, bool]:
    """The jail's changes, and whether the role's service is known to be running (so a
    step can go on to what needs it, such as the db step's SQL)."""
    step = StepPlan(spec.step)
    if config.runtime == "jail" and spec.role in borrowed_roles(config):
        # another agent's jail: nothing to create; it must be there to be used
        lent = lent_jail(config, facts, spec.role)
        if isinstance(lent, str):
            step.refuse(f"{spec.step}.lent-jail-unusable", lent)
        return step, False
    if not is_mine(config, spec.role):
        return step, False
    jail = config.jail_names[spec.role]
    ip = f"{config.role_ips[spec.role]}/{config.subnet.prefixlen}"
    gateway = str(config.gateway)
    server = nameserver(config, facts)
    if server is None:
        step.refuse(
            f"{spec.step}.no-nameserver",
            f"{spec.step}: WARDEN_NAMESERVER is not set and the host resolves through "
            f"{', '.join(facts.nameservers) or 'no nameserver'}, which a jail cannot reach; "
            "a jail without DNS cannot install packages: set WARDEN_NAMESERVER",
        )
        return step, False
    seen = probed(facts, jail)
    inside = jail_root(config, spec.role)
    # read back inside the jail: its rc.conf is the jail's (read by its own sysrc there)
    readback = [
        check(cmd("jls", "-j", jail, "jid"), f"jail {jail} is not running"),
        Run(
            both(
                either(
                    rc_is("ifconfig_vnet0", f"inet {ip}"),
                    fail(f"jail {jail}: ifconfig_vnet0 is not 'inet {ip}'"),
                ),
                either(
                    rc_is("defaultrouter", gateway),
                    fail(f"jail {jail}: defaultrouter is not '{gateway}'"),
                ),
            ),
            inside,
        ),
    ]
    running = jail in facts.jails_running
    leftover = facts.probe(leftover_probe(jail))
    if jail not in facts.jails_defined and leftover is not None and leftover.rc == 0:
        # `bastille create` would reuse it: links and files its former root left there
        # would lead host root's copies, and its rc would boot (docs/architecture.md)
        step.refuse(
            f"{spec.step}.leftover-jail-directory",
            f"{spec.step}: {jail_dir(jail)} exists but Bastille has no jail {jail}: what a "
            "former jail of that name left there would be reused; inspect it and remove it "
            "by hand (chflags -R 0, then rm -rf), or choose another jail name",
        )
        return step, False
    if jail not in facts.jails_defined:
        release = jail_release(config, facts)
        step.changes.append(
            Change(
                spec.step,
                f"create VNET jail {jail} ({spec.role}) at {ip} on {BRIDGE}, "
                f"gateway {gateway}, nameserver {server}, release {release}",
                ops=(
                    # The exact name, never Bastille's prefix matching.
                    Run(
                        unless(
                            cmd(
                                cmd("bastille", "list", "jails"), Raw("|"), cmd("grep", "-qx", jail)
                            ),
                            cmd(
                                "bastille",
                                "create",
                                "-B",
                                "-g",
                                gateway,
                                "-n",
                                server,
                                jail,
                                release,
                                ip,
                                BRIDGE,
                            ),
                        )
                    ),
                    *readback,
                ),
                slow=True,
            )
        )
    elif running:
        wrong = {
            key: (seen.get(key, ""), want)
            for key, want in (("ifconfig_vnet0", f"inet {ip}"), ("defaultrouter", gateway))
            if seen.get(key, "") != want
        }
        if wrong:
            detail = "; ".join(f"{k} is {v!r}, expected {w!r}" for k, (v, w) in wrong.items())
            step.refuse(
                f"{spec.step}.jail-network-differs",
                f"{spec.step}: jail {jail} exists but its network differs ({detail}); warden "
                "does not rewrite a jail's network: fix it or destroy the jail",
            )
            return step, False
    else:
        # A stopped jail's network is read inside it (its rc.conf is its root's file),
        # so it is unknown until it runs: started, then read back there; a network that
        # differs fails the start's read-back, and the next plan refuses it by name.
        step.changes.append(
            Change(
                spec.step,
                f"start jail {jail}",
                ops=(run("bastille", "start", jail), *readback),
            )
        )
    service_ok = _template(step, config, facts, spec, jail, spec.context(config), seen, running)
    _limits(step, config, facts, spec, jail)
    return step, service_ok


def rc_is(name: str, value: str) -> Command:
    """sh (inside a jail) true when the jail's rc.conf gives *name* that *value*."""
    return cmd(Raw('[ "$(sysrc -n'), name, Raw('2>/dev/null)" ='), value, Raw("]"))


def _template(
    step: StepPlan,
    config: AgentConfig,
    facts: Facts,
    spec: JailRole,
    jail: str,
    context: dict[str, Any],
    seen: dict[str, str],
    running: bool,
) -> bool:
    """Place the role's files inside the jail and apply its Bastillefile when either is
    new; start the service when it has stopped since. True when nothing is left to do
    for the service.

    The files are placed from inside the jail (its root could have turned any path
    below its root into a link to a host file), never by Bastille's CP from the host;
    the Bastillefile has no CP, LINE_IN_FILE or MOUNT (docs/freebsd/sources.md §6)."""
    tree = rendered(config, spec.role, **context)
    wanted = digest(tree)
    base = template_dir(config.agent_name, spec.role)
    inside = jail_root(config, spec.role)
    writes: list[Op] = []
    for where in jail_files(config, spec.role):
        content = tree[where.path.lstrip("/")]
        if facts.file(where) != content:
            writes.append(put(where, content, 0o644, before=facts.file(where)))
    stamp = template_stamp(jail)
    onestatus = Run(
        either(
            quiet(cmd("service", spec.service, "onestatus")),
            fail(f"{spec.service} is not running in jail {jail}"),
        ),
        inside,
    )
    mounts = _mounts(step, config, facts, spec, jail)
    if writes or mounts or (facts.file(stamp) or "").strip() != wanted:
        step.changes.append(
            Change(
                spec.step,
                f"apply the {spec.role} template to jail {jail} (sha256 {wanted[:12]})",
                ops=(
                    # what an older warden rendered for `bastille template`
                    *(run("rm", "-rf", f"{base}/{name}") for name in STALE),
                    *writes,
                    *mounts,
                    *bastillefile_ops(jail, tree[BASTILLEFILE]),
                    onestatus,
                    put(stamp, wanted + "\n", 0o644, before=facts.file(stamp)),
                ),
                slow=True,
            )
        )
        return False
    if running and seen.get("service") != "running":
        step.changes.append(
            Change(
                spec.step,
                f"start {spec.service} in jail {jail} (it has stopped)",
                ops=(Run(cmd("service", spec.service, "start"), inside), onestatus),
            )
        )
        return False
    return running


def _mounts(
    step: StepPlan, config: AgentConfig, facts: Facts, spec: JailRole, jail: str
) -> list[Op]:
    """A host directory the role reads, mounted by jail(8) at the jail's next start from
    Bastille's fstab: jail(8) refuses a mount point with a symbolic link in its path
    (check_path: docs/freebsd/sources.md §5), and nothing in the jail runs between its
    stop and that check. Never Bastille's MOUNT, which mounts at once from the host."""
    wanted = spec.mounts(config)
    if not wanted:
        return []
    lines = [f"{host} {jail_dir(jail)}/root{inside} nullfs ro 0 0" for host, inside in wanted]
    before = facts.file(fstab(jail))
    have = (before or "").splitlines()
    if all(line in have for line in lines):
        return []
    if before is None:
        # the jail is made by this run: start from the fstab `bastille create` writes for
        # a thin jail (create.sh: the release's nullfs line), which this plan could not
        # read; the model's line alone would leave the jail no base system at its restart
        base = f"{BASTILLE_RELEASES}/{jail_release(config, facts)}"
        start = f"{base} {jail_dir(jail)}/root/.bastille nullfs ro 0 0\n"
    else:
        start = before
    text = start + "".join(f"{line}\n" for line in lines if line not in have)
    return [
        # the mount point, made inside the jail (as its root: a path of the jail's)
        *(Run(cmd("mkdir", "-p", inside), jail_root(config, spec.role)) for _, inside in wanted),
        put(fstab(jail), text, 0o644, before=before),
        run("bastille", "restart", jail),
    ]


def rctl_line(jail: str, resource: str, amount: str) -> str:
    """The rule as `bastille limits add` writes it to the jail's rctl.conf."""
    return f"jail:{jail}:{resource}:deny={amount}/jail"


def _limits(step: StepPlan, config: AgentConfig, facts: Facts, spec: JailRole, jail: str) -> None:
    wanted = config.limits.get(spec.role, {})
    if not wanted:
        return
    if facts.sysctl.get("kern.racct.enable") != "1":
        step.findings.append(
            Finding(
                "warning",
                f"{spec.role} limits",
                "WARDEN_LIMITS asks for rctl limits on jail "
                f"{jail}, but kern.racct.enable is 0: add kern.racct.enable=1 to "
                "/boot/loader.conf and reboot (it is a boot-time tunable; sysrc cannot write "
                "dotted names); the limits are not applied until then",
            )
        )
        return
    have = set((facts.file(f"{jail_dir(jail)}/rctl.conf") or "").splitlines())
    commands: list[Op] = []
    for resource, amount in sorted(wanted.items()):
        line = rctl_line(jail, resource, amount)
        if line in have:
            continue
        # `limits add` does not update an existing rule (ref §1.4): remove it first.
        if any(h.startswith(f"jail:{jail}:{resource}:") for h in have):
            commands.append(run("bastille", "limits", jail, "remove", resource))
        commands += [
            run("bastille", "limits", jail, "add", resource, amount),
            check(
                cmd("grep", "-qx", line, jail_dir(jail) + "/rctl.conf"),
                f"the {resource} limit of jail {jail} was not recorded",
            ),
        ]
    if commands:
        limits = ", ".join(f"{r}={a}" for r, a in sorted(wanted.items()))
        step.changes.append(
            Change(spec.step, f"rctl limits for jail {jail}: {limits}", ops=tuple(commands))
        )

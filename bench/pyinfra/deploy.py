"""pyinfra doing warden's work for the example agent (WARDEN_ROLES=none), where it can.

pyinfra's own FreeBSD operations are used where the FreeBSD double answers their
commands; where they cannot express the work, server.shell runs the command warden
runs, guarded so a re-run does nothing:
- freebsd.sysrc has no `-f FILE` (bastille.conf, loader.conf): shell `sysrc -f`.
- freebsd.sysrc `set` never compares values (a key with any value is left alone)
  unless overwrite=True, which then rewrites on every run: used with overwrite=False,
  as its docs show (the first run sets every key; a changed value would be missed).
- server.user/server.group pick useradd on a host whose Python-free fact says Linux:
  shell `pw` as FreeBSD's implementation would.
- there is no pf or ifconfig operation: shell, as warden runs them.
BENCH_FILES names the directory of warden's rendered files.
"""

import os
import shlex

from pyinfra.operations import files, server
from pyinfra.operations.freebsd import sysrc

FILES = os.environ["BENCH_FILES"]
AGENT, UID, GATEWAY = "atlas", 2001, "10.0.1.1"
CREDENTIALS = (
    "# Credentials of agent atlas: sh assignments (KEY='value'), loaded into its\n"
    "# tmux session by its launcher. Readable only by the agent's user. warden steps\n"
    "# add their lines here (the database DSN, ...); never commit this file anywhere.\n"
)
DEVFS = """# Added by warden: the ruleset Bastille's VNET jails use (jail.conf
# devfs_ruleset = 13), as Bastille's documentation gives it.
[bastille_vnet=13]
add include $devfsrules_hide_all
add include $devfsrules_unhide_basic
add include $devfsrules_unhide_login
add include $devfsrules_jail
add include $devfsrules_jail_vnet
add path 'bpf*' unhide
"""


def guarded(name, check, command):
    server.shell(name=name, commands=[f"{check} || {{ {command}; }}"])


# ---- host
guarded(
    "packages",
    "pkg info -e bastille && pkg info -e tmux && pkg info -e git && pkg info -e postgresql17-client",  # noqa: E501
    "pkg install -y bastille tmux git postgresql17-client",
)
guarded(
    "bastille VNET on a bridge",
    '[ "$(sysrc -f /usr/local/etc/bastille/bastille.conf -n bastille_network_vnet_type)" = if_bridge ]',  # noqa: E501
    "sysrc -f /usr/local/etc/bastille/bastille.conf bastille_network_vnet_type=if_bridge",
)
guarded(
    "devfs ruleset",
    "grep -q '^\\[bastille_vnet=13\\]' /etc/devfs.rules",
    f"printf '%s' {shlex.quote(DEVFS)} >> /etc/devfs.rules && service devfs restart",
)
guarded("if_bridge", "kldstat -q -m if_bridge", "kldload -n if_bridge")
for key in ("pfil_member", "pfil_bridge", "pfil_onlyip"):
    guarded(
        f"sysctl {key}",
        f'[ "$(sysctl -n net.link.bridge.{key})" = 0 ]',
        f"sysctl net.link.bridge.{key}=0",
    )
    files.line(name=f"sysctl.conf {key}", path="/etc/sysctl.conf", line=f"net.link.bridge.{key}=0")
guarded(
    "if_bridge at boot",
    '[ "$(sysrc -f /boot/loader.conf -n if_bridge_load 2>/dev/null)" = YES ]',
    "sysrc -f /boot/loader.conf if_bridge_load=YES",
)
sysrc.sysrc(name="bastille_enable", parameter="bastille_enable", value="YES")
files.put(
    name="journal rotation",
    src=f"{FILES}/usr/local/etc/newsyslog.conf.d/warden.conf",
    dest="/usr/local/etc/newsyslog.conf.d/warden.conf",
    user="root",
    group="wheel",
    mode="644",
)

# ---- network
guarded(
    "warden0",
    "ifconfig -n warden0 >/dev/null 2>&1",
    'b=$(ifconfig bridge create) && ifconfig "$b" name warden0 >/dev/null',
)
server.shell(name="warden0 up", commands=["ifconfig warden0 up"])
guarded(
    "cloned_interfaces",
    "sysrc -n cloned_interfaces | tr ' ' '\\n' | grep -qx bridge0",
    "sysrc cloned_interfaces+=bridge0",
)
for key, value in (
    ("ifconfig_bridge0_name", "warden0"),
    ("ifconfig_warden0", "up"),
    ("ifconfig_warden0_alias0", f"inet {GATEWAY}/24"),
    ("gateway_enable", "YES"),
):
    sysrc.sysrc(name=key, parameter=key, value=value)
guarded(
    "gateway now",
    f"ifconfig warden0 inet | grep -q 'inet {GATEWAY} '",
    f"ifconfig warden0 inet {GATEWAY}/24 alias",
)
guarded(
    "forwarding", '[ "$(sysctl -n net.inet.ip.forwarding)" = 1 ]', "sysctl net.inet.ip.forwarding=1"
)
files.block(
    name="/etc/hosts",
    path="/etc/hosts",
    marker=f"# {{mark}} warden agent={AGENT}",
    content=f"{GATEWAY}\thost.{AGENT}.home.arpa",
)

# ---- pf
sysrc.sysrc(name="pf_enable", parameter="pf_enable", value="YES")
files.put(
    name="pf.warden.conf",
    src=f"{FILES}/etc/pf.warden.conf",
    dest="/etc/pf.warden.conf",
    user="root",
    group="wheel",
    mode="644",
)
# files.block with begin/end markers and after= (beta in pyinfra 3) inserts the block
# again on every run: a guarded awk insert after the last `nat on` line instead.
PF_INCLUDE = (
    "# BEGIN warden: NAT and filtering for the agents on warden0 (managed block)\\n"
    'include \\"/etc/pf.warden.conf\\"\\n# END warden'
)
server.shell(
    name="include in pf.conf",
    commands=[
        "grep -qF '# BEGIN warden:' /etc/pf.conf || { "
        "n=$(grep -n '^nat on ' /etc/pf.conf | tail -1 | cut -d: -f1); "
        'awk -v n="$n" -v b="' + PF_INCLUDE + "\" '{ print } NR == n { print b }' /etc/pf.conf "
        "> /etc/pf.conf.new && mv /etc/pf.conf.new /etc/pf.conf; }"
    ],
)
guarded(
    "load pf",
    "pfctl -t warden_agents -T show 2>/dev/null | grep -q 10.0.1.0/24",
    "kldload -n pf && pfctl -nf /etc/pf.conf && pfctl -f /etc/pf.conf",
)

# ---- user
guarded("group", f"pw groupshow {AGENT} >/dev/null 2>&1", f"pw groupadd {AGENT} -g {UID}")
guarded(
    "user",
    f"pw usershow {AGENT} >/dev/null 2>&1",
    f"pw useradd {AGENT} -u {UID} -g {AGENT} -c 'warden agent {AGENT}' -d /home/{AGENT} "
    "-m -M 0750 -s /bin/sh",
)
files.directory(
    name="settings directory",
    path=f"/usr/local/etc/warden/agents/{AGENT}",
    user="root",
    group="wheel",
    mode="755",
)
guarded(
    "credentials",
    f"[ -e /usr/local/etc/warden/agents/{AGENT}/credentials ]",
    f"(umask 077 && printf '%s' {shlex.quote(CREDENTIALS)} > /usr/local/etc/warden/agents/{AGENT}/credentials) "  # noqa: E501
    f"&& chown {AGENT}:{AGENT} /usr/local/etc/warden/agents/{AGENT}/credentials",
)
files.put(
    name="registry entry",
    src=f"{FILES}/var/db/warden/agents/{AGENT}.json",
    dest=f"/var/db/warden/agents/{AGENT}.json",
    user="root",
    group="wheel",
    mode="644",
    create_remote_dir=True,
)

# ---- service
changed = []
for path, mode in (
    (f"/usr/local/etc/rc.d/{AGENT}", "555"),
    (f"/usr/local/libexec/warden/{AGENT}/run", "555"),
    (f"/usr/local/libexec/warden/{AGENT}/log", "555"),
    (f"/usr/local/etc/warden/agents/{AGENT}/agent.env", "644"),
    (f"/usr/local/etc/newsyslog.conf.d/{AGENT}.conf", "644"),
):
    changed.append(
        files.put(
            name=path,
            src=f"{FILES}{path}",
            dest=path,
            user="root",
            group="wheel",
            mode=mode,
            create_remote_dir=True,
        )
    )
files.directory(
    name="log directory", path=f"/var/log/warden/{AGENT}", user="root", group=AGENT, mode="750"
)
guarded(
    "log file",
    f"[ -e /var/log/warden/{AGENT}/agent.log ]",
    f"install -o {AGENT} -g {AGENT} -m 0640 /dev/null /var/log/warden/{AGENT}/agent.log",
)
sysrc.sysrc(name=f"{AGENT}_enable", parameter=f"{AGENT}_enable", value="YES")
guarded("running", f"service {AGENT} onestatus >/dev/null 2>&1", f"service {AGENT} start")

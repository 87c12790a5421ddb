"""The fixed vocabulary a configuration is checked against: roles, names an
agent may not take, rctl resources and private ranges. Kept apart from the
parsers so the key table and the validator read the same lists."""

from ipaddress import IPv4Network

ROLES: tuple[str, ...] = ("db", "git", "cms", "ollama", "llama-cpp")
LLM_ROLES = frozenset({"ollama", "llama-cpp"})

# The guide's slot plan inside an agent's /24: .1 is the host's gateway.
DEFAULT_HOST_PART: dict[str, int] = {"git": 2, "cms": 3, "ollama": 4, "llama-cpp": 4, "db": 5}
DEFAULT_VM_HOST_PART = 10


def _words(text: str) -> list[str]:
    return text.split()


# Names an agent must not take: AGENT_NAME becomes an rc.d script, a user, a
# group and a PostgreSQL role, so it must not shadow what FreeBSD 14's base
# system or common packages already install under that name.
RESERVED_NAMES: frozenset[str] = frozenset(
    # users and groups of a FreeBSD 14 base install
    _words("""
    root toor daemon operator bin tty kmem games news man sshd smmsp mailnull
    bind unbound proxy _pflogd _dhcp uucp pop auditdistd www hast nobody nogroup
    tests ntpd ntp _ypldap _tss wheel sys staff guest video realtime idletime
    network dialer mail audit authpf kmem sshd _sndio messagebus polkitd
    """)
    # /etc/rc.d of FreeBSD 14
    + _words("""
    accounting adjkerntz apm auditd automount automountd autounmountd bgfsck
    blacklistd bluetooth bootparams bridge bsnmpd bthidd ccd cfumass cleanvar
    cleartmp cron ctld ddb defaultroute devd devfs devmatch dhclient dmesg
    dumpon fsck ftpd gbde geli geli2 gptboot growfs gssd hastd hcsecd
    hostapd hostid hostname inetd iovctl ip6addrctl ipfilter ipfs ipfw ipmon
    ipnat ippool ipsec jail kadmind kdc keyserv kfd kld kldxref kpasswdd
    ldconfig local localpkg lockd lpd mdconfig mdconfig2 mixer motd
    mountcritlocal mountcritremote mountlate moused mroute6d msgs natd netif
    netoptions netwait newsyslog nfsclient nfscbd nfsd nfsuserd nisdomain nscd
    nsswitch ntpdate opensm pf pflog pfsync powerd ppp pppoed pwcheck quota
    random rarpd rctl resolv rfcomm route6d routed routing rpcbind rtadvd
    rtsold rwho savecore sdpd securelevel sendmail serial sppp statd stf swap
    swaplate sysctl syscons syslogd sysvipc tlsclntd tlsservd tmp ugidfw utx
    var virecover watchdogd ypbind ypldap yppasswdd ypserv ypset ypupdated
    ypxfrd zfs zfsbe zfsd zfskeys zpool zvol
    """)
    # packages warden installs or meets, and names that would confuse tooling
    + _words("""
    postgres pgsql postgresql git gitea forgejo gogs ollama llama llamacpp
    llamaserver tmux bastille vm bhyve vmm jails iocage ezjail cbsd pot nginx
    apache apache24 httpd caddy redis mysql mariadb dnsmasq openvpn tailscale
    tailscaled wireguard wg cupsd avahi dbus pkg warden public template0
    template1 all none admin administrator localhost host gateway lo epair
    sudo doas su
    """)
)


def is_reserved(name: str) -> bool:
    return name in RESERVED_NAMES or name.startswith("pg_")


# rctl(8) resources; anything else would be refused by rctl at apply time.
RCTL_RESOURCES = frozenset(
    _words("""
    cputime datasize stacksize coredumpsize memoryuse memorylocked maxproc
    openfiles vmemoryuse pseudoterminals swapuse nthr msgqqueued msgqsize
    nmsgq nsem nsemop nshm shmsize wallclock pcpu readbps writebps readiops
    writeiops
    """)
)

RFC1918 = (
    IPv4Network("10.0.0.0/8"),
    IPv4Network("172.16.0.0/12"),
    IPv4Network("192.168.0.0/16"),
)

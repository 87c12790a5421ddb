"""Where warden puts things on a host: one place, so steps and tests agree.

Everything here is derived from validated names only (AGENT_NAME, WARDEN_AGENT_USER),
so every path is safe to put in a script.
"""

from __future__ import annotations

BRIDGE = "warden0"

# warden's own state on the host (root's, 0700 where it holds secrets)
WARDEN_DIR = "/var/db/warden"
REGISTRY_DIR = f"{WARDEN_DIR}/agents"
JOURNAL_DIR = f"{WARDEN_DIR}/journal"
JOURNAL_FILE = f"{JOURNAL_DIR}/warden.jsonl"
LOCK_FILE = f"{WARDEN_DIR}/lock"
LOCK_HOLDER_FILE = f"{WARDEN_DIR}/lock.holder"
DUMPS_DIR = f"{WARDEN_DIR}/dumps"  # teardown's pg_dump files

# the generated database passwords, file names in an agent's secrets directory
ADMIN_SECRET = "pg-admin"  # noqa: S105 - a file name, not a password
AGENT_SECRET = "pg-agent"  # noqa: S105 - a file name, not a password
# the host cluster's admin password: not any one agent's (a hyphen: no agent has it)
HOST_PG_SECRETS = "/usr/local/etc/warden/secrets/postgresql-host"
# inside a db jail (templates/bastille/db: hba_file)
JAIL_PG_HBA = "/usr/local/etc/warden/pg_hba.conf"

# a model named by its file name alone lives here (llama.cpp's port has no default)
LLAMA_MODELS = "/var/db/llama"
DEFAULT_VM_DIR = "/usr/local/vm"  # vm-bhyve's datastore when vm_dir is not set
GIT_UID = 2000  # the git jail's `git` user (templates/bastille/git/Bastillefile.j2)

PF_CONF = "/etc/pf.conf"
PF_WARDEN_CONF = "/etc/pf.warden.conf"
PF_TABLE = "warden_agents"
PF_STATE_DIR = "/var/db/warden/pf"

DEVFS_RULES = "/etc/devfs.rules"
SYSCTL_CONF = "/etc/sysctl.conf"
LOADER_CONF = "/boot/loader.conf"
BASTILLE_CONF = "/usr/local/etc/bastille/bastille.conf"
BASTILLE_RELEASES = "/usr/local/bastille/releases"
NEWSYSLOG_DIR = "/usr/local/etc/newsyslog.conf.d"
JOURNAL_NEWSYSLOG = f"{NEWSYSLOG_DIR}/warden.conf"

RC_D = "/usr/local/etc/rc.d"
TMUX = "/usr/local/bin/tmux"


def agent_etc(agent: str) -> str:
    """Root-owned: the agent's settings and its credentials file."""
    return f"/usr/local/etc/warden/agents/{agent}"


def credentials(agent: str) -> str:
    """The agent's credentials (0600, the agent's user): filled by later steps."""
    return f"{agent_etc(agent)}/credentials"


def agent_env(agent: str) -> str:
    """Locales and names the agent's session starts with."""
    return f"{agent_etc(agent)}/agent.env"


def agent_libexec(agent: str) -> str:
    """The agent's launcher and log pipe."""
    return f"/usr/local/libexec/warden/{agent}"


def rc_script(agent: str) -> str:
    """The agent's rc.d service script."""
    return f"{RC_D}/{agent}"


def log_dir(agent: str) -> str:
    """The agent's logs, written by its user."""
    return f"/var/log/warden/{agent}"


def log_file(agent: str) -> str:
    """The agent's session output."""
    return f"{log_dir(agent)}/agent.log"


def newsyslog_conf(agent: str) -> str:
    """The newsyslog entry that rotates the agent's log."""
    return f"{NEWSYSLOG_DIR}/{agent}.conf"


def tmux_socket_dir(agent: str) -> str:
    """The agent's tmux socket directory (/var/run is emptied at boot)."""
    return f"/var/run/warden/{agent}"


def home(user: str) -> str:
    """The agent user's home."""
    return f"/home/{user}"


BASTILLE_JAILS = "/usr/local/bastille/jails"
HOSTS = "/etc/hosts"
JAIL_STAMPS = "/var/db/warden/jails"


def jail_dir(jail: str) -> str:
    """Bastille's directory of one jail (jail.conf, settings.conf, rctl.conf, root/)."""
    return f"{BASTILLE_JAILS}/{jail}"


def template_dir(agent: str, role: str) -> str:
    """Where the role's rendered Bastille template lives; applied by this path."""
    return f"/usr/local/etc/warden/templates/{agent}/{role}"


def template_stamp(jail: str) -> str:
    """The sha256 of the template last applied to the jail with success."""
    return f"{JAIL_STAMPS}/{jail}.template.sha256"


def secrets_dir(agent: str) -> str:
    """Generated secrets of one agent (0700, files 0600): never regenerated."""
    return f"/usr/local/etc/warden/secrets/{agent}"


# PostgreSQL on the host (WARDEN_DB_RUNTIME=host): warden's settings, outside the data
# directory (root's files, read by the server).
HOST_PG_ETC = "/usr/local/etc/warden/postgresql"
HOST_PG_CONF_DIR = f"{HOST_PG_ETC}/conf.d"
HOST_PG_CONF = f"{HOST_PG_CONF_DIR}/warden.conf"
HOST_PG_HBA = f"{HOST_PG_ETC}/pg_hba.conf"

# Host files that several agents' runs write (each from the registry): a step checks
# under the lock that they are still what its plan saw (setup/apply.py).
SHARED_FILES = frozenset({HOSTS, PF_CONF, PF_WARDEN_CONF, HOST_PG_CONF, HOST_PG_HBA})

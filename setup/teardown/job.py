"""teardown as the engine runs it, and what it reads of the host."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..config import AgentConfig
from ..db.server import server_for
from ..domains import HostUser
from ..facts import Facts, Probe, gather
from ..job import Wording
from ..layout import (
    HOSTS,
    home,
)
from ..plan import Plan, StepPlan
from ..registry import (
    RegistryEntry,
    load_entries,
    owned_roles,
)
from ..shell import q
from ..steps import pf
from ..transport import Executor
from .kept import brain_check, kept_server, read_kept_db
from .names import DUMPS, KEPT_DB
from .plan import owned_paths, plan_teardown


def probes(config: AgentConfig) -> dict[str, Probe]:
    """What is left of the agent: its paths, its service, its soul's unpushed commits
    (asked as the agent: the clone is its own)."""
    a, user = config.agent_name, config.agent_user
    paths = owned_paths(config)
    soul = f"{home(user)}/soul"
    found = {
        "teardown.paths": Probe(
            "for p in "
            + " ".join(q(p) for p in paths)
            + '; do if [ -e "$p" ]; then echo "$p"; fi; done'
        ),
        "teardown.service": Probe(f"service {a} onestatus"),
        # root's own directory (0700): the dumps already taken
        "teardown.dumps": Probe(f"ls {DUMPS} 2>/dev/null; :"),
        # every process of the agent's user (POSIX ps -U: the real uid)
        "teardown.processes": Probe(f"ps -U {q(user)} -o pid= 2>/dev/null; :"),
        # Commits on a local branch that no remote has: pushed nowhere, lost with the home.
        "teardown.unpushed": Probe(
            f"if [ -d {q(soul)}/.git ]; then "
            f"git -C {q(soul)} log --branches --not --remotes --format=%h%x20%s; fi",
            HostUser(user, user, home(user)),
        ),
        **pf.probes(config),
    }
    if "db" in owned_roles(config):
        # the brain can be dumped: the db jail runs PostgreSQL and has the database
        # (another agent's jail is read once the registry names it: gather_for)
        found["teardown.brain"] = brain_check(config.jail_names["db"], a)
    return found


def files(config: AgentConfig) -> list[str]:
    return [HOSTS, *pf.files(config)]


def gather_for(executor: Executor, config: AgentConfig) -> Facts:
    """The facts teardown plans from: one round trip, and a second one to the server
    that keeps the agent's database when that outlives the agent (another agent's db
    jail, or the host's PostgreSQL: the registry names it)."""
    facts = gather(executor, pf.packages(config), files(config), probes(config))
    entries, _ = load_entries(facts)
    kept = kept_server(server_for(config.agent_name, entries))
    if kept is None:
        return facts
    return facts.with_extra(KEPT_DB, read_kept_db(executor, kept, config.agent_name))


@dataclass
class TeardownJob:
    """teardown as the engine runs it: the teardown step, pf without the agent, then
    the entry, each verified after it ran against the entry captured at the start, so
    leftovers fail the run before the agent is unregistered (a rerun then sees them)."""

    config: AgentConfig
    keep_data: bool
    force: bool
    # each host's entry as it was when its teardown began
    entries: dict[str, RegistryEntry | None] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def read(self, executor: Executor) -> Facts:
        return gather_for(executor, self.config)

    def plan(self, facts: Facts) -> Plan:
        if facts.target not in self.entries:
            self.entries[facts.target] = load_entries(facts)[0].get(self.config.agent_name)
        return plan_teardown(
            self.config,
            facts,
            keep_data=self.keep_data,
            force=self.force,
            now=self.now,
            entry=self.entries[facts.target],
        )

    def plan_step(self, name: str, facts: Facts) -> StepPlan:
        return next((s for s in self.plan(facts).steps if s.name == name), StepPlan(name))

    def rounds(self, name: str) -> int:
        return 1

    def wording(self) -> Wording:
        agent = self.config.agent_name
        return Wording(
            done=f"tore down agent {agent} on {{target}}: {{count}} change(s)",
            nothing=f"agent {agent} is not registered on {{target}}: nothing to tear down",
        )

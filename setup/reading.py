"""Reading a host for a plan: the sh facts in one round trip, then what steps read
beyond them (a step's `enrich`, such as the db step's catalog over its port forward)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import AgentConfig
from .errors import WardenError
from .facts import Facts, gather, gather_at
from .planner import facts_request
from .registry import RegistryEntry, load_entries
from .steps import BUILT
from .transport import Executor


def read_host(executor: Executor, config: AgentConfig, steps: list[str]) -> Facts:
    """Everything the plans of these steps need to know about the host."""
    request = facts_request(config, steps)
    facts = gather(executor, request.packages, request.files, request.probes)
    for name in steps:
        enrich = getattr(BUILT.get(name), "enrich", None)
        if enrich is not None:
            facts = enrich(executor, config, facts)
    return facts


@dataclass
class HostRegistry:
    """One host's registry, or why it could not be read."""

    target: str
    entries: dict[str, RegistryEntry] = field(default_factory=dict)
    # entries that could not be read, each named with its host
    notes: list[str] = field(default_factory=list)
    error: WardenError | None = None


def read_registries(targets: list[str], accept_new: bool) -> list[HostRegistry]:
    """Every host's registry, one round trip each; a host that cannot be read is
    reported with its error, and the others are still read."""
    found: list[HostRegistry] = []
    for target in targets:
        try:
            facts = gather_at(target, accept_new=accept_new)
        except WardenError as exc:
            found.append(HostRegistry(target, error=exc))
            continue
        entries, unreadable = load_entries(facts)
        found.append(HostRegistry(target, entries, [f"{target}: {n}" for n in unreadable]))
    return found

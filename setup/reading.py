"""Reading a host for a plan: the sh facts in one round trip, then what steps read
beyond them (a step's `enrich`, such as the db step's catalog over its port forward)."""

from __future__ import annotations

from .config import AgentConfig
from .facts import Facts, gather
from .planner import facts_request
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

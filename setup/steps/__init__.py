"""The steps, in the order a full setup runs them.

Each step (a module, or a JailStep for a role jail) has NAME, `packages(config)` and
`files(config)` (what its facts must include), optionally `probes(config)` (read-only
commands whose output the plan needs), `requires(config, facts)` (what an earlier step
must make first), `enrich(executor, config, facts)` (facts beyond sh, such as a
database catalog), `ROUNDS` and `apply_sql(...)` (the db step), and a pure
`plan(config, facts) -> StepPlan`. The design names more steps than exist yet;
`--step` accepts only built ones and says which those are.
"""

from __future__ import annotations

from typing import Any

from ..errors import Refused
from . import (
    bhyve,
    cms,
    db,
    git,
    host,
    llama_cpp,
    network,
    ollama,
    pf,
    preflight,
    service,
    soul,
    user,
)

# The design's order (design.md "Steps, in order").
DESIGN_ORDER = (
    "preflight",
    "host",
    "network",
    "pf",
    "user",
    "db",
    "git",
    "cms",
    "ollama",
    "llama-cpp",
    "soul",
    "service",
    "bhyve",
)
# A step is a module or an object with the same names (the role jails share one
# implementation: setup/jail.py).
BUILT: dict[str, Any] = {
    step.NAME: step
    for step in (
        preflight,
        host,
        network,
        pf,
        user,
        db,
        git,
        cms.STEP,
        ollama.STEP,
        llama_cpp.STEP,
        soul,
        service,
        bhyve,
    )
}


def select(requested: list[str] | None) -> list[str]:
    """The steps to run, in design order; every name checked."""
    if not requested:
        return [name for name in DESIGN_ORDER if name in BUILT]
    available = ", ".join(n for n in DESIGN_ORDER if n in BUILT)
    wanted: set[str] = set()
    for item in requested:
        for name in (part.strip() for part in item.split(",")):
            if name in BUILT:
                wanted.add(name)
            elif name in DESIGN_ORDER:
                raise Refused(
                    f"--step {name}: that step is not built in this version of warden; "
                    f"available steps: {available}"
                )
            else:
                raise Refused(f"--step {name!r}: no such step; available steps: {available}")
    return [name for name in DESIGN_ORDER if name in wanted]

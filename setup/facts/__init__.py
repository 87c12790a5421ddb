"""Everything a plan needs to know about a host, read in one round trip.

One generated sh script prints delimited sections; each section is the raw output of
a FreeBSD command, parsed here by a small function. Sections are framed by a random
nonce so nothing a host prints can fake a section boundary, and files are framed by
their byte count so their content is taken exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..domains import HOST, Location
from ..errors import HostError
from ..shell import RC_NOT_ROOT
from ..transport import Executor, connect
from .model import Facts, facts_from, fresh_host, parse_facts
from .parse import (
    Interface,
    Route,
    Stat,
    parse_colon_pairs,
    parse_id_table,
    parse_ifconfig,
    parse_pf,
    parse_registry,
    parse_routes,
    parse_version,
    parse_yes_no,
    stats,
)
from .script import (
    KERNEL_MODULES,
    MAX_READ,
    PROBE_PREFIX,
    RC_ABSENT,
    RC_D_DIRS,
    RC_TOO_LARGE,
    SYSCTLS,
    Probe,
    build_script,
    file_body,
    file_probe,
    guarded,
    locations,
    registry_snapshot_sh,
    stat_probe,
)
from .sections import Section, split_output

__all__ = [
    "KERNEL_MODULES",
    "MAX_READ",
    "PROBE_PREFIX",
    "RC_ABSENT",
    "RC_D_DIRS",
    "RC_TOO_LARGE",
    "SYSCTLS",
    "Facts",
    "Interface",
    "Probe",
    "Reading",
    "Route",
    "Section",
    "Stat",
    "build_script",
    "facts_from",
    "file_body",
    "file_probe",
    "fresh_host",
    "gather",
    "gather_at",
    "guarded",
    "locations",
    "parse_colon_pairs",
    "parse_facts",
    "parse_id_table",
    "parse_ifconfig",
    "parse_pf",
    "parse_registry",
    "parse_routes",
    "parse_version",
    "parse_yes_no",
    "read",
    "registry_snapshot_sh",
    "split_output",
    "stat_probe",
    "stats",
]


def _ask(
    executor: Executor,
    packages: Iterable[str],
    asked: list[Location],
    probes: Mapping[str, Probe] | None,
    *,
    base: bool,
) -> tuple[dict[str, Section], dict[Location, str | None], dict[Location, str]]:
    """Run a facts script (the whole facts with *base*, else only these probes and files)
    in one exec, and split what it printed."""
    script, nonce = build_script(packages, asked, probes=probes, base=base)
    result = executor.run(script)
    if result.rc == RC_NOT_ROOT:
        raise HostError(f"{executor.target}: cannot run as root: {result.stderr.strip()}")
    try:
        return split_output(result.out, nonce, asked)
    except ValueError as exc:
        detail = result.stderr.strip()[-500:]
        what = "the host's facts" if base else "a read on the host"
        raise HostError(
            f"{executor.target}: {what} could not be read (exit {result.rc}): {exc}"
            + (f"; stderr: {detail}" if detail else "")
        ) from None


def gather(
    executor: Executor,
    packages: Iterable[str] = (),
    files: Iterable[str | Location] = (),
    probes: Mapping[str, Probe] | None = None,
) -> Facts:
    """Read the host's facts in one exec."""
    return facts_from(
        executor.target, *_ask(executor, packages, locations(files), probes, base=True)
    )


def gather_at(target: str, *, accept_new: bool = False) -> Facts:
    """A host's facts on a connection of their own, closed once they are read (the
    commands that only look at several hosts' registries)."""
    executor = connect(target, accept_new=accept_new)
    try:
        return gather(executor)
    finally:
        executor.close()


@dataclass(frozen=True)
class Reading:
    """A few probes and files read outside the facts (a step's enrich, status, teardown),
    each in its domain, in one round trip."""

    sections: Mapping[str, Section]
    files: Mapping[Location, str | None]
    unreadable: Mapping[Location, str]

    def probe(self, name: str) -> Section | None:
        return self.sections.get(PROBE_PREFIX + name)

    def file(self, where: str | Location) -> str | None:
        return self.files.get(where if isinstance(where, Location) else Location(HOST, where))


def read(
    executor: Executor,
    *,
    probes: Mapping[str, Probe] | None = None,
    files: Iterable[str | Location] = (),
) -> Reading:
    """Ask these probes and read these files, each in its domain, bounded; nothing is
    printed or logged of what comes back (secrets are read this way too)."""
    return Reading(*_ask(executor, (), locations(files), probes, base=False))

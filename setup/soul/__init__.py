"""Souls: the agent's portable identity bundle (a git repository).

`check_soul` is the one gate every consumer goes through (soul.check, and later
the soul step and soul.sync on a fresh clone) before anything is written.
"""

from __future__ import annotations

from .check import CheckReport, Finding, check_soul
from .manifest import SoulManifest

__all__ = ["CheckReport", "Finding", "SoulManifest", "check_soul"]

"""warden: provision FreeBSD hosts for AI agents, safely and repeatably."""

__version__ = "0.1.0"

"""Test double for the FreeBSD commands the toolkit runs (see README.md and fbsd/)."""

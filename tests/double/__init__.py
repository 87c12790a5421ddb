"""Test double for the FreeBSD commands the toolkit runs (see freebsd_double.py)."""

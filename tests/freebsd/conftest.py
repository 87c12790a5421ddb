"""Cases for a real FreeBSD host: WARDEN_TEST_HOST=[user@]host[:port] (in ~/.ssh/known_hosts).

Skipped, with the reason shown, when no host is named: a double is not FreeBSD, and
these cases are what checks the double's fidelity.
"""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("WARDEN_TEST_HOST"):
        return
    skip = pytest.mark.skip(
        reason="no real FreeBSD host: set WARDEN_TEST_HOST to run tests/freebsd"
    )
    for item in items:
        if "tests/freebsd/" in str(item.path):
            item.add_marker(pytest.mark.freebsd)
            item.add_marker(skip)

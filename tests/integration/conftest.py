"""Fixtures for throwaway hosts: real sshd over overlays, the FreeBSD double on PATH.

Every test in tests/integration is marked `integration`.  On a machine that cannot
run throwaway hosts (not root, no unshare/sshd/overlayfs) the fixtures fail with
what to install; set WARDEN_SKIP_INTEGRATION=1 to skip them there instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.site import require_test_hosts
from tests.testhost import TestHost, TestNetwork, generate_key, write_ssh_config

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One client key per test session; every test host authorizes it."""
    key = tmp_path_factory.mktemp("client") / "id_ed25519"
    generate_key(key)
    return key


@pytest.fixture
def make_test_host(client_key: Path) -> Iterator[Callable[..., TestHost]]:
    """`make_test_host("web", **state_overrides)`: a host on 127.0.0.1, stopped after the test."""
    require_test_hosts()
    hosts: list[TestHost] = []

    def make(name: str = "host", /, **state_overrides: Any) -> TestHost:
        host = TestHost(name, client_key=client_key, state=state_overrides or None)
        hosts.append(host)
        return host.start()

    yield make
    for host in reversed(hosts):
        host.stop()


@pytest.fixture
def test_host(request: pytest.FixtureRequest, make_test_host: Callable[..., TestHost]) -> TestHost:
    """One host on 127.0.0.1.  Double state overrides by indirect parametrization:
    `@pytest.mark.parametrize("test_host", [{"key": value}], indirect=True)`."""
    overrides: dict[str, Any] = getattr(request, "param", None) or {}
    return make_test_host("host", **overrides)


@pytest.fixture
def test_network(client_key: Path) -> Iterator[TestNetwork]:
    """Hosts with their own addresses (network namespaces); all removed after the test."""
    require_test_hosts(network=True)
    with TestNetwork(client_key=client_key) as network:
        yield network


@pytest.fixture
def jump_hosts(test_network: TestNetwork) -> tuple[TestHost, TestHost]:
    """(jump, guest): guest is reachable only through jump's sshd (direct-tcpip/ProxyJump)."""
    jump = test_network.host("jump")
    guest = test_network.host("guest", behind=jump)
    return jump, guest


@pytest.fixture
def client_ssh_config(tmp_path: Path) -> Callable[..., Path]:
    """`client_ssh_config(host, ...)` -> ssh_config path (known_hosts next to it).

    Arguments are hosts (alias = host.name, ProxyJump = the host it sits behind,
    added to the file when missing) or (alias, host, jump alias or None) tuples.
    """

    def write(*hosts: TestHost | tuple[str, TestHost, str | None]) -> Path:
        entries: list[tuple[str, TestHost, str | None]] = []
        pending = list(hosts)
        while pending:
            item = pending.pop(0)
            if isinstance(item, tuple):
                entries.append(item)
                continue
            entries.append((item.name, item, item.via.name if item.via else None))
            listed = [e[1] for e in entries] + [
                p if isinstance(p, TestHost) else p[1] for p in pending
            ]
            if item.via is not None and not any(h is item.via for h in listed):
                pending.append(item.via)
        return write_ssh_config(tmp_path / "ssh_config", entries, tmp_path / "known_hosts")

    return write

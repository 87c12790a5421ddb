"""~/.ssh/config is honoured, and what warden cannot honour is refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from setup.errors import HostError
from setup.transport import SSHExecutor, parse_target, resolve_target


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return path


def test_an_alias_takes_hostname_user_port_identity_jump_and_known_hosts(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        (
            "Host web\n  HostName 192.0.2.7\n  User ops\n  Port 2222\n"
            "  IdentityFile ~/.ssh/web_key\n  ProxyJump bastion\n"
            "  UserKnownHostsFile /etc/warden/known_hosts\n"
        ),
    )
    target = resolve_target("web", path)
    assert (target.hostname, target.user, target.port) == ("192.0.2.7", "ops", 2222)
    assert target.identity_files[0].endswith("/.ssh/web_key")
    assert target.proxy_jump == "bastion"
    assert target.known_hosts_files == ("/etc/warden/known_hosts",)


def test_user_and_port_in_the_target_win_over_the_config(tmp_path: Path) -> None:
    path = config(tmp_path, "Host web\n  User ops\n  Port 2222\n")
    target = resolve_target("admin@web:22", path)
    assert (target.user, target.port) == ("admin", 22)


def test_ipv6_targets_are_split_correctly() -> None:
    assert parse_target("root@[2001:db8::1]:2222") == ("root", "2001:db8::1", 2222)


def test_a_port_that_is_not_a_number_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = config(tmp_path, "Host web\n  Port abc\n")
    with pytest.raises(HostError, match="Port 'abc'"):
        resolve_target("web", path)


def test_proxycommand_is_refused_rather_than_silently_bypassed(tmp_path: Path) -> None:
    path = config(tmp_path, "Host web\n  ProxyCommand nc %h %p\n")
    with pytest.raises(HostError, match="ProxyCommand"):
        resolve_target("web", path)


def test_a_proxyjump_loop_is_refused_before_any_connection(tmp_path: Path) -> None:
    path = config(tmp_path, "Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n")
    with pytest.raises(HostError, match="loops back"):
        SSHExecutor("a", ssh_config=path)

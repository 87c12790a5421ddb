"""setup.config: every rule has a failing case whose message names the file,
the key, the value and what would be valid."""

import re
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from dotenv import dotenv_values
from pydantic import ValidationError

from setup.config import (
    KNOWN_KEYS,
    RESERVED_NAMES,
    ROLES,
    ConfigError,
    ConfigProblem,
    load_config,
    parse_config,
)
from tests.harness.agents import MINIMAL, config_of

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / ".env.example"

# The multi-agent deployment guide's example, verbatim, as an operator would
# have pasted it into an existing Clawdie .env.
GUIDE_ENV = """\
AGENT_NAME=atlas
ASSISTANT_NAME=Atlas
AGENT_SUBNET_BASE=10.0.1
WARDEN_GATEWAY=10.0.1.1
WARDEN_SUBNET=10.0.1.0/24
WARDEN_GIT_IP=10.0.1.2
WARDEN_CMS_IP=10.0.1.3
WARDEN_OLLAMA_IP=10.0.1.4
WARDEN_LLAMA_CPP_IP=10.0.1.4
WARDEN_DB_IP=10.0.1.5
CMS_JAIL_NAME=atlas-cms
OLLAMA_JAIL_NAME=atlas-ollama
LLAMA_CPP_JAIL_NAME=atlas-llamacpp
DISPLAY_LOCALE=sl-SI
ASSISTANT_LOCALE=sl-SI
SYSTEM_LOCALE=sl_SI.UTF-8
"""

SECRET = "sk-ant-api03-DO-NOT-PRINT-THIS-9f8e7d"


def words(text: str) -> list[str]:
    return text.split()


def write(tmp_path: Path, text: str, name: str = ".env") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def env_text(values: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def error_of(tmp_path: Path, text: str) -> tuple[Path, ConfigError]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return path, caught.value


def problem_line(path: Path, error: ConfigError, key: str) -> str:
    """The one message line about `key`, checked to start with the file and key."""
    lines = [line for line in str(error).splitlines() if line.startswith(f"{path}: {key}")]
    assert lines, f"no problem about {key} in:\n{error}"
    return lines[0]


def assert_rejected(tmp_path: Path, key: str, value: str, valid: str, **others: str) -> None:
    """KEY=value fails; the message names file, key, repr(value) and `valid`."""
    values = {**MINIMAL, **others, key: value}
    path, error = error_of(tmp_path, env_text(values))
    assert key in [p.key for p in error.problems], str(error)
    line = problem_line(path, error, key)
    assert f"{path}: {key}={value!r}: " in line
    assert valid in line, line


# --------------------------------------------------------------------------- the happy path


def test_a_minimal_env_fills_in_every_default_from_agent_name_and_subnet_base(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path, env_text(MINIMAL)))
    assert config.agent_name == "atlas"
    assert config.assistant_name == "Atlas"
    assert config.subnet == IPv4Network("10.0.1.0/24")
    assert config.gateway == IPv4Address("10.0.1.1")
    assert config.role_ips == {
        "db": IPv4Address("10.0.1.5"),
        "git": IPv4Address("10.0.1.2"),
        "cms": IPv4Address("10.0.1.3"),
        "ollama": IPv4Address("10.0.1.4"),
        "llama-cpp": IPv4Address("10.0.1.4"),
    }
    assert config.jail_names == {
        "db": "atlasdb",
        "git": "atlasgit",
        "cms": "atlascms",
        "ollama": "atlasollama",
        "llama-cpp": "atlasllamacpp",
    }
    assert config.roles == ("db", "git")
    assert (config.display_locale, config.assistant_locale, config.system_locale) == (
        "en-US",
        "en-US",
        "en_US.UTF-8",
    )
    assert config.host == "local"
    assert config.runtime == "jail"
    assert config.agent_user == "atlas"
    assert config.db_runtime == "jail"
    assert config.pg_version == 17
    assert config.soul_ref == "main"
    assert config.soul_import_memories is False
    vm = (config.vm_cpus, config.vm_memory, config.vm_disk, config.vm_ip)
    assert vm == (2, "4G", "20G", None)
    assert config.limits == {}
    assert config.warnings == ()
    assert config.source == tmp_path / ".env"


def test_the_example_env_loads_without_problems_or_warnings() -> None:
    config = load_config(EXAMPLE)
    assert config.agent_name == "atlas"
    assert config.subnet == IPv4Network("10.0.1.0/24")
    assert config.roles == ("db", "git", "cms", "ollama")
    assert config.role_ips["ollama"] == config.role_ips["llama-cpp"] == IPv4Address("10.0.1.4")
    assert (config.display_locale, config.assistant_locale, config.system_locale) == (
        "sl-SI",
        "sl-SI",
        "sl_SI.UTF-8",
    )
    assert config.agent_command
    assert config.soul_repo
    assert config.warnings == ()


def test_the_example_env_documents_every_known_key_with_a_comment_above_it() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for key in KNOWN_KEYS:
        where = [i for i, line in enumerate(lines) if re.fullmatch(rf"#?{key}=.*", line)]
        assert len(where) == 1, f"{key} should appear once in .env.example"
        above = lines[where[0] - 1]
        assert above.startswith("# "), f"{key} needs a comment line above it"


def test_the_example_env_sets_no_key_twice_even_commented_out() -> None:
    keys = re.findall(r"^#?([A-Z_]+)=", EXAMPLE.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(keys) == len(set(keys))
    assert set(keys) == set(KNOWN_KEYS)


def test_known_keys_hold_the_seed_keys_and_the_design_table() -> None:
    seed = words("""AGENT_NAME ASSISTANT_NAME AGENT_SUBNET_BASE WARDEN_GATEWAY WARDEN_SUBNET
    WARDEN_GIT_IP WARDEN_CMS_IP WARDEN_OLLAMA_IP WARDEN_LLAMA_CPP_IP WARDEN_DB_IP
    GIT_JAIL_NAME CMS_JAIL_NAME OLLAMA_JAIL_NAME LLAMA_CPP_JAIL_NAME DB_JAIL_NAME
    DISPLAY_LOCALE ASSISTANT_LOCALE SYSTEM_LOCALE""")
    table = words("""WARDEN_HOST WARDEN_RUNTIME WARDEN_ROLES WARDEN_RELEASE WARDEN_EXT_IF
    WARDEN_NAMESERVER WARDEN_AGENT_USER WARDEN_AGENT_COMMAND WARDEN_DB_RUNTIME
    WARDEN_PG_VERSION WARDEN_DB_AGENT WARDEN_LLM_AGENT WARDEN_LLAMA_MODEL WARDEN_SOUL_REPO
    WARDEN_SOUL_REF WARDEN_SOUL_KEY WARDEN_SOUL_IMPORT_MEMORIES WARDEN_VM_CPUS
    WARDEN_VM_MEMORY WARDEN_VM_DISK WARDEN_VM_IP WARDEN_LIMITS""")
    assert set(KNOWN_KEYS) == set(seed) | set(table)
    assert all(meaning and "\n" not in meaning for meaning in KNOWN_KEYS.values())


def test_the_file_is_read_like_dotenv_values_without_interpolation(tmp_path: Path) -> None:
    text = GUIDE_ENV.replace("atlas-", "atlas") + (
        "export WARDEN_AGENT_COMMAND='claude --resume ${HOME}'  # inline comment\n"
        'ASSISTANT_NAME_IGNORED="x"\n'
    )
    path = write(tmp_path, text)
    config = load_config(path)
    assert config.agent_command == "claude --resume ${HOME}"
    expected = parse_config(dotenv_values(path, interpolate=False), path)
    assert config == expected


def test_the_process_environment_never_changes_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARDEN_HOST", "evil.example.org")
    monkeypatch.setenv("AGENT_NAME", "mallory")
    config = load_config(write(tmp_path, env_text(MINIMAL)))
    assert config.host == "local"
    assert config.agent_name == "atlas"


def test_an_empty_value_means_the_default() -> None:
    config = config_of(WARDEN_HOST="", WARDEN_PG_VERSION="", WARDEN_ROLES="")
    assert (config.host, config.pg_version, config.roles) == ("local", 17, ("db", "git"))


def test_the_config_is_frozen() -> None:
    config = config_of()
    with pytest.raises(ValidationError):
        config.agent_name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- the guide's .env


def test_the_guides_example_env_fails_only_on_its_jail_names_with_suggestions(
    tmp_path: Path,
) -> None:
    path, error = error_of(tmp_path, GUIDE_ENV)
    assert [p.key for p in error.problems] == [
        "CMS_JAIL_NAME",
        "OLLAMA_JAIL_NAME",
        "LLAMA_CPP_JAIL_NAME",
    ]
    line = problem_line(path, error, "CMS_JAIL_NAME")
    assert line.startswith(f"{path}: CMS_JAIL_NAME='atlas-cms': ")
    assert "Bastille" in line
    assert "suggest atlascms" in line
    assert "suggest atlasollama" in problem_line(path, error, "OLLAMA_JAIL_NAME")
    assert "suggest atlasllamacpp" in problem_line(path, error, "LLAMA_CPP_JAIL_NAME")


def test_the_guides_example_env_loads_once_the_suggested_names_are_used(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GUIDE_ENV.replace("atlas-", "atlas")))
    assert config.jail_names["cms"] == "atlascms"
    assert config.role_ips["ollama"] == config.role_ips["llama-cpp"]


# --------------------------------------------------------------------------- reading the file


def test_a_missing_file_is_a_config_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.env"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert ".env.example" in str(caught.value)


def test_a_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory"):
        load_config(tmp_path)


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"AGENT_NAME=atlas\nASSISTANT_NAME=\xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: line 2: is not UTF-8 text; save the file as UTF-8"


def test_a_line_that_cannot_be_parsed_names_its_line_number(tmp_path: Path) -> None:
    text = env_text(MINIMAL) + "\n\n# a comment\nWARDEN_HOST local\nWARDEN_RUNTIME=jail\n"
    path, error = error_of(tmp_path, text)
    assert error.problems == [ConfigProblem("line 6", None, error.problems[0].reason)]
    assert str(error).startswith(f"{path}: line 6: cannot be parsed")


def test_an_unclosed_quote_holding_a_secret_is_reported_without_the_secret(
    tmp_path: Path,
) -> None:
    text = env_text(MINIMAL) + f"ANTHROPIC_API_KEY='{SECRET}\n"
    _, error = error_of(tmp_path, text)
    assert "line 3" in str(error)
    assert SECRET not in str(error)
    assert SECRET not in repr(error.problems)


def test_a_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    text = env_text(MINIMAL) + "WARDEN_HOST=local\n# again\nWARDEN_HOST=build1\n"
    path, error = error_of(tmp_path, text)
    assert str(error) == f"{path}: WARDEN_HOST: is set on lines 3 and 5; keep only one of them"


def test_a_key_without_an_equals_sign_is_a_problem(tmp_path: Path) -> None:
    path, error = error_of(tmp_path, env_text(MINIMAL) + "WARDEN_HOST\n")
    assert problem_line(path, error, "WARDEN_HOST") == (
        f"{path}: WARDEN_HOST: has no '='; write WARDEN_HOST=value, or remove the line"
    )


# --------------------------------------------------------------------------- unknown keys


def test_a_look_alike_typo_suggests_the_known_key(tmp_path: Path) -> None:
    path, error = error_of(tmp_path, env_text({**MINIMAL, "WARDEN_DB_IPP": "10.0.1.5"}))
    assert str(error) == f"{path}: WARDEN_DB_IPP: is not a warden key; did you mean WARDEN_DB_IP?"


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("WARDEN_ROLE", "did you mean WARDEN_ROLES?"),
        ("AGENT_SUBNET", "did you mean AGENT_SUBNET_BASE?"),
        ("agent_name", "keys are case-sensitive: did you mean AGENT_NAME?"),
        ("CMS_JAILNAME", "did you mean CMS_JAIL_NAME?"),
        ("WEB_JAIL_NAME", "is not a warden key"),
        ("DISPLAY_LOCAL", "did you mean DISPLAY_LOCALE?"),
        ("ASISTANT_NAME", "did you mean ASSISTANT_NAME?"),
        ("WARDEN_XYZZY_PLUGH", "warden's keys are listed in .env.example"),
    ],
)
def test_an_unknown_key_that_looks_like_ours_is_an_error(
    tmp_path: Path, key: str, suggestion: str
) -> None:
    path, error = error_of(tmp_path, env_text({**MINIMAL, key: "something"}))
    line = problem_line(path, error, key)
    assert suggestion in line
    assert "something" not in line


def test_unknown_keys_of_other_programs_are_ignored(tmp_path: Path) -> None:
    text = env_text({**MINIMAL, "ANTHROPIC_API_KEY": SECRET, "CLAWDIE_PORT": "3000"})
    assert load_config(write(tmp_path, text)).agent_name == "atlas"


def test_a_secret_in_an_ignored_key_never_appears_in_the_error(tmp_path: Path) -> None:
    text = (
        f"ANTHROPIC_API_KEY={SECRET}\n"
        "AGENT_NAME=Atlas\n"
        "WARDEN_DB_IPP=1\n"
        f"ANTHROPIC_API_KEY={SECRET}\n"  # duplicated, so it is named
        "AGENT_SUBNET_BASE=8.8.8\n"
    )
    _, error = error_of(tmp_path, text)
    assert len(error.problems) == 4
    for rendered in (str(error), repr(error), repr(error.problems), str(error.args)):
        assert SECRET not in rendered


def test_a_password_in_the_soul_url_is_refused_without_showing_it(tmp_path: Path) -> None:
    url = f"https://atlas:{SECRET}@git.example.org/atlas/soul.git"
    path, error = error_of(tmp_path, env_text({**MINIMAL, "WARDEN_SOUL_REPO": url}))
    assert SECRET not in str(error)
    assert "WARDEN_SOUL_KEY" in problem_line(path, error, "WARDEN_SOUL_REPO")


# --------------------------------------------------------------------------- AGENT_NAME


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("Atlas", "must be lowercase (it names an rc.d service and a user): use atlas"),
        ("1atlas", "lowercase letters and digits starting with a letter"),
        ("atlas-2", "lowercase letters and digits starting with a letter"),
        ("atlas_2", "lowercase letters and digits starting with a letter"),
        ("abcdefghijklmnopq", "at most 16 characters"),
        ("pf", "already used by FreeBSD or its packages"),
        ("sshd", "already used by FreeBSD or its packages"),
        ("postgres", "already used by FreeBSD or its packages"),
        ("bastille", "already used by FreeBSD or its packages"),
        ("ätlas", "lowercase letters and digits starting with a letter"),
    ],
)
def test_agent_name_must_be_a_safe_lowercase_name(tmp_path: Path, value: str, valid: str) -> None:
    assert_rejected(tmp_path, "AGENT_NAME", value, valid)


def test_agent_name_is_required(tmp_path: Path) -> None:
    path, error = error_of(tmp_path, "AGENT_SUBNET_BASE=10.0.1\n")
    assert "is required" in problem_line(path, error, "AGENT_NAME")
    assert error.problems[0].value is None


def test_reserved_names_cover_base_system_users_rc_scripts_and_packages() -> None:
    for name in words("root toor www pf pflog jail sshd ntpd devfs netif routing zfs cron"):
        assert name in RESERVED_NAMES
    for name in words("postgres pgsql git gitea ollama tmux bastille vm syslogd sendmail"):
        assert name in RESERVED_NAMES
    assert "atlas" not in RESERVED_NAMES


def test_an_agent_user_may_not_take_a_pg_prefixed_name(tmp_path: Path) -> None:
    assert_rejected(tmp_path, "WARDEN_AGENT_USER", "pg_atlas", "system or package account")


# --------------------------------------------------------------------------- subnet


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("127.0.0", "is loopback; use a private (RFC 1918) /24"),
        ("169.254.1", "is link-local"),
        ("224.0.1", "is multicast"),
        ("8.8.8", "is not private"),
        ("172.32.0", "is not private"),
        ("100.64.1", "is not private"),
        ("0.0.1", "0.0.0.0/8"),
        ("10.0.01", "three dotted octets of a private (RFC 1918) /24, e.g. 10.0.1"),
        ("10.0.256", "each octet is 0-255"),
        ("10.0", "three dotted octets"),
        ("10.0.1.0", "give only the first three octets: 10.0.1"),
        ("10.0.1.0/24", "give only the first three octets: 10.0.1"),
        ("ten.zero.one", "three dotted octets"),
    ],
)
def test_the_subnet_base_must_be_a_private_slash_24(tmp_path: Path, value: str, valid: str) -> None:
    assert_rejected(tmp_path, "AGENT_SUBNET_BASE", value, valid)


@pytest.mark.parametrize("base", ["10.0.1", "172.16.50", "172.31.255", "192.168.72", "10.255.0"])
def test_any_rfc1918_slash_24_is_accepted(base: str) -> None:
    config = config_of(AGENT_SUBNET_BASE=base)
    assert config.subnet == IPv4Network(f"{base}.0/24")
    assert config.gateway == IPv4Address(f"{base}.1")


def test_warden_subnet_must_be_the_slash_24_of_the_base(tmp_path: Path) -> None:
    assert_rejected(tmp_path, "WARDEN_SUBNET", "10.0.2.0/24", "must be 10.0.1.0/24")


def test_warden_gateway_is_always_dot_1(tmp_path: Path) -> None:
    assert_rejected(
        tmp_path, "WARDEN_GATEWAY", "10.0.1.254", "must be 10.0.1.1: the gateway is always .1"
    )


# --------------------------------------------------------------------------- role addresses


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("10.0.2.5", "is outside the agent's subnet 10.0.1.0/24; use an address in 10.0.1.2-"),
        ("10.0.1.0", "is the network address of 10.0.1.0/24"),
        ("10.0.1.1", "is the host's gateway of 10.0.1.0/24"),
        ("10.0.1.255", "is the broadcast address of 10.0.1.0/24"),
        ("10.0.1.300", "must be an IPv4 address for the db jail in 10.0.1.2-10.0.1.254"),
        ("10.0.1.05", "must be an IPv4 address"),
        ("db.local", "must be an IPv4 address"),
    ],
)
def test_a_role_address_must_be_a_usable_host_in_the_subnet(
    tmp_path: Path, value: str, valid: str
) -> None:
    assert_rejected(tmp_path, "WARDEN_DB_IP", value, valid)


def test_two_enabled_roles_on_one_address_is_an_error(tmp_path: Path) -> None:
    assert_rejected(
        tmp_path,
        "WARDEN_CMS_IP",
        "10.0.1.2",
        "is already the git jail's address (WARDEN_GIT_IP)",
        WARDEN_ROLES="db,git,cms",
    )


def test_a_disabled_role_may_keep_any_address() -> None:
    assert config_of(WARDEN_CMS_IP="10.0.1.2").roles == ("db", "git")


def test_both_llms_on_one_address_is_an_error_when_both_are_created_here(
    tmp_path: Path,
) -> None:
    assert_rejected(
        tmp_path,
        "WARDEN_LLAMA_CPP_IP",
        "10.0.1.4",
        "ollama and llama-cpp may share one only when",
        WARDEN_ROLES="ollama,llama-cpp",
        WARDEN_LLAMA_MODEL="model.gguf",
    )


def test_both_llms_may_share_an_address_when_only_one_is_enabled() -> None:
    config = config_of(WARDEN_ROLES="db,git,ollama", WARDEN_LLAMA_CPP_IP="10.0.1.4")
    assert config.role_ips["ollama"] == config.role_ips["llama-cpp"]


def test_both_llms_may_share_an_address_and_jail_with_a_shared_llm_agent() -> None:
    config = config_of(
        WARDEN_ROLES="ollama,llama-cpp",
        WARDEN_LLM_AGENT="clawdie",
        OLLAMA_JAIL_NAME="clawdieollama",
        LLAMA_CPP_JAIL_NAME="clawdieollama",
    )
    assert config.llm_agent == "clawdie"
    assert config.llama_model is None


# --------------------------------------------------------------------------- jail names


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("atlas-cms", "suggest atlascms"),
        ("atlas_cms", "refuses '-' and '_' in VNET jail names"),
        ("12345", "starting with a letter (not all digits); suggest atlascms"),
        ("9cms", "starting with a letter"),
        ("atlas.cms", "letters and digits only"),
        ("a" * 65, "at most 64 characters; suggest atlascms"),
    ],
)
def test_a_jail_name_must_be_letters_and_digits_for_bastille_vnet(
    tmp_path: Path, value: str, valid: str
) -> None:
    assert_rejected(tmp_path, "CMS_JAIL_NAME", value, valid)


def test_two_roles_with_one_jail_name_is_an_error(tmp_path: Path) -> None:
    assert_rejected(tmp_path, "GIT_JAIL_NAME", "atlasdb", "is already the db jail (DB_JAIL_NAME)")


def test_a_jail_name_over_11_characters_is_a_warning_not_an_error() -> None:
    config = config_of(WARDEN_ROLES="db,git,cms", CMS_JAIL_NAME="atlascms2025")
    assert config.jail_names["cms"] == "atlascms2025"
    assert len(config.warnings) == 1
    assert "CMS_JAIL_NAME=atlascms2025" in config.warnings[0]
    assert "e0a_bastille" in config.warnings[0]


def test_a_long_default_jail_name_warns_only_for_an_enabled_role() -> None:
    assert config_of().warnings == ()
    config = config_of(WARDEN_ROLES="llama-cpp", WARDEN_LLAMA_MODEL="m.gguf")
    assert any("LLAMA_CPP_JAIL_NAME=atlasllamacpp" in w for w in config.warnings)


# --------------------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("db,git,web", "'web' is not a role; roles are db,git,cms,ollama,llama-cpp"),
        ("db,llama_cpp", "(did you mean llama-cpp?)"),
        ("db,db", "lists db twice"),
        ("db,,git", "has an empty entry"),
    ],
)
def test_roles_must_be_a_subset_of_the_known_roles(tmp_path: Path, value: str, valid: str) -> None:
    assert_rejected(tmp_path, "WARDEN_ROLES", value, valid)


def test_roles_are_put_in_canonical_order() -> None:
    assert config_of(WARDEN_ROLES="ollama, git ,db").roles == ("db", "git", "ollama")
    assert ROLES == ("db", "git", "cms", "ollama", "llama-cpp")


# --------------------------------------------------------------------------- locales


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("sl_SI.ISO8859-2", "legacy encoding ISO8859-2: SYSTEM_LOCALE must be UTF-8"),
        ("de_DE.ISO8859-15", "e.g. de_DE.UTF-8"),
        ("sl_SI.utf8", "FreeBSD's spelling ll_CC.UTF-8: use sl_SI.UTF-8"),
        ("sl_SI", "use sl_SI.UTF-8"),
        ("sl-SI", "use sl_SI.UTF-8"),
        ("C", "sl_SI.UTF-8 or C.UTF-8"),
    ],
)
def test_the_system_locale_must_be_a_utf8_posix_locale(
    tmp_path: Path, value: str, valid: str
) -> None:
    assert_rejected(tmp_path, "SYSTEM_LOCALE", value, valid)


@pytest.mark.parametrize("value", ["sl_SI.UTF-8", "en_US.UTF-8", "C.UTF-8", "ast_ES.UTF-8"])
def test_utf8_system_locales_are_accepted(value: str) -> None:
    assert config_of(SYSTEM_LOCALE=value).system_locale == value


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("sl_SI", "BCP-47 language tag such as sl-SI, en or zh-Hans-CN (hyphens, no encoding)"),
        ("sl_SI.UTF-8", "did you mean sl-SI?"),
        ("english", "BCP-47 language tag"),
        ("e", "BCP-47 language tag"),
        ("sl--SI", "BCP-47 language tag"),
        ("sl-SI-", "BCP-47 language tag"),
    ],
)
def test_display_and_assistant_locales_are_bcp47_tags(
    tmp_path: Path, value: str, valid: str
) -> None:
    assert_rejected(tmp_path, "DISPLAY_LOCALE", value, valid)
    assert_rejected(tmp_path, "ASSISTANT_LOCALE", value, valid)


@pytest.mark.parametrize(
    "value", ["en", "sl-SI", "zh-Hans-CN", "de-DE", "es-419", "sr-Latn-RS", "de-CH-1996", "zh-CN"]
)
def test_common_language_tags_are_accepted(value: str) -> None:
    assert config_of(DISPLAY_LOCALE=value, ASSISTANT_LOCALE=value).assistant_locale == value


# --------------------------------------------------------------------------- host and network


@pytest.mark.parametrize(
    "value",
    [
        "local",
        "atlas-vm",
        "build_1",
        "admin@host.example.org",
        "admin@host.example.org:2222",
        "192.0.2.5",
        "root@192.0.2.5:22",
        "[2001:db8::5]:22",
        "2001:db8::5",
        "ops@2001:db8::5",
    ],
)
def test_warden_host_accepts_local_aliases_and_ssh_targets(value: str) -> None:
    assert config_of(WARDEN_HOST=value).host == value


@pytest.mark.parametrize(
    "value",
    [
        "-oProxyCommand=touch /tmp/x",
        "-oProxyCommand=x",
        "host;reboot",
        "$(id)",
        "`id`",
        "host|x",
        "user@",
        "@host",
        "host:99999",
        "host:0",
        "[zz::1]:22",
        "fe80::1%em0",
        "300.1.2.3",
        "a\\b",
    ],
)
def test_warden_host_rejects_options_and_shell_characters(tmp_path: Path, value: str) -> None:
    path, error = error_of(tmp_path, env_text({**MINIMAL, "WARDEN_HOST": f"'{value}'"}))
    line = problem_line(path, error, "WARDEN_HOST")
    assert f"WARDEN_HOST={value!r}" in line


def test_the_nameserver_may_not_be_loopback(tmp_path: Path) -> None:
    assert_rejected(
        tmp_path, "WARDEN_NAMESERVER", "127.0.0.1", "a jail cannot reach the host's 127.0.0.1"
    )
    assert_rejected(tmp_path, "WARDEN_NAMESERVER", "dns.example", "must be an IPv4 address")
    assert config_of(WARDEN_NAMESERVER="10.0.1.1").nameserver == IPv4Address("10.0.1.1")


@pytest.mark.parametrize(
    ("key", "value", "valid"),
    [
        ("WARDEN_RUNTIME", "docker", "must be jail or bhyve"),
        ("WARDEN_DB_RUNTIME", "vm", "must be jail (PostgreSQL in its own jail) or host"),
        ("WARDEN_RELEASE", "14.3", "like 14.3-RELEASE or 14.3-RELEASE-p2"),
        ("WARDEN_RELEASE", "14.3-release", "must be spelled 14.3-RELEASE"),
        ("WARDEN_RELEASE", "14.3-RELEASE;x", "like 14.3-RELEASE"),
        ("WARDEN_EXT_IF", "em0;x", "FreeBSD interface name"),
        ("WARDEN_EXT_IF", "Em0", "FreeBSD interface name"),
        ("WARDEN_EXT_IF", "averyveryverylongif0", "FreeBSD interface name"),
        ("WARDEN_AGENT_USER", "root", "system or package account"),
        ("WARDEN_AGENT_USER", "Atlas", "use atlas"),
        ("WARDEN_AGENT_USER", "9atlas", "starting with a letter"),
        ("WARDEN_PG_VERSION", "12", "from 13 to 18"),
        ("WARDEN_PG_VERSION", "19", "from 13 to 18"),
        ("WARDEN_PG_VERSION", "seventeen", "from 13 to 18"),
        ("WARDEN_DB_AGENT", "atlas", "names this agent itself"),
        ("WARDEN_LLM_AGENT", "Clawdie", "use clawdie"),
        ("WARDEN_LLM_AGENT", "postgres", "already used by FreeBSD"),
        ("ASSISTANT_NAME", "Atlas'; rm -rf /", "no quotes or shell characters"),
        ("ASSISTANT_NAME", "$HOME", "starting with a letter"),
    ],
)
def test_each_other_key_rejects_values_outside_its_pattern(
    tmp_path: Path, key: str, value: str, valid: str
) -> None:
    assert_rejected(tmp_path, key, value, valid)


@pytest.mark.parametrize(
    ("key", "value", "attribute", "expected"),
    [
        ("WARDEN_RUNTIME", "bhyve", "runtime", "bhyve"),
        ("WARDEN_DB_RUNTIME", "host", "db_runtime", "host"),
        ("WARDEN_RELEASE", "14.3-RELEASE-p2", "release", "14.3-RELEASE-p2"),
        ("WARDEN_EXT_IF", "vtnet0", "ext_if", "vtnet0"),
        ("WARDEN_AGENT_USER", "atlas_bot", "agent_user", "atlas_bot"),
        ("WARDEN_PG_VERSION", "16", "pg_version", 16),
        ("WARDEN_DB_AGENT", "clawdie", "db_agent", "clawdie"),
        ("ASSISTANT_NAME", "Žarko Atlas", "assistant_name", "Žarko Atlas"),
        ("WARDEN_AGENT_COMMAND", "claude --resume 'x y'", "agent_command", "claude --resume 'x y'"),
    ],
)
def test_each_other_key_accepts_its_documented_form(
    key: str, value: str, attribute: str, expected: object
) -> None:
    assert getattr(config_of(**{key: value}), attribute) == expected


# --------------------------------------------------------------------------- llama model


def test_a_llama_model_is_required_when_llama_cpp_is_a_role(tmp_path: Path) -> None:
    path, error = error_of(tmp_path, env_text({**MINIMAL, "WARDEN_ROLES": "db,llama-cpp"}))
    line = problem_line(path, error, "WARDEN_LLAMA_MODEL")
    assert "is required when WARDEN_ROLES has llama-cpp" in line
    assert "e.g. WARDEN_LLAMA_MODEL=/var/db/llama/model.gguf" in line


@pytest.mark.parametrize("value", ["model file.gguf", "../model.gguf", "-model.gguf", "models/"])
def test_a_llama_model_is_an_absolute_path_or_a_plain_file_name(tmp_path: Path, value: str) -> None:
    assert_rejected(
        tmp_path, "WARDEN_LLAMA_MODEL", value, "must be an absolute path or a plain file name"
    )


@pytest.mark.parametrize("value", ["/var/db/llama/Qwen2.5-7B-Q4_K_M.gguf", "model.gguf"])
def test_llama_model_forms_that_are_accepted(value: str) -> None:
    assert config_of(WARDEN_ROLES="llama-cpp", WARDEN_LLAMA_MODEL=value).llama_model == value


# --------------------------------------------------------------------------- soul


@pytest.mark.parametrize(
    "value",
    [
        "https://git.example.org/atlas/soul.git",
        "https://git.example.org:8443/atlas/soul",
        "ssh://git@git.example.org:2222/atlas/soul.git",
        "git@git.example.org:atlas/soul.git",
        "git.example.org:atlas/soul.git",
        "/srv/git/atlas-soul.git",
        "file:///srv/git/atlas-soul.git",
    ],
)
def test_soul_repo_accepts_git_urls(value: str) -> None:
    assert config_of(WARDEN_SOUL_REPO=value).soul_repo == value


@pytest.mark.parametrize(
    "value",
    [
        "http://git.example.org/atlas/soul.git",
        "git://git.example.org/atlas/soul.git",
        "ftp://git.example.org/soul",
        "-uhttps://x/y",
        "ssh://-oProxyCommand=x/soul",
        "https://git.example.org/atlas/soul.git;reboot",
        "https://git.example.org/a/$(id)",
        "https://git.example.org",
        "https://git.example.org/x?y=1",
        "git@host:../../etc",
        "relative/path",
        "file://host/srv/x",
    ],
)
def test_soul_repo_rejects_anything_else(tmp_path: Path, value: str) -> None:
    assert_rejected(tmp_path, "WARDEN_SOUL_REPO", value, "must be ")


@pytest.mark.parametrize("value", ["main", "v1.2", "feature/new-voice", "a" * 40])
def test_soul_ref_accepts_branches_tags_and_commits(value: str) -> None:
    assert config_of(WARDEN_SOUL_REF=value).soul_ref == value


@pytest.mark.parametrize(
    "value", ["a..b", ".hidden", "x.lock", "-x", "a//b", "x/", "x.", "@", "a~1", "a^", "a:b"]
)
def test_soul_ref_follows_git_ref_name_rules(tmp_path: Path, value: str) -> None:
    assert_rejected(tmp_path, "WARDEN_SOUL_REF", value, "must be a git branch, tag or commit")


def test_soul_key_must_be_an_absolute_path(tmp_path: Path) -> None:
    assert_rejected(tmp_path, "WARDEN_SOUL_KEY", ".ssh/key", "must be an absolute path")
    assert_rejected(tmp_path, "WARDEN_SOUL_KEY", "/home/a b/key", "must be an absolute path")
    assert config_of(WARDEN_SOUL_KEY="/root/.ssh/soul").soul_key == "/root/.ssh/soul"


def test_soul_keys_without_a_soul_repo_are_warned_about() -> None:
    config = config_of(WARDEN_SOUL_REF="v2")
    assert config.warnings == ("WARDEN_SOUL_REF is ignored without WARDEN_SOUL_REPO",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("yes", True), ("YES", True), ("true", True), ("1", True), ("no", False), ("0", False)],
)
def test_import_memories_is_a_yes_no_flag(value: str, expected: bool) -> None:
    assert config_of(WARDEN_SOUL_IMPORT_MEMORIES=value).soul_import_memories is expected


def test_import_memories_rejects_other_words(tmp_path: Path) -> None:
    assert_rejected(tmp_path, "WARDEN_SOUL_IMPORT_MEMORIES", "maybe", "must be yes or no")


# --------------------------------------------------------------------------- bhyve


def test_a_bhyve_agent_gets_the_dot_10_guest_address_by_default() -> None:
    assert config_of(WARDEN_RUNTIME="bhyve").vm_ip == IPv4Address("10.0.1.10")


@pytest.mark.parametrize(
    ("key", "value", "valid"),
    [
        ("WARDEN_VM_CPUS", "0", "from 1 to 256"),
        ("WARDEN_VM_CPUS", "1000", "from 1 to 256"),
        ("WARDEN_VM_MEMORY", "4GB", "with a unit M, G or T, e.g. 512M, 4G or 1T"),
        ("WARDEN_VM_MEMORY", "4g", "must use an upper-case unit: 4G"),
        ("WARDEN_VM_DISK", "20", "with a unit M, G or T"),
        ("WARDEN_VM_IP", "10.0.2.10", "is outside the agent's subnet 10.0.1.0/24"),
        ("WARDEN_VM_IP", "10.0.1.5", "is already the db jail's address (WARDEN_DB_IP)"),
    ],
)
def test_bhyve_sizes_and_address_are_checked(
    tmp_path: Path, key: str, value: str, valid: str
) -> None:
    assert_rejected(tmp_path, key, value, valid, WARDEN_RUNTIME="bhyve")


def test_a_default_guest_address_taken_by_a_role_is_reported(tmp_path: Path) -> None:
    text = env_text({**MINIMAL, "WARDEN_RUNTIME": "bhyve", "WARDEN_GIT_IP": "10.0.1.10"})
    path, error = error_of(tmp_path, text)
    assert "(the default) is already the git jail's address" in problem_line(
        path, error, "WARDEN_VM_IP"
    )


# --------------------------------------------------------------------------- limits


def test_limits_parse_into_roles_and_rctl_resources() -> None:
    config = config_of(WARDEN_LIMITS="git:memoryuse=512M;db:memoryuse=2G,pcpu=200;")
    assert config.limits == {
        "db": {"memoryuse": "2G", "pcpu": "200"},
        "git": {"memoryuse": "512M"},
    }
    assert list(config.limits) == ["db", "git"]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("web:memoryuse=1G", "'web' is not a role"),
        ("db:memory=1G", "'memory' is not an rctl(8) resource; did you mean memoryuse?"),
        ("db:memoryuse=lots", "digits with an optional K, M, G or T suffix"),
        ("db:memoryuse=1G;db:pcpu=2", "sets db twice"),
        ("db:pcpu=1,pcpu=2", "sets db:pcpu twice"),
        ("db memoryuse=1G", "must be role:resource=amount"),
        ("db:memoryuse", "must be role:resource=amount"),
    ],
)
def test_limits_reject_unknown_roles_resources_and_amounts(
    tmp_path: Path, value: str, valid: str
) -> None:
    assert_rejected(tmp_path, "WARDEN_LIMITS", value, valid)


def test_limits_for_a_role_that_is_not_created_are_a_warning() -> None:
    config = config_of(WARDEN_LIMITS="cms:pcpu=50")
    assert config.warnings == ("WARDEN_LIMITS sets limits for cms, which is not in WARDEN_ROLES",)


# --------------------------------------------------------------------------- control characters


@pytest.mark.parametrize("key", sorted(KNOWN_KEYS))
@pytest.mark.parametrize("bad", ["a\x00b", "a\nb", "a\rb", "a\tb", "a\x1bb", "a\u202eb"])
def test_no_key_accepts_control_characters(key: str, bad: str) -> None:
    values = {**MINIMAL, key: bad}
    with pytest.raises(ConfigError) as caught:
        parse_config(values, Path("/x/.env"))
    (problem,) = [p for p in caught.value.problems if p.key == key]
    assert problem.value == bad
    assert "control character" in problem.reason
    assert "\n" not in str(caught.value).replace("\n/x/.env: ", "")


def test_a_newline_smuggled_in_through_double_quotes_is_refused(tmp_path: Path) -> None:
    text = env_text(MINIMAL) + 'WARDEN_AGENT_COMMAND="claude\\nrm -rf /"\n'
    path, error = error_of(tmp_path, text)
    line = problem_line(path, error, "WARDEN_AGENT_COMMAND")
    assert "WARDEN_AGENT_COMMAND='claude\\nrm -rf /'" in line
    assert "control character U+000A" in line


def test_surrounding_whitespace_in_a_quoted_value_is_refused(tmp_path: Path) -> None:
    path, error = error_of(tmp_path, env_text(MINIMAL) + "WARDEN_HOST=' local'\n")
    assert "leading or trailing whitespace" in problem_line(path, error, "WARDEN_HOST")


# --------------------------------------------------------------------------- errors as a whole


def test_all_problems_are_reported_at_once_one_line_each(tmp_path: Path) -> None:
    text = "AGENT_NAME=Atlas\nAGENT_SUBNET_BASE=8.8.8\nWARDEN_ROLES=web\nWARDEN_PG_VERSION=9\n"
    path, error = error_of(tmp_path, text)
    assert [p.key for p in error.problems] == [
        "AGENT_NAME",
        "AGENT_SUBNET_BASE",
        "WARDEN_ROLES",
        "WARDEN_PG_VERSION",
    ]
    assert len(str(error).splitlines()) == 4
    assert all(line.startswith(f"{path}: ") for line in str(error).splitlines())
    assert error.path == path


def test_a_very_long_bad_value_is_shortened_in_the_message(tmp_path: Path) -> None:
    path, error = error_of(tmp_path, env_text({**MINIMAL, "WARDEN_EXT_IF": "x" * 1000}))
    assert len(problem_line(path, error, "WARDEN_EXT_IF")) < 400


# --------------------------------------------------------------------------- env_keys and digest


def test_env_keys_lists_every_known_key_and_reads_back_to_the_same_config() -> None:
    config = load_config(EXAMPLE)
    keys = config.env_keys()
    assert list(keys) == list(KNOWN_KEYS)
    assert parse_config(keys, EXAMPLE) == config


def test_env_keys_round_trip_for_a_bhyve_agent_with_limits() -> None:
    config = config_of(
        WARDEN_RUNTIME="bhyve",
        WARDEN_LIMITS="db:memoryuse=2G,pcpu=200",
        WARDEN_SOUL_IMPORT_MEMORIES="true",
    )
    keys = config.env_keys()
    assert keys["WARDEN_VM_IP"] == "10.0.1.10"
    assert keys["WARDEN_SOUL_IMPORT_MEMORIES"] == "yes"
    assert parse_config(keys, config.source).digest() == config.digest()


def test_the_digest_is_stable_for_equal_configs(tmp_path: Path) -> None:
    first = load_config(EXAMPLE)
    copy = write(tmp_path, EXAMPLE.read_text(encoding="utf-8") + "\n# moved\n", "other.env")
    second = load_config(copy)
    assert first.digest() == second.digest() == load_config(EXAMPLE).digest()
    assert re.fullmatch(r"[0-9a-f]{64}", first.digest())


def test_the_digest_ignores_where_the_file_lives_and_warnings() -> None:
    one = parse_config(MINIMAL, Path("/a/.env"))
    two = parse_config(MINIMAL, Path("/b/.env")).model_copy(update={"warnings": ("note",)})
    assert one != two
    assert one.digest() == two.digest()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("AGENT_SUBNET_BASE", "10.0.2"),
        ("WARDEN_PG_VERSION", "16"),
        ("CMS_JAIL_NAME", "atlascms2"),
        ("WARDEN_LIMITS", "db:pcpu=100"),
        ("ASSISTANT_NAME", "Atlas Two"),
    ],
)
def test_the_digest_changes_when_a_value_changes(key: str, value: str) -> None:
    assert config_of().digest() != config_of(**{key: value}).digest()


def test_warden_roles_none_is_an_agent_without_role_jails(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_ROLES=none\n")
    config = load_config(env)
    assert config.roles == ()
    assert config.env_keys()["WARDEN_ROLES"] == "none"

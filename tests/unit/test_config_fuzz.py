"""load_config meets arbitrary file content: it returns an AgentConfig or
raises ConfigError, never anything else, and what it accepts is safe to put
on a command line."""

import os
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from setup.config import KNOWN_KEYS, AgentConfig, ConfigError, load_config, parse_config

BASE = {"AGENT_NAME": "atlas", "AGENT_SUBNET_BASE": "10.0.1"}
SECRET = "SECRET-7c1d-never-shown"
FUZZ = settings(
    max_examples=int(os.environ.get("WARDEN_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Text that hits the parser's and the validators' edges more often than
# uniform unicode would: quotes, escapes, comment marks, separators, controls.
edgy_text = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(list("'\"\\#=:;,@/.-_ \t\n\r\x00$`|&<>()[]{}%~*?!+")),
        st.sampled_from(["\u2028", "\u202e", "\ufeff", "\x85", "\u017f", "\u212a", "\u0661"]),
    ),
    max_size=60,
)
plausible = st.sampled_from(
    [
        "10.0.1.7",
        "10.0.1",
        "atlas",
        "atlas-cms",
        "sl-SI",
        "sl_SI.UTF-8",
        "db,git,cms,ollama,llama-cpp",
        "bhyve",
        "db:memoryuse=2G",
        "4G",
        "yes",
        "17",
        "/var/db/model.gguf",
        "https://git.example.org/a/b.git",
        "",
    ]
)
any_value = st.one_of(edgy_text, plausible)


def quote(value: str, style: str) -> str:
    """Write a value the ways an operator (or a generator) might."""
    if style == "raw":
        return value
    if style == "double":
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if style == "single":
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


@contextmanager
def env_file(text: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / ".env"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        yield path


def outcome(path: Path) -> AgentConfig | ConfigError:
    try:
        return load_config(path)
    except ConfigError as error:
        return error


def assert_safe(config: AgentConfig) -> None:
    """An accepted config holds no control or format characters anywhere."""
    for key, value in config.env_keys().items():
        bad = [c for c in value if unicodedata.category(c) in {"Cc", "Cf", "Cs", "Zl", "Zp"}]
        assert not bad, (key, value)
        if key not in ("ASSISTANT_NAME", "WARDEN_AGENT_COMMAND"):
            assert not any(c.isspace() for c in value), (key, value)
            assert not value.startswith("-"), (key, value)


@FUZZ
@given(
    values=st.dictionaries(st.sampled_from(sorted(KNOWN_KEYS)), any_value, max_size=8),
    style=st.sampled_from(["raw", "double", "single", "repr"]),
)
def test_any_value_of_any_known_key_gives_a_config_or_a_config_error(
    values: dict[str, str], style: str
) -> None:
    merged = {**BASE, **values, "ANTHROPIC_API_KEY": SECRET}
    text = "".join(f"{key}={quote(value, style)}\n" for key, value in merged.items())
    with env_file(text) as path:
        result = outcome(path)
    if isinstance(result, ConfigError):
        assert result.problems
        assert SECRET not in str(result)
        assert all(line.startswith(f"{path}: ") for line in str(result).splitlines())
    else:
        assert isinstance(result, AgentConfig)
        assert_safe(result)


@FUZZ
@given(key=st.sampled_from(sorted(KNOWN_KEYS)), value=st.text())
def test_one_arbitrary_value_in_an_otherwise_valid_file_never_crashes(key: str, value: str) -> None:
    for style in ("raw", "double", "single", "repr"):
        text = f"AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\n{key}={quote(value, style)}\n"
        with env_file(text) as path:
            result = outcome(path)
        assert isinstance(result, AgentConfig | ConfigError)
        if isinstance(result, AgentConfig):
            assert_safe(result)


@FUZZ
@given(text=st.text(max_size=400))
def test_an_arbitrary_file_never_raises_anything_but_config_error(text: str) -> None:
    with env_file(text) as path:
        assert isinstance(outcome(path), AgentConfig | ConfigError)


@FUZZ
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_config_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / ".env"
        path.write_bytes(b"AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\n" + data)
        assert isinstance(outcome(path), AgentConfig | ConfigError)


@FUZZ
@given(
    values=st.dictionaries(
        st.one_of(st.sampled_from(sorted(KNOWN_KEYS)), st.text(max_size=20)),
        st.one_of(st.none(), any_value),
        max_size=10,
    )
)
def test_parse_config_accepts_any_mapping_without_crashing(
    values: dict[str, str | None],
) -> None:
    try:
        config = parse_config({**BASE, **values}, Path("/x/.env"))
    except ConfigError as error:
        assert error.problems
    else:
        assert_safe(config)
        assert parse_config(config.env_keys(), Path("/x/.env")) == config

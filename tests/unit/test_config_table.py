"""The table of keys in setup/config/keys.py is the one place a key is declared:
.env.example, the key table in docs/cli.md, the "did you mean" hints, env_keys() and
AgentConfig all agree with it."""

import re
from pathlib import Path

import pytest

from setup.config import (
    KEYS,
    KNOWN_KEYS,
    AgentConfig,
    ConfigError,
    load_config,
    load_or_refuse,
    parse_config,
)
from setup.config.context import Context
from setup.config.document import (
    KEYS_HEADING,
    env_example,
    keys_section,
    main,
    with_keys_section,
)
from setup.config.keys import STEPS, Key
from setup.errors import Refused
from setup.steps import DESIGN_ORDER
from tests.harness.agents import MINIMAL

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / ".env.example"
CONTRACT = REPO / "docs" / "cli.md"
REGENERATE = "regenerate with: python -m setup.config.document --write"


def contract_keys_section() -> str:
    text = CONTRACT.read_text(encoding="utf-8")
    start = text.index(f"\n{KEYS_HEADING}\n") + 1
    end = text.index("\n## ", start)
    return text[start : end + 1]


# --------------------------------------------------------------------------- the documents


def test_the_example_env_is_exactly_what_the_table_makes() -> None:
    assert EXAMPLE.read_text(encoding="utf-8") == env_example(), REGENERATE


def test_the_contracts_key_section_is_exactly_what_the_table_makes() -> None:
    assert contract_keys_section() == keys_section() + "\n", REGENERATE


def test_the_example_env_sets_every_key_of_the_table_once_and_no_other() -> None:
    keys = re.findall(r"^#?([A-Z][A-Z0-9_]*)=", EXAMPLE.read_text(encoding="utf-8"), re.M)
    assert sorted(keys) == sorted(key.name for key in KEYS)


def test_each_key_in_the_example_env_has_its_help_and_default_in_the_comment_above() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for key in KEYS:
        comment = re.search(rf"((?:^# .*\n)+)#?{key.name}=", text, re.M)
        assert comment, f"{key.name} needs a comment block above it"
        joined = " ".join(line[2:] for line in comment.group(1).splitlines())
        assert key.meaning in joined, key.name


def test_the_contract_has_one_row_per_key_of_the_table_with_its_help_and_default() -> None:
    rows = [line for line in contract_keys_section().splitlines() if line.startswith("| `")]
    names = [re.match(r"\| `([A-Z0-9_]+)` \|", row) for row in rows]
    assert [m.group(1) for m in names if m] == [key.name for key in KEYS]
    for key, row in zip(KEYS, rows, strict=True):
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert cells[1] == key.help.replace("<", "&lt;")
        assert cells[2].strip("`").replace("&lt;", "<") == key.default_text


def test_the_document_module_prints_the_example_env_the_file_holds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--env-example"]) == 0
    assert capsys.readouterr().out == EXAMPLE.read_text(encoding="utf-8")


def test_replacing_the_keys_section_keeps_the_text_around_it() -> None:
    text = f"# t\n\nintro\n\n{KEYS_HEADING}\n\nold table\n\n## Tests\n\nrest\n"
    new = with_keys_section(text)
    assert new.startswith("# t\n\nintro\n\n")
    assert new.endswith("\n## Tests\n\nrest\n")
    assert "old table" not in new and keys_section() in new


def test_the_example_env_loads_with_every_commented_key_set_too(tmp_path: Path) -> None:
    text = re.sub(r"^#([A-Z])", r"\1", EXAMPLE.read_text(encoding="utf-8"), flags=re.M)
    env = tmp_path / ".env"
    env.write_text(text, encoding="utf-8")
    config = load_config(env)
    assert config.env_keys()["WARDEN_DB_AGENT"] == "clawdie"


# --------------------------------------------------------------------------- the table


def test_each_key_is_declared_once() -> None:
    names = [key.name for key in KEYS]
    assert len(names) == len(set(names))
    assert list(KNOWN_KEYS) == names


def test_every_default_in_the_table_is_one_its_parser_accepts() -> None:
    context = Context("atlas", None)
    for key in KEYS:
        if key.default is not None:
            key.parse(key.default, context)  # raises _Invalid if not


def test_a_key_has_at_most_one_kind_of_default() -> None:
    for key in KEYS:
        kinds = [key.default, key.derived, key.required]
        assert sum(kind is not None for kind in kinds) <= 1, key.name


def test_every_key_reads_back_from_a_field_of_agent_config_and_every_field_has_a_key() -> None:
    fields = set(AgentConfig.model_fields) - {"source", "warnings"}
    assert {key.field for key in KEYS} == fields


def test_env_keys_gives_every_key_of_the_table_in_its_order() -> None:
    config = parse_config(MINIMAL, Path("/x/.env"))
    assert list(config.env_keys()) == [key.name for key in KEYS]


def test_the_steps_of_the_table_are_warden_s_steps_in_design_order() -> None:
    assert STEPS == DESIGN_ORDER
    for key in KEYS:
        assert key.steps, f"{key.name} names no step that uses it"
        assert len(set(key.steps)) == len(key.steps), key.name
        assert set(key.steps) <= set(STEPS), key.name


def test_help_texts_are_one_line_without_the_default() -> None:
    for key in KEYS:
        assert key.help and "\n" not in key.help, key.name
        assert not key.help.endswith(")"), f"{key.name}: the table adds the default"


# --------------------------------------------------------------------------- did you mean


def test_a_misspelled_key_is_answered_with_the_table_s_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({**MINIMAL, "WARDEN_ROLSE": "db"}, Path("/x/.env"))
    (problem,) = caught.value.problems
    assert problem.key == "WARDEN_ROLSE"
    assert problem.reason == "is not a warden key; did you mean WARDEN_ROLES?"


@pytest.mark.parametrize("key", KEYS, ids=lambda key: key.name)
def test_every_key_of_the_table_is_suggested_for_its_own_misspelling(key: Key) -> None:
    typo = key.name[:-2] + key.name[-1] + key.name[-2]
    with pytest.raises(ConfigError) as caught:
        parse_config({**MINIMAL, typo: "x"}, Path("/x/.env"))
    (problem,) = [p for p in caught.value.problems if p.key == typo]
    assert problem.reason.endswith(f"did you mean {key.name}?")


# --------------------------------------------------------------------------- load_or_refuse


def test_load_or_refuse_gives_the_config_of_a_good_file() -> None:
    assert load_or_refuse(str(EXAMPLE)) == load_config(EXAMPLE)


def test_load_or_refuse_refuses_a_bad_file_naming_file_key_and_value(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("AGENT_NAME=Atlas\nAGENT_SUBNET_BASE=10.0.1\n", encoding="utf-8")
    with pytest.raises(Refused) as caught:
        load_or_refuse(str(env))
    assert caught.value.message.startswith(
        "invalid configuration (nothing was sent to any host):\n"
    )
    assert f"{env}: AGENT_NAME='Atlas': must be lowercase" in caught.value.message


def test_load_or_refuse_keeps_a_secret_out_of_its_message(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    url = "https://atlas:hunter2@git.example.org/soul.git"
    env.write_text(f"AGENT_NAME=atlas\nAGENT_SUBNET_BASE=10.0.1\nWARDEN_SOUL_REPO={url}\n")
    with pytest.raises(Refused) as caught:
        load_or_refuse(str(env))
    assert "WARDEN_SOUL_REPO" in caught.value.message
    assert "hunter2" not in caught.value.message

"""reconcile.yaml is a contract: mistakes are named by file, key and fix; credentials come from the environment."""

from __future__ import annotations

import pytest

from conftest import write_config
from reconcile.config import load_config
from reconcile.errors import ConfigError

PERSON = {"table": "people"}


def _errors(tmp_path, data) -> str:
    path = write_config(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message  # every message names the file
    return message


def test_unknown_keys_are_named_with_their_path(tmp_path):
    message = _errors(
        tmp_path,
        {"sources": {"lcs": {"connector": "sql", "url": "sqlite:///x.db", "entities": {"person": {"tabel": "p"}}}}},
    )
    assert "sources.lcs.entities.person.tabel: unknown key. Fix: remove it or check its spelling." in message


def test_an_unknown_entity_lists_the_valid_ones(tmp_path):
    message = _errors(
        tmp_path,
        {
            "sources": {
                "lcs": {"connector": "sql", "url": "sqlite:///x.db", "entities": {"person": PERSON, "kids": PERSON}}
            }
        },
    )
    assert "sources.lcs.entities.kids: unknown entity. Fix: use one of person, relationship, contact" in message


def test_every_source_needs_a_person_entity(tmp_path):
    message = _errors(
        tmp_path, {"sources": {"lcs": {"connector": "sql", "url": "sqlite:///x.db", "entities": {"contact": PERSON}}}}
    )
    assert "sources.lcs: every source needs a `person` entity" in message


def test_a_bad_url_is_named_without_echoing_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LCS_PASSWORD", "s3cret")
    message = _errors(
        tmp_path,
        {"sources": {"lcs": {"connector": "sql", "url": "not a url ${LCS_PASSWORD}", "entities": {"person": PERSON}}}},
    )
    assert "sources.lcs.url: not a SQLAlchemy URL" in message
    assert "s3cret" not in message


def test_a_missing_environment_variable_names_the_key_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("LCS_PASSWORD", raising=False)
    url = "postgresql+psycopg://lcs:${LCS_PASSWORD}@db/lcs"
    message = _errors(tmp_path, {"sources": {"lcs": {"connector": "sql", "url": url, "entities": {"person": PERSON}}}})
    assert "sources.lcs.url uses ${LCS_PASSWORD}, which is not set. Fix: export LCS_PASSWORD=" in message


def test_environment_variables_are_interpolated_anywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("LCS_USER", "reader")
    monkeypatch.setenv("PERSON_TABLE", "LCS_PERSON")
    url = "postgresql+psycopg://${LCS_USER}:${LCS_PASSWORD:-none}@db/lcs"
    path = write_config(
        tmp_path,
        {"sources": {"lcs": {"connector": "sql", "url": url, "entities": {"person": {"table": "${PERSON_TABLE}"}}}}},
    )
    config = load_config(path)
    assert config.sources["lcs"].url == "postgresql+psycopg://reader:none@db/lcs"
    assert config.sources["lcs"].entities["person"].table == "LCS_PERSON"


def test_columns_formats_and_values_must_name_model_columns(tmp_path):
    entity = {
        "table": "people",
        "columns": {"person_id": "ID", "first_name": "FN"},
        "formats": {"surname": "%Y"},
        "values": {"sex": {"Male": "Man"}},
    }
    message = _errors(
        tmp_path, {"sources": {"lcs": {"connector": "sql", "url": "sqlite:///x.db", "entities": {"person": entity}}}}
    )
    assert "sources.lcs.entities.person.columns.first_name: not a column of person" in message
    assert "sources.lcs.entities.person.formats.surname: formats apply to date and datetime columns only" in message
    assert "sources.lcs.entities.person.values.sex: maps Male to Man, which is not one of M/F/U" in message


def test_a_sql_entity_needs_exactly_one_of_query_or_table(tmp_path):
    both = {"table": "p", "query": "SELECT 1 AS person_id"}
    message = _errors(
        tmp_path, {"sources": {"lcs": {"connector": "sql", "url": "sqlite:///x.db", "entities": {"person": both}}}}
    )
    assert "sources.lcs.entities.person: give exactly one of `query` or `table`" in message


def test_the_files_connector_needs_paths(tmp_path):
    message = _errors(tmp_path, {"sources": {"mosaic": {"connector": "files", "entities": {"person": PERSON}}}})
    assert "sources.mosaic.entities.person: the files connector needs `path:" in message


def test_relative_sqlite_paths_resolve_beside_the_config_file(tmp_path, monkeypatch):
    folder = tmp_path / "conf"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)
    path = write_config(
        folder,
        {
            "target": "sqlite:///out/target.db",
            "sources": {"lcs": {"connector": "sql", "url": "sqlite:///lcs.db", "entities": {"person": PERSON}}},
        },
    )
    config = load_config(path)
    assert config.target_url().database == str(folder / "out" / "target.db")
    assert config.target == "sqlite:///out/target.db"


def test_not_yaml_is_a_clear_error(tmp_path):
    path = tmp_path / "reconcile.yaml"
    path.write_text("sources:\n  lcs: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_config(path)


def test_a_missing_config_file_suggests_the_demo(tmp_path):
    with pytest.raises(ConfigError, match="no such file. Fix: pass --config PATH, or run `reconcile demo`"):
        load_config(tmp_path / "nope.yaml")


def test_yes_no_and_numeric_codes_stay_codes(tmp_path):
    path = tmp_path / "reconcile.yaml"
    path.write_text(
        "sources:\n"
        "  lcs:\n"
        "    connector: sql\n"
        "    url: sqlite:///x.db\n"
        "    entities:\n"
        "      person: {table: p, values: {sex: {1: M, 2: F, 9: U}}}\n"
        "      contact: {table: c, values: {consent: {Yes: Y, No: N, On: Y}}}\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.sources["lcs"].entities["person"].values == {"sex": {"1": "M", "2": "F", "9": "U"}}
    assert config.sources["lcs"].entities["contact"].values == {"consent": {"Yes": "Y", "No": "N", "On": "Y"}}

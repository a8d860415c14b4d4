"""Nothing is lost: every source row is loaded or rejected with a reason, and a failed load publishes nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from conftest import LEGACY_ENTITIES, TODAY, config_for, sqlite_db, table_rows
from reconcile.errors import ConfigError, SourceError
from reconcile.extract import extract


def _load(tmp_path: Path, entities: dict = LEGACY_ENTITIES, url: str = "sqlite:///lcs.db"):
    config = config_for(tmp_path, {"lcs": {"connector": "sql", "url": url, "entities": entities}})
    return config, extract(config, today=TODAY)


def test_read_equals_loaded_plus_rejected_for_every_entity(tmp_path, legacy):
    config, result = _load(tmp_path)
    counts = {c.entity: c for c in result.counts}
    assert (counts["person"].read, counts["person"].loaded, counts["person"].rejected) == (6, 4, 2)
    assert (counts["contact"].read, counts["contact"].loaded, counts["contact"].rejected) == (3, 3, 0)
    target = config.target_url()
    summary = table_rows(target, "SELECT entity, read, loaded, rejected FROM load_summary ORDER BY entity")
    assert summary == [("contact", 3, 3, 0), ("person", 6, 4, 2)]
    assert table_rows(target, "SELECT count(*) FROM person")[0][0] == 4
    assert table_rows(target, "SELECT count(*) FROM rejected_record")[0][0] == 2


def test_null_and_duplicate_ids_are_rejected_with_reason_and_raw_row(tmp_path, legacy):
    config, _ = _load(tmp_path)
    rows = table_rows(config.target_url(), "SELECT source_id, raw_row, reason FROM rejected_record ORDER BY reason")
    (dup_id, dup_raw, dup_reason), (null_id, null_raw, null_reason) = rows
    assert dup_id == "2" and dup_reason.startswith("duplicate person_id")
    assert json.loads(dup_raw)["surname"] == "Smyth"  # the second row read is the one set aside
    assert null_id is None and null_reason == "missing person_id"
    assert json.loads(null_raw)["forename"] == "Nameless"
    kept = table_rows(config.target_url(), "SELECT surname FROM person WHERE person_id = '2'")
    assert kept == [("Smith",)]


def test_bad_fields_are_set_aside_and_the_row_is_kept(tmp_path, legacy):
    config, _ = _load(tmp_path)
    target = config.target_url()
    issues = set(table_rows(target, "SELECT source_id, field, raw_value, problem FROM field_issue"))
    assert ("2", "dob", "2015-02-31", "not a valid date (expected %Y-%m-%d)") in issues
    assert ("4", "dob", "2031-01-01", "in the future") in issues
    assert ("4", "sex", "X", "unknown code (expected M/F/U; map it under values.sex)") in issues
    assert ("c3", "consent", "maybe", "unknown code (expected Y/N; map it under values.consent)") in issues
    person = dict(table_rows(target, "SELECT person_id, dob FROM person"))
    assert person["2"] is None and person["4"] is None and person["1"] == "2015-03-01"
    # a child with a bad DOB is still a child to be matched: the rest of the row is there
    assert table_rows(target, "SELECT forename, sex FROM person WHERE person_id = '4'") == [("Future", None)]
    # a contact with no person is still a contact the front door received
    assert table_rows(target, "SELECT person_id FROM contact WHERE contact_id = 'c3'") == [(None,)]


def test_code_maps_from_config_apply_before_the_code_set(tmp_path, legacy):
    entities = {"person": {**LEGACY_ENTITIES["person"], "values": {"sex": {"X": "U"}}}}
    config, result = _load(tmp_path, entities)
    assert table_rows(config.target_url(), "SELECT sex FROM person WHERE person_id = '4'") == [("U",)]
    assert not table_rows(config.target_url(), "SELECT * FROM field_issue WHERE field = 'sex'")


def test_text_that_is_not_utf8_is_repaired_and_reported(tmp_path):
    path = tmp_path / "lcs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE p (person_id TEXT, forename TEXT, surname TEXT)")
        # Windows-1252 bytes stored as TEXT, as old exports do: 'Zoë' and 'Łukasz' are not valid UTF-8 here.
        conn.execute("INSERT INTO p VALUES ('1', CAST(X'5A6FEB' AS TEXT), 'Nowak')")
        conn.execute("INSERT INTO p VALUES ('2', 'Amélie', 'Dupont')")
    config, result = _load(tmp_path, {"person": {"table": "p"}})
    assert result.counts[0].loaded == 2
    names = dict(table_rows(config.target_url(), "SELECT person_id, forename FROM person"))
    assert names == {"1": "Zoë", "2": "Amélie"}
    issue = table_rows(config.target_url(), "SELECT source_id, field, raw_value, problem FROM field_issue")
    assert issue == [("1", "forename", "Zo\\xeb", "not valid UTF-8; read as Windows-1252")]


def test_an_empty_source_loads_nothing_and_says_so(tmp_path):
    sqlite_db(tmp_path / "lcs.db", "CREATE TABLE p (person_id TEXT, surname TEXT);")
    config, result = _load(tmp_path, {"person": {"table": "p"}})
    assert [(c.read, c.loaded, c.rejected) for c in result.counts] == [(0, 0, 0)]
    assert table_rows(config.target_url(), "SELECT read FROM load_summary") == [(0,)]


def test_an_unreachable_source_publishes_nothing_and_keeps_the_last_load(tmp_path, legacy):
    config, first = _load(tmp_path)
    before = table_rows(config.target_url(), "SELECT * FROM person ORDER BY person_id")
    sources = {
        "lcs": {"connector": "sql", "url": "sqlite:///lcs.db", "entities": LEGACY_ENTITIES},
        "mosaic": {
            "connector": "sql",
            "url": "postgresql+psycopg://nobody@127.0.0.1:1/nowhere",
            "timeout": 2,
            "entities": {"person": {"table": "people"}},
        },
    }
    config = config_for(tmp_path, sources)
    with pytest.raises(SourceError, match="source 'mosaic'.*connect failed"):
        extract(config, today=TODAY)
    assert table_rows(config.target_url(), "SELECT * FROM person ORDER BY person_id") == before
    runs = table_rows(config.target_url(), "SELECT DISTINCT run_id FROM load_summary")
    assert runs == [(first.run_id,)]
    stages = table_rows(config.target_url(), "SELECT name FROM sqlite_master WHERE name LIKE 'stage_%'")
    assert stages == []


def test_a_second_load_replaces_the_snapshot_of_each_source(tmp_path, legacy):
    config, _ = _load(tmp_path)
    with sqlite3.connect(legacy) as conn:
        conn.execute("DELETE FROM LCS_PERSON WHERE PERSON_ID = '1'")
    _, second = _load(tmp_path)
    ids = [r[0] for r in table_rows(config.target_url(), "SELECT person_id FROM person ORDER BY person_id")]
    assert ids == ["2", "3", "4"]
    assert len(table_rows(config.target_url(), "SELECT DISTINCT run_id FROM load_summary")) == 2


def test_a_query_returning_columns_outside_the_model_is_a_config_error(tmp_path, legacy):
    entities = {"person": {"query": "SELECT PERSON_ID AS person_id, FORENAME AS first_name FROM LCS_PERSON"}}
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, entities)
    message = str(caught.value)
    assert message.startswith(str(tmp_path / "reconcile.yaml"))
    assert "sources.lcs.entities.person: returns columns outside the canonical person model: first_name" in message


def test_a_colon_in_a_query_is_sql_not_a_parameter(tmp_path, legacy):
    query = "SELECT PERSON_ID AS person_id, SURNAME || ' at :noon' AS surname FROM LCS_PERSON WHERE '1' = '1'"
    config, _ = _load(tmp_path, {"person": {"query": query}})
    surnames = table_rows(config.target_url(), "SELECT surname FROM person")
    assert surnames and all(s.endswith(" at :noon") for (s,) in surnames if s)


def test_a_query_that_writes_is_refused_before_it_reaches_the_source(tmp_path, legacy):
    entities = {"person": {"query": "DELETE FROM LCS_PERSON"}}
    with pytest.raises(ConfigError, match="is a DELETE, not a SELECT"):
        _load(tmp_path, entities)
    assert table_rows(f"sqlite:///{legacy}", "SELECT count(*) FROM LCS_PERSON") == [(6,)]


def test_the_target_file_is_owner_only(tmp_path, legacy):
    config, _ = _load(tmp_path)
    assert (Path(config.target_url().database).stat().st_mode & 0o777) == 0o600


def test_chunks_bound_memory_and_duplicates_are_caught_across_chunks(tmp_path, legacy):
    config = config_for(
        tmp_path,
        {
            "lcs": {
                "connector": "sql",
                "url": "sqlite:///lcs.db",
                "chunk_size": 2,
                "entities": {"person": LEGACY_ENTITIES["person"]},
            }
        },
    )
    sizes = []
    result = extract(config, today=TODAY, on_chunk=lambda c: sizes.append(c.read))
    assert sizes == [2, 4, 6]
    assert (result.counts[0].loaded, result.counts[0].rejected) == (4, 2)


def test_ids_longer_than_the_target_holds_are_rejected_not_fatal(tmp_path):
    long_id = "9" * 300
    sqlite_db(
        tmp_path / "lcs.db",
        f"CREATE TABLE p (person_id TEXT, surname TEXT); INSERT INTO p VALUES ('{long_id}', 'Ali'), ('1', 'Lee');",
    )
    config, result = _load(tmp_path, {"person": {"table": "p"}})
    assert [(c.read, c.loaded, c.rejected) for c in result.counts] == [(2, 1, 1)]
    ((source_id, raw, reason),) = table_rows(
        config.target_url(), "SELECT source_id, raw_row, reason FROM rejected_record"
    )
    assert source_id is None and json.loads(raw)["person_id"] == long_id
    assert reason == "person_id longer than 128 characters"

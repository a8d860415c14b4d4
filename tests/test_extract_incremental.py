"""A night's extract canonicalises only the rows that changed, and publishes exactly what a full load would."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from conftest import LEGACY_ENTITIES, TODAY, config_for, read_frame, sqlite_db
from reconcile.config import Config, load_config
from reconcile.extract import extract
from reconcile.frame_blob import from_blob
from reconcile.model import ENTITIES
from reconcile.raw_state import row_hashes
from reconcile.synthetic.night import mutate

RUN_TABLES = ("rejected_record", "field_issue", "load_summary")


def _published(url: str, run_id: str) -> dict[str, pd.DataFrame]:
    """What an extract publishes, without run IDs, in a stable order: canonical tables, fingerprints, the run's
    rejected rows, field issues and counts."""
    tables = {name: read_frame(url, f"SELECT * FROM {name}") for name in (*ENTITIES, "record_state")}
    tables |= {name: read_frame(url, f"SELECT * FROM {name} WHERE run_id = '{run_id}'") for name in RUN_TABLES}
    tables = {name: frame.drop(columns="run_id", errors="ignore").astype(str) for name, frame in tables.items()}
    return {name: frame.sort_values(list(frame.columns)).reset_index(drop=True) for name, frame in tables.items()}


def _assert_as_a_full_load(config: Config, run_id: str, folder: Path, today: date = TODAY) -> None:
    """The night's tables equal those of the same sources loaded into an empty target."""
    fresh = config.model_copy(update={"target": f"sqlite:///{folder / 'fresh.db'}"})
    (folder / "fresh.db").unlink(missing_ok=True)
    full = extract(fresh, today=today)
    assert full.canonicalised == sum(c.loaded for c in full.counts)
    night, rebuilt = _published(config.target_url(), run_id), _published(fresh.target_url(), full.run_id)
    for name, frame in rebuilt.items():
        pd.testing.assert_frame_equal(night[name], frame, obj=name)


def test_a_night_canonicalises_only_changed_rows_and_publishes_what_a_full_load_would(tmp_path):
    from reconcile.synthetic import write_demo

    files = write_demo(tmp_path / "demo", people=600, seed=8)
    config = load_config(files.config)
    first = extract(config, today=TODAY)
    assert first.canonicalised == sum(c.loaded for c in first.counts)
    assert extract(config, today=TODAY).canonicalised == _set_aside(config)  # nothing changed: only those again
    night = mutate(tmp_path / "demo", share=0.02, seed=1)
    result = extract(config, today=TODAY)
    touched = night.changed + night.added + night.relationships_added
    assert touched <= result.canonicalised <= touched + _set_aside(config)
    _assert_as_a_full_load(config, result.run_id, tmp_path)
    changes = read_frame(config.target_url(), f"SELECT change FROM record_change WHERE run_id = '{result.run_id}'")
    assert (changes["change"] == "deleted").sum() == night.deleted + night.relationships_deleted


def _set_aside(config: Config) -> int:
    """Loaded rows with a field set aside: canonicalised every night (a date in the future may not be tomorrow)."""
    query = "SELECT DISTINCT source_system, entity, source_id, run_id FROM field_issue"
    issues = read_frame(config.target_url(), query)
    return len(issues[issues["run_id"] == issues["run_id"].max()])


@pytest.fixture
def lcs(tmp_path, legacy) -> Config:
    return config_for(tmp_path, {"lcs": {"connector": "sql", "url": "sqlite:///lcs.db", "entities": LEGACY_ENTITIES}})


def test_a_date_in_the_future_is_looked_at_again_when_the_day_has_come(tmp_path, lcs):
    extract(lcs, today=TODAY)
    later = date(2031, 6, 1)
    result = extract(lcs, today=later)
    dob = read_frame(lcs.target_url(), "SELECT dob FROM person WHERE person_id = '4'")["dob"]
    assert dob.tolist() == ["2031-01-01"]
    _assert_as_a_full_load(lcs, result.run_id, tmp_path, later)


def test_an_earlier_day_loads_every_row_again(tmp_path, lcs):
    extract(lcs, today=TODAY)
    earlier = date(2015, 3, 1)  # person 1's DOB, 2015-03-01, is not in the future; 2015-02-13 is, the day before
    result = extract(lcs, today=earlier)
    assert result.canonicalised == sum(c.loaded for c in result.counts)
    _assert_as_a_full_load(lcs, result.run_id, tmp_path, earlier)


def test_a_duplicate_id_becomes_the_kept_row_when_the_first_goes(tmp_path, lcs):
    extract(lcs, today=TODAY)
    with sqlite3.connect(tmp_path / "lcs.db") as conn:
        conn.execute("DELETE FROM LCS_PERSON WHERE PERSON_ID = '2' AND SURNAME = 'Smith'")
    result = extract(lcs, today=TODAY)
    assert read_frame(lcs.target_url(), "SELECT surname FROM person WHERE person_id = '2'")["surname"].tolist() == [
        "Smyth"
    ]
    _assert_as_a_full_load(lcs, result.run_id, tmp_path)


def test_a_changed_config_loads_every_row_of_that_entity_again(tmp_path, lcs):
    extract(lcs, today=TODAY)
    entities = {**LEGACY_ENTITIES, "person": {**LEGACY_ENTITIES["person"], "values": {"sex": {"X": "U"}}}}
    changed = config_for(tmp_path, {"lcs": {"connector": "sql", "url": "sqlite:///lcs.db", "entities": entities}})
    result = extract(changed, today=TODAY)
    counts = {c.entity: c.loaded for c in result.counts}
    assert result.canonicalised == counts["person"] + 1  # contact c3's consent was set aside, so it is looked at again
    _assert_as_a_full_load(changed, result.run_id, tmp_path)


RELATIONSHIPS = """
CREATE TABLE p (person_id TEXT, surname TEXT);
INSERT INTO p VALUES ('1', 'Khan'), ('2', 'Khan'), ('3', 'Khan'), ('4', 'Ali');
CREATE TABLE r (person_id TEXT, related_person_id TEXT, kind TEXT);
INSERT INTO r VALUES ('2', '1', 'MOTHER'), ('2', '1', 'Mother'), ('2', '1', 'mum'), ('3', '1', 'MOTHER'),
  ('4', '1', NULL);
"""


@pytest.mark.parametrize(
    "night",
    [
        "DELETE FROM r WHERE kind = 'Mother'",  # two more rows of the same canonical relationship stay
        "UPDATE r SET kind = 'SIBLING' WHERE kind = 'mum'",
        "INSERT INTO r VALUES ('2', '1', 'MUM')",
        "DELETE FROM r WHERE person_id = '4'",
        "UPDATE p SET surname = 'Khan-Ali' WHERE person_id = '2'",
    ],
)
def test_relationship_rows_that_map_to_one_canonical_row_are_each_kept(tmp_path, night):
    """A relationship's key holds its kind as read; rows whose kinds map alike are one canonical row each."""
    sqlite_db(tmp_path / "src.db", RELATIONSHIPS)
    config = config_for(
        tmp_path,
        {
            "src": {
                "connector": "sql",
                "url": "sqlite:///src.db",
                "entities": {
                    "person": {"table": "p"},
                    "relationship": {
                        "table": "r",
                        "columns": {
                            "person_id": "person_id",
                            "related_person_id": "related_person_id",
                            "relationship": "kind",
                        },
                    },
                },
            }
        },
    )
    extract(config, today=TODAY)
    with sqlite3.connect(tmp_path / "src.db") as conn:
        conn.execute(night)
    result = extract(config, today=TODAY)
    assert result.canonicalised <= 2
    _assert_as_a_full_load(config, result.run_id, tmp_path)


def test_raw_row_hashes_tell_types_apart_and_see_column_names():
    values = [1, "1", 1.0, None, "None", "", float("nan"), date(2020, 1, 1), "2020-01-01", b"1", "Zo\udceb"]
    hashes = [int(row_hashes(pd.DataFrame({"a": pd.Series([v], dtype=object)}))[0]) for v in values]
    assert len(set(hashes)) == len(values)
    together = row_hashes(pd.DataFrame({"a": pd.Series([None, "None", "", "x"], dtype=object)}))
    assert len(set(together.tolist())) == 4
    frame = pd.DataFrame({"a": ["x", None], "b": ["y", "z"]}, dtype=object)
    assert (row_hashes(frame) == row_hashes(frame.copy())).all()
    assert (row_hashes(frame) != row_hashes(frame.rename(columns={"a": "c"}))).all()
    assert (row_hashes(frame) != row_hashes(frame[["b", "a"]].set_axis(["a", "b"], axis=1))).all()


def test_an_extract_that_fails_leaves_the_state_as_it_was(tmp_path, lcs):
    extract(lcs, today=TODAY)
    state = read_frame(lcs.target_url(), "SELECT * FROM source_state")
    shutil.copy(tmp_path / "lcs.db", tmp_path / "lcs-backup.db")
    with sqlite3.connect(tmp_path / "lcs.db") as conn:
        conn.execute("DROP TABLE LCS_CONTACT")
        conn.execute("DELETE FROM LCS_PERSON WHERE PERSON_ID = '1'")
    with pytest.raises(Exception):  # noqa: B017, PT011 - the source error itself is tested in test_extract
        extract(lcs, today=TODAY)
    pd.testing.assert_frame_equal(read_frame(lcs.target_url(), "SELECT * FROM source_state"), state)
    shutil.copy(tmp_path / "lcs-backup.db", tmp_path / "lcs.db")
    _assert_as_a_full_load(lcs, extract(lcs, today=TODAY).run_id, tmp_path)


FILLERS = """INSERT INTO p (id, surname, updated) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n
  WHERE i < 40) SELECT 'F' || i, 'Filler', '2026-09-01 08:00' FROM n;"""  # most rows do not change


STAMPED = """
CREATE TABLE p (id TEXT, surname TEXT, dob TEXT, updated TEXT);
INSERT INTO p VALUES ('1', 'Khan', '2015-01-01', '2026-10-01 09:00'), ('2', 'Ali', '2016-02-02', '2026-10-01 09:00'),
  ('3', 'Shah', '2017-03-03', '2026-10-02 10:00'), ('4', 'Jones', '2018-04-04', '2026-10-03 11:00'),
  ('5', 'Brown', '2019-05-05', NULL), ('6', 'Green', '2031-01-01', '2026-10-04 12:00'), (NULL, 'Nobody', NULL, NULL);
"""
STAMPED_NIGHT = """
UPDATE p SET surname = 'Khan-Ali', updated = '2026-11-02 02:00' WHERE id = '1';  -- changed, stamp moved
UPDATE p SET surname = 'Alli' WHERE id = '2';                                   -- changed, stamp left as it was
DELETE FROM p WHERE id = '3';
INSERT INTO p VALUES ('7', 'White', '2020-06-06', '2026-11-02 02:00');
INSERT INTO p VALUES ('4', 'Jonas', '2018-04-04', '2026-10-03 11:00');          -- a second row with ID 4
UPDATE p SET surname = 'Browne' WHERE id = '5';                                 -- no stamp: always read whole
"""


@pytest.fixture
def stamped(tmp_path) -> Config:
    formats = {"dob": "%Y-%m-%d", "modified_at": "%Y-%m-%d %H:%M"}
    return _stamped_source(tmp_path, STAMPED + FILLERS, {"dob": "dob"}, formats)


def _stamped_source(tmp_path: Path, script: str, more: dict | None = None, formats: dict | None = None) -> Config:
    """A SQLite source whose person table `p` has id, surname and updated (and `more`), with `script`'s rows."""
    sqlite_db(tmp_path / "src.db", script)
    columns = {"person_id": "id", "surname": "surname", "modified_at": "updated", **(more or {})}
    person = {"table": "p", "columns": columns, "formats": formats or {}}
    return config_for(
        tmp_path, {"src": {"connector": "sql", "url": "sqlite:///src.db", "entities": {"person": person}}}
    )


def _surnames(config: Config) -> dict[str, str]:
    frame = read_frame(config.target_url(), "SELECT person_id, surname FROM person WHERE surname <> 'Filler'")
    return dict(zip(frame["person_id"], frame["surname"], strict=True))


def test_a_night_reads_whole_only_rows_whose_stamp_moved_and_counts_every_row(tmp_path, stamped):
    extract(stamped, today=TODAY)
    with sqlite3.connect(tmp_path / "src.db") as conn:
        conn.executescript(STAMPED_NIGHT)
    night = extract(stamped, today=TODAY)
    assert _surnames(stamped) == {"1": "Khan-Ali", "2": "Ali", "4": "Jones", "5": "Browne", "6": "Green", "7": "White"}
    (count,) = night.counts
    assert (count.read, count.loaded, count.rejected) == (48, 46, 2)  # every source row, read whole or not
    rejected = read_frame(stamped.target_url(), f"SELECT reason FROM rejected_record WHERE run_id = '{night.run_id}'")
    assert sorted(rejected["reason"].str.split().str[0]) == ["duplicate", "missing"]
    assert night.canonicalised == 4  # 1 and 7 by their stamps, 5 with none, 6 for its DOB set aside

    full = extract(stamped, today=TODAY, full=True)  # a change the stamp hid is found by a full read
    assert _surnames(stamped)["2"] == "Alli" and full.canonicalised == 2
    _assert_as_a_full_load(stamped, full.run_id, tmp_path)


def test_a_stamped_night_publishes_what_a_full_load_would(tmp_path, stamped_plans):
    from reconcile.synthetic import write_demo

    files = write_demo(tmp_path / "demo", people=400, seed=3)
    config = load_config(files.config)
    extract(config, today=TODAY)
    state = read_frame(config.target_url(), "SELECT entity, rows FROM source_state WHERE entity = 'person'")
    assert all(from_blob(blob)["stamp"].nunique() > 1 for blob in state["rows"])
    mutate(tmp_path / "demo", share=0.05, seed=2)
    _assert_as_a_full_load(config, extract(config, today=TODAY).run_id, tmp_path)
    assert sum(p is not None for p in stamped_plans) == 2  # both systems' person tables (the demo's duplicate IDs too)


def test_the_duplicate_left_when_the_kept_row_goes_is_loaded_though_its_stamp_is_old(tmp_path):
    config = _stamped_source(
        tmp_path,
        "CREATE TABLE p (id TEXT, surname TEXT, updated TEXT);"
        "INSERT INTO p VALUES ('4', 'Jones', '2026-10-03 11:00'), ('4', 'Jonas', '2026-10-03 11:00');" + FILLERS,
    )
    extract(config, today=TODAY)
    with sqlite3.connect(tmp_path / "src.db") as conn:
        conn.execute("DELETE FROM p WHERE surname = 'Jones'")
    night = extract(config, today=TODAY)
    assert _surnames(config) == {"4": "Jonas"}
    _assert_as_a_full_load(config, night.run_id, tmp_path)


def test_keys_a_collation_folds_together_are_each_read_once(tmp_path):
    config = _stamped_source(
        tmp_path,
        "CREATE TABLE p (id TEXT COLLATE NOCASE, surname TEXT, updated TEXT);"
        "INSERT INTO p VALUES ('a1', 'Lower', '2026-10-03 11:00'), ('A1', 'Upper', '2026-10-03 11:00');" + FILLERS,
    )
    extract(config, today=TODAY)
    with sqlite3.connect(tmp_path / "src.db") as conn:
        conn.execute("UPDATE p SET surname = 'Upper-Case', updated = '2026-11-02 02:00' WHERE id = 'A1' COLLATE BINARY")
    for _ in range(2):  # the second night reads the state the first one wrote
        night = extract(config, today=TODAY)
        assert [(c.read, c.loaded, c.rejected) for c in night.counts] == [(42, 42, 0)]
    assert _surnames(config) == {"a1": "Lower", "A1": "Upper-Case"}
    _assert_as_a_full_load(config, night.run_id, tmp_path)


def test_an_id_spelt_two_ways_keeps_the_row_a_whole_read_keeps(tmp_path):
    """'4 ' and '4' are one ID; an index on the key returns '4' first, a scan '4 ' first."""
    config = _stamped_source(
        tmp_path,
        "CREATE TABLE p (id TEXT, surname TEXT, updated TEXT); CREATE INDEX p_id ON p (id);"
        "INSERT INTO p VALUES ('4 ', 'Scanned first', '2026-10-03 11:00'), ('4', 'Indexed first', '2026-10-03 11:00');"
        + FILLERS,
    )
    extract(config, today=TODAY)
    night = extract(config, today=TODAY)
    assert _surnames(config) == {"4": "Scanned first"}
    _assert_as_a_full_load(config, night.run_id, tmp_path)


@pytest.mark.parametrize("ending", ["", ";", " -- every person"])
def test_a_query_is_read_by_key_and_stamp_as_a_table_is(tmp_path, stamped_plans, ending):
    sqlite_db(tmp_path / "src.db", STAMPED + FILLERS)
    query = "SELECT id AS person_id, surname, dob, updated AS modified_at FROM p" + ending
    person = {"query": query, "formats": {"dob": "%Y-%m-%d", "modified_at": "%Y-%m-%d %H:%M"}}
    source = {"connector": "sql", "url": "sqlite:///src.db", "entities": {"person": person}}
    config = config_for(tmp_path, {"src": source})
    extract(config, today=TODAY)
    with sqlite3.connect(tmp_path / "src.db") as conn:
        conn.executescript(STAMPED_NIGHT.replace("SET surname = 'Alli'", "SET surname = 'Ali'"))  # nothing hidden
    night = extract(config, today=TODAY)
    (planned,) = stamped_plans[1:]  # the first load has nothing to compare stamps with
    unread = stamped_plans.unread_keys(1)
    assert planned is not None and unread[:2] == ["2", "F1"] and len(unread) == 41
    assert _surnames(config) == {"1": "Khan-Ali", "2": "Ali", "4": "Jones", "5": "Browne", "6": "Green", "7": "White"}
    assert [(c.read, c.loaded, c.rejected) for c in night.counts] == [(48, 46, 2)]
    assert night.canonicalised == 4  # 1 and 7 by their stamps, 5 with none, 6 for its DOB set aside
    _assert_as_a_full_load(config, night.run_id, tmp_path)

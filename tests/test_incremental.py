"""Incremental nights: only what changed is re-matched, and the result is what a full rebuild gives."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli import cli
from conftest import read_frame
from reconcile.changes import changed_people, diff
from reconcile.config import load_config
from reconcile.decisions import record_decisions
from reconcile.extract import extract
from reconcile.match import match
from reconcile.match_incremental import _added_or_deleted
from reconcile.synthetic import write_demo
from reconcile.synthetic.night import mutate

OUTPUTS = (
    "person_xref", "match_pair", "review_queue", "master_person", "master_person_provenance", "master_conflict",
    "master_relationship", "master_family",
)  # fmt: skip


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """2,000 synthetic people, loaded and matched once (a full run that stores its model)."""
    folder = tmp_path_factory.mktemp("incremental") / "demo"
    files = write_demo(folder, people=2000, seed=5)
    config = load_config(files.config)
    extract(config)
    assert match(config).mode == "full"
    return folder


@pytest.fixture
def night(baseline, tmp_path):
    """A private copy of the baseline: its legacy databases, its target and its config."""
    folder = tmp_path / "demo"
    shutil.copytree(baseline, folder)
    return folder, load_config(folder / "reconcile.yaml")


def _table(config, name: str) -> pd.DataFrame:
    frame = read_frame(config.target_url(), f"SELECT * FROM {name}").drop(columns="run_id")
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _clusters(xref: pd.DataFrame) -> set[frozenset[str]]:
    keys = xref["source_system"] + "|" + xref["source_id"]
    return {frozenset(group) for group in keys.groupby(xref["master_id"]).agg(list)}


def _review(config) -> None:
    """Reviewers link three queued pairs and part one linked pair."""
    engine = sa.create_engine(config.target_url())
    queue = pd.read_sql("SELECT * FROM review_queue ORDER BY review_id", engine).head(3)
    linked = pd.read_sql("SELECT * FROM match_pair WHERE decision = 'match' ORDER BY source_id_l", engine).head(1)
    rows = pd.concat([queue.assign(decision="MATCH"), linked.assign(decision="NOT_MATCH", review_id="Rtest")])
    extra = {"reviewer": "test", "note": None, "decided_at": datetime(2026, 11, 2), "file": "t.xlsx", "run_id": "r"}
    record_decisions(engine, rows.assign(**extra))
    engine.dispose()


def test_an_incremental_night_agrees_with_a_full_rebuild_with_the_same_model(night):
    folder, config = night
    before = _table(config, "person_xref")
    changes = mutate(folder, share=0.01, seed=3)
    _review(config)
    extract(config)
    summary, incremental = _night_and_full_rebuild(folder, config)
    assert 0 < summary.rematched < summary.records / 4  # only the reach of the changes was re-matched
    history = read_frame(config.target_url(), f"SELECT * FROM master_id_history WHERE run_id = '{summary.run_id}'")
    # Every record that changed master since the last run has its change in the history.
    moved = before.merge(incremental["person_xref"], on=["source_system", "source_id"], suffixes=("_old", ""))
    moved = moved[moved["master_id_old"] != moved["master_id"]]
    explained = set(zip(history["old_master_id"], history["new_master_id"], strict=True))
    assert set(zip(moved["master_id_old"], moved["master_id"], strict=True)) <= explained
    assert len(incremental["person_xref"]) == len(before) + changes.added - changes.deleted


def _night_and_full_rebuild(folder: Path, config) -> tuple:
    """An incremental match of the night, then a full rebuild of the same data with the same model: every
    output, IDs included, must be the same. Returns the night's summary and outputs."""
    shutil.copy(folder / "reconcile.db", folder / "before-match.db")
    summary = match(config)
    assert summary.mode == "incremental"
    incremental = {name: _table(config, name) for name in OUTPUTS}
    shutil.copy(folder / "reconcile.db", folder / "after-night.db")
    shutil.copy(folder / "before-match.db", folder / "reconcile.db")
    assert match(config, full=True, reuse_model=True).mode == "full"
    full = {name: _table(config, name) for name in OUTPUTS}
    assert _clusters(incremental["person_xref"]) == _clusters(full["person_xref"])
    for name in OUTPUTS:  # IDs, pairs, decisions, surviving values, families: all the same
        pd.testing.assert_frame_equal(incremental[name], full[name], check_dtype=False, obj=name)
    shutil.copy(folder / "after-night.db", folder / "reconcile.db")  # as the night left it
    return summary, incremental


@pytest.mark.parametrize("change", ["a new person", "a second record of a person", "a person alone, deleted"])
def test_a_night_of_one_change_agrees_with_a_full_rebuild(night, change):
    """The smallest nights: one record to re-match, and a new master or an emptied one with nothing like it
    published before."""
    folder, config = night
    xref = _table(config, "person_xref")
    alone = xref[(xref.groupby("master_id")["source_id"].transform("size") == 1) & (xref["source_system"] == "lcs")]
    with sqlite3.connect(folder / "lcs.db") as conn:
        if change == "a person alone, deleted":
            conn.execute("DELETE FROM LCS_PERSON WHERE PERSON_ID = ?", (alone["source_id"].iloc[0],))
        else:
            conn.execute(
                "CREATE TEMP TABLE copied AS SELECT * FROM LCS_PERSON WHERE PERSON_ID = ?",
                (alone["source_id"].iloc[0],),
            )
            conn.execute("UPDATE copied SET PERSON_ID = 'NIGHT-1'")
            if change == "a new person":
                conn.execute(
                    "UPDATE copied SET FORENAME = 'Zebedee', SURNAME = 'Quillfeather', NHS_NUMBER = NULL, UPN = NULL"
                )
            conn.execute("INSERT INTO LCS_PERSON SELECT * FROM copied")
    extract(config)
    summary, incremental = _night_and_full_rebuild(folder, config)
    masters = set(incremental["person_xref"]["master_id"])
    assert summary.rematched >= 1
    if change == "a person alone, deleted":
        assert alone["master_id"].iloc[0] not in masters
    else:
        new = incremental["person_xref"].set_index("source_id").loc["NIGHT-1", "master_id"]
        joined = new == alone["master_id"].iloc[0]
        assert joined == (change == "a second record of a person")
        assert incremental["master_person"].set_index("master_id").loc[new, "records"] == 1 + joined


def test_a_deleted_record_leaves_its_master_and_an_emptied_master_is_removed(night):
    folder, config = night
    xref = _table(config, "person_xref")
    size = xref.groupby("master_id")["source_id"].transform("size")
    alone = xref[(size == 1) & (xref["source_system"] == "lcs")].iloc[0]
    pair = xref[(size == 2) & (xref["source_system"] == "lcs")].iloc[0]
    with sqlite3.connect(folder / "lcs.db") as conn:
        conn.executemany("DELETE FROM LCS_PERSON WHERE PERSON_ID = ?", [(alone["source_id"],), (pair["source_id"],)])
    extract(config)
    summary = match(config)

    assert summary.mode == "incremental"
    after = _table(config, "person_xref")
    masters = _table(config, "master_person").set_index("master_id")
    assert alone["master_id"] not in set(after["master_id"]) and alone["master_id"] not in masters.index
    assert masters.loc[pair["master_id"], "records"] == 1  # the other record keeps the master and its ID
    history = read_frame(config.target_url(), f"SELECT * FROM master_id_history WHERE run_id = '{summary.run_id}'")
    removed = history[history["reason"] == "removed"]
    assert removed[["old_master_id", "records"]].values.tolist() == [[alone["master_id"], 1]]
    assert removed["new_master_id"].isna().all()


def test_a_night_with_no_changes_rewrites_nothing(night):
    _, config = night
    before = read_frame(config.target_url(), "SELECT * FROM person_xref ORDER BY source_system, source_id")
    extract(config)
    summary = match(config)
    assert (summary.mode, summary.rematched) == ("incremental", 0)
    assert summary.why == "0 records changed (with their households), 0 deleted, 0 re-matched"
    after = read_frame(config.target_url(), "SELECT * FROM person_xref ORDER BY source_system, source_id")
    pd.testing.assert_frame_equal(before, after)  # run_id included: no row was rewritten


def test_changed_matching_rules_and_full_force_a_rebuild(night):
    folder, config = night
    result = CliRunner().invoke(cli, ["match", "--full", "--config", str(folder / "reconcile.yaml")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("full: asked for (--full)")
    (folder / "rules.yaml").write_text("thresholds: {keep_pairs: 0.02}\n", encoding="utf-8")
    with (folder / "reconcile.yaml").open("a", encoding="utf-8") as f:
        f.write("matching: {rules: rules.yaml}\n")
    summary = match(load_config(folder / "reconcile.yaml"))
    assert (summary.mode, summary.why) == ("full", "the matching rules changed")
    again = match(load_config(folder / "reconcile.yaml"))
    assert again.mode == "incremental"


def test_a_first_match_is_full_and_says_why(tmp_path):
    files = write_demo(tmp_path / "demo", people=60, seed=2)
    config = load_config(files.config)
    extract(config)
    first = match(config)
    assert (first.mode, first.why) == ("full", "no previous model")
    assert match(config).mode == "incremental"


def test_fingerprint_diff_finds_new_changed_and_deleted_rows_and_both_ends_of_a_relationship():
    columns = ["source_system", "entity", "record_key", "person_id", "related_person_id", "row_hash"]
    old = pd.DataFrame(
        [
            ["a", "person", "1", "1", None, "h1"],
            ["a", "person", "2", "2", None, "h2"],
            ["a", "person", "3", "3", None, "h3"],
            ["a", "relationship", "1|2|mother", "1", "2", "r1"],
        ],
        columns=columns,
    )
    new = pd.DataFrame(
        [
            ["a", "person", "1", "1", None, "h1"],
            ["a", "person", "2", "2", None, "CHANGED"],
            ["a", "person", "4", "4", None, "h4"],
        ],
        columns=columns,
    )
    found = diff(old, new).set_index(["entity", "record_key"])["change"].to_dict()
    assert found == {
        ("person", "2"): "changed",
        ("person", "3"): "deleted",
        ("person", "4"): "new",
        ("relationship", "1|2|mother"): "deleted",
    }
    people = changed_people(diff(old, new))
    assert sorted(people["person_id"]) == ["1", "2", "3", "4"]
    # 2's person row changed too; a relationship row of 1 and 2 went, and so may their household have
    rewired = dict(zip(people["person_id"], people["rewired"], strict=True))
    assert rewired == {"1": True, "2": True, "3": False, "4": False}


def test_extract_records_changes_only_after_a_first_load(night):
    folder, config = night
    engine = sa.create_engine(config.target_url())
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM record_change")).scalar() == 0  # the first load
    with engine.connect() as conn:
        person = conn.execute(sa.text("SELECT min(person_id) FROM person WHERE source_system = 'mosaic'")).scalar()
    with sqlite3.connect(folder / "mosaic.db") as conn:
        conn.execute(  # as the case system would, the stamp moves too
            "UPDATE people SET last_name = 'Zzyzx', updated_on = '02/11/2026 02:30' WHERE person_id = ?", (person,)
        )
    run = extract(config).run_id
    with engine.connect() as conn:
        query = sa.text("SELECT entity, person_id, change FROM record_change WHERE run_id = :r")
        assert [tuple(r) for r in conn.execute(query, {"r": run})] == [("person", person, "changed")]
    engine.dispose()


def test_an_incremental_night_on_a_server_target(tmp_path, server_target):
    """The model, the standardised records (an Arrow blob) and in-place updates work in PostgreSQL and MariaDB too."""
    files = write_demo(tmp_path / "demo", people=300, seed=9)
    text = files.config.read_text(encoding="utf-8").replace("sqlite:///reconcile.db", server_target)
    files.config.write_text(text, encoding="utf-8")
    config = load_config(files.config)
    extract(config)
    assert match(config).mode == "full"
    mutate(tmp_path / "demo", share=0.02, seed=4)
    extract(config)
    night = match(config)
    assert night.mode == "incremental" and night.rematched < night.records
    tonight = _table(config, "person_xref")
    rebuilt = match(config, full=True, reuse_model=True)
    assert rebuilt.mode == "full"
    assert _clusters(tonight) == _clusters(_table(config, "person_xref"))
    assert tonight["master_id"].tolist() == _table(config, "person_xref")["master_id"].tolist()


@given(st.sets(st.sampled_from("abcdefgh")), st.sets(st.sampled_from("abcdefgh")))
def test_records_added_or_deleted_are_the_symmetric_difference(before: set[str], now: set[str]) -> None:
    previous, current = pd.Index(sorted(before), dtype=object), pd.Index(sorted(now, reverse=True), dtype=object)
    assert _added_or_deleted(previous, current) == len(before ^ now)


@pytest.mark.parametrize("extra, mode", [(0, "incremental"), (1, "full")])
def test_a_night_where_over_half_as_many_records_went_as_remain_is_a_full_run(night, extra, mode):
    """Deleting k of N records moves k; a full run is made once k exceeds half the N - k that remain."""
    _, config = night
    engine = sa.create_engine(config.target_url())
    with engine.begin() as conn:
        keys = conn.execute(sa.text("SELECT source_system, person_id FROM person ORDER BY 1, 2")).all()
        gone = keys[: len(keys) // 3 + extra]
        conn.execute(sa.text("DELETE FROM person WHERE source_system = :s AND person_id = :p"),
                     [{"s": s, "p": p} for s, p in gone])  # fmt: skip
    engine.dispose()
    summary = match(config)
    assert summary.mode == mode
    assert (summary.why == "most records changed since the last run") == (mode == "full")


# Two households one system holds, each a mother and a girl born the same day: near-twins by DOB and forename
# (Amelia, Amelie), but of other surnames and homes, so only a shared household makes the twin guard hold them.
HOUSEHOLDS = [
    ("T-Y", "Amelia", "Stone", "2015-03-14", "F", "AB1 1AA", "1 Ash Road, Aldby"),
    ("T-M", "Joanne", "Stone", "1985-06-02", "F", "AB1 1AA", "1 Ash Road, Aldby"),
    ("T-Z", "Amelie", "Brook", "2015-03-14", "F", "ZZ9 9ZZ", "7 Elm Close, Zedford"),
    ("T-W", "Karen", "Brook", "1983-01-20", "F", "ZZ9 9ZZ", "7 Elm Close, Zedford"),
]
GRANDMOTHER = ("T-G", "Mavis", "Hale", "1958-09-09", "F", "GG1 1GG", "3 Oak Lane, Gorby")
MOTHERS = [("T-Y", "T-M", "MOTHER"), ("T-Z", "T-W", "MOTHER")]
DAUGHTERS = [("T-M", "T-G", "MOTHER"), ("T-W", "T-G", "MOTHER")]  # the grandmother joins the two households


def _lcs(folder: Path, people: list[tuple] = (), relationships: list[tuple] = (), sql: str = "") -> None:
    with sqlite3.connect(folder / "lcs.db") as conn:
        conn.executemany(
            "INSERT INTO LCS_PERSON (PERSON_ID, FORENAME, SURNAME, DOB, GENDER, POSTCODE, ADDRESS_LINE, LAST_UPDATED)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, '2026-11-01 09:00:00')",
            people,
        )
        conn.executemany("INSERT INTO LCS_RELATIONSHIP VALUES (?, ?, ?)", relationships)
        if sql:
            conn.execute(sql)


def _twin_guard(pairs: pd.DataFrame) -> bool:
    """The twin guard of the pair of girls, which must have been scored and kept."""
    ids = {tuple(sorted(ids)) for ids in zip(pairs["source_id_l"], pairs["source_id_r"], strict=True)}
    assert ("T-Y", "T-Z") in ids
    mine = pairs[pairs["source_id_l"].isin(["T-Y", "T-Z"]) & pairs["source_id_r"].isin(["T-Y", "T-Z"])]
    return bool(mine["twin_guard"].astype(bool).iloc[0])


@pytest.mark.parametrize(
    "change",
    ["a relationship row joins the households", "a new record joins them", "a relative who joined them is deleted",
     "a person row changes in one"],
)  # fmt: skip
def test_a_night_that_changes_households_agrees_with_a_full_rebuild(night, change):
    """Households change only where records come or go or relationship rows change, and then the twin guard of
    every pair of their members may change, not only of pairs with a changed record: here the girls' pair is
    neither, and the night must score it again. A person row that changes leaves households as they were."""
    folder, config = night
    joined = change == "a relative who joined them is deleted"
    _lcs(folder, [*HOUSEHOLDS, *([GRANDMOTHER] if joined else [])], [*MOTHERS, *DAUGHTERS[: 2 if joined else 0]])
    if change == "a new record joins them":
        _lcs(folder, relationships=DAUGHTERS)  # rows naming a person not loaded yet
    extract(config)
    match(config, full=True)
    before = _twin_guard(_table(config, "match_pair"))
    if change == "a relationship row joins the households":
        _lcs(folder, relationships=[("T-M", "T-W", "SIBLING")])
    elif change == "a new record joins them":
        _lcs(folder, [GRANDMOTHER])
    elif joined:
        _lcs(folder, sql="DELETE FROM LCS_PERSON WHERE PERSON_ID = 'T-G'")
    else:
        _lcs(
            folder,
            sql="UPDATE LCS_PERSON SET FORENAME = 'Jo', LAST_UPDATED = '2026-11-02 09:00:00' WHERE PERSON_ID = 'T-M'",
        )
    extract(config)
    summary, incremental = _night_and_full_rebuild(folder, config)
    after = _twin_guard(incremental["match_pair"])
    assert (before, after) == ((True, False) if joined else (False, change != "a person row changes in one"))
    if change == "a person row changes in one":  # and her household was not re-matched with her
        xref = read_frame(config.target_url(), "SELECT source_id, run_id FROM person_xref WHERE source_id LIKE 'T-%'")
        assert set(xref.loc[xref["run_id"] == summary.run_id, "source_id"]) == {"T-M"}

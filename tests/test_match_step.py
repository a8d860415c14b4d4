"""The match step end to end on seeded synthetic data: accuracy floors, no twin merges, stable master IDs."""

from __future__ import annotations

import re
import sqlite3

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from conftest import table_rows
from reconcile.evaluation import score
from reconcile.match import match
from reconcile.matching.master_ids import IssuedIds, assign


@pytest.fixture
def matched(synthetic_run):
    return synthetic_run


def _xref(config) -> pd.DataFrame:
    engine = sa.create_engine(config.target_url())
    try:
        return pd.read_sql("SELECT * FROM person_xref ORDER BY source_system, source_id", engine)
    finally:
        engine.dispose()


def _truth(files) -> pd.DataFrame:
    with sqlite3.connect(files.truth) as conn:
        truth = pd.read_sql("SELECT * FROM person_truth WHERE person_id IS NOT NULL", conn)
    return truth.drop_duplicates(["source_system", "person_id"])


def test_accuracy_floors_and_zero_twin_merges_on_seeded_data(matched):
    files, config, _ = matched
    xref = _xref(config).rename(columns={"source_id": "person_id", "master_id": "master_key"})
    scores = score(xref, _truth(files)[["source_system", "person_id", "true_id", "twin_group"]])
    assert scores.twin_merges == 0
    assert scores.pairwise.precision >= 0.995
    assert scores.cluster.f1 >= 0.97
    assert scores.pairwise.recall >= 0.90


def test_person_xref_is_the_contract(matched):
    _, config, summary = matched
    xref = _xref(config)
    assert list(xref.columns) == ["source_system", "source_id", "master_id", "match_probability", "method", "run_id"]
    persons = table_rows(config.target_url(), "SELECT count(*) FROM person")[0][0]
    assert len(xref) == persons == summary.records
    assert set(xref["method"]) <= {"deterministic", "probabilistic", "review"}
    assert xref["master_id"].map(lambda m: bool(re.fullmatch(r"M[0-9A-F]{12}", m))).all()
    assert not set(xref["master_id"]) & set(xref["source_id"])  # opaque, never a source's own ID
    masters = table_rows(config.target_url(), "SELECT count(*) FROM master_person")[0][0]
    assert masters == xref["master_id"].nunique() == summary.masters


def test_review_queue_and_match_pairs_explain_themselves(matched):
    _, config, summary = matched
    review = table_rows(config.target_url(), "SELECT reason, match_probability FROM review_queue")
    assert len(review) == summary.review_queue > 0
    assert all(reason for reason, _ in review)
    weights = table_rows(
        config.target_url(),
        "SELECT match_weight, w_forename, w_surname, w_dob, w_nhs, w_upn, "
        "w_sex, w_address FROM match_pair WHERE decision = 'match' LIMIT 50",
    )
    for total, *parts in weights:
        assert sum(parts) < total + 40  # the prior is the only other term, and it is negative
        assert sum(parts) > total


def test_a_second_run_keeps_every_master_id(matched):
    _, config, _ = matched
    before = _xref(config)[["source_system", "source_id", "master_id"]]
    summary = match(config)
    after = _xref(config)[["source_system", "source_id", "master_id"]]
    pd.testing.assert_frame_equal(before, after)
    assert summary.id_changes == 0


def test_master_ids_record_merges_splits_and_removals():
    clusters = pd.DataFrame(
        {"source_system": ["a"] * 5, "person_id": ["1", "2", "3", "4", "6"], "cluster": [0, 0, 0, 3, 4]}
    )
    previous = pd.DataFrame(
        {
            "source_system": ["a"] * 6,
            "source_id": ["1", "2", "3", "4", "5", "6"],
            "master_id": ["MA", "MA", "MB", "MA", "MC", "MD"],
        }
    )
    masters, history = assign(clusters, previous, issued=IssuedIds(frozenset({"MA", "MB", "MC", "MD"})))
    assert masters.tolist()[:3] == ["MA", "MA", "MA"]  # the biggest share keeps its ID
    assert masters.iloc[4] == "MD"
    fresh = masters.iloc[3]
    assert fresh not in {"MA", "MB", "MC", "MD"}
    rows = {(r.old_master_id, r.new_master_id, r.reason, r.records) for r in history.itertuples()}
    assert rows == {("MB", "MA", "merge", 1), ("MA", fresh, "split", 1), ("MC", None, "removed", 1)}


def test_match_before_extract_is_a_clear_error(tmp_path, legacy):
    from conftest import LEGACY_ENTITIES, write_config

    path = write_config(
        tmp_path, {"sources": {"lcs": {"connector": "sql", "url": "sqlite:///lcs.db", "entities": LEGACY_ENTITIES}}}
    )
    result = CliRunner().invoke(cli, ["match", "--config", str(path)])
    assert result.exit_code == 3
    assert "no person records in the target. Fix: run `reconcile extract` first." in result.output


def test_a_target_with_a_single_person_matches_into_one_master(tmp_path):
    from conftest import config_for, sqlite_db

    sqlite_db(tmp_path / "one.db", "CREATE TABLE p (person_id TEXT, surname TEXT); INSERT INTO p VALUES ('1', 'Lee');")
    config = config_for(
        tmp_path, {"one": {"connector": "sql", "url": "sqlite:///one.db", "entities": {"person": {"table": "p"}}}}
    )
    from reconcile.extract import extract

    extract(config)
    summary = match(config)
    assert (summary.records, summary.masters, summary.review_queue) == (1, 1, 0)


def test_pairs_name_the_right_masters_whatever_order_the_database_returned_the_records_in():
    """A database's collation may order person IDs differently from the engine's key order."""
    import numpy as np

    from conftest import people, with_crowd
    from reconcile.match import _outputs
    from reconcile.matching import match_people

    twins = people(
        {"person_id": "B1", "forename": "Ava", "surname": "Kerr", "dob": "2015-05-05", "postcode": "LS1 1AA"},
        {"person_id": "a1", "forename": "Eva", "surname": "Kerr", "dob": "2015-05-05", "postcode": "LS1 1AA"},
    ).assign(source_system=["b", "a"])  # twins: the pair waits in review_queue, which names both masters
    persons = with_crowd(twins)
    shuffled = persons.iloc[np.random.default_rng(3).permutation(len(persons))].reset_index(drop=True)
    result = match_people(shuffled)
    masters, _ = assign(result.clusters, None, IssuedIds())
    frames = _outputs(result, masters, keep=0.0)
    of = dict(zip(zip(shuffled["source_system"], shuffled["person_id"], strict=True), masters, strict=True))
    pairs = frames["review_queue"]
    assert len(pairs) > 0
    for side in ("l", "r"):
        expected = [of[key] for key in zip(pairs[f"source_system_{side}"], pairs[f"source_id_{side}"], strict=True)]
        assert pairs[f"master_id_{side}"].tolist() == expected

"""What reviewers' decisions do to the engine: force, forbid, survive chains, teach m, and show in the history."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from conftest import people, with_crowd
from reconcile.decisions import latest_decisions, record_decisions
from reconcile.matching import load_rules, match_people
from reconcile.matching.comparisons import Prepared
from reconcile.matching.master_ids import IssuedIds, assign
from reconcile.matching.standardise import standardise
from reconcile.matching.training import MIN_ANCHOR_PAIRS, train
from reconcile.store import REVIEW_DECISION, connect_target
from reports.review_import import _code

ISSUED = IssuedIds(frozenset({"MA", "MB", "MC", "MD"}))

AMELIA = {"forename": "Amelia", "surname": "Khan", "dob": "2015-03-01", "sex": "F", "postcode": "LS6 2BB"}


def _decisions(*rows: tuple[str, str, str, str, str]) -> pd.DataFrame:
    columns = ["source_system_l", "person_id_l", "source_system_r", "person_id_r", "decision"]
    return pd.DataFrame(rows, columns=columns)


def _cluster_of(result, system: str, person_id: str) -> int:
    clusters = result.clusters
    return int(
        clusters[(clusters["source_system"] == system) & (clusters["person_id"] == person_id)]["cluster"].iloc[0]
    )


def test_match_forces_a_link_the_model_would_not_make():
    frame = with_crowd(people(AMELIA, {"forename": "Zara", "surname": "Patel", "dob": "1990-01-01", "sex": "F"}))
    alone = match_people(frame)
    assert _cluster_of(alone, "a", "0") != _cluster_of(alone, "a", "1")
    forced = match_people(frame, decisions=_decisions(("a", "1", "a", "0", "MATCH")))
    assert _cluster_of(forced, "a", "0") == _cluster_of(forced, "a", "1")
    pair = forced.pairs[(forced.pairs["person_id_l"] == "0") & (forced.pairs["person_id_r"] == "1")].iloc[0]
    assert (pair["decision"], pair["reason"]) == ("match", "reviewer decided MATCH")


def test_not_match_splits_a_pair_the_model_links_even_where_a_chain_would_rejoin_it():
    """0, 1 and 2 look like one child: the model links all three; NOT_MATCH on 0-2 must survive 0-1-2."""
    frame = with_crowd(
        people(AMELIA, {**AMELIA, "source_system": "b"}, {**AMELIA, "source_system": "c", "postcode": "LS6 2BD"})
    )
    alone = match_people(frame)
    assert _cluster_of(alone, "a", "0") == _cluster_of(alone, "b", "1") == _cluster_of(alone, "c", "2")
    apart = match_people(frame, decisions=_decisions(("c", "2", "a", "0", "NOT_MATCH")))
    assert _cluster_of(apart, "a", "0") != _cluster_of(apart, "c", "2")
    held = apart.pairs[apart.pairs["person_id_l"].isin(["0", "1", "2"]) & apart.pairs["person_id_r"].isin(["1", "2"])]
    assert set(held["decision"]) == {"match", "review", "non_match"}  # one chain link refused goes to review


def test_a_match_that_would_join_a_not_match_pair_is_refused_and_says_why():
    frame = with_crowd(people(AMELIA, {**AMELIA, "forename": "Zara", "dob": "1990-01-01"}, {**AMELIA, "sex": "M"}))
    decisions = _decisions(
        ("a", "0", "a", "1", "MATCH"), ("a", "1", "a", "2", "MATCH"), ("a", "0", "a", "2", "NOT_MATCH")
    )
    result = match_people(frame, decisions=decisions)
    assert _cluster_of(result, "a", "0") != _cluster_of(result, "a", "2")
    refused = result.pairs[result.pairs["reason"].str.startswith("reviewer decided MATCH, but", na=False)]
    assert len(refused) == 1 and refused.iloc[0]["decision"] == "review"


def test_a_few_match_labels_leave_the_model_alone_and_enough_of_them_refine_m():
    rules = load_rules()
    prepared = Prepared(standardise(with_crowd(people(), size=600)))
    rng = np.random.default_rng(1)
    pairs = pd.DataFrame(rng.choice(600, size=(MIN_ANCHOR_PAIRS, 2), replace=False), columns=["rid_l", "rid_r"])
    labels = pairs.assign(is_match=1)
    base = train(prepared, rules).m
    few = train(prepared, rules, labels=labels.head(MIN_ANCHOR_PAIRS - 1)).m
    enough = train(prepared, rules, labels=labels).m
    assert all(np.array_equal(base[k], few[k]) for k in base)
    assert not np.allclose(base["forename"], enough["forename"])


def test_the_history_says_review_where_a_decision_moved_a_record():
    previous = pd.DataFrame(
        {"source_system": ["a"] * 5, "source_id": list("12345"), "master_id": ["MA", "MB", "MC", "MC", "MD"]}
    )
    clusters = pd.DataFrame({"source_system": ["a"] * 5, "person_id": list("12345"), "cluster": [0, 0, 2, 3, 3]})
    decided = _decisions(
        ("a", "2", "a", "1", "MATCH"), ("a", "3", "a", "4", "NOT_MATCH"), ("a", "1", "a", "5", "UNSURE")
    )
    masters, history = assign(clusters, previous, ISSUED, decided)
    rows = {(r.old_master_id, r.new_master_id, r.reason) for r in history.itertuples()}
    # 1+2 joined by a MATCH; 4 parted from 3 by a NOT_MATCH, into 5's master.
    assert masters.tolist() == ["MA", "MA", "MC", "MD", "MD"]
    assert rows == {("MB", "MA", "review"), ("MC", "MD", "review")}
    undecided = assign(clusters, previous, ISSUED)[1]
    assert dict(zip(undecided["old_master_id"], undecided["reason"], strict=True)) == {"MB": "merge", "MC": "split"}


def test_the_latest_decision_per_pair_wins(tmp_path):
    engine = connect_target(sa.make_url(f"sqlite:///{tmp_path / 't.db'}"))
    row = {"review_id": "R1", "source_system_l": "a", "source_id_l": "1", "source_system_r": "a", "source_id_r": "2"}
    row |= {"reviewer": "A", "note": None, "file": "f.xlsx", "run_id": "r"}
    record_decisions(engine, pd.DataFrame([{**row, "decision": "UNSURE", "decided_at": datetime(2026, 11, 2)}]))
    record_decisions(engine, pd.DataFrame([{**row, "decision": "MATCH", "decided_at": datetime(2026, 11, 1)}]))
    record_decisions(
        engine, pd.DataFrame([{**row, "review_id": "R2", "decision": "NOT_MATCH", "decided_at": datetime(2026, 11, 1)}])
    )
    latest = latest_decisions(engine)
    engine.dispose()
    assert latest[["review_id", "decision"]].values.tolist() == [["R1", "UNSURE"], ["R2", "NOT_MATCH"]]


@given(
    st.sampled_from(["MATCH", "NOT_MATCH", "UNSURE"]),
    st.text(" \t", max_size=3),
    st.text(" \t", max_size=3),
    st.lists(st.booleans(), min_size=9, max_size=9),
    st.sampled_from(["_", " ", "-", " - "]),
)
def test_decision_codes_are_read_whatever_the_case_spacing_or_joiner(code, before, after, upper, joiner):
    typed = "".join(c.upper() if up else c.lower() for c, up in zip(code, upper + [True] * 9, strict=False))
    assert _code(before + typed.replace("_", joiner) + after) == code


@pytest.mark.parametrize("server", ["postgres", "mariadb"])
def test_decision_times_keep_microseconds_on_the_servers(server, request, unique):
    """Two imports within one second must still have an order, so the latest decision is well defined."""
    engine = request.getfixturevalue(server)
    table = sa.Table(unique, sa.MetaData(), *(sa.Column(c.name, c.type) for c in REVIEW_DECISION.columns))
    table.create(engine)
    try:
        at = datetime(2026, 11, 1, 10, 0, 0, 123456)
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"review_id": "R1", "decided_at": at}])
            assert conn.execute(sa.select(table.c.decided_at)).scalar_one() == at
    finally:
        table.drop(engine)

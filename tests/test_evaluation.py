"""Accuracy against labelled data (reconcile.evaluation), on cases small enough to count by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from reconcile import evaluation as metrics


def frames(pred: dict[str, str], true: dict[str, str], twins: dict[str, str] | None = None):
    """Records named 'sys:id' with their predicted cluster and true person (and twin group by true person)."""
    twins = twins or {}
    keys = [k.split(":") for k in pred]
    clusters = pd.DataFrame(
        {"source_system": [s for s, _ in keys], "person_id": [p for _, p in keys], "master_key": list(pred.values())}
    )
    truth = pd.DataFrame(
        {
            "source_system": [k.split(":")[0] for k in true],
            "person_id": [k.split(":")[1] for k in true],
            "true_id": list(true.values()),
            "twin_group": [twins.get(t) for t in true.values()],
        }
    )
    return clusters, truth


# Truth: A = {1,2,3}, B = {4}, C = {5,6}, D = {7}; records 1-4 in system 'a', 5-7 in 'b'.
TRUTH = {"a:1": "A", "a:2": "A", "a:3": "A", "a:4": "B", "b:5": "C", "b:6": "C", "b:7": "D"}
# Prediction: X = {1,2,3} (exactly A), Y = {4,5,6} (B and C merged), Z = {7} (exactly D).
PRED = {"a:1": "X", "a:2": "X", "a:3": "X", "a:4": "Y", "b:5": "Y", "b:6": "Y", "b:7": "Z"}


def test_pairwise_counts_pairs_inside_clusters() -> None:
    s = metrics.score(*frames(PRED, TRUTH)).pairwise
    # predicted pairs: X 3 + Y 3 + Z 0 = 6; true pairs: A 3 + C 1 = 4; shared: A's 3 + C's 1 = 4.
    assert (s.true_positives, s.predicted, s.actual) == (4, 6, 4)
    assert s.precision == pytest.approx(4 / 6)
    assert s.recall == pytest.approx(1.0)
    assert s.f1 == pytest.approx(0.8)


def test_cluster_exact_counts_only_identical_member_sets() -> None:
    s = metrics.score(*frames(PRED, TRUTH)).cluster
    # X == A and Z == D are right; Y is B and C merged, so neither B nor C is found.
    assert (s.true_positives, s.predicted, s.actual) == (2, 3, 4)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(0.5)
    assert s.f1 == pytest.approx(4 / 7)


def test_part_of_a_person_or_a_person_plus_more_is_not_exact() -> None:
    split = {**PRED, "a:3": "X2"}  # A split into {1,2} and {3}
    assert metrics.score(*frames(split, TRUTH)).cluster.true_positives == 1  # only Z
    grown = {**PRED, "b:7": "X"}  # A plus D's record
    assert metrics.score(*frames(grown, TRUTH)).cluster.true_positives == 0


def test_same_person_id_in_two_systems_is_two_records() -> None:
    truth = {"a:1": "P", "b:1": "Q"}
    s = metrics.score(*frames({"a:1": "X", "b:1": "Y"}, truth))
    assert (s.pairwise.true_positives, s.pairwise.predicted, s.pairwise.actual) == (0, 0, 0)
    assert s.cluster.true_positives == 2
    assert s.pairwise.f1 == 1.0  # nothing to find and nothing wrongly joined


def test_twin_merges_count_distinct_pairs_of_people() -> None:
    truth = {"a:1": "T1", "a:2": "T1", "a:3": "T2", "a:4": "T2", "a:5": "T3", "a:6": "N", "a:7": "M"}
    twins = {"T1": "G", "T2": "G", "T3": "G"}
    # X holds T1+T2 (and non-twin N), Y holds T1+T2 again plus T3: T1-T2 counts once, so 3 pairs, not 4.
    pred = {"a:1": "X", "a:3": "X", "a:2": "Y", "a:4": "Y", "a:5": "Y", "a:6": "X", "a:7": "Z"}
    assert metrics.score(*frames(pred, truth, twins)).twin_merges == 3
    pred_apart = {"a:1": "X", "a:2": "X", "a:3": "Y", "a:4": "Y", "a:5": "Z", "a:6": "Z", "a:7": "Z"}
    assert metrics.score(*frames(pred_apart, truth, twins)).twin_merges == 0
    assert metrics.twin_pairs(frames(pred, truth, twins)[1]) == 3  # the most possible: 3 choose 2


def test_twins_in_different_groups_are_not_a_twin_merge() -> None:
    truth = {"a:1": "T1", "a:2": "T2"}
    s = metrics.score(*frames({"a:1": "X", "a:2": "X"}, truth, {"T1": "G1", "T2": "G2"}))
    assert s.twin_merges == 0


def test_counts_equal_brute_force_pairs() -> None:
    rng = np.random.default_rng(7)
    n = 60
    keys = [f"s:{i}" for i in range(n)]
    true = dict(zip(keys, rng.integers(0, 15, n).astype(str), strict=True))
    pred = dict(zip(keys, rng.integers(0, 12, n).astype(str), strict=True))
    s = metrics.score(*frames(pred, true)).pairwise
    pairs = list(itertools.combinations(keys, 2))
    predicted = {p for p in pairs if pred[p[0]] == pred[p[1]]}
    actual = {p for p in pairs if true[p[0]] == true[p[1]]}
    assert (s.true_positives, s.predicted, s.actual) == (len(predicted & actual), len(predicted), len(actual))


def test_records_missing_or_repeated_are_refused() -> None:
    clusters, truth = frames(PRED, TRUTH)
    with pytest.raises(ValueError, match="only in truth"):
        metrics.score(clusters.iloc[1:], truth)
    with pytest.raises(ValueError, match="more than once"):
        metrics.score(pd.concat([clusters, clusters.iloc[:1]]), truth)

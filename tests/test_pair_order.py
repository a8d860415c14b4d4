"""Scored chunks put in pair order one column at a time give exactly what concatenating and sorting gives."""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.matching.blocking import sorted_pairs
from reconcile.matching.pair_scoring import in_pair_order


def _chunk(rng: np.random.Generator, n: int) -> pd.DataFrame:
    left = rng.integers(0, 50, n)
    return pd.DataFrame(
        {
            "rid_l": left.astype(np.int64),
            "rid_r": (left + rng.integers(1, 50, n)).astype(np.int64),
            "rule": np.int16(rng.integers(0, 3)),
            "forename": rng.integers(0, 5, n).astype(np.int8),
            "w_forename": rng.normal(size=n),
            "related": rng.random(n) < 0.5,
        }
    )


def test_in_pair_order_equals_sorted_pairs_and_empties_its_input() -> None:
    rng = np.random.default_rng(7)
    parts = [_chunk(rng, n) for n in (40, 0, 75, 1, 30)]  # ties on (rid_l, rid_r) keep chunk order, as before
    expected = sorted_pairs([p.copy() for p in parts])
    found = in_pair_order(parts)
    pd.testing.assert_frame_equal(found, expected)
    assert parts == []


def test_chunks_that_disagree_on_dtypes_go_the_old_way() -> None:
    rng = np.random.default_rng(8)
    parts = [_chunk(rng, 20), _chunk(rng, 20).astype({"forename": np.float64})]
    pd.testing.assert_frame_equal(in_pair_order([p.copy() for p in parts]), sorted_pairs(parts))

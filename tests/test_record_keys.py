"""record_keys: the 'system|id' key every incremental step joins on, whatever the columns' dtypes."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from reconcile.matching.incremental import record_keys

values = st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 5), st.floats(allow_nan=True, width=32))


def reference(systems: pd.Series, ids: pd.Series) -> pd.Index:
    """The plain pandas spelling the fast version must agree with."""
    return pd.Index(systems.astype(str) + "|" + ids.astype(str))


@given(st.lists(st.tuples(st.sampled_from(["LCS", "MOSAIC", None, 7]), values), max_size=30), st.booleans())
def test_record_keys_agree_with_the_plain_spelling(rows: list[tuple[object, object]], categorical: bool) -> None:
    systems = pd.Series([r[0] for r in rows], dtype="category" if categorical else object)
    ids = pd.Series([r[1] for r in rows], dtype=object)
    keys = record_keys(systems, ids)
    assert keys.dtype == object
    assert keys.tolist() == reference(systems, ids).tolist()


def test_record_keys_of_text_columns() -> None:
    systems = pd.Series(["LCS", "MOSAIC", "LCS"], dtype="category")
    ids = pd.Series(["1", "1", "P 2"], dtype=object)
    assert record_keys(systems, ids).tolist() == ["LCS|1", "MOSAIC|1", "LCS|P 2"]

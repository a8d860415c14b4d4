"""Frames kept between runs come back as they went in, whichever format an earlier version wrote them in."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from pandas.testing import assert_frame_equal

from reconcile.frame_blob import from_blob, to_blob


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record_key": pd.Series(["a|1", None, "Zoë"], dtype=object),
            "row_hash": np.array([0, 2**64 - 1, 7], dtype=np.uint64),
            "flag": [True, False, True],
            "surname": pd.Categorical(["KHAN", None, "KHAN"]),
            "year": pd.array([2015, None, 1999], dtype="Int32"),
            "dob": pd.to_datetime(["2015-03-01", None, "1999-12-31"]),
        }
    )


def test_a_frame_comes_back_as_it_went_in():
    frame = _frame()
    assert_frame_equal(from_blob(to_blob(frame)), frame, check_exact=True)


def test_an_index_is_not_kept_and_an_empty_frame_keeps_its_columns():
    frame = _frame().set_index(pd.Index([10, 20, 30]))
    assert list(from_blob(to_blob(frame)).index) == [0, 1, 2]
    empty = from_blob(to_blob(_frame().iloc[:0]))
    assert list(empty.columns) == list(_frame().columns) and empty.empty


def test_a_blob_an_earlier_version_wrote_as_parquet_is_still_read():
    buffer = io.BytesIO()
    _frame().to_parquet(buffer, index=False)
    assert_frame_equal(from_blob(buffer.getvalue()), _frame(), check_exact=True)

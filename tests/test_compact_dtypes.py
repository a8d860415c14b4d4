"""The standardised frame's compact dtypes (categoricals): a consumer that reads them other than as it read
Python strings changes pairs, weights or clusters, so results are checked against an object frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pandas.api.types import union_categoricals

from conftest import people, read_frame
from reconcile.config import load_config
from reconcile.extract import extract
from reconcile.masters.families import household_links
from reconcile.matching import incremental, pipeline
from reconcile.matching.incremental import record_keys
from reconcile.matching.standardise import (
    CATEGORICAL,
    STANDARD_COLUMNS,
    _used_categories,
    joined_categoricals,
    objects,
    standardise,
)
from reconcile.matching.stored_model import records_from_blob, records_to_blob
from reconcile.synthetic import write_demo

TEXT = [*CATEGORICAL, "person_id", "nhs"]


def as_objects(std: pd.DataFrame) -> pd.DataFrame:
    """The layout before compact dtypes: Python strings, None for missing."""
    out = std.copy()
    for column in TEXT:
        out[column] = pd.Series(objects(std[column]), index=std.index, dtype=object)
    return out


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Persons and relationships of a small synthetic extract, and reviewer decisions on some of its records."""
    files = write_demo(tmp_path_factory.mktemp("compact") / "demo", people=400, seed=21)
    config = load_config(files.config)
    extract(config)
    persons = read_frame(config.target_url(), "SELECT * FROM person")
    relationships = read_frame(config.target_url(), "SELECT * FROM relationship")
    rng = np.random.default_rng(3)
    which = rng.choice(len(persons), size=(12, 2), replace=False)
    left, right = persons.iloc[which[:, 0]], persons.iloc[which[:, 1]]
    decisions = pd.DataFrame(
        {
            "source_system_l": left["source_system"].to_numpy(),
            "person_id_l": left["person_id"].to_numpy(),
            "source_system_r": right["source_system"].to_numpy(),
            "person_id_r": right["person_id"].to_numpy(),
            "decision": np.where(np.arange(12) % 2 == 0, "MATCH", "NOT_MATCH"),
        }
    )
    return persons, relationships, decisions


def test_standardised_text_is_held_in_compact_dtypes_and_read_back_as_strings():
    std = standardise(
        people(
            {"forename": "Ann Marie", "surname": "Lee", "dob": "2015-03-04", "sex": "F", "nhs_number": "9434765919"},
            {"forename": "Baby", "surname": "Lee", "expected_dob": "2026-12-01", "postcode": "ls62bb"},
        )
    )
    assert all(isinstance(std[c].dtype, pd.CategoricalDtype) for c in CATEGORICAL)
    assert std["person_id"].dtype == object and std["nhs"].dtype == object
    assert std["rid"].dtype == np.int64 and std["dob"].dtype.kind == "M"
    assert all(std[c].dtype == bool for c in ("placeholder", "dob_expected", "nhs_invalid", "upn_invalid"))
    assert objects(std["forename"]).tolist() == ["ann", None]
    assert objects(std["nhs"]).tolist() == ["9434765919", None]
    assert objects(std["pc_district"]).tolist() == [None, "LS6"]


def test_matching_compact_records_gives_what_matching_python_strings_gives(synthetic, monkeypatch):
    persons, relationships, decisions = synthetic
    compact = pipeline.match_people(persons, relationships, decisions=decisions, seed=5)
    assert len(compact.pairs) and (compact.pairs["decision"] == "match").any()
    levels = compact.pairs[["forename", "surname", "dob", "address"]]
    assert (levels.dtypes == np.int8).all() and (compact.pairs[["rid_l", "rid_r"]].dtypes == np.int32).all()
    monkeypatch.setattr(pipeline, "standardise", lambda rows: as_objects(standardise(rows)))
    plain = pipeline.match_people(persons, relationships, decisions=decisions, seed=5)
    assert plain.std["surname"].dtype == object  # the patch took: this run compared Python strings
    pd.testing.assert_frame_equal(compact.pairs, plain.pairs, check_exact=True)
    pd.testing.assert_frame_equal(compact.clusters, plain.clusters, check_exact=True)
    assert compact.model.term_frequency == plain.model.term_frequency
    masters = pd.Series(compact.clusters["master_key"].to_numpy())
    pd.testing.assert_frame_equal(household_links(compact.std, masters), household_links(plain.std, masters))


def test_last_runs_records_in_either_layout_come_back_compact(synthetic):
    persons = synthetic[0]
    std = standardise(persons.iloc[pipeline.key_order(persons)].reset_index(drop=True))
    keys = record_keys(std["source_system"], std["person_id"])
    stale = keys[::7]  # standardised again tonight, joined with the stored rows of the rest
    for stored in (std, as_objects(std)):  # this layout, and one stored before compact dtypes
        cached = incremental.Keyed.of(records_from_blob(records_to_blob(stored)))
        again = incremental._standardised(persons, keys, cached, stale)
        assert list(again.columns) == STANDARD_COLUMNS
        assert again.dtypes.to_dict() == std.dtypes.to_dict()
        pd.testing.assert_frame_equal(as_objects(again), as_objects(std), check_exact=True)


@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["Ava", "Ben", "Cal", "Dee"])), max_size=20),
    st.lists(st.sampled_from(["Ava", "Ben", "Cal", "Dee", "Eve", "Fay"]), unique=True, max_size=6),
    st.booleans(),
)
def test_unused_categories_go_as_pandas_removes_them(values, extra, ordered):
    """Counted, not sorted: the same categories in the same order, the same codes and code dtype."""
    categories = list(dict.fromkeys([v for v in values if v is not None] + extra))
    series = pd.Series(pd.Categorical(values, categories=categories, ordered=ordered), name="forename")
    expected = series.cat.remove_unused_categories()
    pd.testing.assert_series_equal(_used_categories(series), expected)
    assert _used_categories(series).cat.codes.dtype == expected.cat.codes.dtype


NAMES = ["Ava", "Ben", "Cal", "Dee", "Eve", "Fay"]


@st.composite
def categoricals(draw: st.DrawFn) -> pd.Categorical:
    categories = draw(st.lists(st.sampled_from(NAMES), unique=True, max_size=6))
    values = draw(st.lists(st.one_of(st.none(), st.sampled_from(categories)) if categories else st.none(), max_size=8))
    return pd.Categorical(values, categories=categories)


@given(st.lists(categoricals(), min_size=1, max_size=4))
def test_joined_categoricals_are_what_union_categoricals_gives(parts):
    """The same values, categories in the same order (unused ones kept), and the same codes."""
    joined, expected = joined_categoricals(parts), union_categoricals(parts)
    assert list(joined.categories) == list(expected.categories)
    assert joined.codes.tolist() == expected.codes.tolist()

"""One entity's load against the last load's state: which rows are canonicalised again, which keys were
deleted, and the guard against loading one ID twice, whether rows were read or kept unread by stamp."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile import raw_state
from reconcile.entity_load import EntityLoad, LoadCount
from reconcile.errors import ReconcileError
from reconcile.frame_blob import from_blob

KEYS = st.text(alphabet="ab1|", min_size=1, max_size=4)


def _raw(keys: list[str], values: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"person_id": pd.Series(keys, dtype=object), "surname": pd.Series(values, dtype=object)})


def _state(keys: list[str], values: list[str], set_aside: list[bool]) -> raw_state.EntityState:
    rows = pd.DataFrame(
        {
            "record_key": pd.Series(keys, dtype=object),
            "row_hash": raw_state.row_hashes(_raw(keys, values)),
            "set_aside": np.array(set_aside, dtype=bool),
            "stamp": np.full(len(keys), raw_state.MISSING, dtype=np.uint64),
            "repeated": np.zeros(len(keys), dtype=bool),
        }
    )
    return raw_state.EntityState("context", date(2026, 1, 1), rows)


@st.composite
def nights(draw: st.DrawFn) -> tuple:
    before = draw(st.lists(KEYS, unique=True, max_size=12))
    values = draw(st.lists(st.sampled_from(["x", "y"]), min_size=len(before), max_size=len(before)))
    aside = draw(st.lists(st.booleans(), min_size=len(before), max_size=len(before)))
    unread = [k for k in before if draw(st.booleans())]
    read = draw(st.lists(st.one_of(st.sampled_from(before or ["new"]), KEYS), max_size=12))
    read_values = draw(st.lists(st.sampled_from(["x", "y"]), min_size=len(read), max_size=len(read)))
    chunk = draw(st.integers(1, 5))
    return before, values, aside, unread, read, read_values, chunk


@settings(max_examples=200, deadline=None)
@given(nights())
def test_a_load_finds_the_changed_the_deleted_and_ids_loaded_twice(night: tuple) -> None:
    before, values, aside, unread, read, read_values, chunk = night
    state = _state(before, values, aside)
    load = EntityLoad(LoadCount("lcs", "person"), "context", state)
    load.keep_unread(np.array([before.index(k) for k in unread], dtype=np.intp))
    redo = []
    for start in range(0, len(read), chunk):
        raw = _raw(read[start : start + chunk], read_values[start : start + chunk])
        redo.extend(load.to_canonicalise(raw["person_id"], raw))

    stored = dict(zip(before, zip(values, aside, strict=True), strict=True))
    assert redo == [k not in stored or stored[k] != (v, False) for k, v in zip(read, read_values, strict=True)]
    assert list(load.deleted) == sorted(set(before) - set(unread) - set(read))
    assert list(load.redone) == [k for k, again in zip(read, redo, strict=True) if again]
    tonight = unread + read
    if len(set(tonight)) < len(tonight):
        with pytest.raises(ReconcileError, match="loaded an ID twice"):
            load.state_row(date(2026, 1, 2))
    else:
        rows = from_blob(load.state_row(date(2026, 1, 2))["rows"])
        assert list(rows["record_key"]) == tonight


def test_a_full_load_deletes_nothing_and_still_refuses_an_id_loaded_twice() -> None:
    load = EntityLoad(LoadCount("lcs", "person"), "context", None)
    raw = _raw(["1", "2", "1"], ["x", "y", "x"])
    assert list(load.to_canonicalise(raw["person_id"], raw)) == [True, True, True]
    assert list(load.deleted) == []
    with pytest.raises(ReconcileError, match="loaded an ID twice"):
        load.state_row(date(2026, 1, 2))

"""A rule's blocks, numbered from the columns' codes, against pandas' group-by reading of the same rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from reconcile.matching.incremental import _block_groups


def groups_by_groupby(std: pd.DataFrame, rule: list[str]) -> tuple[np.ndarray, np.ndarray, list[pd.Series]]:
    keyed = std.loc[std[rule].notna().all(axis=1), ["rid", *rule]]
    group = keyed.groupby(rule, sort=False, observed=True).ngroup().to_numpy()
    heads = keyed.iloc[np.unique(group, return_index=True)[1]]
    return keyed["rid"].to_numpy(), group, [heads[column].astype(str) for column in rule]


names = st.one_of(st.none(), st.sampled_from(["ava", "ben", "cal"]))
days = st.one_of(st.none(), st.sampled_from(["2015-03-14", "2015-03-15", "2016-01-01"]))
codes = st.one_of(st.none(), st.sampled_from(["A1", "B2"]))


@given(
    st.lists(st.tuples(names, days, codes), max_size=30),
    st.sampled_from([["name"], ["name", "dob"], ["dob", "code", "name"]]),
    st.permutations(["ava", "ben", "cal"]),
)
def test_blocks_are_the_groups_pandas_finds(rows, rule, order):
    std = pd.DataFrame(rows, columns=["name", "dob", "code"])
    std = std.assign(
        rid=np.arange(len(std), dtype=np.int64),
        name=pd.Categorical(std["name"], categories=order),  # categories in any order, as compact makes them
        dob=pd.to_datetime(std["dob"]),
        code=std["code"].astype(object),
    )
    rids, group, keys = _block_groups(std, rule)
    want_rids, want_group, want_heads = groups_by_groupby(std, rule)
    assert rids.tolist() == want_rids.tolist()
    assert group.tolist() == want_group.tolist()
    labels = [np.asarray(text)[codes] for text, codes in zip(keys.texts, keys.codes, strict=True)]
    assert [label.tolist() for label in labels] == [heads.tolist() for heads in want_heads]

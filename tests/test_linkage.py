"""linkage's figures, counted on codes, against the plain pandas reading of what they mean."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from reconcile.masters.linkage import Linkage, linkage


def split_by_groupby(family: pd.DataFrame, xref: pd.DataFrame) -> int:
    """Families in which no one system holds a record of every master: the group-by spelling."""
    if family.empty:
        return 0
    systems = xref[["master_id", "source_system"]].drop_duplicates()
    members = family[["family_id", "master_id"]].merge(systems, on="master_id")
    size = family.groupby("family_id").size()
    seen = members.groupby(["family_id", "source_system"])["master_id"].nunique().groupby("family_id").max()
    return int((seen.reindex(size.index).fillna(0) < size).sum())


def linkage_by_groupby(xref: pd.DataFrame, family: pd.DataFrame) -> Linkage:
    systems_per_master = xref.groupby("master_id")["source_system"].nunique()
    held = xref.drop_duplicates(["master_id", "source_system"])
    return Linkage(
        records=len(xref),
        masters=xref["master_id"].nunique(),
        linked_across_systems=int((systems_per_master > 1).sum()),
        duplicates_within_system=len(xref) - len(held),
        families=family["family_id"].nunique(),
        families_split=split_by_groupby(family, xref),
    )


masters = st.sampled_from([f"M{i}" for i in range(8)])
xrefs = st.lists(st.tuples(st.sampled_from(["lcs", "mosaic", "third"]), masters), max_size=25)
families = st.lists(st.tuples(st.sampled_from(["F1", "F2", "F3", "F4"]), masters), max_size=12)


@given(xrefs, families)
def test_figures_agree_with_the_group_by_reading(xref_rows, family_rows) -> None:
    xref = pd.DataFrame(xref_rows, columns=["source_system", "master_id"], dtype=object)
    family = pd.DataFrame(family_rows, columns=["family_id", "master_id"], dtype=object)
    assert linkage(xref, family) == linkage_by_groupby(xref, family)


def test_a_family_one_system_sees_whole_is_not_split() -> None:
    xref = pd.DataFrame({"source_system": ["lcs", "lcs", "mosaic", "mosaic"], "master_id": ["M1", "M2", "M2", "M3"]})
    family = pd.DataFrame({"family_id": ["F1", "F1", "F2", "F2"], "master_id": ["M1", "M2", "M2", "M3"]})
    # F1: lcs holds M1 and M2. F2: lcs holds M2 only, mosaic M2 and M3: mosaic sees it whole.
    assert linkage(xref, family).families_split == 0
    family.loc[2, "master_id"] = "M1"  # F2 = M1 (lcs) and M3 (mosaic): no system sees it whole
    assert linkage(xref, family).families_split == 1

"""Families across systems: each system's relationships remapped onto master IDs, then households.

A mother recorded in one system and her children in the other become one family once the
children's and mother's records are matched: the relationship rows of both systems meet on
master IDs. Siblings are derived from a shared parent even where no system recorded them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.matching.clustering import components
from reconcile.matching.master_ids import Issued, stable_ids
from reconcile.matching.standardise import objects

PARENTS = ("mother", "father", "parent")
RELATIONSHIP_COLUMNS = ["master_id", "related_master_id", "relationship", "derived", "source_systems"]
FAMILY_COLUMNS = ["family_id", "master_id", "role"]
MAX_HOUSEHOLD = 8  # more masters than this at one address: an institution, not a household


def master_relationships(relationships: pd.DataFrame, xref: pd.DataFrame) -> pd.DataFrame:
    """Recorded links on master IDs, de-duplicated, plus siblings derived from a shared parent.

    `xref`: source_system, person_id, master_id. A row reads: related_master_id is `relationship` of master_id.
    """
    if relationships.empty:
        return pd.DataFrame(columns=RELATIONSHIP_COLUMNS)
    # Master IDs are worked on as their positions in sorted order, which sort and compare as the IDs do: sorting
    # and de-duplicating the text itself was most of this function's time at a million records.
    ids, codes = np.unique(xref["master_id"].to_numpy(dtype=object), return_inverse=True)
    master = pd.Series(codes.reshape(-1), index=xref["source_system"] + "|" + xref["person_id"].astype(str))
    rows = pd.DataFrame(
        {
            "master_id": master.reindex(relationships["source_system"] + "|" + relationships["person_id"]).to_numpy(),
            "related_master_id": master.reindex(
                relationships["source_system"] + "|" + relationships["related_person_id"]
            ).to_numpy(),
            "relationship": relationships["relationship"].fillna("other").to_numpy(),
            "source_system": relationships["source_system"].to_numpy(),
        }
    ).dropna(subset=["master_id", "related_master_id"])
    rows = rows.astype({"master_id": np.int64, "related_master_id": np.int64})
    rows = rows[rows["master_id"] != rows["related_master_id"]]  # one person is not their own relative
    recorded = _systems_per_link(rows)
    derived = _siblings_by_parent(recorded)
    both = pd.concat([recorded, derived], ignore_index=True)
    both = both.drop_duplicates(["master_id", "related_master_id", "relationship"], keep="first")
    both = both[RELATIONSHIP_COLUMNS].sort_values(RELATIONSHIP_COLUMNS[:3]).reset_index(drop=True)
    return both.assign(
        master_id=ids[both["master_id"].to_numpy(dtype=np.int64)],
        related_master_id=ids[both["related_master_id"].to_numpy(dtype=np.int64)],
    )


def _systems_per_link(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per recorded link, with the systems recording it joined by commas, in key order.

    Whole-array work: a link has at most one row per source, so the systems are joined rank by rank.
    """
    keys = ["master_id", "related_master_id", "relationship"]
    distinct = rows[[*keys, "source_system"]].drop_duplicates().sort_values([*keys, "source_system"])
    rank = distinct.groupby(keys, sort=False).cumcount().to_numpy()
    systems = distinct["source_system"].to_numpy(dtype=object)
    link = np.cumsum(rank == 0) - 1  # sorted by key, so each link's rows are together and rank 0 comes first
    joined = systems[rank == 0].copy()
    for r in range(1, int(rank.max(initial=0)) + 1):
        at = rank == r
        joined[link[at]] = joined[link[at]] + "," + systems[at]
    recorded = distinct.loc[rank == 0, keys].reset_index(drop=True)
    return recorded.assign(source_systems=joined, derived=False)


def _siblings_by_parent(recorded: pd.DataFrame) -> pd.DataFrame:
    parent_of = recorded.loc[recorded["relationship"].isin(PARENTS), ["master_id", "related_master_id"]]
    children = parent_of.rename(columns={"master_id": "child", "related_master_id": "parent"}).drop_duplicates()
    pairs = children.merge(children, on="parent", suffixes=("_a", "_b"))
    pairs = pairs[pairs["child_a"] != pairs["child_b"]]
    return pd.DataFrame(
        {
            "master_id": pairs["child_a"].to_numpy(),
            "related_master_id": pairs["child_b"].to_numpy(),
            "relationship": "sibling",
            "derived": True,
            "source_systems": "",
        }
    ).drop_duplicates(["master_id", "related_master_id"])


def household_links(std: pd.DataFrame, master_ids: pd.Series) -> pd.DataFrame:
    """Masters at the same address (postcode and address line, flat number included): one household.

    This joins a family split between systems with no one in common, e.g. mother and one child in one
    system, father and another child in the other. An address holding more than MAX_HOUSEHOLD masters is
    likely a children's home or a hostel: there only masters who also share a surname are joined.
    `std`: standardised records; `master_ids`: master ID by rid.
    """
    # As Python strings: grouping two categoricals would go through every pairing of their categories.
    text = {c: pd.Series(objects(std[c]), index=std.index, dtype=object) for c in ("postcode", "address", "surname")}
    homes = pd.DataFrame({**text, "master_id": master_ids}).dropna(subset=["postcode", "address"])
    if homes.empty:
        return pd.DataFrame(columns=["master_id", "related_master_id"])
    size = homes.groupby(["postcode", "address"])["master_id"].transform("nunique")
    small = homes[size <= MAX_HOUSEHOLD]
    large = homes[size > MAX_HOUSEHOLD].dropna(subset=["surname"])
    large = large.assign(surname=large["surname"].str.split(" ")).explode("surname")
    return pd.concat(
        [_chain(small, ["postcode", "address"]), _chain(large, ["postcode", "address", "surname"])], ignore_index=True
    ).drop_duplicates()


def _chain(members: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Edges joining each group's masters in a chain: enough to make the group one component."""
    ordered = members[[*keys, "master_id"]].drop_duplicates().sort_values([*keys, "master_id"])
    same = (ordered[keys].shift() == ordered[keys]).all(axis=1)
    return pd.DataFrame(
        {"master_id": ordered["master_id"].shift()[same], "related_master_id": ordered["master_id"][same]}
    )


def master_families(
    links: pd.DataFrame, households: pd.DataFrame, previous: pd.DataFrame | None, issued: Issued
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Families as connected groups of related masters and households, with IDs kept stable across runs.

    `previous`: last run's master_family (family_id, master_id). Returns (master_family, family ID history).
    """
    edges = pd.concat([links[["master_id", "related_master_id"]], households], ignore_index=True)
    if edges.empty:
        return pd.DataFrame(columns=FAMILY_COLUMNS), pd.DataFrame()
    # Hashed, then only the distinct IDs sorted (np.unique sorted every end of every edge as text).
    codes, masters = pd.factorize(
        np.concatenate([edges["master_id"].to_numpy(dtype=object), edges["related_master_id"].to_numpy(dtype=object)]),
        sort=True,
    )
    half = len(edges)
    group = components(len(masters), codes[:half], codes[half:])
    old = None
    if previous is not None and not previous.empty:
        old = pd.Series(previous["family_id"].to_numpy(), index=previous["master_id"].to_numpy())
    family_id, history = stable_ids(pd.Series(masters), group, old, issued, prefix="F")
    family = pd.DataFrame({"family_id": family_id.to_numpy(), "master_id": masters, "role": _roles(links, masters)})
    # By family_id, then master_id: `masters` are sorted and distinct, so their positions order them.
    order = np.lexsort((np.arange(len(masters)), pd.factorize(family["family_id"], sort=True)[0]))
    return family.iloc[order].reset_index(drop=True), history


def _roles(links: pd.DataFrame, masters: np.ndarray) -> np.ndarray:
    """mother, father or parent where a system records the master so; child where one records a parent or
    sibling for it; household where only a shared home and surname put the master in the family."""
    as_parent = links.loc[
        links["relationship"].isin(PARENTS) & ~links["derived"], ["related_master_id", "relationship"]
    ]
    order = {name: rank for rank, name in enumerate(PARENTS)}
    first = (
        as_parent.assign(rank=as_parent["relationship"].map(order))
        .sort_values(["related_master_id", "rank"])
        .drop_duplicates("related_master_id")
        .set_index("related_master_id")["relationship"]
    )
    related = set(links["master_id"]) | set(links["related_master_id"])
    fallback = np.where(pd.Index(masters).isin(list(related)), "child", "household")
    return first.reindex(masters).fillna(pd.Series(fallback, index=masters)).to_numpy()

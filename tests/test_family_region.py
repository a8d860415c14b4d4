"""Families rebuilt around a night's re-matched masters equal families rebuilt whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reconcile.family_region import HOME, _touching, rebuild
from reconcile.masters.families import household_links, master_families, master_relationships
from reconcile.matching.constraints import Relatives
from reconcile.matching.incremental import Keyed, record_keys
from reconcile.matching.master_ids import IssuedIds


def _world(rng: np.random.Generator, n: int) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """n records in a few homes (one of them an institution), grouped into masters, with relationships."""
    homes = rng.integers(1, n // 2, n)
    homes[:9] = 0  # home 0 holds nine masters, one more than MAX_HOUSEHOLD: only namesakes there are a family
    std = pd.DataFrame(
        {
            "rid": np.arange(n),
            "source_system": rng.choice(["a", "b"], n),
            "person_id": [f"p{i}" for i in range(n)],
            "postcode": [f"LS{h % 7} 1AA" for h in homes],
            "address": [f"{h} High St" for h in homes],
            "surname": rng.choice(["khan", "smith", "ali"], n),
        }
    )
    masters = np.array([f"I{i}" if i < 9 else f"M{i // 2 if i % 5 else i}" for i in range(n)], dtype=object)
    a, b = rng.integers(9, n, n // 12), rng.integers(9, n, n // 12)
    relationships = pd.DataFrame(
        {
            "source_system": std["source_system"].to_numpy()[a],
            "person_id": std["person_id"].to_numpy()[a],
            "related_person_id": std["person_id"].to_numpy()[b],
            "relationship": rng.choice(["mother", "father", "sibling", None], len(a)),
        }
    )
    std.loc[:8, "surname"] = [f"name{i}" for i in range(9)]  # no namesakes there: nobody at home 0 is family yet
    return std, masters, relationships[relationships["person_id"] != relationships["related_person_id"]]


def _xref(std: pd.DataFrame, masters: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"source_system": std["source_system"], "person_id": std["person_id"], "master_id": masters})


def _whole(std, masters, relationships, old_family, issued):
    links = master_relationships(relationships, _xref(std, masters))
    households = household_links(std, pd.Series(masters, index=std.index))
    family, history = master_families(links, households, old_family, issued)
    return links, family, history


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(str).sort_values(list(frame.columns)).reset_index(drop=True)


def _categorical_homes(std: pd.DataFrame, reverse: bool) -> pd.DataFrame:
    """The home columns as the stored and standardised records hold them: categorical, each frame with its own
    categories (in another order, and some unused)."""
    std = std.copy()
    for column in HOME:
        categories = sorted({*std[column].dropna(), f"unused {column}"}, reverse=reverse)
        std[column] = pd.Categorical(std[column], categories=categories)
    return std


@pytest.mark.parametrize("categorical", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_families_rebuilt_around_the_changes_equal_families_rebuilt_whole(seed, categorical):
    rng = np.random.default_rng(seed)
    std, masters, relationships = _world(rng, 120)
    leaver = rng.integers(0, 9)  # one of the nine leaves home 0, which becomes a household of eight
    system = std["source_system"][leaver]
    kin = rng.choice(np.flatnonzero(std["source_system"].to_numpy()[9:] == system) + 9, 2)
    loose = pd.DataFrame(  # a link to the leaver (whose record may go tonight) and one to an ID never loaded
        {"source_system": system, "person_id": std["person_id"][kin].to_numpy(),
         "related_person_id": [std["person_id"][leaver], "never-loaded"], "relationship": "sibling"}
    )  # fmt: skip
    relationships = pd.concat([relationships, loose], ignore_index=True)
    if categorical:
        std.loc[len(std) - 1, "postcode"] = None  # a record with no postcode, last run and tonight: code -1
    old_links, old_family, _ = _whole(std, masters, relationships, None, IssuedIds())
    issued = IssuedIds(frozenset(old_family["family_id"]))

    new_std, new_masters, new_relationships = std.copy(), masters.copy(), relationships.copy()
    moved = rng.choice(np.arange(9, len(std)), 3, replace=False)  # three records move home
    new_std.loc[moved, ["postcode", "address"]] = new_std.loc[rng.choice(len(std), 3), ["postcode", "address"]].values
    merged = rng.choice(np.arange(9, len(std)), 2, replace=False)  # two masters merge
    new_masters[new_masters == new_masters[merged[1]]] = new_masters[merged[0]]
    gone = np.array([leaver] if seed % 2 else [], dtype=int)  # deleted, or moved away
    if not seed % 2:
        new_std.loc[leaver, ["postcode", "address"]] = ["LS9 9ZZ", "1 Elsewhere"]
        moved = np.append(moved, leaver)
    added = pd.DataFrame(
        {"source_system": "a", "person_id": std["person_id"][rng.choice(len(std), 2)].to_numpy(),
         "related_person_id": std["person_id"][rng.choice(len(std), 2)].to_numpy(), "relationship": "mother"}
    )  # fmt: skip
    new_relationships = pd.concat([new_relationships.iloc[2:], added], ignore_index=True)
    keep = ~np.isin(np.arange(len(std)), gone)
    new_std, new_masters = new_std[keep].reset_index(drop=True), new_masters[keep]
    new_std["rid"] = np.arange(len(new_std))

    if categorical:
        std, new_std = _categorical_homes(std, reverse=False), _categorical_homes(new_std, reverse=True)
    keys, new_keys = record_keys(std["source_system"], std["person_id"]), None
    new_keys = record_keys(new_std["source_system"], new_std["person_id"])
    changed_people = set(keys[np.concatenate([moved, merged, gone])])
    for rows in (relationships.iloc[:2], added):
        changed_people |= set(record_keys(rows["source_system"], rows["person_id"]))
        changed_people |= set(record_keys(rows["source_system"], rows["related_person_id"]))
    touched = set(masters[keys.isin(changed_people)]) | set(new_masters[new_keys.isin(changed_people)])
    redone = keys[np.isin(masters, list(touched))].append(new_keys[np.isin(new_masters, list(touched))]).unique()

    links, family, history = _whole(new_std, new_masters, new_relationships, old_family, issued)
    ends = Relatives.of(new_std, new_relationships).ends
    current, last = Keyed(new_std, new_keys), Keyed(std, keys)
    night = rebuild(current, new_masters, last, redone, touched, new_relationships, ends, old_family, issued)
    outside = ~old_family["master_id"].isin(night.region)
    pd.testing.assert_frame_equal(_rows(pd.concat([old_family[outside], night.family])), _rows(family))
    kept_links = old_links[~old_links["master_id"].isin(night.region)]
    pd.testing.assert_frame_equal(_rows(pd.concat([kept_links, night.links])), _rows(links))
    pd.testing.assert_frame_equal(_rows(night.history), _rows(history))
    assert len(night.region) < len(set(new_masters))  # not everything: the rebuild stayed local


def test_a_relationship_row_touches_the_region_through_a_redone_or_deleted_end():
    relationships = pd.DataFrame(
        {
            "source_system": ["a", "a", "b", "b"],
            "person_id": ["p1", "p2", "p3", "gone"],
            "related_person_id": ["p2", "never-loaded", "gone", "p4"],
        }
    )
    ends = np.array([[0, 1, 2, -1], [1, -1, -1, 3]])  # rids; -1: no current record
    redone_rids = np.array([False, True, False, False])
    redone = pd.Index(["a|p2", "b|gone"])  # p2 re-matched; b|gone deleted tonight
    assert _touching(relationships, ends, redone_rids, redone).tolist() == [True, True, True, True]
    assert _touching(relationships, ends, np.zeros(4, dtype=bool), pd.Index(["a|p9"])).tolist() == [False] * 4

"""Families on a night: rebuilt only where the night's re-matching can change them.

A family is a connected group of masters over two kinds of edge: relationships between their records,
and a shared home. An edge changes only where a record was re-matched (its master changed, or its row, or
its relationships) or where the set of masters at a home changed (a record moved in or out, or its
master changed: the household rule reads how many masters live there). So a night starts from the
re-matched masters, the masters related to a re-matched record and the masters living where a re-matched
record lives or lived, widens that to whole families of last run, and rebuilds the edges touching it; if
any new edge leads outside, the region takes in that family too, until no edge does. Every family
outside the region has the same members, roles and edges as last run, and keeps its rows as published.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reconcile.masters.families import household_links, master_families, master_relationships
from reconcile.matching.incremental import Keyed, record_keys
from reconcile.matching.master_ids import Issued
from reconcile.matching.standardise import objects

log = logging.getLogger(__name__)
HOME = ["postcode", "address"]


@dataclass(frozen=True)
class Families:
    region: set[str]  # masters whose family and relationship rows were rebuilt
    links: pd.DataFrame  # master_relationship rows of the region
    family: pd.DataFrame  # master_family rows of the region
    history: pd.DataFrame  # family_id_history rows


def rebuild(
    current: Keyed,
    masters: np.ndarray,
    old: Keyed | None,
    redone: pd.Index,
    touched: set[str],
    relationships: pd.DataFrame,
    ends: np.ndarray,
    old_family: pd.DataFrame,
    issued: Issued,
) -> Families:
    """`current`: every current record by rid, `masters` its master by rid; `old`: last run's records;
    `redone`: keys of records re-matched or deleted; `touched`: their masters, old and new; `ends`: the rids of
    each relationship row's two people, -1 where not a current record (`Relatives.ends`); `old_family`: last
    run's master_family."""
    std, keys = current.std, current.keys
    homes = _homes(std[keys.isin(redone)])
    if old is not None:
        homes = homes.append(_homes(old.std[old.keys.isin(redone)]))
    home = _home_of(std)
    at_home = home.isin(homes)
    mine = _touching(relationships, ends, keys.isin(redone), redone)
    end_masters = [_at(masters, end, None) for end in ends]
    seeds = np.concatenate([list(touched), masters[at_home], *(side[mine] for side in end_masters)])
    region = set(seeds[pd.notna(seeds)])
    family_of = pd.Series(old_family["family_id"].to_numpy(), index=old_family["master_id"].to_numpy())
    while True:
        families = family_of.reindex(list(region)).dropna().unique()
        region |= set(old_family["master_id"][old_family["family_id"].isin(families)])
        inside = pd.Series(masters).isin(region).to_numpy()
        near = _at(inside, ends[0], False) | _at(inside, ends[1], False)
        links = master_relationships(relationships[near], _xref(std, masters, ends[:, near]))
        lived = home[inside].dropna()
        shared = home.isin(lived)
        households = household_links(std[shared], pd.Series(masters, index=std.index)[shared])
        reached = set(links["master_id"]) | set(links["related_master_id"])
        reached |= set(households["master_id"]) | set(households["related_master_id"])
        if reached <= region:
            break
        region |= reached
    old = old_family[old_family["master_id"].isin(region)]
    family, history = master_families(links, households, old, issued)
    log.info("families rebuilt around %d masters (%d families of last run)", len(region), old["family_id"].nunique())
    return Families(region, links, family, history)


def _touching(relationships: pd.DataFrame, ends: np.ndarray, redone_rids: np.ndarray, redone: pd.Index) -> np.ndarray:
    """Per relationship row: one of its people was re-matched or deleted. Only a row with an end that is not a
    current record (a deleted one's, or an ID never loaded) is keyed as text, to look that end up."""
    mine = _at(redone_rids, ends[0], False) | _at(redone_rids, ends[1], False)
    loose = np.flatnonzero((ends < 0).any(axis=0))
    for end, column in zip(ends, ("person_id", "related_person_id"), strict=True):
        rows = loose[end[loose] < 0]
        if len(rows):
            found = record_keys(relationships["source_system"].iloc[rows], relationships[column].iloc[rows])
            mine[rows[found.isin(redone)]] = True
    return mine


def _at(values: np.ndarray, rids: np.ndarray, missing: object) -> np.ndarray:
    """`values[rids]`, with `missing` where a rid is -1 (no current record)."""
    found = np.full(len(rids), missing, dtype=values.dtype)
    known = rids >= 0
    found[known] = values[rids[known]]
    return found


def _xref(std: pd.DataFrame, masters: np.ndarray, ends: np.ndarray) -> pd.DataFrame:
    """source_system, person_id, master_id of the current records at these ends: those the links need."""
    rids = np.unique(ends[ends >= 0])
    return pd.DataFrame(
        {
            "source_system": objects(std["source_system"])[rids],
            "person_id": objects(std["person_id"])[rids],
            "master_id": masters[rids],
        }
    )


def _homes(std: pd.DataFrame) -> pd.MultiIndex:
    return _home_of(std).dropna()


def _home_of(std: pd.DataFrame) -> pd.MultiIndex:
    """Each record's (postcode, address), compared by value (tonight's and last run's categories differ). From
    categorical columns, their categories and codes are the index's levels and codes as they are (coding every
    record's home again was a third of the rebuild)."""
    columns = [std[column] for column in HOME]
    if all(isinstance(column.dtype, pd.CategoricalDtype) for column in columns):
        levels = [column.cat.categories for column in columns]
        codes = [column.cat.codes.to_numpy() for column in columns]
        return pd.MultiIndex(levels=levels, codes=codes, names=HOME, verify_integrity=False)
    return pd.MultiIndex.from_arrays([objects(column) for column in columns], names=HOME)

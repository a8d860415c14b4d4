"""How far the systems overlap, from a crosswalk and its families.

One function serves the match step's console summary (from in-memory results) and the HTML
report (from the published tables), so the two can never disagree on what "linked" means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Linkage:
    records: int
    masters: int
    linked_across_systems: int  # masters holding records from more than one system
    duplicates_within_system: int  # records beyond the first from the same system in one master
    families: int
    families_split: int  # families no single system sees whole


def linkage(xref: pd.DataFrame, family: pd.DataFrame) -> Linkage:
    """`xref`: one row per record with master_id and source_system; `family`: family_id and master_id.

    Counted on codes of master and system, by bincount (grouping by the IDs as text sorted a million of them
    twice). The masters of both frames are coded at once, so a family's members are found by their codes.
    """
    ids = np.concatenate([xref["master_id"].to_numpy(dtype=object), family["master_id"].to_numpy(dtype=object)])
    codes, distinct = pd.factorize(ids)
    master, member = codes[: len(xref)], codes[len(xref) :]
    system, systems = pd.factorize(xref["source_system"])
    known = (master >= 0) & (system >= 0)  # as groupby, rows missing either are not in any group
    width = max(len(systems), 1)
    # Each (master, system) the crosswalk holds, as a table of masters by systems.
    held = np.bincount(master[known] * width + system[known], minlength=len(distinct) * width).reshape(-1, width) > 0
    group, groups = pd.factorize(family["family_id"])
    return Linkage(
        records=len(xref),
        masters=int(np.count_nonzero(np.bincount(master[master >= 0], minlength=len(distinct)))),
        linked_across_systems=int((held.sum(axis=1) > 1).sum()),
        duplicates_within_system=int(known.sum() - held.sum()),
        families=len(groups),
        families_split=_split_families(group, len(groups), member, held),
    )


def _split_families(group: np.ndarray, groups: int, member: np.ndarray, held: np.ndarray) -> int:
    """Families that no one system sees whole: the split picture the front door cannot see past. In such a
    family, no system holds a record of every master.

    `group`, `member`: each family row's family and master, as codes (-1: missing); `held`: per master code,
    per system, whether the crosswalk holds a record of it. Three pandas group-bys were most of a night's
    summary.
    """
    size = np.bincount(group[group >= 0], minlength=groups)  # family rows, as group sizes count them
    rows = (group >= 0) & (member >= 0)
    masters = max(len(held), 1)
    pairs = np.unique(group[rows].astype(np.int64) * masters + member[rows])  # a master counts once per family
    seen = np.zeros((groups, held.shape[1]), dtype=np.int64)
    for system in range(held.shape[1]):  # per family, the masters this system holds
        holds = held[pairs % masters, system]
        seen[:, system] = np.bincount(pairs[holds] // masters, minlength=groups)
    return int((seen.max(axis=1, initial=0) < size).sum())

"""How far the systems overlap, from a crosswalk and its families.

One function serves the match step's console summary (from in-memory results) and the HTML
report (from the published tables), so the two can never disagree on what "linked" means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reconcile.masters.families import split_families


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

    Counted on codes of master and system (grouping by the IDs as text sorted a million of them twice).
    """
    master, masters = pd.factorize(xref["master_id"])
    system, systems = pd.factorize(xref["source_system"])
    known = (master >= 0) & (system >= 0)  # as groupby, rows missing either are not in any group
    width = max(len(systems), 1)
    held = np.unique(master[known].astype(np.int64) * width + system[known])  # each (master, system) once
    return Linkage(
        records=len(xref),
        masters=len(masters),
        linked_across_systems=int((np.bincount(held // width) > 1).sum()),
        duplicates_within_system=int(known.sum() - len(held)),
        families=int(family["family_id"].nunique()) if len(family) else 0,
        families_split=split_families(family, xref),
    )

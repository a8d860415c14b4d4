"""Stable master IDs: an ID, once issued, keeps meaning the same person on later runs.

Each new cluster inherits the previous master ID that most of its records held, if no
bigger share of that ID went elsewhere. Every change of ID a record sees is written to
`master_id_history`: a merge, a split, a replacement or a removal. IDs are opaque: derived
from a hash, never a source's own ID, and never issued twice.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

HISTORY_COLUMNS = ["old_master_id", "new_master_id", "reason", "records"]


def assign(clusters: pd.DataFrame, previous: pd.DataFrame | None, issued: set[str]) -> tuple[pd.Series, pd.DataFrame]:
    """Master ID per row of `clusters` (source_system, person_id, cluster), and the history of changes.

    `previous`: the last published person_xref (source_system, source_id, master_id).
    `issued`: every master ID ever issued on this target, so none is reused.
    """
    prev = _previous_ids(clusters, previous)
    kept = _inherit(clusters["cluster"].to_numpy(), prev)
    taken = set(issued) | set(kept.values())
    ids = {}
    for cluster_number, members in clusters.groupby("cluster", sort=True):
        if cluster_number in kept:
            ids[cluster_number] = kept[cluster_number]
        else:
            first = min(members["source_system"] + "|" + members["person_id"])
            ids[cluster_number] = _new_id(first, taken)
            taken.add(ids[cluster_number])
    master = clusters["cluster"].map(ids)
    return master, _history(clusters, prev, master, previous, set(kept.values()))


def _previous_ids(clusters: pd.DataFrame, previous: pd.DataFrame | None) -> np.ndarray:
    if previous is None or previous.empty:
        return np.full(len(clusters), None, dtype=object)
    lookup = pd.Series(
        previous["master_id"].to_numpy(),
        index=pd.MultiIndex.from_arrays([previous["source_system"], previous["source_id"].astype(str)]),
    )
    lookup = lookup[~lookup.index.duplicated()]
    found = lookup.reindex(pd.MultiIndex.from_arrays([clusters["source_system"], clusters["person_id"]]))
    return found.to_numpy(dtype=object)


def _inherit(cluster: np.ndarray, prev: np.ndarray) -> dict[int, str]:
    """Largest overlaps first; each old ID goes to one cluster and each cluster takes one old ID."""
    known = pd.notna(prev)
    if not known.any():
        return {}
    overlap = (
        pd.DataFrame({"cluster": cluster[known], "old": prev[known]})
        .value_counts()
        .rename("n")
        .reset_index()
        .sort_values(["n", "cluster", "old"], ascending=[False, True, True])
    )
    kept: dict[int, str] = {}
    used: set[str] = set()
    for row in overlap.itertuples(index=False):
        if row.cluster not in kept and row.old not in used:
            kept[int(row.cluster)] = str(row.old)
            used.add(str(row.old))
    return kept


def _new_id(seed_key: str, taken: set[str]) -> str:
    for attempt in range(1000):
        digest = hashlib.blake2b(f"{seed_key}#{attempt}".encode(), digest_size=6).hexdigest().upper()
        candidate = f"M{digest}"
        if candidate not in taken:
            return candidate
    raise RuntimeError("could not issue a fresh master ID")  # 1000 collisions on 48 bits: not in this universe


def _history(
    clusters: pd.DataFrame, prev: np.ndarray, master: pd.Series, previous: pd.DataFrame | None, kept: set[str]
) -> pd.DataFrame:
    moved = pd.notna(prev) & (prev != master.to_numpy())
    changes = pd.DataFrame({"old_master_id": prev[moved], "new_master_id": master.to_numpy()[moved]})
    existing = set(prev[pd.notna(prev)])
    counts = changes.value_counts().rename("records").reset_index()
    counts["reason"] = np.where(
        counts["old_master_id"].isin(kept),
        "split",  # the old master lives on; some of its records now belong to another
        np.where(counts["new_master_id"].isin(existing), "merge", "replaced"),
    )
    removed = _removed(previous, set(master), existing)
    history = pd.concat([counts, removed], ignore_index=True)
    return history[HISTORY_COLUMNS].sort_values(["old_master_id", "new_master_id"]).reset_index(drop=True)


def _removed(previous: pd.DataFrame | None, current: set[str], still_held: set[str]) -> pd.DataFrame:
    """Masters none of whose records remain: their source records were deleted."""
    if previous is None or previous.empty:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    gone = previous[~previous["master_id"].isin(current | still_held)]
    counts = gone.groupby("master_id").size()
    return pd.DataFrame(
        {"old_master_id": counts.index, "new_master_id": None, "reason": "removed", "records": counts.to_numpy()}
    )

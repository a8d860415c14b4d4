"""Stable master IDs: an ID, once issued, keeps meaning the same person on later runs.

Each new cluster inherits the previous master ID that most of its records held, if no
bigger share of that ID went elsewhere. Every change of ID a record sees is written to
`master_id_history`: a merge, a split, a replacement or a removal, or `review` where a
reviewer's decision made the change. IDs are opaque: derived
from a hash, never a source's own ID, and never issued twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

HISTORY_COLUMNS = ["old_master_id", "new_master_id", "reason", "records"]


class Issued(Protocol):
    """The IDs of one kind (master or family) ever issued on a target, so that none is issued again."""

    def among(self, ids: Collection[str]) -> set[str]:
        """Those of `ids` that were issued."""
        ...


@dataclass(frozen=True)
class IssuedIds:
    """Issued IDs held in memory."""

    ids: frozenset[str] = frozenset()

    def among(self, ids: Collection[str]) -> set[str]:
        return set(self.ids.intersection(ids))


def assign(
    clusters: pd.DataFrame, previous: pd.DataFrame | None, issued: Issued, decided: pd.DataFrame | None = None
) -> tuple[pd.Series, pd.DataFrame]:
    """Master ID per row of `clusters` (source_system, person_id, cluster), and the history of changes.

    `previous`: the last published person_xref (source_system, source_id, master_id).
    `issued`: every master ID ever issued on this target, so none is reused.
    `decided`: reviewers' decisions (source_system_l, person_id_l, source_system_r, person_id_r, decision);
    a change they made is recorded with reason `review`.
    """
    members = clusters["source_system"] + "|" + clusters["person_id"].astype(str)
    old = None
    if previous is not None and not previous.empty:
        old = pd.Series(
            previous["master_id"].to_numpy(), index=previous["source_system"] + "|" + previous["source_id"].astype(str)
        )
    ids, history = stable_ids(members, clusters["cluster"].to_numpy(), old, issued, prefix="M")
    if decided is not None and len(decided) and old is not None:
        moves = _moved_by_review(members, ids, old, decided)
        if moves:
            by_review = pd.MultiIndex.from_frame(history[["old_master_id", "new_master_id"]]).isin(moves)
            history.loc[by_review, "reason"] = "review"
    return ids, history


def _moved_by_review(members: pd.Series, ids: pd.Series, old: pd.Series, decided: pd.DataFrame) -> list[tuple]:
    """(old ID, new ID) of records a decision moved: a MATCH that joined two masters, a NOT_MATCH that split one."""
    now = pd.Series(ids.to_numpy(), index=members.to_numpy())
    now = now[~now.index.duplicated()]
    old = old[~old.index.duplicated()]
    moves: list[tuple] = []
    for side_a, side_b in (("l", "r"), ("r", "l")):
        a = (decided[f"source_system_{side_a}"] + "|" + decided[f"person_id_{side_a}"].astype(str)).to_numpy()
        b = (decided[f"source_system_{side_b}"] + "|" + decided[f"person_id_{side_b}"].astype(str)).to_numpy()
        was_a, was_b = old.reindex(a).to_numpy(dtype=object), old.reindex(b).to_numpy(dtype=object)
        is_a, is_b = now.reindex(a).to_numpy(dtype=object), now.reindex(b).to_numpy(dtype=object)
        known = pd.notna(was_a) & pd.notna(was_b) & pd.notna(is_a) & pd.notna(is_b)
        match = (decided["decision"] == "MATCH").to_numpy()
        joined = match & (was_a != was_b) & (is_a == is_b)
        parted = (decided["decision"] == "NOT_MATCH").to_numpy() & (was_a == was_b) & (is_a != is_b)
        moved = known & (joined | parted) & (was_a != is_a)
        moves += list(zip(was_a[moved], is_a[moved], strict=True))
    return moves


def stable_ids(
    members: pd.Series, cluster: np.ndarray, previous: pd.Series | None, issued: Issued, prefix: str
) -> tuple[pd.Series, pd.DataFrame]:
    """IDs for groups of members that keep last run's ID where most of its members still are.

    `members`: one key per row; `cluster`: the group of each row; `previous`: member key -> last run's ID.
    Serves master IDs (members are source records) and family IDs (members are masters) alike.
    """
    members = members.reset_index(drop=True)
    if previous is not None:
        previous = previous[~previous.index.duplicated()]
        prev = previous.reindex(members.to_numpy()).to_numpy(dtype=object)
    else:
        prev = np.full(len(members), None, dtype=object)
    kept = _inherit(cluster, prev)
    firsts = _first_member(members, cluster)
    # Each new group's first choice of ID is asked about at once; a later choice (after a clash) on its own.
    first_choices = [_candidate(prefix, first, 0) for number, first in firsts.items() if number not in kept]
    taken = set(kept.values()) | issued.among(first_choices)
    ids: dict[int, str] = {}
    for number, first in firsts.items():
        if number in kept:
            ids[number] = kept[number]
        else:
            ids[number] = _new_id(prefix, first, taken, issued)
            taken.add(ids[number])
    assigned = pd.Series(cluster).map(ids)
    return assigned, _history(prev, assigned, previous, set(kept.values()))


def _first_member(members: pd.Series, cluster: np.ndarray) -> pd.Series:
    """The smallest member key of each group, by group number (a lexsort: groupby's min on text is slow)."""
    keys = members.to_numpy(dtype=object)
    order = np.lexsort((keys, cluster))
    groups = cluster[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = groups[1:] != groups[:-1]
    return pd.Series(keys[order][first], index=groups[first])


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


def _new_id(prefix: str, seed_key: str, taken: set[str], issued: Issued) -> str:
    """The first of the seed's candidates neither `taken` (which holds whether the first was issued) nor issued."""
    for attempt in range(1000):
        candidate = _candidate(prefix, seed_key, attempt)
        if candidate not in taken and (attempt == 0 or not issued.among([candidate])):
            return candidate
    raise RuntimeError("could not issue a fresh ID")  # 1000 collisions on 48 bits: not in this universe


def _candidate(prefix: str, seed_key: str, attempt: int) -> str:
    return prefix + hashlib.blake2b(f"{seed_key}#{attempt}".encode(), digest_size=6).hexdigest().upper()


def _history(prev: np.ndarray, assigned: pd.Series, previous: pd.Series | None, kept: set[str]) -> pd.DataFrame:
    moved = pd.notna(prev) & (prev != assigned.to_numpy())
    changes = pd.DataFrame({"old_master_id": prev[moved], "new_master_id": assigned.to_numpy()[moved]})
    existing = set(prev[pd.notna(prev)])
    counts = changes.value_counts().rename("records").reset_index()
    counts["reason"] = np.where(
        counts["old_master_id"].isin(kept),
        "split",  # the old ID lives on; some of its members now belong to another
        np.where(counts["new_master_id"].isin(existing), "merge", "replaced"),
    )
    removed = _removed(previous, set(assigned), existing)
    history = pd.concat([counts, removed], ignore_index=True)
    return history[HISTORY_COLUMNS].sort_values(["old_master_id", "new_master_id"]).reset_index(drop=True)


def _removed(previous: pd.Series | None, current: set[str], still_held: set[str]) -> pd.DataFrame:
    """IDs none of whose members remain: their source records were deleted."""
    if previous is None or previous.empty:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    counts = previous[~previous.isin(current | still_held)].value_counts()
    return pd.DataFrame(
        {"old_master_id": counts.index, "new_master_id": None, "reason": "removed", "records": counts.to_numpy()}
    )

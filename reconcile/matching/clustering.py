"""Clustering: links -> master records, without chaining strangers together.

Connected components alone over-merge: A~B and B~C join A and C even when A and C are
twins. Here links are taken strongest first, and two clusters are joined only if no pair
across them is forbidden. A link refused that way goes to review. Reviewers' MATCH
decisions are applied first, and their NOT_MATCH decisions are forbidden pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component number of each of n nodes, given edges a[i]-b[i] (households, families)."""
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


@dataclass(frozen=True)
class Clusters:
    labels: np.ndarray  # cluster number per rid: the smallest rid in the cluster
    refused: np.ndarray  # per candidate link: True where joining would have broken a constraint
    forced_refused: np.ndarray  # per reviewer MATCH: True where it would join a forbidden pair


def cluster(
    n: int, links: pd.DataFrame, forbidden: pd.DataFrame, forced: pd.DataFrame, nhs: np.ndarray | None = None
) -> Clusters:
    """`links`: rid_l, rid_r, match_weight (only pairs allowed to link). `forbidden`, `forced`: rid_l, rid_r.

    `nhs`: each record's valid NHS number or None. No link joins two clusters holding different ones, even
    where the two records that carry them were never compared with each other.
    """
    parent = np.arange(n)
    members: dict[int, list[int]] = {}
    apart: dict[int, set[int]] = {}
    numbers: dict[int, set[str]] = {}
    # Only a forbidden pair whose records both take part in some link could ever end up together.
    linked = np.zeros(n, dtype=bool)
    for frame in (links, forced):
        linked[frame["rid_l"].to_numpy(dtype=np.int64)] = True
        linked[frame["rid_r"].to_numpy(dtype=np.int64)] = True

    def numbers_of(rid: int) -> set[str]:
        """The record's valid NHS number, as the one-number set a cluster of it alone holds."""
        return {str(nhs[rid])} if nhs is not None and pd.notna(nhs[rid]) else set()

    if nhs is not None:  # every cluster root ever asked about is a linked record: only theirs are held
        for rid in np.flatnonzero(pd.notna(nhs) & linked):
            numbers[int(rid)] = numbers_of(int(rid))
    relevant = forbidden[
        linked[forbidden["rid_l"].to_numpy(dtype=np.int64)] & linked[forbidden["rid_r"].to_numpy(dtype=np.int64)]
    ]
    for a, b in zip(relevant["rid_l"].to_numpy(), relevant["rid_r"].to_numpy(), strict=True):
        apart.setdefault(int(a), set()).add(int(b))
        apart.setdefault(int(b), set()).add(int(a))

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(ra: int, rb: int) -> None:
        if len(members.get(ra, [ra])) < len(members.get(rb, [rb])):
            ra, rb = rb, ra
        parent[rb] = ra
        members[ra] = members.pop(ra, [ra]) + members.pop(rb, [rb])
        apart[ra] = apart.pop(ra, set()) | apart.pop(rb, set())
        numbers[ra] = numbers.pop(ra, set()) | numbers.pop(rb, set())

    def conflict(ra: int, rb: int, *, by_number: bool = True) -> bool:
        held_a, held_b = numbers.get(ra), numbers.get(rb)
        if by_number and held_a and held_b and held_a != held_b:
            return True
        small, big = (ra, rb) if len(members.get(ra, [ra])) <= len(members.get(rb, [rb])) else (rb, ra)
        against = apart.get(big, set())
        return bool(against) and any(m in against for m in members.get(small, [small]))

    def unseen_numbers(ra: int, rb: int, a: int, b: int) -> bool:
        """Joining would put together NHS numbers that the pair a reviewer matched does not itself hold (one
        cluster holding no number the other lacks brings nothing new together)."""
        held_a, held_b = numbers.get(ra, set()), numbers.get(rb, set())
        if held_a <= held_b or held_b <= held_a:
            return False
        return not held_a | held_b <= numbers_of(a) | numbers_of(b)

    # A reviewer's MATCH may join two NHS numbers (that is the reviewer's call, on the two they saw), but
    # never a pair that is forbidden on its own account: two MATCHes A-B and B-C do not join twins A and C,
    # nor A's and C's NHS numbers, which no reviewer saw side by side.
    forced_refused = np.zeros(len(forced), dtype=bool)
    for i, (a, b) in enumerate(zip(forced["rid_l"].to_numpy(), forced["rid_r"].to_numpy(), strict=True)):
        ra, rb = find(int(a)), find(int(b))
        if ra == rb:
            continue
        if conflict(ra, rb, by_number=False) or unseen_numbers(ra, rb, int(a), int(b)):
            forced_refused[i] = True
            continue
        union(ra, rb)

    order = np.lexsort((links["rid_r"].to_numpy(), links["rid_l"].to_numpy(), -links["match_weight"].to_numpy()))
    refused = np.zeros(len(links), dtype=bool)
    left, right = links["rid_l"].to_numpy(), links["rid_r"].to_numpy()
    for i in order:
        ra, rb = find(int(left[i])), find(int(right[i]))
        if ra == rb:
            continue
        if conflict(ra, rb):
            refused[i] = True
            continue
        union(ra, rb)

    roots = _roots(parent)
    smallest = np.full(n, n, dtype=np.int64)
    np.minimum.at(smallest, roots, np.arange(n, dtype=np.int64))
    return Clusters(labels=smallest[roots], refused=refused, forced_refused=forced_refused)


def _roots(parent: np.ndarray) -> np.ndarray:
    """`find` of every record at once, by pointer jumping over the whole array (one `find` per record, in
    Python, was most of clustering a night's few thousand links among all its records)."""
    roots = parent.astype(np.int64)
    while True:
        jumped = roots[roots]
        if np.array_equal(jumped, roots):
            return roots
        roots = jumped

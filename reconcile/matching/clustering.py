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


@dataclass(frozen=True)
class Clusters:
    labels: np.ndarray  # cluster number per rid: the smallest rid in the cluster
    refused: np.ndarray  # per candidate link: True where joining would have broken a constraint


def cluster(n: int, links: pd.DataFrame, forbidden: pd.DataFrame, forced: pd.DataFrame) -> Clusters:
    """`links`: rid_l, rid_r, match_weight (only pairs allowed to link). `forbidden`, `forced`: rid_l, rid_r."""
    parent = np.arange(n)
    members: dict[int, list[int]] = {}
    apart: dict[int, set[int]] = {}
    # Only a forbidden pair whose records both take part in some link could ever end up together.
    linked = np.zeros(n, dtype=bool)
    for frame in (links, forced):
        linked[frame["rid_l"].to_numpy(dtype=np.int64)] = True
        linked[frame["rid_r"].to_numpy(dtype=np.int64)] = True
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

    def conflict(ra: int, rb: int) -> bool:
        small, big = (ra, rb) if len(members.get(ra, [ra])) <= len(members.get(rb, [rb])) else (rb, ra)
        against = apart.get(big, set())
        return bool(against) and any(m in against for m in members.get(small, [small]))

    for a, b in zip(forced["rid_l"].to_numpy(), forced["rid_r"].to_numpy(), strict=True):
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
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

    roots = np.array([find(i) for i in range(n)], dtype=np.int64)
    smallest = pd.Series(np.arange(n)).groupby(roots).transform("min").to_numpy()
    return Clusters(labels=smallest, refused=refused)

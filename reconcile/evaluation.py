"""Accuracy of a clustering against labelled truth, from counts only, so 200k records score in under a second.

Used by the tests, the demo's ground-truth check and benchmarks/matching.py.

Every function takes `clusters` (source_system, person_id, master_key) and `truth` (source_system, person_id,
true_id, twin_group) covering exactly the same records; a mismatch is an engine bug and raises.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

KEY = ["source_system", "person_id"]


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 with the counts behind them, so a reader can check the ratios."""

    true_positives: int
    predicted: int
    actual: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.actual if self.actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True)
class Scores:
    pairwise: PRF
    cluster: PRF
    twin_merges: int

    def as_dict(self) -> dict[str, object]:
        return {"pairwise": self.pairwise.as_dict(), "cluster": self.cluster.as_dict(), "twin_merges": self.twin_merges}


def _pairs(sizes: pd.Series) -> int:
    """Number of unordered pairs inside groups of these sizes: sum of n(n-1)/2."""
    n = sizes.astype("int64")
    return int((n * (n - 1) // 2).sum())


def aligned(clusters: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """One row per record with its predicted and true cluster; refuses anything but a one-to-one match of records."""
    for name, frame in (("clusters", clusters), ("truth", truth)):
        dupes = int(frame.duplicated(KEY).sum())
        if dupes:
            raise ValueError(f"{name} lists {dupes} record(s) more than once")
    both = clusters[[*KEY, "master_key"]].merge(truth, on=KEY, how="outer", indicator=True)
    missing = both["_merge"].value_counts()
    if missing.get("left_only", 0) or missing.get("right_only", 0):
        raise ValueError(
            f"clusters and truth differ: {missing.get('left_only', 0)} record(s) only in clusters, "
            f"{missing.get('right_only', 0)} only in truth"
        )
    if both["master_key"].isna().any() or both["true_id"].isna().any():
        raise ValueError("every record needs a master_key and a true_id")
    return both.drop(columns="_merge")


def pairwise(both: pd.DataFrame) -> PRF:
    """Record pairs put together by the clustering versus pairs that are truly one person."""
    cells = both.groupby(["master_key", "true_id"], sort=False).size()
    return PRF(
        true_positives=_pairs(cells),
        predicted=_pairs(both.groupby("master_key", sort=False).size()),
        actual=_pairs(both.groupby("true_id", sort=False).size()),
    )


def cluster_exact(both: pd.DataFrame) -> PRF:
    """A predicted cluster is right only if it holds exactly one true person's records, all of them."""
    pred_size = both.groupby("master_key", sort=False).size().rename("pred_size")
    true_size = both.groupby("true_id", sort=False).size().rename("true_size")
    cells = both.groupby(["master_key", "true_id"], sort=False).size().rename("cell").reset_index()
    cells = cells.join(pred_size, on="master_key").join(true_size, on="true_id")
    exact = (cells["cell"] == cells["pred_size"]) & (cells["cell"] == cells["true_size"])
    return PRF(true_positives=int(exact.sum()), predicted=len(pred_size), actual=len(true_size))


def twin_merges(both: pd.DataFrame) -> int:
    """Distinct pairs of different true people from one twin group that share any predicted cluster."""
    if "twin_group" not in both:
        return 0
    twins = both.loc[both["twin_group"].notna(), ["twin_group", "master_key", "true_id"]].drop_duplicates()
    pairs = twins.merge(twins, on=["twin_group", "master_key"], suffixes=("_l", "_r"))
    pairs = pairs[pairs["true_id_l"] < pairs["true_id_r"]]
    return len(pairs[["true_id_l", "true_id_r"]].drop_duplicates())


def twin_pairs(truth: pd.DataFrame) -> int:
    """The most twin merges possible: pairs of different true people within each twin group."""
    if "twin_group" not in truth:
        return 0
    people = truth.dropna(subset=["twin_group"]).groupby("twin_group")["true_id"].nunique()
    return _pairs(people)


def score(clusters: pd.DataFrame, truth: pd.DataFrame) -> Scores:
    both = aligned(clusters, truth)
    both["master_key"] = both["master_key"].astype(str)
    both["true_id"] = both["true_id"].astype(str)
    return Scores(pairwise=pairwise(both), cluster=cluster_exact(both), twin_merges=twin_merges(both))

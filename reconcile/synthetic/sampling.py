"""Seeded random helpers shared by every stage, so that rates and guarantees behave alike."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reconcile.synthetic.settings import EVERY_KIND_FROM_PEOPLE, REFERENCE_DATE

Mask = np.ndarray  # boolean, one entry per row
DAY = np.timedelta64(1, "D")
MINUTE = np.timedelta64(1, "m")


@dataclass
class Stage:
    """One stage's random stream plus the facts every stage needs.

    Each stage gets its own stream (spawned from the seed) so adding draws to one stage
    does not shift the output of the others.
    """

    rng: np.random.Generator
    at_least: int  # minimum count for every planted kind, where rows allow
    ref: np.datetime64 = np.datetime64(REFERENCE_DATE, "D")

    def pick(self, eligible: Mask, rate: float | np.ndarray, at_least: int | None = None) -> Mask:
        """Rows chosen at `rate` among the eligible ones, topped up to the stage's minimum."""
        eligible = np.asarray(eligible, dtype=bool)
        chosen = eligible & (self.rng.random(len(eligible)) < rate)
        want = min(self.at_least if at_least is None else at_least, int(eligible.sum()))
        short = want - int(chosen.sum())
        if short > 0:
            spare = np.flatnonzero(eligible & ~chosen)
            chosen[self.rng.choice(spare, size=short, replace=False)] = True
        return chosen

    def labels(self, n: int, weights: dict[str, float]) -> np.ndarray:
        """Exactly proportional labels in random order, so small counts still show every label."""
        names = list(weights)
        shares = np.array([weights[k] for k in names], dtype=float)
        counts = np.floor(shares / shares.sum() * n).astype(int)
        leftover = n - counts.sum()
        counts[np.argsort(-shares, kind="stable")[:leftover]] += 1
        out = np.repeat(np.array(names, dtype=object), counts)
        return self.rng.permutation(out)

    def draw(self, values: np.ndarray | list[str], n: int, weights: np.ndarray | None = None) -> np.ndarray:
        """n values drawn with replacement, weighted."""
        arr = np.asarray(values, dtype=object)
        p = None if weights is None else np.asarray(weights, dtype=float) / np.sum(weights)
        return arr[self.rng.choice(len(arr), size=n, p=p)]

    def days(self, low: int, high: int, n: int) -> np.ndarray:
        """Uniform whole-day offsets in [low, high] as timedelta64."""
        return self.rng.integers(low, high + 1, size=n) * DAY

    def minutes(self, low: int, high: int, n: int) -> np.ndarray:
        """Uniform whole-minute offsets in [low, high] as timedelta64."""
        return self.rng.integers(low, high + 1, size=n) * MINUTE


def stages(seed: int, people: int, names: tuple[str, ...]) -> dict[str, Stage]:
    """Independent streams per named stage, derived from one seed."""
    children = np.random.SeedSequence(seed).spawn(len(names))
    at_least = 1 if people >= EVERY_KIND_FROM_PEOPLE else 0
    return {n: Stage(np.random.default_rng(s), at_least) for n, s in zip(names, children, strict=True)}


def group_position(keys: np.ndarray) -> np.ndarray:
    """Position of each row within its run of equal, adjacent keys (0, 1, 2, ...)."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, keys[1:] != keys[:-1]]
    idx = np.arange(n)
    return idx - np.maximum.accumulate(np.where(starts, idx, 0))


def iso(values: np.ndarray | pd.Series, unit: str = "D") -> np.ndarray:
    """datetime64 values as ISO text (None for NaT); datetimes keep numpy's 'T' separator."""
    arr = np.asarray(values, dtype=f"datetime64[{unit}]")
    text = np.datetime_as_string(arr, unit=unit).astype(object)
    text[np.isnat(arr)] = None
    return text


def ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded text IDs such as P000123, as an object array."""
    return np.array([f"{prefix}{n:0{width}d}" for n in np.asarray(numbers).tolist()], dtype=object)

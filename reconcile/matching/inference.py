"""Scoring: each pair's match weight per comparison, their sum, and the match probability.

Per-comparison weights are kept, so that every link can be explained field by field.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from reconcile.matching.comparisons import COMPARISONS, MISSING
from reconcile.matching.standardise import objects
from reconcile.matching.training import Model


def score(std: pd.DataFrame, pairs: pd.DataFrame, gammas: pd.DataFrame, model: Model) -> pd.DataFrame:
    """`w_<comparison>` in bits for each comparison, `match_weight` and `match_probability`."""
    weights = model.weights()
    out = {}
    for k in COMPARISONS:
        levels = gammas[k].to_numpy()
        w = np.where(levels == MISSING, 0.0, weights[k][np.clip(levels, 0, None)])
        if k in model.term_frequency:
            w = _term_frequency_adjusted(std, pairs, k, levels, w, model)
        out[f"w_{k}"] = w
    frame = pd.DataFrame(out)
    prior_weight = weight_of(model.prior)
    # Summed column by column, in order: a row sum's order of additions can depend on how many rows there are,
    # and the last bit of a weight must not depend on the chunk a pair was scored in.
    total = np.zeros(len(frame))
    for column in out.values():
        total = total + column
    frame["match_weight"] = prior_weight + total
    frame["match_probability"] = probability_of(frame["match_weight"])
    return frame


def probability_of(weight: ArrayLike) -> ArrayLike:
    """A match weight in bits as a probability: 1 / (1 + 2^-weight)."""
    return 1.0 / (1.0 + np.exp2(-np.clip(weight, -200, 200)))


def weight_of(probability: float) -> float:
    """The inverse of `probability_of`: the weight in bits a threshold probability stands for."""
    return float(np.log2(probability / (1.0 - probability)))


def _term_frequency_adjusted(
    std: pd.DataFrame, pairs: pd.DataFrame, k: str, levels: np.ndarray, w: np.ndarray, model: Model
) -> np.ndarray:
    """An exact match on a rare name is stronger evidence than on a common one: u becomes the name's share."""
    column = objects(std[k])
    left, right = column[pairs["rid_l"].to_numpy()], column[pairs["rid_r"].to_numpy()]
    # Only where the two hold the same name: a forename keyed as a surname can reach the exact level crosswise,
    # and the share of the left record's own surname says nothing about that name.
    exact = (levels == len(model.m[k]) - 1) & (left == right)
    if not exact.any():
        return w
    values = left[exact]
    floor = 1.0 / max(model.records or len(std), 1)  # the fitted population, so a stored model scores the same
    shares = np.array([max(model.term_frequency[k].get(v, floor), floor) for v in values])
    adjusted = w.copy()
    adjusted[exact] = np.log2(model.m[k][-1] / shares)
    return adjusted

"""Scoring: each pair's match weight per comparison, their sum, and the match probability.

Per-comparison weights are kept, so that every link can be explained field by field.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.matching.comparisons import COMPARISONS, MISSING
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
    prior_weight = float(np.log2(model.prior / (1 - model.prior)))
    frame["match_weight"] = prior_weight + frame.sum(axis=1)
    frame["match_probability"] = 1.0 / (1.0 + np.exp2(-frame["match_weight"].clip(-200, 200)))
    return frame


def _term_frequency_adjusted(
    std: pd.DataFrame, pairs: pd.DataFrame, k: str, levels: np.ndarray, w: np.ndarray, model: Model
) -> np.ndarray:
    """An exact match on a rare name is stronger evidence than on a common one: u becomes the name's share."""
    exact = levels == len(model.m[k]) - 1
    if not exact.any():
        return w
    values = std[k].to_numpy()[pairs["rid_l"].to_numpy()[exact]]
    floor = 1.0 / max(model.records or len(std), 1)  # the fitted population, so a stored model scores the same
    shares = np.array([max(model.term_frequency[k].get(v, floor), floor) for v in values])
    adjusted = w.copy()
    adjusted[exact] = np.log2(model.m[k][-1] / shares)
    return adjusted

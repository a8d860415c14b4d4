"""Training a Fellegi-Sunter model: u from random pairs, m by EM inside blocks, and the prior.

As in Splink: u (how often non-matches agree) is counted on random pairs, which are almost
all non-matches. m (how often matches agree) is estimated by EM on pairs blocked by one
rule, for the comparisons that rule does not fix, with u held still. Everything is seeded,
so the same records give the same model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reconcile.matching.blocking import rule_blocks, rule_pairs
from reconcile.matching.comparisons import COMPARISONS, LEVELS, MISSING, Prepared, compare
from reconcile.matching.rules import Rules
from reconcile.matching.standardise import objects

# Which comparison a blocking key pins down: EM cannot learn m for it inside those blocks.
KEY_COMPARISON = {
    "dob": "dob", "dob_year": "dob", "dob_ym": "dob", "forename": "forename", "forename_phonetic": "forename",
    "forename_initial": "forename", "forenames": "forename", "surname": "surname", "surname_phonetic": "surname",
    "nhs": "nhs", "upn": "upn", "alt_id": "alt_id", "postcode": "address", "pc_sector": "address",
    "pc_district": "address", "pc_area": "address", "sex": "sex", "address": "address",
}  # fmt: skip
# Keys that pin down more than one comparison.
KEY_COMPARISONS = {"names_phonetic": {"forename", "surname"}, "forenames": {"forename", "middle_names"}}
LABEL_PSEUDO_COUNT = 50.0  # how many known matches EM's estimate is worth when the two are blended
# Fewer known matches than this (pairs sharing an identifier, or reviewers' MATCHes) teach nothing reliable:
# one MATCH on an odd pair would lift m of its rare levels twentyfold, and pull dozens of pairs into review.
MIN_ANCHOR_PAIRS = 30
# No level is impossible for a true match: a typo can land anywhere. Without a floor, a level never
# seen in training would veto a match outright.
M_FLOOR = 1e-3
U_CHUNK = 100_000  # random pairs compared at once while estimating u


@dataclass(frozen=True, repr=False)  # its name frequencies hold names: printing it must not show them
class Model:
    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    prior: float  # probability that two records drawn at random are the same person
    term_frequency: dict[str, dict[str, float]]  # per comparison: value -> share of records holding it
    records: int = 0  # how many records it was fitted on: a name it never saw counts as one of these

    def weights(self) -> dict[str, np.ndarray]:
        """Match weight of each level, in bits: log2(m/u)."""
        return {k: np.log2(self.m[k] / self.u[k]) for k in COMPARISONS}


def train(records: pd.DataFrame | Prepared, rules: Rules, labels: pd.DataFrame | None = None) -> Model:
    """`labels`: clerical decisions as rid_l, rid_r, is_match; MATCHes refine m once there are enough of them."""
    rng = np.random.default_rng(rules.training.seed)
    prepared = records if isinstance(records, Prepared) else Prepared(records)
    std = prepared.std
    u = estimate_u(prepared, rules, rng)
    m: dict[str, list[np.ndarray]] = {k: [] for k in COMPARISONS}
    sessions = []
    for rule in rules.training.em_rules:
        free = [k for k in COMPARISONS if k not in _fixed_by(rule)]
        gammas, pair_count = _rule_gammas(prepared, rule, rules, rng)
        if gammas is None:
            continue
        settings = rules.training
        m_rule, lam = expectation_maximisation(gammas, free, u, settings.em_iterations, settings.em_tolerance)
        for k in free:
            m[k].append(m_rule[k])
        sessions.append((_fixed_by(rule), pair_count, lam))
    m_final = {k: np.mean(m[k], axis=0) if m[k] else default_m(k) for k in COMPARISONS}
    # Pairs that share a valid NHS number (or UPN) are matches we can count, not guess: relatives
    # who share a surname and a home cannot pose as matches among them, as they can inside EM's blocks.
    for rule in rules.training.anchor_rules:
        gammas, _ = _rule_gammas(prepared, rule, rules, rng)
        if gammas is not None and len(gammas) >= MIN_ANCHOR_PAIRS:
            m_final = blend(m_final, gammas, exclude=_fixed_by(rule))
    if labels is not None and len(labels):
        matches = labels.loc[labels["is_match"].astype(bool), ["rid_l", "rid_r"]].reset_index(drop=True)
        if len(matches) >= MIN_ANCHOR_PAIRS:
            m_final = blend(m_final, compare(prepared, matches, rules.comparisons), exclude=set())
    m_final = {k: _floored(v) for k, v in m_final.items()}
    prior = estimate_prior(std, sessions, m_final)
    tf = {k: _term_frequency(std[k]) for k in ("forename", "surname") if getattr(rules.comparisons, k).term_frequency}
    return Model(m=m_final, u=u, prior=prior, term_frequency=tf, records=len(std))


def _fixed_by(rule: list[str]) -> set[str]:
    return set().union(*(KEY_COMPARISONS[key] if key in KEY_COMPARISONS else {KEY_COMPARISON[key]} for key in rule))


def _rule_gammas(
    prepared: Prepared, rule: list[str], rules: Rules, rng: np.random.Generator
) -> tuple[pd.DataFrame | None, int]:
    """Comparison vectors of (a seeded sample of) the pairs one blocking rule yields."""
    blocks = rule_blocks(prepared.std, rule, rules.blocking.max_block_size)
    pairs, count = rule_pairs(blocks, rules.training.em_max_pairs, rng)
    if pairs.empty:
        return None, 0
    return compare(prepared, pairs, rules.comparisons), count


def estimate_u(prepared: Prepared, rules: Rules, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Agreement shares among random pairs, compared a chunk at a time so memory stays small."""
    n = len(prepared.std)
    all_pairs = n * (n - 1) // 2
    if all_pairs <= rules.training.u_sample_pairs:
        left, right = np.triu_indices(n, k=1)
    else:
        left = rng.integers(0, n, rules.training.u_sample_pairs)
        right = rng.integers(0, n, rules.training.u_sample_pairs)
        keep = left != right
        left, right = np.minimum(left, right)[keep], np.maximum(left, right)[keep]
    counts = {k: np.zeros(len(LEVELS[k])) for k in COMPARISONS}
    for start in range(0, len(left), U_CHUNK):
        chunk = pd.DataFrame({"rid_l": left[start : start + U_CHUNK], "rid_r": right[start : start + U_CHUNK]})
        gammas = compare(prepared, chunk, rules.comparisons)
        for k in COMPARISONS:
            levels = gammas[k].to_numpy()
            counts[k] += np.bincount(levels[levels != MISSING], minlength=len(LEVELS[k]))
    return {k: (c + 1.0) / (c + 1.0).sum() for k, c in counts.items()}


def expectation_maximisation(
    gammas: pd.DataFrame, free: list[str], u: dict[str, np.ndarray], iterations: int, tolerance: float
) -> tuple[dict[str, np.ndarray], float]:
    """EM over distinct comparison patterns (there are few), with u fixed."""
    patterns, counts = np.unique(gammas[free].to_numpy(), axis=0, return_counts=True)
    counts = counts.astype(float)
    m = {k: default_m(k) for k in free}
    lam = 0.3
    for _ in range(iterations):
        log_m = sum(_log_at(m[k], patterns[:, i]) for i, k in enumerate(free))
        log_u = sum(_log_at(u[k], patterns[:, i]) for i, k in enumerate(free))
        odds = np.exp(np.clip(log_m - log_u, -700, 700)) * lam / (1 - lam)
        p = odds / (1 + odds)
        weighted = counts * p
        new_lam = float(weighted.sum() / counts.sum())
        new_m = {k: _weighted_shares(patterns[:, i], weighted, default_m(k)) for i, k in enumerate(free)}
        change = max(abs(new_lam - lam), *(np.abs(new_m[k] - m[k]).max() for k in free))
        m, lam = new_m, min(max(new_lam, 1e-6), 1 - 1e-6)
        if change < tolerance:
            break
    return m, lam


def estimate_prior(std: pd.DataFrame, sessions: list, m: dict[str, np.ndarray]) -> float:
    """Matches expected overall = matches found in the first EM rule's blocks / that rule's recall."""
    n = len(std)
    all_pairs = max(n * (n - 1) // 2, 1)
    if not sessions:
        return min(max(1.0 / max(n, 2), 1e-9), 0.5)
    fixed, pair_count, lam = sessions[0]
    recall = float(np.prod([m[k][-1] for k in fixed])) or 1.0  # share of matches agreeing exactly on the rule
    return float(min(max(lam * pair_count / recall / all_pairs, 1e-9), 0.5))


def blend(m: dict[str, np.ndarray], known_matches: pd.DataFrame, exclude: set[str]) -> dict[str, np.ndarray]:
    """Known matches' agreement levels estimate m directly; EM's estimate counts as a few pseudo-pairs."""
    blended = dict(m)
    for k in COMPARISONS:
        if k in exclude:
            continue
        levels = known_matches[k].to_numpy()
        counted = np.bincount(levels[levels != MISSING], minlength=len(LEVELS[k])).astype(float)
        blended[k] = (m[k] * LABEL_PSEUDO_COUNT + counted) / (LABEL_PSEUDO_COUNT + counted.sum())
    return blended


def default_m(comparison: str) -> np.ndarray:
    """Before EM: matches mostly agree exactly, a little less at each lower level."""
    size = len(LEVELS[comparison])
    shares = np.geomspace(0.02, 1.0, size)
    return shares / shares.sum()


def _floored(shares: np.ndarray) -> np.ndarray:
    raised = np.maximum(shares, M_FLOOR)
    return raised / raised.sum()


def _weighted_shares(levels: np.ndarray, weights: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Shares of matches per level, with the prior worth one pair: a field (an alt_id held by few records)
    that EM's blocks hardly see keeps 'matches mostly agree', instead of even shares that would make a
    shared identifier count against a match."""
    present = levels != MISSING
    counted = np.bincount(levels[present], weights=weights[present], minlength=len(prior)) + prior
    return counted / counted.sum()


def _log_at(shares: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """log share of each level; a missing field adds nothing."""
    return np.where(levels == MISSING, 0.0, np.log(shares[np.clip(levels, 0, None)]))


def _term_frequency(values: pd.Series) -> dict[str, float]:
    counts = pd.Series(objects(values)).dropna().value_counts()  # a categorical would count unused categories
    return (counts / max(len(values), 1)).to_dict()

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
    "pc_district": "address", "pc_area": "address", "sex": "sex", "address": "address", "address_number": "address",
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
# Bits that hold one comparison's level (or missing) in a pattern's code; every comparison fits in 63 bits.
LEVEL_BITS = max(len(levels) for levels in LEVELS.values()).bit_length()
assert LEVEL_BITS * len(LEVELS) <= 63, "comparison patterns no longer fit one int64 code"
# Times u is estimated again with the likely matches among the random pairs taken out (see estimate_u).
U_REFINEMENTS = 2


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
    sample = sample_patterns(prepared, rules, rng)
    em_sets = [_em_patterns(prepared, rule, rules, rng) for rule in rules.training.em_rules]
    anchor_sets = [_rule_gammas(prepared, rule, rules, rng)[0] for rule in rules.training.anchor_rules]
    u = estimate_u(sample)
    m_final, prior = _fit_m(em_sets, anchor_sets, u, rules, labels, prepared)
    for _ in range(U_REFINEMENTS):
        u = refined_u(sample, m_final, u, prior)
        m_final, prior = _fit_m(em_sets, anchor_sets, u, rules, labels, prepared)
    tf = {k: _term_frequency(std[k]) for k in ("forename", "surname") if getattr(rules.comparisons, k).term_frequency}
    return Model(m=m_final, u=u, prior=prior, term_frequency=tf, records=len(std))


def _fit_m(
    em_sets: list,
    anchor_sets: list,
    u: dict[str, np.ndarray],
    rules: Rules,
    labels: pd.DataFrame | None,
    prepared: Prepared,
) -> tuple[dict[str, np.ndarray], float]:
    """m by EM inside each rule's blocks (u held still), refined by pairs known to match; and the prior."""
    m: dict[str, list[np.ndarray]] = {k: [] for k in COMPARISONS}
    sessions = []
    settings = rules.training
    for rule, found, pair_count in em_sets:
        if found is None:
            continue
        m_rule, lam = expectation_maximisation(found, u, settings.em_iterations, settings.em_tolerance)
        for k in found.columns:
            m[k].append(m_rule[k])
        sessions.append((_fixed_by(rule), pair_count, lam))
    m_final = {k: np.mean(m[k], axis=0) if m[k] else default_m(k) for k in COMPARISONS}
    # Pairs that share a valid NHS number (or UPN) are matches we can count, not guess: relatives
    # who share a surname and a home cannot pose as matches among them, as they can inside EM's blocks.
    for rule, gammas in zip(settings.anchor_rules, anchor_sets, strict=True):
        if gammas is not None and len(gammas) >= MIN_ANCHOR_PAIRS:
            m_final = blend(m_final, gammas, exclude=_fixed_by(rule))
    if labels is not None and len(labels):
        matches = labels.loc[labels["is_match"].astype(bool), ["rid_l", "rid_r"]].reset_index(drop=True)
        if len(matches) >= MIN_ANCHOR_PAIRS:
            m_final = blend(m_final, compare(prepared, matches, rules.comparisons), exclude=set())
    m_final = {k: _floored(v) for k, v in m_final.items()}
    return m_final, estimate_prior(prepared.std, sessions, m_final)


def _fixed_by(rule: list[str]) -> set[str]:
    return set().union(*(KEY_COMPARISONS[key] if key in KEY_COMPARISONS else {KEY_COMPARISON[key]} for key in rule))


def _em_patterns(
    prepared: Prepared, rule: list[str], rules: Rules, rng: np.random.Generator
) -> tuple[list[str], Patterns | None, int]:
    """The patterns EM learns from inside one rule's blocks: the comparisons the rule leaves free."""
    gammas, count = _rule_gammas(prepared, rule, rules, rng)
    free = tuple(k for k in COMPARISONS if k not in _fixed_by(rule))
    return rule, None if gammas is None else Patterns.of_gammas(gammas, free), count


def _rule_gammas(
    prepared: Prepared, rule: list[str], rules: Rules, rng: np.random.Generator
) -> tuple[pd.DataFrame | None, int]:
    """Comparison vectors of (a seeded sample of) the pairs one blocking rule yields."""
    blocks = rule_blocks(prepared.std, rule, rules.blocking.max_block_size)
    pairs, count = rule_pairs(blocks, rules.training.em_max_pairs, rng)
    if pairs.empty:
        return None, 0
    return compare(prepared, pairs, rules.comparisons), count


@dataclass(frozen=True)
class Patterns:
    """Pairs as their distinct comparison patterns and how many pairs show each: EM and u need no more.

    There are few patterns (hundreds) among millions of pairs, so every pass over them is cheap.
    """

    columns: tuple[str, ...]  # comparisons, in the order of `levels`' columns
    levels: np.ndarray  # one row per distinct pattern
    counts: np.ndarray  # pairs per pattern

    @classmethod
    def of(cls, levels: np.ndarray, columns: tuple[str, ...], counts: np.ndarray | None = None) -> Patterns:
        """Distinct rows of `levels` (pairs x columns), each counted once or by `counts`."""
        # One integer per row (LEVEL_BITS a comparison, -1 for missing included) sorts far faster than rows do.
        shifts = LEVEL_BITS * np.arange(levels.shape[1], dtype=np.int64)
        codes = ((levels.astype(np.int64) + 1) << shifts).sum(axis=1)
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        weights = np.ones(len(codes)) if counts is None else counts
        return cls(columns, levels[first], np.bincount(inverse.ravel(), weights=weights, minlength=len(first)))

    @classmethod
    def of_gammas(cls, gammas: pd.DataFrame, columns: tuple[str, ...]) -> Patterns:
        return cls.of(gammas[list(columns)].to_numpy(dtype=np.int16), columns)

    @classmethod
    def combined(cls, parts: list[Patterns]) -> Patterns:
        return cls.of(
            np.concatenate([p.levels for p in parts]), parts[0].columns, np.concatenate([p.counts for p in parts])
        )


def sample_patterns(prepared: Prepared, rules: Rules, rng: np.random.Generator) -> Patterns:
    """Comparison patterns of random pairs (every pair when there are few), a chunk at a time so memory stays small."""
    n = len(prepared.std)
    all_pairs = n * (n - 1) // 2
    if all_pairs <= rules.training.u_sample_pairs:
        left, right = np.triu_indices(n, k=1)
    else:
        left = rng.integers(0, n, rules.training.u_sample_pairs)
        right = rng.integers(0, n, rules.training.u_sample_pairs)
        keep = left != right
        left, right = np.minimum(left, right)[keep], np.maximum(left, right)[keep]
    parts = [Patterns(COMPARISONS, np.empty((0, len(COMPARISONS)), dtype=np.int16), np.empty(0))]
    for start in range(0, len(left), U_CHUNK):
        chunk = pd.DataFrame({"rid_l": left[start : start + U_CHUNK], "rid_r": right[start : start + U_CHUNK]})
        parts.append(Patterns.of_gammas(compare(prepared, chunk, rules.comparisons), COMPARISONS))
    return Patterns.combined(parts)


def estimate_u(sample: Patterns, non_match: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Agreement shares among random pairs; with `non_match`, each pair counted, per comparison, by its chance
    of being a non-match (judged on the other comparisons).

    A random sample holds matches too, about prior x pairs of them: on 10,000 records that is a hundred in a
    million pairs, and they, not chance, are then most of the pairs agreeing on a whole address or an ID, so
    u for those levels (and the weight of agreeing on them) is wrong by orders of magnitude. Counting each
    pair by its chance of being a non-match takes them out, as the u step of EM over all pairs would. That
    chance leaves out the comparison being counted: judged with it, a family reference keyed as `alt_id`
    would make every household pair look like a match, leave u and so weigh more, round after round, and
    twins' shared DOB would do the same. Judged without it, only pairs the other fields call matches leave.
    """
    u = {}
    for i, k in enumerate(sample.columns):
        weights = sample.counts if non_match is None else sample.counts * non_match[k]
        levels = sample.levels[:, i]
        present = levels != MISSING
        counted = np.bincount(levels[present], weights=weights[present], minlength=len(LEVELS[k]))
        u[k] = (counted + 1.0) / (counted + 1.0).sum()
    return u


def refined_u(
    sample: Patterns, m: dict[str, np.ndarray], u: dict[str, np.ndarray], prior: float
) -> dict[str, np.ndarray]:
    """u counted again, each pair weighed per comparison by its chance of being a non-match judged on the others."""
    return estimate_u(sample, {k: 1.0 - posterior(sample, m, u, prior, without=k) for k in sample.columns})


def posterior(
    patterns: Patterns, m: dict[str, np.ndarray], u: dict[str, np.ndarray], prior: float, without: str | None = None
) -> np.ndarray:
    """Match probability of each pattern, without term frequencies, and judged without one comparison if asked."""
    levels = patterns.levels
    judged = [(i, k) for i, k in enumerate(patterns.columns) if k != without]
    weight = sum(_log_at(m[k], levels[:, i]) - _log_at(u[k], levels[:, i]) for i, k in judged)
    log_odds = np.log(prior / (1 - prior)) + weight
    return 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))


def expectation_maximisation(
    found: Patterns, u: dict[str, np.ndarray], iterations: int, tolerance: float
) -> tuple[dict[str, np.ndarray], float]:
    """EM over the patterns of the comparisons a rule leaves free, with u fixed."""
    free, patterns, counts = found.columns, found.levels, found.counts
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

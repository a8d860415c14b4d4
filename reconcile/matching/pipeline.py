"""The matching steps in the order data flows: standardise -> block -> compare -> train -> score -> cluster.

Every step is a function of DataFrames; this module only chains them and decides, per pair,
link, review or neither.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reconcile.matching.blocking import BlockingReport
from reconcile.matching.clustering import cluster
from reconcile.matching.comparisons import COMPARISONS, Prepared
from reconcile.matching.constraints import FLAGS, REASONS, Relatives
from reconcile.matching.engines import Engine
from reconcile.matching.pair_scoring import DEFAULT_CHUNK_PAIRS, score_candidates, scored_pairs
from reconcile.matching.rules import Rules, load_rules
from reconcile.matching.standardise import objects, record_rids, standardise
from reconcile.matching.training import Model, train

log = logging.getLogger(__name__)
DECISION_COLUMNS = ["source_system_l", "person_id_l", "source_system_r", "person_id_r", "decision"]
DECISIONS = np.array(["non_match", "match", "review"], dtype=object)  # a pair's decision by code


@dataclass
class MatchResult:
    std: pd.DataFrame  # standardised records, by rid
    pairs: pd.DataFrame  # every scored candidate pair: rids, ids, levels, weights, flags, decision, reason
    clusters: pd.DataFrame  # source_system, person_id, master_key, cluster (smallest rid), method, match_probability
    model: Model | None
    blocking: BlockingReport = field(default_factory=BlockingReport)

    @property
    def review(self) -> pd.DataFrame:
        return self.pairs[self.pairs["decision"] == "review"]


def match_people(
    persons: pd.DataFrame,
    relationships: pd.DataFrame | None = None,
    rules: Rules | None = None,
    decisions: pd.DataFrame | None = None,
    seed: int | None = None,
    model: Model | None = None,
    engine: Engine | None = None,
    chunk_pairs: int = DEFAULT_CHUNK_PAIRS,
) -> MatchResult:
    """Cluster person records into people. `decisions`: reviewers' MATCH / NOT_MATCH on pairs of records.

    `model`: score with this fitted model instead of training one (an incremental run's stored model).
    `engine` runs the chunks of pairs (this process unless given); neither it nor `chunk_pairs` changes the result.
    """
    rules = rules or load_rules()
    if seed is not None:
        rules = rules.model_copy(update={"training": rules.training.model_copy(update={"seed": seed})})
    # rid is a row's position: records are put in key order first, so the same records in any order give the
    # same model and clusters; `clusters` is handed back in the caller's order.
    order = key_order(persons)
    sorted_persons = persons.iloc[order].reset_index(drop=True)
    result = _match_sorted(sorted_persons, relationships, rules, decisions, model, engine, chunk_pairs)
    result.clusters = result.clusters.iloc[np.argsort(order)].reset_index(drop=True)
    return result


def _match_sorted(
    persons: pd.DataFrame,
    relationships: pd.DataFrame | None,
    rules: Rules,
    decisions: pd.DataFrame | None,
    model: Model | None = None,
    engine: Engine | None = None,
    chunk_pairs: int = DEFAULT_CHUNK_PAIRS,
) -> MatchResult:
    std = standardise(persons)
    links = relationships if relationships is not None else pd.DataFrame()
    reviewed = _decision_rids(std, decisions)
    if len(std) < 2:
        log.warning("matching: %d record(s), nothing to compare", len(std))
        return _result(std, _empty_pairs(), np.arange(len(std)), None, BlockingReport())

    prepared = Prepared(std)
    model = model or train(prepared, rules, labels=reviewed.rename(columns={"match": "is_match"}))
    # Blocking, comparison, scoring and flags run chunk by chunk on the engine (pair_scoring).
    pairs, report = score_candidates(prepared, rules, model, links, reviewed, engine, chunk_pairs)
    scored = _with_ids(std, pairs)
    scored, labels = _decide(scored, reviewed, rules, objects(std["nhs"]))
    return _result(std, scored, labels, model, report)


def key_order(persons: pd.DataFrame) -> np.ndarray:
    """Positions of the records in (source_system, person_id) order: the order rids are given in."""
    return np.lexsort((persons["person_id"].astype(str).to_numpy(), persons["source_system"].astype(str).to_numpy()))


def score_pairs(
    prepared: Prepared, pairs: pd.DataFrame, rules: Rules, model: Model, links: pd.DataFrame | Relatives
) -> pd.DataFrame:
    """Each given pair with both records' IDs, its comparison levels, weights and constraint flags."""
    return _with_ids(prepared.std, scored_pairs(prepared, pairs.reset_index(drop=True), rules, model, links))


def _with_ids(std: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """Both records' source system and person ID, after rid_l, rid_r and rule.

    Inserted into a shallow copy: concatenating copied every scored pair while the input was still held.
    """
    out = scored.copy(deep=False)
    for offset, (name, values) in enumerate(_pair_ids(std, scored).items()):
        out.insert(3 + offset, name, values.to_numpy())
    return out


def _pair_ids(std: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Two columns of `std` looked up per pair (taking whole rows of `std` per pair cost gigabytes at 1M)."""
    systems, ids = objects(std["source_system"]), objects(std["person_id"])
    left, right = pairs["rid_l"].to_numpy(), pairs["rid_r"].to_numpy()
    return pd.DataFrame(
        {
            "source_system_l": systems[left],
            "person_id_l": ids[left],
            "source_system_r": systems[right],
            "person_id_r": ids[right],
        }
    )


def _decide(
    scored: pd.DataFrame, reviewed: pd.DataFrame, rules: Rules, nhs: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    t = rules.thresholds
    p = scored["match_probability"].to_numpy()
    flagged = scored[list(FLAGS)].any(axis=1).to_numpy()
    verdict = _reviewer_verdict(scored, reviewed)  # 1 MATCH, 0 NOT_MATCH, -1 none
    candidate = (p >= t.match) & ~flagged & (verdict != 0)
    forbidden = (flagged | (p < t.cannot_link) | (verdict == 0)) & (verdict != 1)
    forced = verdict == 1

    n = len(nhs)
    links = scored.loc[candidate, ["rid_l", "rid_r", "match_weight"]]
    outcome = cluster(
        n, links, scored.loc[forbidden, ["rid_l", "rid_r"]], scored.loc[forced, ["rid_l", "rid_r"]], nhs=nhs
    )
    refused = np.zeros(len(scored), dtype=bool)
    refused[np.flatnonzero(candidate)] = outcome.refused
    refused[np.flatnonzero(forced)] = outcome.forced_refused

    linked = (candidate | forced) & ~refused
    review = ~linked & (((verdict == -1) & (p >= t.review)) | refused)
    # Three shared strings picked by code: a NumPy text array became one new str per pair in the frame (about
    # 600 MB at 1M records, at the match stage's peak).
    decision = DECISIONS[np.where(review, 2, linked.astype(np.int8))]
    reason = _reasons(scored, p, refused, verdict, t.match, t.review)
    scored = scored.copy(deep=False)  # new columns on a shallow copy: `assign` would copy every pair
    scored["decision"], scored["reason"] = decision, reason
    return scored, outcome.labels


def _reasons(
    scored: pd.DataFrame, p: np.ndarray, refused: np.ndarray, verdict: np.ndarray, upper: float, lower: float
) -> np.ndarray:
    """Why a pair is where it is, in words a reviewer can act on; later assignments take precedence."""
    reason = np.full(len(scored), None, dtype=object)
    reason[(lower <= p) & (p < upper)] = "score between the review and match thresholds"
    reason[refused] = "linking would join records that must stay apart"
    flags = scored[list(FLAGS)].to_numpy(dtype=bool)
    flagged = np.flatnonzero(flags.any(axis=1))
    # Worded once per combination of flags, not once per flagged pair (a Python loop over pairs).
    combos, which = np.unique(flags[flagged] @ (1 << np.arange(len(FLAGS))), return_inverse=True)
    worded = [[f for bit, f in enumerate(FLAGS) if combo >> bit & 1] for combo in combos.tolist()]
    reason[flagged] = np.array(["; ".join(REASONS[f] for f in on) for on in worded], dtype=object)[which]
    reason[verdict == 0] = "reviewer decided NOT_MATCH"
    reason[verdict == 1] = "reviewer decided MATCH"
    reason[(verdict == 1) & refused] = "reviewer decided MATCH, but it would join records that must stay apart"
    return reason


def _result(
    std: pd.DataFrame, pairs: pd.DataFrame, labels: np.ndarray, model: Model | None, report: BlockingReport
) -> MatchResult:
    best = _best_link(len(std), pairs)
    systems, ids = objects(std["source_system"]), objects(std["person_id"])
    keys = systems + "|" + ids
    # The smallest record key names the cluster; lexsort keeps this in NumPy, not per-group Python.
    order = np.lexsort((keys, labels))
    first = np.ones(len(order), dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    smallest = pd.Series(keys[order][first], index=labels[order][first])
    master_key = smallest.reindex(labels).to_numpy()
    clusters = pd.DataFrame(
        {
            "source_system": systems,
            "person_id": ids,
            "master_key": master_key,
            "cluster": labels,
            "match_probability": best["p"],
            "method": best["method"],
        }
    )
    return MatchResult(std=std, pairs=pairs, clusters=clusters, model=model, blocking=report)


def _best_link(n: int, pairs: pd.DataFrame) -> pd.DataFrame:
    """How each record joined its master: its strongest link in, and what kind of link that was.

    Ties go to the first pair in (rid_l, rid_r) order (a stable sort), so an incremental run, which sees a
    subset of the pairs in the same order, picks the same link as a full one."""
    best = pd.DataFrame({"p": np.ones(n), "method": ["deterministic"] * n})
    if pairs.empty:
        return best
    linked = pairs[pairs["decision"] == "match"]
    sides = pd.concat(
        [linked[["rid_l", "match_probability", "nhs", "dob", "reason"]].rename(columns={"rid_l": "rid"}),
         linked[["rid_r", "match_probability", "nhs", "dob", "reason"]].rename(columns={"rid_r": "rid"})]
    ).sort_values("match_probability", ascending=False, kind="stable").drop_duplicates("rid")  # fmt: skip
    method = np.where(
        sides["reason"] == "reviewer decided MATCH",
        "review",
        np.where((sides["nhs"] == 1) & (sides["dob"] == 5), "deterministic", "probabilistic"),
    )
    best.loc[sides["rid"].to_numpy(), "p"] = sides["match_probability"].to_numpy()
    best.loc[sides["rid"].to_numpy(), "method"] = method
    return best


def _decision_rids(std: pd.DataFrame, decisions: pd.DataFrame | None) -> pd.DataFrame:
    """Reviewers' decisions on pairs of records still present, as rids; UNSURE teaches nothing."""
    empty = pd.DataFrame({"rid_l": [], "rid_r": [], "match": []}, dtype=np.int64)
    if decisions is None or decisions.empty:
        return empty
    a = record_rids(std, decisions["source_system_l"], decisions["person_id_l"])[0]
    b = record_rids(std, decisions["source_system_r"], decisions["person_id_r"])[0]
    known = ~(np.isnan(a) | np.isnan(b)) & decisions["decision"].isin(["MATCH", "NOT_MATCH"]).to_numpy()
    a, b = a[known].astype(np.int64), b[known].astype(np.int64)
    return pd.DataFrame(
        {"rid_l": np.minimum(a, b), "rid_r": np.maximum(a, b), "match": (decisions["decision"][known] == "MATCH")}
    ).astype({"match": np.int64})


def _with_reviewed_pairs(pairs: pd.DataFrame, reviewed: pd.DataFrame) -> pd.DataFrame:
    """A pair a reviewer decided is scored even if no blocking rule brings it together."""
    if reviewed.empty:
        return pairs
    extra = reviewed[["rid_l", "rid_r"]].assign(rule=np.int16(-1))
    merged = pd.concat([pairs, extra], ignore_index=True).drop_duplicates(["rid_l", "rid_r"], keep="first")
    return merged.sort_values(["rid_l", "rid_r"]).reset_index(drop=True)


def _reviewer_verdict(scored: pd.DataFrame, reviewed: pd.DataFrame) -> np.ndarray:
    verdict = np.full(len(scored), -1, dtype=np.int8)
    if reviewed.empty:
        return verdict
    index = pd.MultiIndex.from_arrays([scored["rid_l"], scored["rid_r"]])
    pair_index = pd.MultiIndex.from_arrays([reviewed["rid_l"], reviewed["rid_r"]])
    decided = pd.Series(reviewed["match"].to_numpy(), index=pair_index)
    found = decided.reindex(index).to_numpy()
    return np.where(np.isnan(found), -1, found).astype(np.int8)


def _empty_pairs() -> pd.DataFrame:
    integers = ["rid_l", "rid_r", "rule", *COMPARISONS]
    floats = ["dob_days", *(f"w_{k}" for k in COMPARISONS), "match_weight", "match_probability"]
    frame = pd.DataFrame(
        {
            **{c: pd.Series(dtype=np.int64) for c in integers},
            **{c: pd.Series(dtype=float) for c in floats},
            **{c: pd.Series(dtype=bool) for c in FLAGS},
        }
    )
    ids = {c: pd.Series(dtype=object) for c in ("source_system_l", "person_id_l", "source_system_r", "person_id_r")}
    return frame.assign(**ids, decision=pd.Series(dtype=object), reason=pd.Series(dtype=object))

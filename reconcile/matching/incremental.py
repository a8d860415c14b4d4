"""Incremental matching: re-match only the records a change can reach, and get what a full run would.

A full run's clusters are decided one link-graph component at a time (clustering never looks across
components), over pairs whose scores depend only on the two records, the model, the blocks they share,
their households and reviewers' decisions. So, with the stored model:

1. *Changed* records are those new or changed, the relatives of deleted ones, the records of any block
   that crossed `max_block_size` either way (its pairs appear or vanish), the records named in reviewers'
   decisions (any decision: an UNSURE may have replaced a MATCH), and everyone in a household
   (relationship component) that may have changed: that of a new record, of a relative of a deleted one,
   or of anyone whose relationship rows changed (the twin guard of any two of its members reads it). A
   person row that changed leaves the households as they were: it changes only its own pairs.
2. Every pair not touching a changed record scores as it did last run. The *affected* records are the
   changed ones, the deleted ones, and every record joined to them by last run's links (pairs at or above
   the match threshold, or forced by a reviewer) or by the new links of the changed records, blocked
   against every current record.
3. The affected records are re-blocked, re-scored and re-clustered; each other record sits in a
   component no change reaches, which clustering would rebuild exactly as it was.

Record order (rid) is the full run's, so ties break the same way and clusters carry the same numbers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from reconcile.matching.blocking import rule_name
from reconcile.matching.clustering import components
from reconcile.matching.comparisons import Prepared
from reconcile.matching.constraints import Relatives
from reconcile.matching.pipeline import (
    _best_link,
    _decide,
    _decision_rids,
    _with_reviewed_pairs,
    key_order,
    score_pairs,
)
from reconcile.matching.rules import Rules
from reconcile.matching.standardise import STANDARD_COLUMNS, as_text, compact, objects, stacked, standardise
from reconcile.matching.training import Model

log = logging.getLogger(__name__)
SEP = "\x1f"  # between the values of a block's key, in the stored list of oversized blocks
FORCED_REASON = "reviewer decided MATCH"


@dataclass(frozen=True)
class Keyed:
    """Standardised records and the key (source_system|person_id) of each, made once: a night looks last run's
    records up by key in several places, and each keying of every record (and its hash table) cost as much."""

    std: pd.DataFrame
    keys: pd.Index

    @classmethod
    def of(cls, std: pd.DataFrame) -> Keyed:
        return cls(std, record_keys(std["source_system"], std["person_id"]))


@dataclass
class Rematch:
    std: pd.DataFrame  # every current record, standardised, by rid (the full run's order)
    keys: pd.Index  # per rid: its key (source_system|person_id)
    changed: np.ndarray  # per rid: its own evidence, household or block changed
    affected: np.ndarray  # per rid: re-clustered this run
    deleted: pd.Index  # keys (source_system|person_id) of records gone since last run
    pairs: pd.DataFrame  # every pair re-scored and decided: both affected, or touching a changed record
    clusters: pd.DataFrame  # affected records: source_system, person_id, cluster, match_probability, method
    oversized: dict[str, list[str]]  # per blocking rule, the blocks too large to use, now
    relatives: Relatives  # the relationship rows as rids, and households


def record_keys(systems: pd.Series, ids: pd.Series) -> pd.Index:
    """'system|id' per record, as `systems.astype(str) + "|" + ids.astype(str)` gives it, at a third of the cost:
    a night keys whole tables many times over. Text is joined by NumPy's loop, not pandas' operators; a
    categorical column's categories are joined once, not every value."""
    return pd.Index(np.add(_with_bar(systems), as_text(ids)), dtype=object)


def _with_bar(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        if (codes >= 0).all():
            return np.add(values.cat.categories.astype(str).to_numpy(dtype=object), "|")[codes]
    return np.add(as_text(values), "|")


def by_rid(std: pd.DataFrame, systems: pd.Series, ids: pd.Series, values: pd.Series) -> np.ndarray:
    """`values` (one per record named by systems and ids) in rid order: rids follow the engine's own key
    order, which need not be the order a database returned the rows in (collations differ)."""
    return by_key(record_keys(std["source_system"], std["person_id"]), record_keys(systems, ids), values)


def by_key(keys: pd.Index, value_keys: pd.Index, values: pd.Series) -> np.ndarray:
    """`values` (one per key of `value_keys`) in the order of `keys`; NaN where a key has none."""
    return pd.Series(values.to_numpy(), index=value_keys).reindex(keys).to_numpy(dtype=object)


def match_changes(
    records: pd.DataFrame,
    persons: pd.DataFrame,
    relationships: pd.DataFrame,
    rules: Rules,
    model: Model,
    previous_keys: pd.Index,
    previous_links: pd.DataFrame,
    touched: pd.DataFrame,
    stored_oversized: dict[str, list[str]],
    decisions: pd.DataFrame | None = None,
    cached: Keyed | None = None,
) -> Rematch:
    """Re-match the records a change can reach; everything else keeps last run's clusters.

    `records`: source_system, person_id of every current record. `persons`: the person rows of at least those
    to standardise again (all of them without `cached`; else those not in it, or touched; see `to_standardise`).
    `previous_keys`: last run's person_xref keys (source_system|source_id). `previous_links`: last run's
    match_pair rows (source_system_l, source_id_l, source_system_r, source_id_r, match_probability, reason).
    `touched`: source_system, person_id of records whose person or relationship rows changed, and `rewired`:
    whether a relationship row of theirs did (`changes.changed_people`).
    `cached`: last run's standardised records; only records not in it, or touched, are standardised again.
    """
    records = records.iloc[key_order(records)].reset_index(drop=True)
    keys = record_keys(records["source_system"], records["person_id"])
    touched_keys = record_keys(touched["source_system"], touched["person_id"])
    std = _standardised(persons, keys, cached, touched_keys)
    n = len(std)
    deleted = previous_keys.difference(keys)
    links = relationships if relationships is not None else pd.DataFrame()

    # Households (relationship components) change only where records come or go or relationship rows change:
    # those records bring their whole household (the twin guard of any two of its members reads it). A person
    # row that changed keeps its relationships, and changes only the pairs it is in.
    rehoused = ~keys.isin(previous_keys)  # new records
    rehoused |= keys.isin(touched_keys[touched["rewired"].to_numpy(dtype=bool)])
    rehoused |= _relatives_of(deleted, relationships, keys)
    seeds = rehoused | keys.isin(touched_keys)
    blocks = [_block_groups(std, rule) for rule in rules.blocking.rules]
    flipped, oversized = _flipped_blocks(blocks, rules, stored_oversized, n)
    seeds |= flipped
    reviewed = _decision_rids(std, decisions)
    if decisions is not None and len(decisions):  # any decision, UNSURE too: it may have replaced a MATCH
        for side in ("l", "r"):
            seeds |= keys.isin(record_keys(decisions[f"source_system_{side}"], decisions[f"person_id_{side}"]))
    relatives = Relatives.of(std, links)  # once: both scorings and the households below read them
    changed = seeds | _whole_households(rehoused, relatives.family)

    nothing = np.zeros(n, dtype=bool)
    reach = _score_among(std, _with_reviewed_pairs(block_touching(blocks, rules, changed, nothing), reviewed),
                         rules, model, relatives)  # fmt: skip
    affected = _reached(n, keys, deleted, changed, previous_links, reach, rules.thresholds.match)

    pairs = _with_reviewed_pairs(block_touching(blocks, rules, changed, affected), reviewed)
    scored = _score_among(std, pairs, rules, model, relatives)
    scored, labels = _decide(scored, reviewed, rules, objects(std["nhs"]))
    best = _best_link(n, scored)
    clusters = pd.DataFrame(
        {
            "source_system": objects(std["source_system"]),
            "person_id": objects(std["person_id"]),
            "cluster": labels,
            "match_probability": best["p"].to_numpy(),
            "method": best["method"].to_numpy(),
        }
    )[affected].reset_index(drop=True)
    log.info(
        "incremental matching: %d records changed, %d deleted, %d re-matched, %d pairs re-scored",
        int(changed.sum()), len(deleted), int(affected.sum()), len(scored),
    )  # fmt: skip
    return Rematch(std, keys, changed, affected, deleted, scored, clusters, oversized, relatives)


def to_standardise(keys: pd.Index, cached: Keyed | None, stale: pd.Index) -> np.ndarray:
    """Per record (of `keys`): standardised again tonight, as it is not in last run's `cached` rows or is `stale`."""
    if cached is None:
        return np.ones(len(keys), dtype=bool)
    return _cached_rows(keys, cached.keys, stale) < 0


def _cached_rows(keys: pd.Index, cached_keys: pd.Index, stale: pd.Index) -> np.ndarray:
    """Each record's row among last run's standardised records (of `cached_keys`), -1 where it is standardised
    again: not among them, or `stale`. One hash table of last run's keys serves the whole look-up."""
    at = cached_keys.get_indexer(keys)
    at[keys.isin(stale)] = -1
    return at


def _standardised(persons: pd.DataFrame, keys: pd.Index, cached: Keyed | None, stale: pd.Index) -> pd.DataFrame:
    """The standardised records of `keys`, in that order: last run's rows for records whose person row has
    not changed, `standardise` for the rest (`persons` holds at least their rows)."""
    if cached is None:
        return standardise(persons.iloc[_rows_of(persons, keys)].reset_index(drop=True))
    at = _cached_rows(keys, cached.keys, stale)
    fresh = at < 0
    parts = [cached.std.iloc[at[~fresh]]]  # last run's rows of the others, in their order among `keys`
    if fresh.any():  # standardising no rows would give columns of another type
        parts.append(standardise(persons.iloc[_rows_of(persons, keys[fresh])]).drop(columns="rid"))
    both = stacked(parts) if len(parts) > 1 else parts[0].reset_index(drop=True)
    # Where each record is in `both`: the cached ones in order, then the fresh ones in order.
    position = np.empty(len(keys), dtype=np.int64)
    position[~fresh] = np.arange(int((~fresh).sum()))
    position[fresh] = int((~fresh).sum()) + np.arange(int(fresh.sum()))
    std = both.iloc[position].reset_index(drop=True)
    std.insert(0, "rid", np.arange(len(std), dtype=np.int64))
    return compact(std[STANDARD_COLUMNS])


def _rows_of(persons: pd.DataFrame, keys: pd.Index) -> np.ndarray:
    """Positions of these records' person rows, every one of which must be there."""
    rows = record_keys(persons["source_system"], persons["person_id"]).get_indexer(keys)
    if (rows < 0).any():
        raise ValueError("internal error: a record to standardise again has no person row")
    return rows


def _relatives_of(deleted: pd.Index, relationships: pd.DataFrame, keys: pd.Index) -> np.ndarray:
    """Records a relationship row ties to a deleted record: their household has lost a member."""
    found = np.zeros(len(keys), dtype=bool)
    if relationships is None or relationships.empty or deleted.empty:
        return found
    ids = pd.Series([key.split("|", 1)[1] for key in deleted], dtype=object)
    near = relationships[relationships["person_id"].isin(ids) | relationships["related_person_id"].isin(ids)]
    a = record_keys(near["source_system"], near["person_id"])  # keys of the few rows an ID of which went
    b = record_keys(near["source_system"], near["related_person_id"])
    gone_a, gone_b = a.isin(deleted), b.isin(deleted)
    found |= keys.isin(b[gone_a]) | keys.isin(a[gone_b])
    return found


def _score_among(
    std: pd.DataFrame, pairs: pd.DataFrame, rules: Rules, model: Model, relatives: Relatives
) -> pd.DataFrame:
    """`score_pairs` over only the records the pairs name (a night's few thousand of every record): preparing
    every record's comparison columns was most of a night's scoring. A pair's score reads its two records
    alone (the model's frequencies are stored), and its flags their households and relationship rows."""
    rids = np.unique(np.concatenate([pairs["rid_l"].to_numpy(), pairs["rid_r"].to_numpy()]))
    local = pairs.assign(rid_l=np.searchsorted(rids, pairs["rid_l"]), rid_r=np.searchsorted(rids, pairs["rid_r"]))
    among = std.iloc[rids].reset_index(drop=True)
    scored = score_pairs(Prepared(among), local, rules, model, relatives.among(rids))
    scored["rid_l"], scored["rid_r"] = rids[scored["rid_l"].to_numpy()], rids[scored["rid_r"].to_numpy()]
    return scored


def _whole_households(seeds: np.ndarray, family: np.ndarray) -> np.ndarray:
    """Seeds and everyone sharing a household with one: a household that changed changes the twin guard
    for all its members (a household that lost a link still holds an end of it, or a relative of the
    deleted record, so the new households are enough)."""
    hit = np.unique(family[seeds & (family >= 0)])
    return seeds | np.isin(family, hit) & (family >= 0)


@dataclass(frozen=True)
class BlockKeys:
    """Each block's key as codes into each rule column's distinct values. A block's label (its values as text,
    joined by SEP) is built only when asked for: for the few blocks too large to use and those stored as such,
    not for the hundred thousand blocks of a rule; and the values are made text only then (most nights, never:
    as text, the distinct values of fifteen rules were a twentieth of a night's match)."""

    codes: list[np.ndarray]  # per rule column, per block: which of `distinct`
    distinct: list[pd.Index]  # per rule column, its distinct values among the blocks

    def __len__(self) -> int:
        return len(self.codes[0])

    @cached_property
    def texts(self) -> list[np.ndarray]:
        # As text the way the whole column would be (a date's text depends on whether any value has a time).
        return [pd.Series(values).astype(str).to_numpy(dtype=object) for values in self.distinct]

    def labels(self, blocks: np.ndarray) -> np.ndarray:
        if not len(blocks):
            return np.zeros(0, dtype=object)
        columns = [texts[codes[blocks]] for codes, texts in zip(self.codes, self.texts, strict=True)]
        return np.array([SEP.join(values) for values in zip(*columns, strict=True)], dtype=object)

    def find(self, labels: set[str]) -> np.ndarray:
        """The blocks whose label is one of `labels`: those whose first value can begin one, checked whole."""
        if not labels:
            return np.zeros(0, dtype=np.int64)
        starts = {label[:i] for label in labels for i in range(len(label) + 1) if label[i : i + 1] in (SEP, "")}
        first = np.fromiter((text in starts for text in self.texts[0]), dtype=bool, count=len(self.texts[0]))
        candidates = np.flatnonzero(first[self.codes[0]])
        found = self.labels(candidates)
        return candidates[np.fromiter((label in labels for label in found), dtype=bool, count=len(found))]


def _block_groups(std: pd.DataFrame, rule: list[str]) -> tuple[np.ndarray, np.ndarray, BlockKeys]:
    """(rid, block number) of each record holding every key of the rule, and each block's key.

    Blocks are numbered in order of first appearance, as `groupby(rule, sort=False).ngroup()` numbers them, but
    from the columns' codes (a group-by on fifteen rules was a ninth of a night's match).
    """
    codes = [_codes(std[column]) for column in rule]
    keyed = np.flatnonzero(np.logical_and.reduce([code >= 0 for code in codes]))
    group = np.zeros(len(keyed), dtype=np.int64)
    for code in codes:  # renumbered after each column, so the combined key never outgrows the row count
        group = pd.factorize(group * (int(code.max(initial=0)) + 1) + code[keyed])[0]
    # Each block's first record: numbered in order of first appearance, a block starts where its number
    # first exceeds every number before it.
    before = np.concatenate([[-1], np.maximum.accumulate(group)[:-1]]) if len(group) else group
    heads = std[rule].iloc[keyed[np.flatnonzero(group > before)]]
    block_codes, distinct = zip(*(pd.factorize(heads[column]) for column in rule), strict=True)
    return std["rid"].to_numpy()[keyed], group, BlockKeys(list(block_codes), list(distinct))


def _codes(values: pd.Series) -> np.ndarray:
    """Each value's code among the column's values (-1 where missing), as int64."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64)
    return pd.factorize(values)[0].astype(np.int64)


def oversized_blocks(std: pd.DataFrame, rules: Rules) -> dict[str, list[str]]:
    """Per blocking rule, the keys of the blocks too large to use (stored, so the next run sees a flip)."""
    blocks = [_block_groups(std, rule) for rule in rules.blocking.rules]
    return _flipped_blocks(blocks, rules, None, len(std))[1]


Blocks = list[tuple[np.ndarray, np.ndarray, BlockKeys]]  # per blocking rule, what _block_groups gives


def _flipped_blocks(
    blocks: Blocks, rules: Rules, stored: dict[str, list[str]] | None, n: int
) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Records of blocks that grew past `max_block_size` or shrank back under it since `stored` was taken."""
    flipped = np.zeros(n, dtype=bool)
    now: dict[str, list[str]] = {}
    for rule, (rids, group, keys) in zip(rules.blocking.rules, blocks, strict=True):
        big = np.flatnonzero(np.bincount(group, minlength=len(keys)) > rules.blocking.max_block_size)
        current = set(keys.labels(big))
        now[rule_name(rule)] = sorted(current)
        if stored is not None:
            changed = np.zeros(len(keys), dtype=bool)
            changed[keys.find(current ^ set(stored.get(rule_name(rule), [])))] = True
            flipped[rids[changed[group]]] = True
    return flipped, now


def block_touching(blocks: Blocks, rules: Rules, changed: np.ndarray, within: np.ndarray) -> pd.DataFrame:
    """The candidate pairs `block` finds over all records that touch a changed record or lie inside `within`.

    Block sizes are those of all records, so a block too large for a full run is too large here too.
    """
    wanted = changed | within
    found = []
    for number, (rids, group, keys) in enumerate(blocks):
        sizes = np.bincount(group, minlength=len(keys))
        usable = (sizes <= rules.blocking.max_block_size)[group] & (sizes[group] > 1)
        members = pd.DataFrame({"g": group[usable], "rid": rids[usable]})
        mine = members[wanted[members["rid"].to_numpy()]]
        joined = mine.merge(members, on="g", suffixes=("_a", "_b"))
        a, b = joined["rid_a"].to_numpy(), joined["rid_b"].to_numpy()
        keep = (a != b) & (changed[a] | changed[b] | (within[a] & within[b]))
        lo, hi = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
        found.append(pd.DataFrame({"rid_l": lo, "rid_r": hi, "rule": np.int16(number)}))
    if not found:
        return pd.DataFrame({"rid_l": [], "rid_r": [], "rule": []}, dtype=np.int64)
    pairs = pd.concat(found, ignore_index=True).drop_duplicates(["rid_l", "rid_r"], keep="first")
    return pairs.sort_values(["rid_l", "rid_r"]).reset_index(drop=True)


def _reached(
    n: int,
    keys: pd.Index,
    deleted: pd.Index,
    changed: np.ndarray,
    previous_links: pd.DataFrame,
    reach: pd.DataFrame,
    threshold: float,
) -> np.ndarray:
    """Records in the same component as a changed or deleted record, over last run's and the new links."""
    nodes = pd.Series(np.arange(n + len(deleted)), index=keys.append(deleted))
    p, reason = previous_links["match_probability"], previous_links["reason"]
    old = previous_links[(p >= threshold) | (reason == FORCED_REASON)]
    old_a = nodes.reindex(record_keys(old["source_system_l"], old["source_id_l"])).to_numpy()
    old_b = nodes.reindex(record_keys(old["source_system_r"], old["source_id_r"])).to_numpy()
    known = ~(np.isnan(old_a) | np.isnan(old_b))
    # Reviewed pairs join only records that are all changed (and so already starting points).
    new = reach[reach["match_probability"].to_numpy() >= threshold]
    a = np.concatenate([old_a[known].astype(np.int64), new["rid_l"].to_numpy(dtype=np.int64)])
    b = np.concatenate([old_b[known].astype(np.int64), new["rid_r"].to_numpy(dtype=np.int64)])
    label = components(len(nodes), a, b)
    start = np.concatenate([changed, np.ones(len(deleted), dtype=bool)])
    return np.isin(label, np.unique(label[start]))[:n]

"""Blocking: which pairs of records are worth comparing at all.

A pair is a candidate when its records agree exactly on every key of at least one rule.
Blocks larger than `max_block_size` are skipped with a warning: comparing 10,000 identical
"John Smith" rows with one another would cost 50 million comparisons and prove nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class BlockingReport:
    pairs_per_rule: dict[str, int] = field(default_factory=dict)
    skipped_blocks: dict[str, int] = field(default_factory=dict)
    skipped_records: dict[str, int] = field(default_factory=dict)


def rule_name(rule: list[str]) -> str:
    return "+".join(rule)


def block(std: pd.DataFrame, rules: list[list[str]], max_block_size: int) -> tuple[pd.DataFrame, BlockingReport]:
    """Candidate pairs (rid_l < rid_r), each once, with the first rule that produced it."""
    report = BlockingReport()
    found: list[pd.DataFrame] = []
    for number, rule in enumerate(rules):
        pairs, skipped_blocks, skipped_records = pairs_for_rule(std, rule, max_block_size)
        name = rule_name(rule)
        report.pairs_per_rule[name] = len(pairs)
        if skipped_blocks:
            report.skipped_blocks[name] = skipped_blocks
            report.skipped_records[name] = skipped_records
            log.warning(
                "blocking rule %s: skipped %d blocks larger than %d (%d records)",
                name, skipped_blocks, max_block_size, skipped_records,
            )  # fmt: skip
        found.append(pairs.assign(rule=np.int16(number)))
    if not found:
        return pd.DataFrame({"rid_l": [], "rid_r": [], "rule": []}, dtype=np.int64), report
    pairs = pd.concat(found, ignore_index=True)
    pairs = pairs.drop_duplicates(["rid_l", "rid_r"], keep="first").sort_values(["rid_l", "rid_r"])
    return pairs.reset_index(drop=True), report


def pairs_for_rule(std: pd.DataFrame, rule: list[str], max_block_size: int) -> tuple[pd.DataFrame, int, int]:
    """All pairs inside each block of one rule; records missing any key are in no block."""
    keyed = std.loc[std[rule].notna().all(axis=1), ["rid", *rule]]
    if keyed.empty:
        return pd.DataFrame({"rid_l": [], "rid_r": []}, dtype=np.int64), 0, 0
    group = keyed.groupby(rule, sort=False, observed=True).ngroup().to_numpy()
    sizes = np.bincount(group)
    too_big = sizes > max_block_size
    usable = ~too_big[group] & (sizes[group] > 1)
    members = pd.DataFrame({"g": group[usable], "rid": keyed["rid"].to_numpy()[usable]})
    joined = members.merge(members, on="g", suffixes=("_l", "_r"))
    joined = joined[joined["rid_l"] < joined["rid_r"]]
    pairs = joined[["rid_l", "rid_r"]].reset_index(drop=True)
    return pairs, int(too_big.sum()), int(sizes[too_big].sum())


def pair_completeness(pairs: pd.DataFrame, true_ids: pd.Series) -> float:
    """Share of true matching pairs that blocking lets through (true_ids indexed by rid)."""
    ids = true_ids.to_numpy()
    sizes = pd.Series(ids).dropna().value_counts()
    true_pairs = int((sizes * (sizes - 1) // 2).sum())
    if true_pairs == 0:
        return 1.0
    left, right = ids[pairs["rid_l"].to_numpy()], ids[pairs["rid_r"].to_numpy()]
    found = int((pd.notna(left) & (left == right)).sum())
    return found / true_pairs

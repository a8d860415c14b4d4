"""Blocking: which pairs of records are worth comparing at all.

A pair is a candidate when its records agree exactly on every key of at least one rule.
Blocks larger than `max_block_size` are skipped with a warning: comparing 10,000 identical
"John Smith" rows with one another would cost 50 million comparisons and prove nothing.

Pairs are generated block by block, in chunks of about a given number of pairs, never all at
once: a million records yield tens of millions of candidate pairs, and each chunk is compared
and scored on its own (see `pair_scoring`). A pair that an earlier rule already produced is
dropped from a later rule's chunks, as Splink does, so each pair is scored once, under the
first rule that found it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)
NO_BLOCK = -1
GIVEN = -1  # rule number of a pair given outright (a reviewer's decision) rather than found by a rule


@dataclass
class BlockingReport:
    pairs_per_rule: dict[str, int] = field(default_factory=dict)
    skipped_blocks: dict[str, int] = field(default_factory=dict)
    skipped_records: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleBlocks:
    """One rule's usable blocks (two or more records, none too big), without their pairs."""

    codes: np.ndarray  # per rid: its block under this rule, NO_BLOCK when in none that yields pairs
    members: np.ndarray  # rids in usable blocks, block after block, ascending within a block
    sizes: np.ndarray  # records per usable block, in `members` order
    skipped_blocks: int
    skipped_records: int

    @property
    def pair_counts(self) -> np.ndarray:
        return self.sizes * (self.sizes - 1) // 2


@dataclass(frozen=True)
class PairChunk:
    """A unit of work: some whole blocks of one rule, or pairs given outright; small enough to ship to a worker."""

    rule: int  # number of the rule whose blocks these are, or GIVEN
    members: np.ndarray  # rids of the blocks; for GIVEN, the left rids
    sizes: np.ndarray  # block sizes; for GIVEN, the right rids

    def pairs(self, codes: np.ndarray) -> pd.DataFrame:
        """rid_l < rid_r and rule, less pairs an earlier rule produced (`codes`: rules x records, from `plan`)."""
        if self.rule == GIVEN:
            left, right, earlier = self.members, self.sizes, codes
        else:
            left, right = block_pairs(self.members, self.sizes)
            earlier = codes[: self.rule]
        keep = ~produced_by(earlier, left, right)
        rid = rid_dtype(codes.shape[-1])
        return pd.DataFrame(
            {"rid_l": left[keep].astype(rid), "rid_r": right[keep].astype(rid), "rule": np.int16(self.rule)}
        )


def rid_dtype(records: int) -> type[np.signedinteger]:
    """int32 rids in pair frames (tens of millions of rows at a million records) while the records fit."""
    return np.int32 if records <= np.iinfo(np.int32).max else np.int64


def rule_name(rule: list[str]) -> str:
    return "+".join(rule)


def rule_blocks(std: pd.DataFrame, rule: list[str], max_block_size: int) -> RuleBlocks:
    """Group the records on one rule's keys; records missing any key are in no block. `rid` is the row position."""
    keyed = std[rule].notna().all(axis=1).to_numpy()
    codes = np.full(len(std), NO_BLOCK, dtype=np.int32)
    if not keyed.any():
        empty = np.zeros(0, dtype=np.int64)
        return RuleBlocks(codes, empty, empty, 0, 0)
    group = std.loc[keyed, rule].groupby(rule, sort=False, observed=True).ngroup().to_numpy()
    rids = std["rid"].to_numpy()[keyed]
    sizes = np.bincount(group)
    too_big = sizes > max_block_size
    usable = ~too_big[group] & (sizes[group] > 1)
    group, rids = group[usable], rids[usable]
    codes[rids] = group
    order = np.lexsort((rids, group))
    _, counts = np.unique(group[order], return_counts=True)
    return RuleBlocks(codes, rids[order], counts.astype(np.int64), int(too_big.sum()), int(sizes[too_big].sum()))


def block_pairs(members: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair inside each block, block after block and (rid_l, rid_r) ascending within one."""
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    later = np.repeat(sizes, sizes) - 1 - (np.arange(len(members)) - starts)  # partners after each member
    position = np.repeat(np.arange(len(members)), later)
    first = np.repeat(np.cumsum(later) - later, later)
    partner = position + 1 + (np.arange(len(position)) - first)
    return members[position], members[partner]


def produced_by(codes: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """True where any of the rules in `codes` puts both records of a pair in one usable block."""
    found = np.zeros(len(left), dtype=bool)
    for per_record in codes:
        block_l = per_record[left]
        found |= (block_l == per_record[right]) & (block_l != NO_BLOCK)
    return found


def plan(
    std: pd.DataFrame, rules: list[list[str]], max_block_size: int
) -> tuple[list[RuleBlocks], np.ndarray, BlockingReport]:
    """Each rule's blocks, the records' block codes (rules x records) and the report; warns of skipped blocks."""
    report = BlockingReport()
    found = [rule_blocks(std, rule, max_block_size) for rule in rules]
    for rule, blocks in zip(rules, found, strict=True):
        name = rule_name(rule)
        report.pairs_per_rule[name] = int(blocks.pair_counts.sum())
        if blocks.skipped_blocks:
            report.skipped_blocks[name] = blocks.skipped_blocks
            report.skipped_records[name] = blocks.skipped_records
            log.warning(
                "blocking rule %s: skipped %d blocks larger than %d (%d records)",
                name, blocks.skipped_blocks, max_block_size, blocks.skipped_records,
            )  # fmt: skip
    codes = np.stack([b.codes for b in found]) if found else np.zeros((0, len(std)), dtype=np.int32)
    return found, codes, report


def chunks(found: list[RuleBlocks], chunk_pairs: int) -> Iterator[PairChunk]:
    """Whole blocks batched in rule order, each batch about `chunk_pairs` pairs (one block more at most)."""
    for number, blocks in enumerate(found):
        counts = blocks.pair_counts
        if not len(counts):
            continue
        batch = (np.cumsum(counts) - counts) // chunk_pairs
        edges = np.flatnonzero(np.diff(batch)) + 1
        member_edges = np.cumsum(blocks.sizes)[edges - 1]
        for members, sizes in zip(np.split(blocks.members, member_edges), np.split(blocks.sizes, edges), strict=True):
            yield PairChunk(number, members, sizes)


def block(std: pd.DataFrame, rules: list[list[str]], max_block_size: int) -> tuple[pd.DataFrame, BlockingReport]:
    """Candidate pairs (rid_l < rid_r), each once, with the first rule that produced it, all in one frame."""
    found, codes, report = plan(std, rules, max_block_size)
    parts = [chunk.pairs(codes) for chunk in chunks(found, chunk_pairs=1_000_000)]
    return sorted_pairs(parts), report


def sorted_pairs(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Chunks' frames as one, by (rid_l, rid_r): the order every engine and chunk size gives."""
    if not parts:
        return pd.DataFrame({"rid_l": [], "rid_r": [], "rule": []}, dtype=np.int64)
    frame = pd.concat(parts, ignore_index=True)
    order = np.lexsort((frame["rid_r"].to_numpy(), frame["rid_l"].to_numpy()))
    return frame.take(order).reset_index(drop=True)


def rule_pairs(blocks: RuleBlocks, limit: int, rng: np.random.Generator) -> tuple[pd.DataFrame, int]:
    """One rule's pairs by (rid_l, rid_r), or a seeded sample of `limit` of them, and how many there are in all.

    The sample is drawn by position in that order without listing every pair: at a million records the DOB
    rule alone yields over a hundred million pairs, of which training compares half a million.
    """
    sizes, members = blocks.sizes, blocks.members
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    later = np.repeat(sizes, sizes) - 1 - (np.arange(len(members)) - starts)  # partners after each member
    by_rid = np.argsort(members, kind="stable")
    ends = np.cumsum(later[by_rid])
    count = int(ends[-1]) if len(ends) else 0
    wanted = np.sort(rng.choice(count, limit, replace=False)) if count > limit else np.arange(count)
    which = np.searchsorted(ends, wanted, side="right")
    partner = wanted - (ends[which] - later[by_rid][which])
    position = by_rid[which]
    pairs = pd.DataFrame({"rid_l": members[position], "rid_r": members[position + 1 + partner]}, dtype=np.int64)
    return pairs, count


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

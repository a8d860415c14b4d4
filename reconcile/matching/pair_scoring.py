"""Block, compare, score and flag, one chunk of pairs at a time, on an engine.

Blocking decides which blocks make up each chunk; the pairs themselves are generated where the
chunk is compared, so no step ever holds every candidate pair's strings and intermediates at
once: only the scored rows come back. Each chunk's work is a pure function of the chunk and
of what every chunk shares (`Shared`), which is why any engine and any chunk size give the
same result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reconcile.matching.blocking import GIVEN, BlockingReport, PairChunk, chunks, plan, sorted_pairs
from reconcile.matching.comparisons import Prepared, compare
from reconcile.matching.constraints import Relatives, flag
from reconcile.matching.engines import Engine, LocalEngine
from reconcile.matching.inference import score
from reconcile.matching.rules import Rules
from reconcile.matching.training import Model

DEFAULT_CHUNK_PAIRS = 250_000


@dataclass(frozen=True, repr=False)  # Dask prints a failed task's arguments in worker logs: no names there
class Shared:
    """What every chunk needs, sent to each worker once."""

    prepared: Prepared
    codes: np.ndarray  # rules x records: block of each record under each rule, to drop pairs an earlier rule found
    model: Model
    rules: Rules
    relatives: Relatives


def scored_pairs(
    prepared: Prepared, pairs: pd.DataFrame, rules: Rules, model: Model, relatives: Relatives | pd.DataFrame | None
) -> pd.DataFrame:
    """The pairs (rid_l, rid_r, rule), then their comparison levels, weights, probability and constraint flags."""
    std = prepared.std
    gammas = compare(prepared, pairs, rules.comparisons)
    scores = score(std, pairs, gammas, model)
    flags = flag(std, pairs, gammas, rules.constraints, relatives)
    return pd.concat([pairs, gammas, scores, flags], axis=1)


def score_chunk(chunk: PairChunk, shared: Shared) -> pd.DataFrame:
    """One chunk's pairs, scored: what each engine runs on each chunk."""
    return scored_pairs(shared.prepared, chunk.pairs(shared.codes), shared.rules, shared.model, shared.relatives)


def score_candidates(
    prepared: Prepared,
    rules: Rules,
    model: Model,
    relationships: pd.DataFrame | None,
    reviewed: pd.DataFrame,
    engine: Engine | None = None,
    chunk_pairs: int = DEFAULT_CHUNK_PAIRS,
) -> tuple[pd.DataFrame, BlockingReport]:
    """Every candidate pair (and every pair a reviewer decided) scored once, by (rid_l, rid_r)."""
    std = prepared.std
    found, codes, report = plan(std, rules.blocking.rules, rules.blocking.max_block_size)
    work = list(chunks(found, chunk_pairs))
    # A pair a reviewer decided is scored even if no blocking rule brings it together.
    given = reviewed[["rid_l", "rid_r"]].drop_duplicates()
    work.append(PairChunk(GIVEN, given["rid_l"].to_numpy(dtype=np.int64), given["rid_r"].to_numpy(dtype=np.int64)))
    shared = Shared(prepared, codes, model, rules, Relatives.of(std, relationships))
    parts = (engine or LocalEngine()).map(score_chunk, work, shared=shared)
    return in_pair_order(parts), report


def in_pair_order(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """`sorted_pairs(parts)` holding one copy of the pairs, not three; empties `parts` as it goes.

    Concatenating and then taking in order held the chunks, their concatenation and its sorted copy at
    once, the match stage's peak (it grows with the pairs, faster than the records). Here each chunk is
    split into its columns and let go, and each column is concatenated and put in order on its own, into a
    frame that is not consolidated.
    Chunks that disagree on a column's dtype go the way of `sorted_pairs`, whose upcasting is pandas'.
    """
    names = list(parts[0].columns) if parts else []
    plain = all(isinstance(dtype, np.dtype) for p in parts for dtype in p.dtypes)
    if not plain or len({tuple(p.columns) for p in parts}) != 1 or len({tuple(p.dtypes) for p in parts}) != 1:
        return sorted_pairs(parts)
    columns: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for _ in range(len(parts)):
        part = parts.pop(0)
        for name in names:
            columns[name].append(part[name].to_numpy(copy=True))
        del part
    order = np.lexsort((np.concatenate(columns["rid_r"]), np.concatenate(columns["rid_l"])))
    ordered = {name: np.concatenate(columns.pop(name))[order] for name in names}
    return pd.DataFrame(ordered, copy=False)

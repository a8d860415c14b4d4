"""A night reads in full only the rows whose `modified_at` moved; the rest it takes by key and stamp alone.

Where a source entity's config maps its key and `modified_at` (a table's `columns`), or its query returns
both, a night first reads just those two columns (from the query as a subquery; a query that cannot be one
on this database is read whole). A row whose key and raw stamp are as the last load saw them, and none of
whose fields was set aside then, is loaded as it was without reading the rest of it. Every other row (new,
stamp moved or missing, set aside, no usable key) is read whole by its key and goes through the usual
screening and row hashing, so the hash still decides what is canonicalised again. Deleted rows are the keys
the narrow read no longer finds.

Rows whose ID is repeated in the source, tonight or at the last load, are all read whole, so screening
keeps the first one the source returns and rejects the rest, as on a whole read (rows of one key come back
from a query by key in the order a scan gives them). Keyed queries keep only rows whose key is exactly
one asked for, whatever the source's collation. The whole read is kept where the shortcut would not pay or
could not be made the same: more than MAX_READ_SHARE of the rows to read whole, one ID spelt two ways in
the source's keys ('4' and '4 ', whose order a query by key may change), or keys that cannot be sent back
as query parameters. `--full` always reads everything.

A source that changes a row without moving its stamp hides that change from the nights until a `--full`
run; the README says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from connectors.base import Connector, KeyedReads
from reconcile.canonicalise import source_ids
from reconcile.config import EntitySpec
from reconcile.errors import SourceError
from reconcile.model import Entity
from reconcile.raw_state import EntityState, stamps

MAX_READ_SHARE = 0.2  # beyond this share of rows to read whole, one plain scan is cheaper than keyed queries
STAMP = "modified_at"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StampedRead:
    unread_rows: np.ndarray  # rows loaded as they were, without reading them, among the stored rows (EntityState.rows)
    chunks: Iterator[pd.DataFrame]  # the whole rows to read tonight


def plan(connector: Connector, entity: Entity, spec: EntitySpec, previous: EntityState | None) -> StampedRead | None:
    """Tonight's read of one entity by stamps, or None for a whole read."""
    if previous is None or not previous.stamped or len(entity.key) != 1 or not isinstance(connector, KeyedReads):
        return None
    key = entity.key[0]
    chunks = connector.narrow(entity.name, spec, [key, STAMP])
    if chunks is None:
        return None
    try:
        seen = pd.concat(list(chunks), ignore_index=True)
    except SourceError:
        if not spec.query:
            raise
        log.info("%s: its query could not be read by key and stamp; read whole", entity.name)
        return None  # a query that cannot stand as a subquery here; a failing source fails the whole read too
    if seen.empty:
        return None
    ids = source_ids(seen, entity)
    present = ids.notna().to_numpy()
    repeated = present & ids.duplicated(keep=False).to_numpy()  # all read again, so screening sees each
    if _spelt_apart(ids[repeated], seen.loc[repeated, key]):
        return None
    position = previous.positions(pd.Index(ids))
    same = previous.unchanged_stamp(position, stamps(seen[STAMP], len(seen))) & present & ~repeated
    to_read = list(dict.fromkeys(seen.loc[~same, key].tolist()))  # a repeated key once: its query finds each row
    if len(to_read) > MAX_READ_SHARE * len(seen) or not _sendable(to_read):
        return None
    return StampedRead(position[same], connector.read_where(entity.name, spec, key, to_read))


def _spelt_apart(ids: pd.Series, raw: pd.Series) -> bool:
    """An ID held by rows whose raw keys differ ('4' and '4 '): a query by key may return them in another
    order than a scan, and so keep another of them; only a whole read keeps the same one."""
    if ids.empty:
        return False
    return bool((pd.DataFrame({"id": ids.to_numpy(), "raw": raw.to_numpy()}).groupby("id")["raw"].nunique() > 1).any())


def _sendable(keys: list[object]) -> bool:
    """Keys that go back to the source as query parameters unchanged (text that is not UTF-8 may not)."""
    for value in keys:
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True

"""Fingerprints of raw source rows, so a night canonicalises and writes only the rows that changed.

Canonicalising a row depends only on its raw values, how its entity is read and mapped (the entity's
config, the connector, the toolkit's version: the *context*) and, through "in the future", the day. So
a row whose raw values hash as they did last load, under the same context and no earlier day, gives the
canonical row that is already published, unless one of its fields was set aside: those rows are always
canonicalised again, since a date in the future yesterday may not be today. Hashes are typed (1 and "1"
hash apart), so equal hashes mean equal values, short of a 64-bit collision.

Per source entity the state is one row of `source_state`: the context, the day, and a blob (reconcile/frame_blob.py) of
(record_key, row_hash, set_aside, stamp, repeated) for every loaded row, which reads back in milliseconds.
The stamp is the hash of the row's raw `modified_at` (missing where the entity maps none), so that a night
can tell from the key and the stamp alone which rows it need not read (reconcile/stamped_read.py);
`repeated` marks an ID that other rows held too (rejected as duplicates), which a night reads whole.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pandas.core.util.hashing import hash_array

from reconcile import __version__
from reconcile.config import EntitySpec
from reconcile.frame_blob import from_blob, to_blob
from reconcile.model import Entity
from reconcile.store import SOURCE_STATE

ROW_COLUMNS = ["record_key", "row_hash", "set_aside", "stamp", "repeated"]
_MIX = np.uint64(0x100000001B3)  # FNV prime: folds the column hashes of a row into one
MISSING = np.uint64(2**64 - 1)  # the hash of a missing value


@dataclass(frozen=True)
class EntityState:
    """What the last load of one source entity saw."""

    context: str
    today: date
    rows: pd.DataFrame  # ROW_COLUMNS, one per loaded row

    @cached_property
    def keys(self) -> pd.Index:
        return pd.Index(self.rows["record_key"])

    @property
    def stamped(self) -> bool:
        """Rows loaded last time had stamps (a state kept before stamps, or of an entity without, has none)."""
        return bool((self.rows["stamp"].to_numpy() != MISSING).any())

    def positions(self, keys: pd.Index) -> np.ndarray:
        """Each key's row among the stored rows, -1 where it was not loaded last time."""
        return self.keys.get_indexer(keys)

    def unchanged(self, position: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        """Per row (at `position` in the stored rows): loaded last time with the same raw values and no field set
        aside."""
        return self._same("row_hash", position, hashes)

    def unchanged_stamp(self, position: np.ndarray, stamps: np.ndarray) -> np.ndarray:
        """Per row (at `position`): loaded last time with the same stamp (not a missing one), no field set aside,
        and no other row holding its ID (a rejected duplicate may be the one kept tonight)."""
        found = position >= 0
        repeated = np.zeros(len(position), dtype=bool)
        repeated[found] = self.rows["repeated"].to_numpy()[position[found]]
        return self._same("stamp", position, stamps) & (stamps != MISSING) & ~repeated

    def _same(self, column: str, position: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per row (at `position` in the stored rows, -1 if new): its stored `column` equals `values`, and no
        field of it was set aside."""
        found = position >= 0
        same = np.zeros(len(position), dtype=bool)
        old = self.rows[column].to_numpy()[position[found]]
        set_aside = self.rows["set_aside"].to_numpy()[position[found]]
        same[found] = (old == values[found]) & ~set_aside
        return same


def context(connector: str, entity: Entity, spec: EntitySpec) -> str:
    """Everything besides a row's values and the day that its canonical row depends on."""
    text = f"{__version__}|{connector}|{entity!r}|{spec.model_dump_json()}"
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's raw values and column names, types included."""
    total = np.full(len(frame), np.uint64(len(frame.columns)), dtype=np.uint64)
    for name in frame.columns:
        hashed = _column_hash(frame[name].to_numpy(dtype=object)) ^ _column_hash(np.array([name], dtype=object))
        with np.errstate(over="ignore"):
            total = (total * _MIX) ^ hashed
    return total


def _column_hash(values: np.ndarray) -> np.ndarray:
    """Text and missing values hash as they are (fast); any other type, or text that is not UTF-8, by type
    and repr, so that 1, 1.0, "1" and a date never hash alike."""
    if set(map(type, values)) <= {str, type(None)}:
        missing = values == None  # noqa: E711 - elementwise
        try:
            hashed = hash_array(np.where(missing, "", values), categorize=False)  # would hash None as "None"
        except UnicodeEncodeError:  # lone surrogates: bytes that were not UTF-8
            pass
        else:
            hashed[missing] = MISSING
            return hashed
    typed = np.array([f"{type(v).__qualname__}:{v!r}" for v in values], dtype=object)
    return hash_array(typed, categorize=False)


def stamps(values: pd.Series | None, rows: int) -> np.ndarray:
    """The hash of each row's raw `modified_at`; MISSING where it is missing or the entity maps none."""
    if values is None:
        return np.full(rows, MISSING, dtype=np.uint64)
    hashed = _column_hash(values.to_numpy(dtype=object))
    hashed[pd.isna(values).to_numpy()] = MISSING
    return hashed


def read(conn: sa.Connection, sources: list[str]) -> dict[tuple[str, str], EntityState]:
    """The stored state of every entity of these sources."""
    query = sa.select(SOURCE_STATE).where(SOURCE_STATE.c.source_system.in_(sources))
    return {
        (row.source_system, row.entity): EntityState(row.context, row.today, _from_blob(row.rows))
        for row in conn.execute(query)
    }


def state_row(source: str, entity: str, ctx: str, today: date, rows: pd.DataFrame) -> dict[str, object]:
    types = {"row_hash": np.uint64, "set_aside": bool, "stamp": np.uint64, "repeated": bool}
    blob = to_blob(rows[ROW_COLUMNS].astype(types))
    return {"source_system": source, "entity": entity, "context": ctx, "today": today, "rows": blob}


def _from_blob(data: bytes) -> pd.DataFrame:
    rows = from_blob(data)
    if "stamp" not in rows:  # kept by a version from before stamps: no row can be skipped by its stamp
        rows["stamp"] = np.full(len(rows), MISSING, dtype=np.uint64)
    if "repeated" not in rows:
        rows["repeated"] = np.zeros(len(rows), dtype=bool)
    return rows[ROW_COLUMNS]

"""One source entity's load, and what it changes in the target: canonical rows, fingerprints, changes.

A night canonicalises only the rows whose raw values changed (reconcile/raw_state.py), so the target's
canonical rows are updated in place: the rows of changed and deleted records are dropped and the new
ones added. A table is updated by its *drop key*, the required parts of its key, which canonicalising
leaves as they are (IDs are only trimmed). Where the drop key is not the whole key (a relationship's key
includes its kind, which is mapped), dropping a key drops every row that shares it; the rows of records
that did not change are put back as published, matched by their fingerprints in `record_state`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reconcile import changes, raw_state
from reconcile.config import EntitySpec
from reconcile.errors import ReconcileError
from reconcile.model import ENTITIES, Entity
from reconcile.sql_frames import read_frame
from reconcile.store import CANONICAL, RECORD_CHANGE, RECORD_STATE, Stage


@dataclass
class LoadCount:
    source_system: str
    entity: str
    read: int = 0
    loaded: int = 0
    rejected: int = 0
    field_issues: int = 0


@dataclass
class EntityLoad:
    """The rows one source entity loaded, and which of them were canonicalised (all, when `previous` is None)."""

    count: LoadCount
    context: str
    previous: raw_state.EntityState | None
    _keys: list[np.ndarray] = field(default_factory=list)
    _hashes: list[np.ndarray] = field(default_factory=list)
    _redo: list[np.ndarray] = field(default_factory=list)
    _stamps: list[np.ndarray] = field(default_factory=list)
    _positions: list[np.ndarray] = field(default_factory=list)  # each key's row in `previous`, -1 if new (or full)
    _set_aside: set[str] = field(default_factory=set)
    _repeated: set[str] = field(default_factory=set)  # IDs other rows held too (rejected as duplicates)
    _fingerprints: list[pd.DataFrame] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return self.previous is None

    def to_canonicalise(self, kept_ids: pd.Series, kept: pd.DataFrame) -> np.ndarray:
        """Record a chunk's loaded rows; per row, whether it must be canonicalised (new, changed, set aside)."""
        hashes = raw_state.row_hashes(kept)
        keys = kept_ids.to_numpy(dtype=object)
        redo = np.ones(len(keys), dtype=bool)
        position = np.full(len(keys), -1, dtype=np.intp)
        if self.previous is not None:
            position = self.previous.positions(pd.Index(keys))
            redo = ~self.previous.unchanged(position, hashes)
        self._keys.append(keys)
        self._positions.append(position)
        self._hashes.append(hashes)
        self._redo.append(redo)
        self._stamps.append(raw_state.stamps(kept.get("modified_at"), len(kept)))
        return redo

    def keep_unread(self, rows: np.ndarray) -> None:
        """Rows not read tonight because their stamps had not moved (at `rows` among the stored rows): loaded as
        they were last time."""
        assert self.previous is not None
        stored = self.previous.rows.iloc[rows]
        self._keys.append(stored["record_key"].to_numpy(dtype=object))
        self._positions.append(rows)
        self._hashes.append(stored["row_hash"].to_numpy(dtype=np.uint64))
        self._redo.append(np.zeros(len(rows), dtype=bool))
        self._stamps.append(stored["stamp"].to_numpy(dtype=np.uint64))
        self.count.read += len(rows)
        self.count.loaded += len(rows)

    def add(self, keys: pd.Series, rows: pd.DataFrame, issues: pd.DataFrame, rejected: pd.DataFrame) -> None:
        """What screening and canonicalising the chunk's rows (with these record keys) gave."""
        self._set_aside.update(issues["source_id"])
        self._repeated.update(rejected["source_id"].dropna())  # only a duplicate's rejection names its ID
        if self.count.entity in changes.TRACKED:
            self._fingerprints.append(changes.fingerprints(rows, self.count.entity, keys))

    @property
    def keys(self) -> pd.Index:
        return pd.Index(_joined(self._keys, object), dtype=object)

    @property
    def redone(self) -> pd.Index:
        """Keys of the rows canonicalised this run."""
        return self.keys[np.concatenate(self._redo)] if self._redo else self.keys

    @property
    def deleted(self) -> pd.Index:
        """Keys loaded last time and not now (empty on a full load, which replaces every row)."""
        if self.previous is None:
            return self.keys[:0]
        positions = self._stored_positions()
        loaded = np.zeros(len(self.previous.keys), dtype=bool)
        loaded[positions[positions >= 0]] = True
        return pd.Index(np.sort(self.previous.keys.to_numpy(dtype=object)[~loaded]), dtype=object)

    def _stored_positions(self) -> np.ndarray:
        """Each loaded key's row among last load's rows (-1 if new), in the order of `keys`."""
        return _joined(self._positions, np.intp)

    def _loaded_twice(self, keys: pd.Index) -> bool:
        """Whether any key was loaded twice: two found at one stored row, or two among the new ones; without
        the hash table of every key that `keys.has_duplicates` would build."""
        positions = self._stored_positions()
        return bool((np.bincount(positions[positions >= 0]) > 1).any()) or keys[positions < 0].has_duplicates

    @property
    def fingerprints(self) -> pd.DataFrame:
        parts = self._fingerprints or [pd.DataFrame(columns=changes.STATE_COLUMNS)]
        return pd.concat(parts, ignore_index=True)

    def state_row(self, today: date) -> dict[str, object]:
        keys = self.keys
        hashes, stamps = _joined(self._hashes, np.uint64), _joined(self._stamps, np.uint64)
        if self._loaded_twice(keys):
            raise ReconcileError(f"internal error: {self.count.source_system}.{self.count.entity} loaded an ID twice")
        rows = pd.DataFrame(
            {
                "record_key": keys,
                "row_hash": hashes,
                "set_aside": keys.isin(self._set_aside),
                "stamp": stamps,
                "repeated": keys.isin(self._repeated),
            }
        )
        return raw_state.state_row(self.count.source_system, self.count.entity, self.context, today, rows)


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """The chunks' arrays as one (empty, of `dtype`, when there were no chunks)."""
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def drop_key(entity: Entity) -> list[str]:
    """The columns a night drops an entity's rows by: the source and the required parts of its key."""
    return ["source_system", *(c for c in entity.key if entity.column(c).required)]


def incremental_possible(
    entity: Entity, spec: EntitySpec, state: raw_state.EntityState, context: str, today: date
) -> bool:
    """Rows unchanged since `state` may keep their canonical rows: same context, no earlier day, and a drop key
    that canonicalising keeps as read (and, if not the whole key, fingerprints to restore the other rows by)."""
    parts = drop_key(entity)[1:]
    ids_as_read = all(entity.column(c).type == "id" and c not in spec.values for c in parts)
    restorable = len(parts) == len(entity.key) or entity.name in changes.TRACKED
    return state.context == context and today >= state.today and ids_as_read and restorable


def stage_changes(engine: sa.Engine, stage: Stage, sources: list[str], loads: list[EntityLoad]) -> None:
    """Stage the fingerprints that differ from the last load, what changed (for `match`), and the canonical rows
    each partial load drops and puts back. A first load records no changes: the first match is a full one."""
    with engine.connect() as conn:
        first = (
            conn.execute(
                sa.select(RECORD_STATE.c.record_key).where(RECORD_STATE.c.source_system.in_(sources)).limit(1)
            ).first()
            is None
        )
        old: dict[tuple[str, str], pd.DataFrame] = {}  # published fingerprints of the records looked at
        for load in loads:
            where = (load.count.source_system, load.count.entity)
            touched = None if load.full else load.redone.append(load.deleted)
            if load.count.entity in changes.TRACKED:
                old[where] = changes.read_state(conn, *where, touched)
            if not load.full:
                _stage_drops(stage, load, touched, old.get(where))
        for where in [(s, e) for s in sources for e in changes.TRACKED if (s, e) not in old]:
            old[where] = changes.read_state(conn, *where)  # an entity no longer provided: every row deleted
        for name in ENTITIES:
            partial = [old[w] for w in old if w[1] == name and any(_is(load, w) and not load.full for load in loads)]
            if partial:
                _stage_restored(conn, stage, name, pd.concat(partial, ignore_index=True))
    new = [load.fingerprints for load in loads if load.count.entity in changes.TRACKED]
    _stage_fingerprints(stage, changes.concat_state(list(old.values())), changes.concat_state(new), first)


def _is(load: EntityLoad, where: tuple[str, str]) -> bool:
    return (load.count.source_system, load.count.entity) == where


def _stage_drops(stage: Stage, load: EntityLoad, touched: pd.Index, before: pd.DataFrame | None) -> None:
    """Drop keys of the records canonicalised again or deleted; for a partial key, those their old rows held."""
    entity = ENTITIES[load.count.entity]
    key = drop_key(entity)
    if len(key) - 1 == len(entity.key):
        keys = pd.DataFrame({"source_system": load.count.source_system, key[1]: touched.to_numpy(dtype=object)})
    else:
        assert before is not None  # incremental_possible: a partial key is restored by fingerprints
        keys = before[key].drop_duplicates()
    stage.drop(entity.name, keys)


def _stage_restored(conn: sa.Connection, stage: Stage, name: str, dropped_records: pd.DataFrame) -> None:
    """Rows that share a dropped partial key with a changed record but did not change themselves, put back as
    published: every published row of those keys, less one row per fingerprint of a record dropped."""
    entity = ENTITIES[name]
    if len(drop_key(entity)) - 1 == len(entity.key):
        return
    table, dropped = CANONICAL[name], stage.drops[name]
    match = sa.tuple_(*(table.c[c.name] for c in dropped.columns)).in_(sa.select(*dropped.columns))
    published = read_frame(conn, sa.select(table).where(match))
    gone = Counter(dropped_records["row_hash"])
    keep = []
    for row_hash in changes.row_hashes(published, name):
        keep.append(gone[row_hash] == 0)
        if gone[row_hash]:
            gone[row_hash] -= 1
    stage.append(name, published[np.array(keep, dtype=bool)])


def _stage_fingerprints(stage: Stage, old: pd.DataFrame, new: pd.DataFrame, first: bool) -> None:
    found = changes.diff(old, new)
    stage.drop(RECORD_STATE.name, found.loc[found["change"] != "new", changes.STATE_KEY])
    fresh = found.loc[found["change"] != "deleted", changes.STATE_KEY]
    stage.append(RECORD_STATE.name, new if first else new.merge(fresh, on=changes.STATE_KEY))
    if not first:
        stage.append(RECORD_CHANGE.name, found)

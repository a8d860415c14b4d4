"""Change detection: which person and relationship rows are new, changed or deleted since the last load.

Each loaded row gets a fingerprint (a hash of its canonical values, `modified_at` included, so a record
the source touched is looked at again). Extract keeps the fingerprints in `record_state` and writes what
differs from the last load to `record_change`; an incremental match reads the changes since the load it
last matched. A hash rather than `modified_at` alone, because deletions and sources without a modified
time must be found too, and hashing a row costs far less than reading it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reconcile.model import ENTITIES
from reconcile.sql_frames import key_batches, read_frame
from reconcile.store import RECORD_STATE

TRACKED = ("person", "relationship")  # the rows matching reads: records, and the relationships behind its guards
STATE_KEY = ["source_system", "entity", "record_key"]
STATE_COLUMNS = [*STATE_KEY, "person_id", "related_person_id", "row_hash"]


def fingerprints(rows: pd.DataFrame, entity_name: str, keys: pd.Series) -> pd.DataFrame:
    """One row per canonical row: its key as read (`keys`), the person(s) it is about, and a hash of every value."""
    related = rows["related_person_id"] if "related_person_id" in rows else pd.Series(None, index=rows.index)
    return pd.DataFrame(
        {
            "source_system": rows["source_system"].to_numpy(dtype=object),
            "entity": entity_name,
            "record_key": keys.to_numpy(dtype=object),
            "person_id": rows["person_id"].to_numpy(dtype=object),
            "related_person_id": related.to_numpy(dtype=object),
            "row_hash": row_hashes(rows, entity_name),
        },
        columns=STATE_COLUMNS,
    )


def row_hashes(rows: pd.DataFrame, entity_name: str) -> list[str]:
    """A hash of each canonical row's values, as published or as canonicalised: they hash alike."""
    entity = ENTITIES[entity_name]
    values = rows[["source_system", *(c.name for c in entity.columns)]].astype(str)
    hashed = pd.util.hash_pandas_object(values, index=False).to_numpy(dtype=np.uint64)
    return [f"{h:016x}" for h in hashed]


def read_state(conn: sa.Connection, source: str, entity: str, keys: pd.Index | None = None) -> pd.DataFrame:
    """The published fingerprints of one source entity: all of them, or those of `keys`."""
    query = sa.select(*(RECORD_STATE.c[c] for c in STATE_COLUMNS)).where(
        RECORD_STATE.c.source_system == source, RECORD_STATE.c.entity == entity
    )
    if keys is None:
        return read_frame(conn, query)
    parts = [read_frame(conn, query.where(RECORD_STATE.c.record_key.in_(batch))) for batch in key_batches(list(keys))]
    return concat_state(parts)


def concat_state(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=STATE_COLUMNS)


def diff(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Rows new, changed or deleted between two sets of fingerprints, with a `change` column saying which."""
    both = old.merge(new, on=STATE_KEY, how="outer", suffixes=("_old", ""), indicator=True)
    change = np.select(
        [both["_merge"] == "right_only", both["_merge"] == "left_only", both["row_hash_old"] != both["row_hash"]],
        ["new", "deleted", "changed"],
        default="",
    )
    changed = both.assign(change=change)[change != ""]
    gone = changed["change"] == "deleted"
    for column in ("person_id", "related_person_id"):  # a deleted row is known only by its old values
        changed[column] = changed[column].where(~gone, changed[f"{column}_old"])
    return changed[[*STATE_KEY, "person_id", "related_person_id", "change"]].reset_index(drop=True)


def changed_people(changes: pd.DataFrame) -> pd.DataFrame:
    """source_system, person_id of every person a change touches (a relationship row touches both its people),
    first seen first, and `rewired`: whether a relationship row of theirs changed, and so maybe their household."""
    rewired = (changes["entity"] == "relationship").to_numpy()
    ends = [
        changes[["source_system", "person_id"]].assign(rewired=rewired),
        changes.loc[changes["related_person_id"].notna(), ["source_system", "related_person_id"]]
        .rename(columns={"related_person_id": "person_id"})
        .assign(rewired=True),  # only a relationship row has a related person
    ]
    people = pd.concat(ends, ignore_index=True)
    return people.groupby(["source_system", "person_id"], sort=False, as_index=False, dropna=False)["rewired"].any()

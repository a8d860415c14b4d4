"""The incremental match step: re-match what changed since the last run and update the outputs in place.

`plan` says whether an incremental run is possible (a stored model fitted under the same rules);
`run` re-matches the records a change can reach (reconcile/matching/incremental.py), gives their
clusters master IDs with the same `assign` as a full run, rebuilds only their masters' surviving values
and conflicts, and publishes only rows that differ, in one transaction. Families are rebuilt only in the
region the re-matched masters can reach (reconcile/family_region.py), and only changed rows are written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reconcile import family_region
from reconcile.changes import TRACKED, changed_people
from reconcile.masters.activity import create_activity_view
from reconcile.masters.conflicts import record_conflicts
from reconcile.masters.survivorship import master_records, survive_records
from reconcile.matching import MatchResult, Rules
from reconcile.matching.incremental import Keyed, by_key, match_changes, oversized_blocks, record_keys, to_standardise
from reconcile.matching.master_ids import assign
from reconcile.matching.pipeline import key_order
from reconcile.matching.stored_model import (
    model_from_json,
    model_to_json,
    records_from_blob,
    records_to_blob,
    rules_hash,
)
from reconcile.matching.training import Model
from reconcile.sql_frames import key_batches, read_frame
from reconcile.store import (
    CANONICAL,
    FAMILY_ID_HISTORY,
    LOAD_SUMMARY,
    MASTER_CONFLICT,
    MASTER_FAMILY,
    MASTER_ID_HISTORY,
    MASTER_PERSON_PROVENANCE,
    MASTER_RELATIONSHIP,
    MATCH_MODEL,
    MATCH_PAIR,
    PERSON_XREF,
    RECORD_CHANGE,
    REVIEW_QUEUE,
    publish_frames,
    read_table,
)

if TYPE_CHECKING:
    from reconcile.match import MatchSummary

MAX_CHANGED_SHARE = 0.5  # beyond this share of records changed, a full run is as cheap and refits the model
PAIR_KEY = ["source_system_l", "source_id_l", "source_system_r", "source_id_r"]
RELATIONSHIP_KEY = ["master_id", "related_master_id", "relationship"]
PROVENANCE_KEY = ["master_id", "field"]
MASTER_OF = ["source_system", "source_id", "master_id"]  # what a night reads of the published crosswalk


@dataclass(frozen=True)
class Plan:
    model: Model | None  # the stored model, when an incremental run may use it
    stored: dict | None  # the stored match_model row
    why: str  # why a full run, when it must be one


def plan(engine: sa.Engine, rules: Rules) -> Plan:
    """An incremental run needs last run's model, fitted under the same matching rules."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(MATCH_MODEL).order_by(MATCH_MODEL.c.run_id.desc()).limit(1)).mappings().first()
    if row is None:
        return Plan(None, None, "no previous model")
    if row["rules_hash"] != rules_hash(rules):
        return Plan(None, None, "the matching rules changed")
    if row["extract_run_id"] is None:
        return Plan(None, None, "the last match run saw no extract")
    model = model_from_json(row["model"])
    if model is None:
        return Plan(None, None, "the stored model is from another version")
    return Plan(model, dict(row), "")


def model_row(engine: sa.Engine, rules: Rules, result: MatchResult) -> pd.DataFrame:
    """What the next incremental run needs from this full one: the model, the rules and the blocks skipped."""
    if result.model is None:  # fewer than two records: nothing fitted, the next run is full again
        return pd.DataFrame(columns=[c.name for c in MATCH_MODEL.columns])
    return _model_frame(engine, rules, result.model, oversized_blocks(result.std, rules), result.std)


def _model_frame(
    engine: sa.Engine, rules: Rules, model: Model, oversized: dict[str, list[str]], std: pd.DataFrame
) -> pd.DataFrame:
    with engine.connect() as conn:
        extract_run = conn.execute(sa.select(sa.func.max(LOAD_SUMMARY.c.run_id))).scalar()
    return pd.DataFrame(
        [
            {
                "extract_run_id": extract_run,
                "rules_hash": rules_hash(rules),
                "model": model_to_json(model),
                "oversized_blocks": json.dumps(oversized, sort_keys=True),
                "records": records_to_blob(std),
            }
        ]
    )


def run(
    engine: sa.Engine,
    run_id: str,
    rules: Rules,
    plan: Plan,
    records: pd.DataFrame,
    relationships: pd.DataFrame,
    decisions: pd.DataFrame | None = None,
) -> MatchSummary | None:
    """The night's match, published; None when so much changed that a full run should be made instead.

    `records`: source_system, person_id of every loaded person record. Whole person rows are read only for
    the records standardised again and those re-matched, not for every record.
    """
    from reconcile.match import XREF_COLUMNS, IssuedInTarget, pair_outputs, summarise

    if plan.model is None or plan.stored is None:
        raise ValueError("an incremental run needs a stored model")
    touched = _touched_since(engine, plan.stored["extract_run_id"])
    previous = _read(engine, PERSON_XREF, MASTER_OF)
    previous_keys = record_keys(previous["source_system"], previous["source_id"])
    current = record_keys(records["source_system"], records["person_id"])
    moved = len(touched) + _added_or_deleted(previous_keys, current)
    if moved > MAX_CHANGED_SHARE * max(len(records), 1):
        return None
    old_pairs = _read(engine, MATCH_PAIR, [*PAIR_KEY, "match_probability", "reason"])
    stored = records_from_blob(plan.stored["records"])
    cached = None if stored is None else Keyed.of(stored)
    oversized = json.loads(plan.stored["oversized_blocks"])
    stale = record_keys(touched["source_system"], touched["person_id"])
    persons = person_rows(engine, records[to_standardise(current, cached, stale)])
    rm = match_changes(
        records, persons, relationships, rules, plan.model, previous_keys, old_pairs, touched, oversized, decisions,
        cached,
    )  # fmt: skip

    redone = rm.keys[rm.affected].append(rm.deleted)
    involved = previous_keys.isin(redone)
    masters, history = assign(rm.clusters, previous[involved], IssuedInTarget(engine, MASTER_ID_HISTORY), decisions)
    xref = rm.clusters.rename(columns={"person_id": "source_id"}).assign(master_id=masters.to_numpy())[XREF_COLUMNS]
    whole = pd.concat([previous.loc[~involved, MASTER_OF], xref[MASTER_OF]], ignore_index=True)
    # The clusters are the affected records in rid order, so their keys are those of the affected rids.
    whole_keys = previous_keys[~involved].append(rm.keys[rm.affected])
    masters_by_rid = by_key(rm.keys, whole_keys, whole["master_id"])

    frames = pair_outputs(rm.pairs, masters_by_rid, rules.thresholds.keep_pairs)
    dropped_pairs = _pairs_redone(old_pairs, rm.keys[rm.changed].append(rm.deleted), redone)
    frames["review_queue"] = _review_queue(engine, frames["review_queue"], dropped_pairs, whole, whole_keys)

    rematched = xref.rename(columns={"source_id": "person_id"})
    rows = master_records(person_rows(engine, rematched), rematched)  # read once for survivorship and conflicts
    frames["master_person"], provenance = survive_records(rows, rules.survivorship)
    frames["master_conflict"] = record_conflicts(rows)
    old_masters = previous.loc[involved, "master_id"].to_numpy()
    touched_masters = pd.unique(np.concatenate([old_masters, masters.to_numpy()]))
    gone_masters = pd.DataFrame({"master_id": touched_masters})
    # Most re-matched masters keep the records and values they had: only provenance that differs is rewritten
    # (nine rows a master, it was the largest delete and insert of a night).
    old_provenance = _read_where_in(engine, MASTER_PERSON_PROVENANCE, "master_id", list(touched_masters))
    frames["master_person_provenance"], dropped_provenance = _differences(old_provenance, provenance, PROVENANCE_KEY)

    whole_records = whole.rename(columns={"source_id": "person_id"})
    old_family = _read(engine, MASTER_FAMILY, ["family_id", "master_id", "role"])
    rebuilt = family_region.rebuild(
        Keyed(rm.std, rm.keys), masters_by_rid, cached, redone, set(touched_masters), relationships,
        rm.relatives.ends, old_family, IssuedInTarget(engine, FAMILY_ID_HISTORY),
    )  # fmt: skip
    old_links = _read_where_in(engine, MASTER_RELATIONSHIP, "master_id", sorted(rebuilt.region))
    frames["master_relationship"], dropped_links = _differences(old_links, rebuilt.links, RELATIONSHIP_KEY)
    in_region = old_family["master_id"].isin(rebuilt.region)
    frames["master_family"], dropped_family = _differences(old_family[in_region], rebuilt.family, ["master_id"])
    family = pd.concat([old_family.loc[~in_region, rebuilt.family.columns], rebuilt.family], ignore_index=True)
    frames |= {
        "person_xref": xref,
        "master_id_history": history,
        "family_id_history": rebuilt.history,
        "match_model": _model_frame(engine, rules, plan.model, rm.oversized, rm.std),
    }
    create_activity_view(engine)
    publish_frames(
        engine,
        run_id,
        frames,
        replace=[REVIEW_QUEUE.name, MATCH_MODEL.name],
        append=[MASTER_ID_HISTORY.name, FAMILY_ID_HISTORY.name],
        drop={
            "person_xref": pd.DataFrame({"source_system": [k.split("|", 1)[0] for k in redone],
                                         "source_id": [k.split("|", 1)[1] for k in redone]}),
            "match_pair": dropped_pairs,
            "master_person": gone_masters,
            "master_person_provenance": dropped_provenance,
            "master_conflict": gone_masters,
            "master_relationship": dropped_links,
            "master_family": dropped_family,
        },
    )  # fmt: skip
    conflict = _current_conflicts(engine)
    summary = summarise(run_id, whole_records, len(frames["review_queue"]), history, family, conflict)
    why = (
        f"{int(rm.changed.sum())} records changed (with their households), {len(rm.deleted)} deleted, "
        f"{int(rm.affected.sum())} re-matched"
    )
    return replace(summary, mode="incremental", why=why, rematched=int(rm.affected.sum()))


def _added_or_deleted(previous_keys: pd.Index, current: pd.Index) -> int:
    """How many records are new or gone since last run (both sets of keys are unique: table keys), by one
    hash table of last run's keys rather than the two set differences that would build one per side."""
    found = int((previous_keys.get_indexer(current) >= 0).sum())
    return (len(current) - found) + (len(previous_keys) - found)


def _touched_since(engine: sa.Engine, extract_run: str) -> pd.DataFrame:
    """People whose person or relationship rows changed in any load since the one last matched."""
    query = sa.select(RECORD_CHANGE).where(RECORD_CHANGE.c.run_id > extract_run, RECORD_CHANGE.c.entity.in_(TRACKED))
    with engine.connect() as conn:
        return changed_people(read_frame(conn, query))


def person_keys(engine: sa.Engine) -> pd.DataFrame:
    """source_system, person_id of every loaded person record."""
    return _read(engine, CANONICAL["person"], ["source_system", "person_id"])


def person_rows(engine: sa.Engine, records: pd.DataFrame) -> pd.DataFrame:
    """The whole person rows of these records (source_system, person_id), in key order, typed as a whole
    read types them: timestamps as datetime64 even in a batch where all are missing. One system's IDs at a
    time, which every database looks up by the primary key (a list of (system, ID) pairs it may not)."""
    table = CANONICAL["person"]
    stamps = {c.name: "datetime64[ns]" for c in table.columns if isinstance(c.type, sa.DateTime)}
    with engine.connect() as conn:
        parts = [
            part.astype(stamps)
            for system, ids in records.groupby("source_system", sort=True)["person_id"]
            for part in _parts_where_in(conn, table, "person_id", ids.tolist(), table.c.source_system == system)
        ]
    if not parts:
        return pd.DataFrame(columns=[c.name for c in table.columns])
    rows = pd.concat(parts, ignore_index=True)
    return rows.iloc[key_order(rows)].reset_index(drop=True)


def _read(engine: sa.Engine, table: sa.Table, columns: list[str]) -> pd.DataFrame:
    """These columns of a table, in key order (if it has a key) as `read_table` gives it: a night needs no more
    of the crosswalk or the families, and the columns it skips (the run IDs above all) were most of reading them."""
    with engine.connect() as conn:
        return read_frame(conn, sa.select(*(table.c[c] for c in columns)).order_by(*table.primary_key))


def _read_where_in(engine: sa.Engine, table: sa.Table, column: str, values: list[str]) -> pd.DataFrame:
    """The rows of `table` whose `column` holds one of `values`."""
    with engine.connect() as conn:
        parts = list(_parts_where_in(conn, table, column, values))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[c.name for c in table.columns])


def _parts_where_in(
    conn: sa.Connection, table: sa.Table, column: str, values: list, also: sa.ColumnElement[bool] | None = None
) -> Iterator[pd.DataFrame]:
    """The rows of `table` whose `column` holds one of `values` (and that meet `also`), a few hundred
    values per query."""
    for batch in key_batches(values):
        query = sa.select(table).where(table.c[column].in_(batch))
        yield read_frame(conn, query if also is None else query.where(also))


def _pairs_redone(old_pairs: pd.DataFrame, changed: pd.Index, redone: pd.Index) -> pd.DataFrame:
    """Last run's pairs that this run scores again: touching a changed record, or between two re-matched."""
    left = record_keys(old_pairs["source_system_l"], old_pairs["source_id_l"])
    right = record_keys(old_pairs["source_system_r"], old_pairs["source_id_r"])
    again = left.isin(changed) | right.isin(changed) | (left.isin(redone) & right.isin(redone))
    return old_pairs.loc[again, PAIR_KEY].reset_index(drop=True)


def _review_queue(
    engine: sa.Engine, new: pd.DataFrame, dropped: pd.DataFrame, xref: pd.DataFrame, xref_keys: pd.Index
) -> pd.DataFrame:
    """Last run's queue without the pairs scored again, its masters brought up to date, plus the new pairs.
    `xref_keys`: the key of each row of `xref` (every current record's master)."""
    old = read_table(engine, REVIEW_QUEUE).drop(columns="run_id")
    old = old.merge(dropped.assign(_gone=True), on=PAIR_KEY, how="left")
    old = old[old["_gone"].isna()].drop(columns="_gone")
    master = pd.Series(xref["master_id"].to_numpy(), index=xref_keys)
    for side in ("l", "r"):
        keys = record_keys(old[f"source_system_{side}"], old[f"source_id_{side}"])
        old[f"master_id_{side}"] = master.reindex(keys).to_numpy()
    return pd.concat([old[new.columns], new], ignore_index=True)


def _differences(old: pd.DataFrame, new: pd.DataFrame, key: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of `new` not published as they are, keys of published rows to delete) for a table rebuilt whole."""
    columns = list(new.columns)
    old = old[columns].astype({c: bool for c in columns if new[c].dtype == bool})
    both = new.merge(old, on=columns, how="outer", indicator=True)
    added = both.loc[both["_merge"] == "left_only", columns]
    dropped = pd.concat([both.loc[both["_merge"] == "right_only", key], added[key]]).drop_duplicates()
    return added.reset_index(drop=True), dropped.reset_index(drop=True)


def _current_conflicts(engine: sa.Engine) -> pd.DataFrame:
    return _read(engine, MASTER_CONFLICT, ["master_id", "field"])

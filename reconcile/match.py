"""The match step: canonical person rows in the target -> master records, crosswalk, pairs and review queue.

Reads what extract published, matches every source at once (one source is a dedupe, several
a link-and-dedupe), keeps master IDs stable against the last published crosswalk, and
publishes all outputs in one transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reconcile.config import Config, MatchingSpec
from reconcile.decisions import latest_decisions
from reconcile.errors import ReconcileError
from reconcile.extract import new_run_id
from reconcile.masters import master_records, record_conflicts, survive_records
from reconcile.masters.activity import create_activity_view
from reconcile.masters.families import household_links, master_families, master_relationships
from reconcile.masters.linkage import linkage
from reconcile.matching import MatchResult, load_rules, match_people
from reconcile.matching.comparisons import COMPARISONS
from reconcile.matching.constraints import FLAGS
from reconcile.matching.engines import open_engine
from reconcile.matching.incremental import by_rid
from reconcile.matching.master_ids import assign
from reconcile.matching.pipeline import DECISION_COLUMNS
from reconcile.sql_frames import key_batches, read_frame
from reconcile.store import (
    CANONICAL,
    FAMILY_ID_HISTORY,
    HISTORY_TABLES,
    MASTER_FAMILY,
    MASTER_ID_HISTORY,
    MASTER_PERSON,
    MATCH_MODEL,
    MATCH_PAIR,
    MATCH_TABLES,
    PERSON_XREF,
    REVIEW_QUEUE,
    connect_target,
    publish_frames,
    read_table,
)

log = logging.getLogger(__name__)
READ_ALL_ISSUED = 10_000  # candidate IDs beyond which every issued ID is read at once
XREF_COLUMNS = ["source_system", "source_id", "master_id", "match_probability", "method"]


@dataclass(frozen=True)
class MatchSummary:
    run_id: str
    records: int
    masters: int
    linked_across_systems: int  # masters holding records from more than one system
    duplicates_within_system: int  # records beyond the first from the same system in one master
    review_queue: int
    id_changes: int
    families: int
    families_split: int  # families no single system sees whole
    conflicts_by_field: dict[str, int]  # masters whose records disagree, per field
    mode: str = "full"  # full or incremental
    why: str = ""  # why this mode, e.g. "no previous model", or what the incremental run re-matched
    rematched: int = 0  # records re-clustered (all of them on a full run)


def match(config: Config, run_id: str | None = None, *, full: bool = False, reuse_model: bool = False) -> MatchSummary:
    """Incremental when the last run's model and state allow it, else (or with `full`) a full rebuild.

    `reuse_model`: a full rebuild that scores with the stored model instead of fitting one (to check that
    an incremental run agrees with a full one).
    """
    from reconcile import match_incremental

    run_id = run_id or new_run_id()
    rules = load_rules(rules_path(config))
    engine = connect_target(config.target_url())
    try:
        records = match_incremental.person_keys(engine)
        if records.empty:
            raise ReconcileError("no person records in the target. Fix: run `reconcile extract` first.")
        relationships = read_table(engine, CANONICAL["relationship"])
        decisions = _decisions(engine, records)
        plan = match_incremental.plan(engine, rules)
        why = "asked for (--full)" if full else plan.why
        if plan.model is not None and not full:
            summary = match_incremental.run(engine, run_id, rules, plan, records, relationships, decisions)
            if summary is not None:
                return summary
            why = "most records changed since the last run"
        del records
        persons = read_table(engine, CANONICAL["person"])
        model = plan.model if full and reuse_model else None
        settings = config.matching or MatchingSpec()
        with open_engine(settings.engine, settings.scheduler) as executor:
            result = match_people(
                persons, relationships, rules, decisions=decisions, model=model,
                engine=executor, chunk_pairs=settings.chunk_pairs,
            )  # fmt: skip
        previous = read_table(engine, PERSON_XREF)
        masters, history = assign(result.clusters, previous, IssuedInTarget(engine, MASTER_ID_HISTORY), decisions)
        frames = _outputs(result, masters, rules.thresholds.keep_pairs)
        # Every scored pair and every person row are done with once their outputs are made: let them go.
        result = replace(result, pairs=result.pairs.iloc[:0].copy())  # a bare slice would keep every pair
        xref = frames["person_xref"].rename(columns={"source_id": "person_id"})
        rows = master_records(persons, xref)  # read once for survivorship and conflicts
        del persons
        frames["master_person"], frames["master_person_provenance"] = survive_records(rows, rules.survivorship)
        frames["master_conflict"] = record_conflicts(rows)
        del rows
        links = master_relationships(relationships, xref)
        households = household_links(result.std, pd.Series(_masters_by_rid(result, masters)))
        family, family_history = master_families(
            links, households, read_table(engine, MASTER_FAMILY), IssuedInTarget(engine, FAMILY_ID_HISTORY)
        )
        frames |= {
            "master_id_history": history,
            "master_relationship": links,
            "master_family": family,
            "family_id_history": family_history,
            "match_model": match_incremental.model_row(engine, rules, result),
        }
        create_activity_view(engine)  # before publishing: a failure here must leave the last run as it was
        publish_frames(
            engine,
            run_id,
            frames,
            replace=[*(t.name for t in MATCH_TABLES), MATCH_MODEL.name],
            append=[t.name for t in HISTORY_TABLES],
        )
    finally:
        engine.dispose()
    review = len(frames["review_queue"])
    summary = summarise(run_id, xref, review, history, family, frames["master_conflict"])
    summary = replace(summary, why=why, rematched=summary.records)
    log.info("match run %s: %d records -> %d masters", run_id, summary.records, summary.masters)
    return summary


def rules_path(config: Config) -> Path | None:
    """The config's matching rules file, or None for the packaged defaults (the report reads its thresholds)."""
    if config.matching and config.matching.rules:
        return config.base_dir / config.matching.rules
    return None


def _decisions(engine: sa.Engine, records: pd.DataFrame) -> pd.DataFrame:
    """The latest reviewer decision per pair whose two records are still loaded, as match_people takes them."""
    latest = latest_decisions(engine)
    if latest.empty:
        return pd.DataFrame(columns=DECISION_COLUMNS)
    decisions = latest.rename(columns={"source_id_l": "person_id_l", "source_id_r": "person_id_r"})[DECISION_COLUMNS]
    loaded = pd.MultiIndex.from_frame(records[["source_system", "person_id"]].astype(str))
    present = np.ones(len(decisions), dtype=bool)
    for side in ("l", "r"):
        keys = decisions[[f"source_system_{side}", f"person_id_{side}"]].astype(str)
        present &= pd.MultiIndex.from_frame(keys).isin(loaded)
    if not present.all():
        log.warning("review decisions: %d on records no longer loaded, ignored", int((~present).sum()))
    log.info("review decisions: %d on loaded records", int(present.sum()))
    return decisions[present].reset_index(drop=True)


@dataclass(frozen=True)
class IssuedInTarget:
    """Every ID this target ever issued of one kind (master or family), asked about only the candidates: a
    night issues a few hundred IDs where a hundred thousand were issued, and reading those was most of
    choosing. Past `READ_ALL_ISSUED` candidates (a first run), every issued ID is read once instead."""

    engine: sa.Engine
    history: sa.Table

    def among(self, ids: Collection[str]) -> set[str]:
        wanted = set(ids)
        with self.engine.connect() as conn:
            if len(wanted) > READ_ALL_ISSUED:
                return wanted & set(read_frame(conn, self._issued())["id"])
            ordered, found = sorted(wanted), set()
            for batch in key_batches(ordered, bound_each=2):  # in the current IDs' IN and in the history's
                found.update(conn.execute(self._issued(batch)).scalars())
        return wanted & found  # compared here, exactly: MariaDB's IN is case-blind

    def _issued(self, among: Sequence[str] | None = None) -> sa.CompoundSelect:
        """The issued IDs (of `among`, if given): current ones and those the history names. UNION ALL: a UNION
        would compare IDs under the database's collation (case-blind on MariaDB)."""
        current = MASTER_PERSON.c.master_id if self.history is MASTER_ID_HISTORY else MASTER_FAMILY.c.family_id
        parts = []
        for column in (current, self.history.c.old_master_id):
            query = sa.select(column.label("id"))
            parts.append(query if among is None else query.where(column.in_(among)))
        return sa.union_all(*parts)


def _outputs(result: MatchResult, masters: pd.Series, keep: float) -> dict[str, pd.DataFrame]:
    clusters = result.clusters.assign(master_id=masters.to_numpy())
    xref = clusters.rename(columns={"person_id": "source_id"})[XREF_COLUMNS]
    return {"person_xref": xref, **pair_outputs(result.pairs, _masters_by_rid(result, masters), keep)}


def _masters_by_rid(result: MatchResult, masters: pd.Series) -> np.ndarray:
    """`masters` follow the person table as read; pairs and households name records by rid."""
    return by_rid(result.std, result.clusters["source_system"], result.clusters["person_id"], masters)


def pair_outputs(pairs: pd.DataFrame, masters: np.ndarray, keep: float) -> dict[str, pd.DataFrame]:
    """match_pair and review_queue rows of decided pairs; `masters`: master ID by rid.

    The rows are picked first and given master IDs after: most scored pairs are neither kept nor queued, and
    giving every pair its masters (then renaming) copied all of them twice.
    """

    def named(rows: pd.DataFrame) -> pd.DataFrame:
        return rows.assign(
            master_id_l=masters[rows["rid_l"].to_numpy()],
            master_id_r=masters[rows["rid_r"].to_numpy()],
        ).rename(columns={"person_id_l": "source_id_l", "person_id_r": "source_id_r"})

    kept = named(pairs[(pairs["match_probability"] >= keep) | (pairs["decision"] != "non_match")])
    match_pair = kept.rename(columns={k: f"level_{k}" for k in COMPARISONS})[
        [c.name for c in MATCH_PAIR.columns if c.name != "run_id"]
    ]
    review = named(pairs[pairs["decision"] == "review"])
    keys = review[["source_system_l", "source_id_l", "source_system_r", "source_id_r"]].itertuples(index=False)
    review["review_id"] = [_review_id(*key) for key in keys]
    review_queue = review[[c.name for c in REVIEW_QUEUE.columns if c.name != "run_id"]]
    return {"match_pair": match_pair.astype({f: bool for f in FLAGS}), "review_queue": review_queue}


def _review_id(system_l: str, id_l: str, system_r: str, id_r: str) -> str:
    """Stable across runs and whichever record comes first, so a reviewer's decision finds its pair again."""
    first, second = sorted([f"{system_l}|{id_l}", f"{system_r}|{id_r}"])
    return "R" + hashlib.blake2b(f"{first}|{second}".encode(), digest_size=8).hexdigest().upper()


def summarise(
    run_id: str,
    xref: pd.DataFrame,
    review_queue: int,
    history: pd.DataFrame,
    family: pd.DataFrame,
    conflict: pd.DataFrame,
) -> MatchSummary:
    """Counts over the whole published crosswalk (`xref`: source_system, person_id, master_id per record)."""
    figures = linkage(xref, family)
    return MatchSummary(
        run_id=run_id,
        records=figures.records,
        masters=figures.masters,
        linked_across_systems=figures.linked_across_systems,
        duplicates_within_system=figures.duplicates_within_system,
        review_queue=review_queue,
        id_changes=int(history["records"].sum()) if len(history) else 0,
        families=figures.families,
        families_split=figures.families_split,
        conflicts_by_field=conflict["field"].value_counts().sort_index().to_dict() if len(conflict) else {},
    )

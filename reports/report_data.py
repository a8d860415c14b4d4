"""What the run report shows, read from the published target tables only.

The summary figures are small and read whole; the four long tables (risk flags, review queue,
conflicts, rejected rows) are streamed to CSV in chunks, and only their first rows are kept
for the page, so a run of a million records makes a page of the same size as a small one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from reconcile.config import Config
from reconcile.errors import ReconcileError
from reconcile.gate import Verdict, judge
from reconcile.loadfile import write_file
from reconcile.masters.linkage import Linkage, linkage
from reconcile.match import rules_path
from reconcile.matching import load_rules
from reconcile.matching.rules import Thresholds
from reconcile.privacy import mask_pii, mask_raw_rows
from reconcile.sql_frames import read_frame
from reconcile.store import (
    LOAD_SUMMARY,
    MASTER_CONFLICT,
    MASTER_FAMILY,
    MATCH_PAIR,
    PERSON_XREF,
    REJECTED_RECORD,
    REVIEW_QUEUE,
    RISK_FLAG,
    RUN_LOG,
)
from reconcile.validate import counts_by_rule
from reports.review_pairs import review_pairs

if TYPE_CHECKING:
    from expectations.risk_rules import Reconciled

log = logging.getLogger(__name__)

CHUNK_ROWS = 50_000
RUNS_SHOWN = 12  # previous runs in the trend section
SEVERITIES = ("critical", "high", "medium")


@dataclass(frozen=True)
class LongTable:
    """A table too long for the page: the first rows to show, how many there are, and the CSV holding all."""

    head: pd.DataFrame
    total: int
    csv: Path


@dataclass(frozen=True)
class ReportData:
    match_run_id: str
    loads: pd.DataFrame  # the latest load_summary rows of each source
    linkage: Linkage
    review_queue: int
    conflicts_by_field: dict[str, int]
    thresholds: Thresholds
    weights: pd.DataFrame  # match_weight, decision: every kept pair
    verdict: Verdict | None  # None: no validation run yet
    flags_by_rule: pd.DataFrame  # rule, severity, count
    flag_trend: pd.DataFrame  # run_id and a count per severity, one row per validation run, latest first
    runs: pd.DataFrame  # run_log, latest first
    front_door: pd.DataFrame | None  # reconcile metrics; None when there are no contacts
    tables: dict[str, LongTable]


def gather(
    config: Config, engine: sa.Engine, files: Path, *, mask: bool, max_rows: int, validated: Reconciled | None = None
) -> ReportData:
    """Read everything the report shows; `files` receives one CSV per long table, every row of it.
    `validated`: the reconciled tables as a validation of this target just read them (see `write_report`)."""
    with engine.connect() as conn:
        match_run_id = conn.execute(sa.select(sa.func.max(PERSON_XREF.c.run_id))).scalar()
        if match_run_id is None:
            raise ReconcileError("no master records in the target. Fix: run `reconcile match` first.")
        loads = _latest_loads(conn)
        xref = read_frame(conn, sa.select(PERSON_XREF.c.master_id, PERSON_XREF.c.source_system))
        family = read_frame(conn, sa.select(MASTER_FAMILY.c.family_id, MASTER_FAMILY.c.master_id))
        queued = conn.execute(sa.select(sa.func.count()).select_from(REVIEW_QUEUE)).scalar_one()
        by_field = conn.execute(
            sa.select(MASTER_CONFLICT.c.field, sa.func.count()).group_by(MASTER_CONFLICT.c.field)
        ).all()
        weights = read_frame(conn, sa.select(MATCH_PAIR.c.match_weight, MATCH_PAIR.c.decision))
        runs = read_frame(conn, sa.select(RUN_LOG).order_by(RUN_LOG.c.started_at.desc()).limit(RUNS_SHOWN))
        flag_trend = _flag_trend(conn)
    verdict = _verdict(config, engine)
    flags_run = verdict.run_id if verdict else None
    return ReportData(
        match_run_id=match_run_id,
        loads=loads,
        linkage=linkage(xref, family),
        review_queue=int(queued),
        conflicts_by_field={field: int(n) for field, n in sorted(by_field)},
        thresholds=load_rules(rules_path(config)).thresholds,
        weights=weights,
        verdict=verdict,
        flags_by_rule=_flags_by_rule(engine, flags_run),
        flag_trend=flag_trend,
        runs=runs,
        front_door=_front_door(config, engine, validated),
        tables=_long_tables(engine, files, flags_run, loads, mask=mask, max_rows=max_rows),
    )


def _latest_loads(conn: sa.Connection) -> pd.DataFrame:
    """Each source's rows of its latest extract: a load replaces the sources it read."""
    latest = (
        sa.select(LOAD_SUMMARY.c.source_system, sa.func.max(LOAD_SUMMARY.c.run_id).label("run_id"))
        .group_by(LOAD_SUMMARY.c.source_system)
        .subquery()
    )
    query = (
        sa.select(LOAD_SUMMARY)
        .join(
            latest,
            (LOAD_SUMMARY.c.source_system == latest.c.source_system) & (LOAD_SUMMARY.c.run_id == latest.c.run_id),
        )
        .order_by(LOAD_SUMMARY.c.source_system, LOAD_SUMMARY.c.entity)
    )
    return read_frame(conn, query)


def _verdict(config: Config, engine: sa.Engine) -> Verdict | None:
    limits = config.validation.gate
    try:
        return judge(engine, limits.max_critical, limits.max_high)
    except ReconcileError:  # no validation run yet: the report says so instead of failing
        return None


def _flags_by_rule(engine: sa.Engine, run_id: str | None) -> pd.DataFrame:
    with engine.connect() as conn:
        rules = read_frame(conn, sa.select(RISK_FLAG.c.rule).where(RISK_FLAG.c.run_id == run_id))
    return counts_by_rule(rules)


def _flag_trend(conn: sa.Connection) -> pd.DataFrame:
    """Flags per severity in each of the last validation runs: risk_flag keeps every run's flags."""
    counts = read_frame(
        conn,
        sa.select(RISK_FLAG.c.run_id, RISK_FLAG.c.severity, sa.func.count().label("n")).group_by(
            RISK_FLAG.c.run_id, RISK_FLAG.c.severity
        ),
    )
    wide = counts.pivot_table(index="run_id", columns="severity", values="n", fill_value=0, aggfunc="sum")
    wide = wide.reindex(columns=list(SEVERITIES), fill_value=0).sort_index(ascending=False).head(RUNS_SHOWN)
    return wide.astype(int).reset_index()


def _front_door(config: Config, engine: sa.Engine, validated: Reconciled | None) -> pd.DataFrame | None:
    from reconcile.metrics import front_door
    from reconcile.validate import reconciled

    figures = front_door(validated if validated is not None else reconciled(engine, config, masters=False))
    return figures if figures["contacts"].sum() else None


def _long_tables(
    engine: sa.Engine, files: Path, flags_run: str | None, loads: pd.DataFrame, *, mask: bool, max_rows: int
) -> dict[str, LongTable]:
    flags = (
        sa.select(
            RISK_FLAG.c.master_id, RISK_FLAG.c.severity, RISK_FLAG.c.rule, RISK_FLAG.c.entity,
            RISK_FLAG.c.source_system, RISK_FLAG.c.source_id, RISK_FLAG.c.explanation,
        )
        .where(RISK_FLAG.c.run_id == flags_run)
        .order_by(_severity_order(), RISK_FLAG.c.rule, RISK_FLAG.c.master_id, RISK_FLAG.c.source_system,
                  RISK_FLAG.c.source_id)
    )  # fmt: skip
    conflicts = sa.select(
        MASTER_CONFLICT.c.master_id, MASTER_CONFLICT.c.field, MASTER_CONFLICT.c.n_values, MASTER_CONFLICT.c["values"]
    ).order_by(MASTER_CONFLICT.c.field, MASTER_CONFLICT.c.master_id)
    loaded = [(s, r) for s, r in loads[["source_system", "run_id"]].drop_duplicates().itertuples(index=False)]
    rejected = (
        sa.select(
            REJECTED_RECORD.c.source_system, REJECTED_RECORD.c.entity, REJECTED_RECORD.c.source_id,
            REJECTED_RECORD.c.reason, REJECTED_RECORD.c.raw_row, REJECTED_RECORD.c.run_id,
        )
        .where(sa.tuple_(REJECTED_RECORD.c.source_system, REJECTED_RECORD.c.run_id).in_(loaded) if loaded
               else sa.false())
        .order_by(REJECTED_RECORD.c.source_system, REJECTED_RECORD.c.entity, REJECTED_RECORD.c.source_id)
    )  # fmt: skip
    with engine.connect() as conn:
        conn.execution_options(stream_results=True)
        tables = {
            "risk_flags": _stream(conn, flags, files / "risk_flags.csv", max_rows),
            "conflicts": _stream(conn, conflicts, files / "conflicts.csv", max_rows, _conflict_text(mask)),
            "rejected_rows": _stream(conn, rejected, files / "rejected_rows.csv", max_rows, _raw_rows(mask)),
        }
    pairs = review_pairs(engine, mask=mask)  # as long as the queue; the review export reads the same frame
    tables["review_queue"] = _write(iter([pairs]), list(pairs.columns), files / "review_queue.csv", max_rows)
    return tables


def _severity_order() -> sa.ColumnElement[int]:
    return sa.case({s: i for i, s in enumerate(SEVERITIES)}, value=RISK_FLAG.c.severity, else_=len(SEVERITIES))


def _stream(
    conn: sa.Connection,
    query: sa.Select,
    path: Path,
    max_rows: int,
    transform: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> LongTable:
    chunks = pd.read_sql(query, conn, chunksize=CHUNK_ROWS)
    shown = (transform(c) for c in chunks) if transform else chunks
    return _write(shown, [c.name for c in query.selected_columns], path, max_rows)


def _write(chunks: Iterator[pd.DataFrame], columns: list[str], path: Path, max_rows: int) -> LongTable:
    """Every row to the CSV (owner-only, as text), the first `max_rows` kept for the page."""
    head: list[pd.DataFrame] = []
    kept = total = 0

    def tee() -> Iterator[pd.DataFrame]:
        nonlocal kept, total
        for chunk in chunks:
            total += len(chunk)
            if kept < max_rows:
                head.append(chunk.head(max_rows - kept))
                kept += len(head[-1])
            yield chunk

    write_file(path, "csv", pa.schema([(name, pa.string()) for name in columns]), tee())
    log.info("report: %s, %d rows", path.name, total)
    first = pd.concat(head, ignore_index=True) if head else pd.DataFrame(columns=columns)
    return LongTable(first, total, path)


def _conflict_text(mask: bool) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """`values` JSON as one readable line per conflict: 'Smith (lcs 101); Smyth (mosaic P7)', masked if asked."""

    def transform(chunk: pd.DataFrame) -> pd.DataFrame:
        items = [(i, field, v) for i, field, text in zip(chunk.index, chunk["field"], chunk["values"], strict=True)
                 for v in json.loads(text)]  # fmt: skip
        if not items:
            return chunk
        long = pd.DataFrame(
            {"row": [i for i, _, _ in items], "field": [f for _, f, _ in items],
             "value": [v.get("value") for _, _, v in items],
             "record": [f"{v.get('source_system')} {v.get('source_id')}" for _, _, v in items]}
        )  # fmt: skip
        if mask:
            for field, rows in long.groupby("field").groups.items():
                long.loc[rows, "value"] = mask_pii(long.loc[rows, ["value"]].set_axis([field], axis=1))[field]
        shown = long["value"].astype(object).where(long["value"].notna(), "(hidden)" if mask else "(empty)")
        long["text"] = shown.astype(str) + " (" + long["record"] + ")"
        return chunk.assign(values=long.groupby("row")["text"].agg("; ".join).reindex(chunk.index))

    return transform


def _raw_rows(mask: bool) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A rejected row's raw values, with what --mask-pii leaves of the personal ones."""

    def transform(chunk: pd.DataFrame) -> pd.DataFrame:
        if not mask or chunk.empty:
            return chunk
        rows = pd.Series(None, index=chunk.index, dtype=object)
        for entity, part in chunk.groupby("entity", sort=False):
            raw = pd.DataFrame([_as_dict(text) for text in part["raw_row"]], index=part.index)
            masked = mask_raw_rows(raw, str(entity)).astype(object)
            masked = masked.where(masked.notna(), None)
            rows[part.index] = [json.dumps(row, default=str) for row in masked.to_dict("records")]
        return chunk.assign(raw_row=rows)

    return transform


def _as_dict(text: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}

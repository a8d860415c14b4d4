"""The validate step: the source suites (Great Expectations) over each source's canonical rows, and the
risk suite over what match published; every flag and every check result is published.

Flags are appended per run (the gate reads the latest run's), all in one transaction: a
failed validation leaves the last run's flags as they were. The source suites' verdicts on each row
are kept with them (`source_check_state`), so the next validation judges only new and changed rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from expectations.risk_rules import RULES, Reconciled, evaluate
from expectations.row_verdicts import SourceValidation, Verdicts, validate_sources
from reconcile.config import Config
from reconcile.errors import ReconcileError
from reconcile.extract import new_run_id
from reconcile.frame_blob import from_blob, to_blob
from reconcile.store import (
    CANONICAL,
    MASTER_CONFLICT,
    MASTER_FAMILY,
    MASTER_PERSON,
    PERSON_XREF,
    REVIEW_QUEUE,
    SOURCE_CHECK_STATE,
    connect_target,
    publish_frames,
    read_table,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ValidationSummary:
    run_id: str
    flags: pd.DataFrame  # rule, severity, count: one row per rule, zeros included
    failed_checks: pd.DataFrame  # source suite expectations that failed: source, entity, expectation, count
    data_docs_index: Path | None = None  # the Data Docs site's index.html, when asked for
    rows_judged: int = 0  # canonical rows the source suites judged this time; the rest had kept verdicts
    rows_known: int = 0
    data: Reconciled | None = None  # what it read: `reconcile run` hands it to its report rather than read it again


def validate(
    config: Config,
    today: date | None = None,
    run_id: str | None = None,
    data_docs: Path | None = None,
    *,
    full: bool = False,
) -> ValidationSummary:
    """`data_docs`: also build GE Data Docs of the source suites in a new folder there (see `data_docs_index`).
    `full`: judge every row again rather than reuse the verdicts the last validation kept."""
    run_id = run_id or new_run_id()
    engine = connect_target(config.target_url())
    try:
        frames = _canonical_frames(engine)
        data = reconciled(engine, config, today, frames)
        flags = evaluate(data)
        judged = validate_sources(frames, data.today.date(), {} if full else kept_verdicts(engine))
        state = _state_rows(judged, run_id)
        published = {"risk_flag": flags, "source_check": judged.checks, "source_check_state": state}
        publish_frames(engine, run_id, published, replace=["source_check_state"], append=["risk_flag", "source_check"])
    finally:
        engine.dispose()
    log.info(
        "validate run %s: %d flags; source suites judged %d rows, %d known",
        run_id, len(flags), judged.rows_judged, judged.rows_known,
    )  # fmt: skip
    index = None
    if data_docs is not None:  # after publishing: the run's flags and checks are the record, the site a view
        from expectations.data_docs import build_data_docs  # GE's file context and renderers: only when asked

        index = build_data_docs(frames, data.today.date(), data_docs)
    checks = judged.checks
    failed = checks.loc[~checks["success"], ["source_system", "entity", "expectation", "unexpected_count"]]
    return ValidationSummary(
        run_id, counts_by_rule(flags), failed.reset_index(drop=True), index, judged.rows_judged, judged.rows_known, data
    )


def _canonical_frames(engine: sa.Engine) -> dict[str, pd.DataFrame]:
    return {name: read_table(engine, table) for name, table in CANONICAL.items()}


def kept_verdicts(engine: sa.Engine) -> dict[str, Verdicts]:
    """The verdicts the last validation kept, per entity; none on a target no validation has run on."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(SOURCE_CHECK_STATE)).all()
    return {row.entity: Verdicts(row.signature, from_blob(row.verdicts)) for row in rows}


def _state_rows(judged: SourceValidation, run_id: str) -> pd.DataFrame:
    return pd.DataFrame(
        [{"entity": name, "signature": v.signature, "verdicts": to_blob(v.rows), "run_id": run_id}
         for name, v in judged.verdicts.items()],
        columns=[c.name for c in SOURCE_CHECK_STATE.columns],
    )  # fmt: skip


def for_metrics(data: Reconciled) -> Reconciled:
    """What the front-door metrics read, as `reconciled(masters=False)` reads it: the crosswalk and the case
    activity. The person rows and master tables are emptied, so that they need not stay in memory for them."""
    emptied = ("person", "master_person", "master_family", "master_conflict", "review_queue")
    return replace(data, **{name: getattr(data, name).iloc[:0] for name in emptied})


def counts_by_rule(flags: pd.DataFrame) -> pd.DataFrame:
    """Every rule with its severity and count, in the suite's order, so a rule with no flags still shows."""
    counts = flags.groupby("rule").size()
    return pd.DataFrame(
        {"rule": [r.id for r in RULES], "severity": [r.severity for r in RULES],
         "count": [int(counts.get(r.id, 0)) for r in RULES]}
    )  # fmt: skip


def reconciled(
    engine: sa.Engine,
    config: Config,
    today: date | None = None,
    canonical: dict[str, pd.DataFrame] | None = None,
    *,
    masters: bool = True,
) -> Reconciled:
    """What match published, read once for the risk suite and the front-door metrics.

    `canonical`: the canonical tables as already read (by `_canonical_frames`), so none is read twice.
    `masters=False`: the person rows, master tables and review queue are left empty. The front-door metrics
    read only the crosswalk and the case activity, and reading the rest was half of the report's time.
    """
    xref = read_table(engine, PERSON_XREF)
    if xref.empty:
        raise ReconcileError("no master records in the target. Fix: run `reconcile match` first.")
    deadline = config.validation.decision_deadline

    def entity(name: str) -> pd.DataFrame:
        return canonical[name] if canonical is not None else read_table(engine, CANONICAL[name])

    def master(table: sa.Table) -> pd.DataFrame:
        return read_table(engine, table) if masters else pd.DataFrame(columns=[c.name for c in table.columns])

    return Reconciled(
        today=pd.Timestamp(today or date.today()),
        xref=xref.rename(columns={"source_id": "person_id"})[["source_system", "person_id", "master_id"]],
        person=entity("person") if masters else master(CANONICAL["person"]),
        master_person=master(MASTER_PERSON),
        master_family=master(MASTER_FAMILY),
        master_conflict=master(MASTER_CONFLICT),
        review_queue=master(REVIEW_QUEUE),
        contact=entity("contact"),
        referral=entity("referral"),
        cp_plan=entity("cp_plan"),
        involvement=entity("involvement"),
        deadline_working_days=None if deadline.hours else (deadline.working_days or 1),
        deadline_hours=deadline.hours,
    )

"""The nightly run: extract -> match -> validate -> report -> gate, under one lock, published at once.

Every step publishes into the run's workspace (see `workspace`), which becomes the target
only when all steps have succeeded. The run is recorded in `run_log` before any work starts
and again when it ends, so a failed or killed run is still accounted for; a JSON-lines log
holds the same counts and timings. Nothing personal is logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd
import sqlalchemy as sa

from reconcile import __version__
from reconcile.config import Config
from reconcile.errors import SourceError
from reconcile.extract import ExtractResult, LoadCount, new_run_id
from reconcile.gate import Verdict, judge
from reconcile.privacy import private_dir, private_file
from reconcile.run_lock import run_lock
from reconcile.store import RUN_LOG, connect_target
from reconcile.workspace import workspace

if TYPE_CHECKING:
    from expectations.risk_rules import Reconciled

log = logging.getLogger(__name__)

STEPS = ("extract", "match", "validate", "report", "gate")


@dataclass
class StepRecord:
    step: str
    seconds: float
    counts: dict[str, Any]


@dataclass
class RunOutcome:
    run_id: str
    exit_code: int
    verdict: Verdict
    steps: list[StepRecord] = field(default_factory=list)
    mode: str = "full"
    report: Path | None = None  # the run's HTML report, once published
    loads: pd.DataFrame | None = None  # read/loaded/rejected per source and entity
    flags: pd.DataFrame | None = None  # risk flags per rule and severity
    validated: Reconciled | None = None  # what validate read, for the report step; dropped once it has run


class Progress(Protocol):
    """What the CLI shows while a run works: a bar on a terminal, a line per step under cron."""

    def step_started(self, step: str, number: int, total: int, expected: StepRecord | None) -> None: ...
    def extract_chunk(self, rows_read: int) -> None: ...
    def step_finished(self, record: StepRecord) -> None: ...


class Silent:
    def step_started(self, step: str, number: int, total: int, expected: StepRecord | None) -> None:
        pass

    def extract_chunk(self, rows_read: int) -> None:
        pass

    def step_finished(self, record: StepRecord) -> None:
        pass


def run(
    config: Config,
    *,
    full: bool = False,
    progress: Progress | None = None,
    log_file: Path | None = None,
    today: date | None = None,
) -> RunOutcome:
    """One whole reconciliation; its exit code is the gate's. Raises (exit 3) on any error, publishing nothing."""
    progress = progress or Silent()
    run_id = new_run_id()
    url = config.target_url()
    events = _EventLog(log_file or default_log_file(config), run_id)
    with run_lock(url, run_id):
        engine = connect_target(url)
        try:
            abandon_stale_runs(engine)
            clear_report_leftovers(config)
            previous = last_steps(engine)
            _start(engine, run_id, config, "full")
        finally:
            engine.dispose()
        events.write("run_started", full=full, version=__version__)
        started = time.monotonic()
        step = "start"
        outcome = RunOutcome(run_id, 0, Verdict(run_id, 0, {}, {}, {}))
        try:
            with workspace(config, run_id) as work:
                for number, step in enumerate(STEPS, start=1):
                    progress.step_started(step, number, len(STEPS), previous.get(step))
                    record = _timed(step, lambda step=step: _STEP_FUNCTIONS[step](work, outcome, progress, full, today))
                    outcome.steps.append(record)
                    progress.step_finished(record)
                    events.write("step_finished", step=record.step, seconds=record.seconds, counts=record.counts)
                step = "publish"
                _finish(connect_target(work.target_url()), outcome, "succeeded", None)
        except BaseException as exc:
            _record_failure(url, outcome, step, exc, events)
            raise
        # Published: from here on nothing may turn the run into a failure (exit 3 means nothing was published).
        try:
            outcome.report = publish_report(outcome.report, reports_dir(config))
        except OSError as exc:
            log.warning(
                "run %s was published, but its report could not be moved into place (%s)", run_id, type(exc).__name__
            )
            events.write("report_not_published", error=type(exc).__name__)
            outcome.report = None
    events.write(
        "run_finished",
        status="succeeded",
        exit_code=outcome.exit_code,
        gate=outcome.verdict.word,
        seconds=round(time.monotonic() - started, 3),
    )
    return outcome


def _timed(step: str, work: Callable[[], dict[str, Any]]) -> StepRecord:
    began = time.monotonic()
    counts = work()
    return StepRecord(step, round(time.monotonic() - began, 3), counts)


def _extract_step(work: Config, outcome: RunOutcome, progress: Progress, full: bool, today: date | None) -> dict:
    from reconcile.extract import extract

    read: dict[tuple[str, str], int] = {}

    def on_chunk(count: LoadCount) -> None:
        read[(count.source_system, count.entity)] = count.read
        progress.extract_chunk(sum(read.values()))

    result = with_retries(work, lambda: extract(work, today=today, run_id=outcome.run_id, on_chunk=on_chunk, full=full))
    outcome.loads = result.table()
    totals = result.table()[["read", "loaded", "rejected", "field_issues"]].sum()
    return {name: int(value) for name, value in totals.items()}


def _match_step(work: Config, outcome: RunOutcome, progress: Progress, full: bool, today: date | None) -> dict:
    from reconcile.match import match

    summary = match(work, run_id=outcome.run_id, full=full)
    outcome.mode = summary.mode
    counts = {k: v for k, v in vars(summary).items() if isinstance(v, int)}
    return counts | {"field_conflicts": sum(summary.conflicts_by_field.values())}


def _validate_step(work: Config, outcome: RunOutcome, progress: Progress, full: bool, today: date | None) -> dict:
    from reconcile.validate import for_metrics, validate

    summary = validate(work, today=today, run_id=outcome.run_id, full=full)
    outcome.flags = summary.flags
    outcome.validated = for_metrics(summary.data) if summary.data is not None else None
    flags = summary.flags.groupby("severity")["count"].sum()
    return {f"flags_{severity}": int(n) for severity, n in flags.items()} | {
        "failed_checks": len(summary.failed_checks),
        "rows_judged": summary.rows_judged,
        "rows_known": summary.rows_known,
    }


def _report_step(work: Config, outcome: RunOutcome, progress: Progress, full: bool, today: date | None) -> dict:
    """Written into a staging folder; it joins the published reports only after the target is published."""
    from reports.html_report import write_report

    staging = report_staging(work, outcome.run_id)
    validated, outcome.validated = outcome.validated, None
    outcome.report = write_report(work, staging, run_id=outcome.run_id, validated=validated)
    return {"files": sum(1 for _ in staging.rglob("*") if _.is_file())}


def report_staging(config: Config, run_id: str) -> Path:
    return reports_dir(config) / f".run-{run_id}"


def reports_dir(config: Config) -> Path:
    return config.base_dir / "reports"


def _gate_step(work: Config, outcome: RunOutcome, progress: Progress, full: bool, today: date | None) -> dict:
    limits = work.validation.gate
    engine = connect_target(work.target_url())
    try:
        outcome.verdict = judge(engine, limits.max_critical, limits.max_high)
    finally:
        engine.dispose()
    outcome.exit_code = outcome.verdict.exit_code
    return {"exit_code": outcome.exit_code, **outcome.verdict.by_severity}


_STEP_FUNCTIONS = {
    "extract": _extract_step,
    "match": _match_step,
    "validate": _validate_step,
    "report": _report_step,
    "gate": _gate_step,
}


def publish_report(staged: Path | None, out: Path) -> Path | None:
    """Files first, page last, so a page never links to files that are not there."""
    if staged is None:
        return None
    files = staged.with_name(staged.stem + "_files")
    if files.exists():
        final = out / files.name
        shutil.rmtree(final, ignore_errors=True)
        os.replace(files, final)
    page = out / staged.name
    os.replace(staged, page)
    shutil.rmtree(staged.parent, ignore_errors=True)
    return page


def clear_report_leftovers(config: Config) -> None:
    """Staged reports of runs that were killed before publishing: never shown, now removed."""
    for leftover in reports_dir(config).glob(".run-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def with_retries(config: Config, attempt: Callable[[], ExtractResult]) -> ExtractResult:
    """Retry when a source could not be reached; a query failing mid-stream is not retried."""
    settings = config.run
    for tries in range(settings.retries + 1):
        try:
            return attempt()
        except SourceError as exc:
            if exc.step != "connect" or tries == settings.retries:
                raise
            wait = settings.retry_backoff_seconds * (2**tries)
            log.warning(
                "source %s unreachable; retry %d of %d in %.0f s", exc.source, tries + 1, settings.retries, wait
            )
            time.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def config_hash(config: Config) -> str:
    """The config file and the matching rules it uses: a run's results depend on both."""
    digest = hashlib.sha256(config.path.read_bytes() if config.path.exists() else b"")
    if config.matching and config.matching.rules:
        rules = config.base_dir / config.matching.rules
        digest.update(rules.read_bytes() if rules.exists() else b"")
    return digest.hexdigest()


def default_log_file(config: Config) -> Path:
    return config.base_dir / "logs" / "reconcile-runs.jsonl"


def abandon_stale_runs(engine: sa.Engine) -> None:
    """Rows still 'running' while we hold the lock belong to runs that were killed."""
    with engine.begin() as conn:
        conn.execute(
            RUN_LOG.update().where(RUN_LOG.c.status == "running").values(status="abandoned", error="killed or lost")
        )


def last_steps(engine: sa.Engine) -> dict[str, StepRecord]:
    """The last successful run's steps, so progress can show what to expect."""
    with engine.connect() as conn:
        steps = conn.execute(
            sa.select(RUN_LOG.c.steps).where(RUN_LOG.c.status == "succeeded").order_by(RUN_LOG.c.run_id.desc()).limit(1)
        ).scalar()
    return {s["step"]: StepRecord(**s) for s in json.loads(steps)} if steps else {}


def recent_runs(engine: sa.Engine, limit: int = 20) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(RUN_LOG).order_by(RUN_LOG.c.run_id.desc()).limit(limit)).mappings().all()
    return [dict(row) for row in rows]


def _start(engine: sa.Engine, run_id: str, config: Config, mode: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            RUN_LOG.insert().values(
                run_id=run_id,
                started_at=_now(),
                status="running",
                mode=mode,
                config_hash=config_hash(config),
                version=__version__,
                host=socket.gethostname(),
                pid=os.getpid(),
                steps="[]",
            )
        )


def _finish(engine: sa.Engine, outcome: RunOutcome, status: str, error: str | None) -> None:
    """In the workspace for a success (published with everything else), in the target for a failure."""
    try:
        with engine.begin() as conn:
            conn.execute(
                RUN_LOG.update()
                .where(RUN_LOG.c.run_id == outcome.run_id)
                .values(
                    finished_at=_now(),
                    status=status,
                    mode=outcome.mode,
                    exit_code=outcome.exit_code,
                    gate_verdict=outcome.verdict.word if status == "succeeded" else None,
                    steps=json.dumps([vars(s) for s in outcome.steps]),
                    error=error,
                )
            )
    finally:
        engine.dispose()


def _record_failure(url: sa.URL, outcome: RunOutcome, step: str, exc: BaseException, events: _EventLog) -> None:
    """In the target itself: the workspace is gone. The steps that finished keep their counts and times."""
    error = f"{step}: {type(exc).__name__}"
    events.write("run_failed", step=step, error=type(exc).__name__)
    outcome.exit_code = 3
    try:
        _finish(connect_target(url), outcome, "failed", error)
    except Exception:  # noqa: BLE001 - the run's own error is the one to report
        log.warning("could not record the failed run in run_log")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class _EventLog:
    """JSON lines, one per event: counts and timings for whoever audits the nightly runs."""

    def __init__(self, path: Path, run_id: str) -> None:
        private_dir(path.parent)
        if not path.exists():
            private_file(path)
        self.path, self.run_id = path, run_id

    def write(self, event: str, **fields: Any) -> None:
        line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "run_id": self.run_id}
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(line | {"event": event} | fields, default=str) + "\n")

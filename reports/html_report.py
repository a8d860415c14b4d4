"""`reconcile report`: one self-contained HTML file per run, for migration leads who do not query databases.

Styles, scripts and charts are inline and the page's Content-Security-Policy forbids every
fetch, so it opens from a file share with no network. Long tables show their first rows and
link to CSV files, every row, in `<name>_files/` beside the page. The page and the CSVs hold
personal data unless masked: all are owner-only, and written under temporary names, renamed
into place only when all are done.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from reconcile import __version__
from reconcile.config import Config
from reconcile.errors import ReconcileError
from reconcile.matching.comparisons import COMPARISONS
from reconcile.matching.inference import weight_of
from reconcile.privacy import private_dir, private_file
from reconcile.store import connect_target
from reports import svg_charts
from reports.report_data import SEVERITIES, ReportData, gather
from reports.review_pairs import PERSON_FIELDS, level_name

if TYPE_CHECKING:
    from expectations.risk_rules import Reconciled

log = logging.getLogger(__name__)
# Beside this file, not looked up by package name: a folder called reports/ where the command runs (the
# default output folder) would otherwise be taken for this package when run as `python -m cli`.
TEMPLATES = Path(__file__).parent / "templates"

DEFAULT_MAX_ROWS = 500
DECISIONS = ("match", "review", "non_match")


def write_report(
    config: Config,
    out_dir: Path | None = None,
    *,
    mask: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
    run_id: str | None = None,
    validated: Reconciled | None = None,
) -> Path:
    """Write the run's report into `out_dir` (default `reports/` beside the config) and return its path.

    `run_id` names the file after a `reconcile run`; without it, after the latest match run. A night
    that changed nothing leaves the match run as it was, and must not overwrite that run's report.
    `validated`: what the run's validation read of the target, which the report would otherwise read again."""
    if max_rows < 1:
        raise ReconcileError(f"--max-rows {max_rows}: must be at least 1. Fix: give a positive number of rows.")
    out = Path(out_dir) if out_dir is not None else config.base_dir / "reports"
    if out.exists() and not out.is_dir():
        raise ReconcileError(f"--out {out} is a file. Fix: give a folder (it is created if missing).")
    private_dir(out)
    temp = Path(tempfile.mkdtemp(prefix=".report-", dir=out))  # owner-only, like everything in it
    engine = connect_target(config.target_url())
    try:
        data = gather(config, engine, temp, mask=mask, max_rows=max_rows, validated=validated)
        stem = f"reconcile-report-{run_id or data.match_run_id}" + ("-masked" if mask else "")
        html = private_file(temp / f"{stem}.html")
        html.write_text(render(data, files=f"{stem}_files", mask=mask, max_rows=max_rows), encoding="utf-8")
        return _publish(temp, out, stem)
    finally:
        engine.dispose()
        shutil.rmtree(temp, ignore_errors=True)


def _publish(temp: Path, out: Path, stem: str) -> Path:
    """CSVs into `<stem>_files/` first, the page last: a page never links to files that are not there."""
    files = temp / f"{stem}_files"
    private_dir(files)
    for csv in temp.glob("*.csv"):
        os.replace(csv, files / csv.name)
    final = out / f"{stem}_files"
    if final.exists():
        shutil.rmtree(final)
    os.replace(files, final)
    page = out / f"{stem}.html"
    os.replace(temp / f"{stem}.html", page)
    log.info("report written")
    return page


def render(data: ReportData, *, files: str, mask: bool, max_rows: int) -> str:
    """The page as text; `files` is the folder of CSVs, relative to the page."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined, trim_blocks=True)
    thresholds = data.thresholds
    markers = [
        svg_charts.Marker(weight_of(thresholds.review), f"review from p = {thresholds.review:g}"),
        svg_charts.Marker(weight_of(thresholds.match), f"match from p = {thresholds.match:g}"),
    ]
    context: dict[str, Any] = {
        "data": data,
        "mask": mask,
        "max_rows": max_rows,
        "files": files,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "severities": SEVERITIES,
        "loads": _records(data.loads),
        "load_totals": data.loads[["read", "loaded", "rejected", "field_issues"]].sum().astype(int).to_dict(),
        "flags_by_rule": _records(data.flags_by_rule),
        "flag_trend": _records(data.flag_trend),
        "runs": _runs(data.runs),
        "front_door": _records(data.front_door) if data.front_door is not None else [],
        "weight_chart": _weight_chart(data, markers),
        "flag_chart": _flag_chart(data),
        "timeliness_chart": _timeliness_chart(data),
        "tables": {name: table for name, table in data.tables.items()},
        "flag_rows": _records(data.tables["risk_flags"].head),
        "conflict_rows": _records(data.tables["conflicts"].head),
        "rejected_rows": _records(data.tables["rejected_rows"].head),
        "review_rows": _review_rows(data.tables["review_queue"].head, markers),
        "person_fields": PERSON_FIELDS,
    }
    return env.get_template("report.html.j2").render(context)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _runs(runs: pd.DataFrame) -> list[dict[str, Any]]:
    """run_log rows with their duration and each step's counts as one readable line."""
    import json

    rows = []
    for run in _records(runs):
        started, finished = run["started_at"], run["finished_at"]
        seconds = (pd.Timestamp(finished) - pd.Timestamp(started)).total_seconds() if finished is not None else None
        try:
            steps = json.loads(run["steps"] or "[]")
        except ValueError:
            steps = []
        shown = [
            f"{s.get('step')} ({float(s.get('seconds') or 0):.0f} s)"
            + (": " + ", ".join(f"{k} {v}" for k, v in (s.get("counts") or {}).items()) if s.get("counts") else "")
            for s in steps
            if isinstance(s, dict)
        ]
        rows.append({**run, "seconds": seconds, "steps": shown})
    return rows


def _weight_chart(data: ReportData, markers: list[svg_charts.Marker]) -> Markup:
    weights = data.weights
    series = {d: weights.loc[weights["decision"] == d, "match_weight"].to_numpy() for d in DECISIONS}
    return svg_charts.histogram(
        series, markers, title="Match weight of scored pairs, by decision", x_label="match weight (bits)"
    )


def _flag_chart(data: ReportData) -> Markup:
    rows = [(r.rule, float(r.count), f"{r.count:,}") for r in data.flags_by_rule.itertuples()]
    classes = [f"severity-{r.severity}" for r in data.flags_by_rule.itertuples()]
    return svg_charts.bars(rows, title="Risk flags by rule (latest validation run)", classes=classes)


def _timeliness_chart(data: ReportData) -> Markup | None:
    if data.front_door is None:
        return None
    rows = [
        (
            r.source_system,
            100 * float(r.decided_within_deadline or 0),
            f"{100 * float(r.decided_within_deadline or 0):.1f}% of {r.contacts:,}",
        )
        for r in data.front_door.itertuples()
    ]
    return svg_charts.bars(rows, title="Contacts decided within the deadline", high=100.0)


def _review_rows(pairs: pd.DataFrame, markers: list[svg_charts.Marker]) -> list[dict[str, Any]]:
    """Each queued pair with its two records side by side and its waterfall, drawn on one shared scale."""
    if pairs.empty:
        return []
    weights = pairs[[f"w_{k}" for k in COMPARISONS]].astype(float).fillna(0.0)
    prior = pairs["match_weight"].astype(float) - weights.sum(axis=1)
    running = weights.cumsum(axis=1).add(prior, axis=0)
    lows = pd.concat([running.min(axis=1), prior, pairs["match_weight"]], axis=1).min(axis=1)
    highs = pd.concat([running.max(axis=1), prior, pairs["match_weight"]], axis=1).max(axis=1)
    scale = svg_charts.waterfall_scale(lows.tolist(), highs.tolist())
    rows = []
    for i, pair in enumerate(_records(pairs)):
        steps = [("prior", float(prior.iloc[i]))] + [
            (f"{k} {level_name(k, _level(pair[f'level_{k}']))}", float(weights.iloc[i][f"w_{k}"])) for k in COMPARISONS
        ]
        fields = [
            {"name": f, "left": pair[f"{f}_l"], "right": pair[f"{f}_r"], "differ": pair[f"{f}_l"] != pair[f"{f}_r"]}
            for f in PERSON_FIELDS
            if pair[f"{f}_l"] is not None or pair[f"{f}_r"] is not None
        ]
        rows.append(
            {**pair, "fields": fields,
             "waterfall": svg_charts.waterfall(steps, float(pair["match_weight"]), scale, markers)}
        )  # fmt: skip
    return rows


def _level(value: object) -> float:
    return float("nan") if value is None else float(value)

"""The run report: one self-contained, owner-only HTML file, correct figures, masking, and a real browser."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli import cli
from conftest import LEGACY_ENTITIES, TODAY, read_frame, write_config
from reconcile.config import load_config
from reconcile.matching.inference import probability_of, weight_of
from reconcile.store import RUN_LOG, connect_target
from reconcile.validate import for_metrics, validate
from reports.html_report import write_report
from reports.report_data import gather

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
TABLES = {"flags-table": "risk_flags", "review-table": "review_queue", "conflicts-table": "conflicts",
          "rejected-table": "rejected_rows"}  # fmt: skip
SECTIONS = ("summary", "trend", "charts", "flags", "review", "conflicts", "rejected")


def _copy_run(synthetic_run, folder: Path):
    """A private copy of the session's matched synthetic target, so this module's runs touch no other test."""
    files, _, summary = synthetic_run
    shutil.copytree(files.config.parent, folder)
    return load_config(folder / files.config.name), summary


@pytest.fixture(scope="module")
def validated(synthetic_run, tmp_path_factory):
    config, summary = _copy_run(synthetic_run, tmp_path_factory.mktemp("report") / "run")
    validate(config, today=TODAY)
    return config, summary


class _Rows(HTMLParser):
    """Counts the data rows of each top-level table (nested tables in review rows are not rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str | None] = []
        self.rows: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self.stack.append(found.get("id"))
        elif tag == "tr" and "data-row" in found and self.stack and self.stack[-1]:
            self.rows[self.stack[-1]] = self.rows.get(self.stack[-1], 0) + 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.stack.pop()


def _rows_on_page(page: Path) -> dict[str, int]:
    parser = _Rows()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.rows


def _csv_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def _files(page: Path) -> Path:
    return page.with_name(page.stem + "_files")


def _everything(page: Path) -> str:
    return page.read_text(encoding="utf-8") + "".join(p.read_text(encoding="utf-8") for p in _files(page).iterdir())


def test_the_report_is_one_owner_only_file_that_fetches_nothing(validated, tmp_path):
    config, _ = validated
    page = write_report(config, tmp_path / "out", max_rows=20)
    assert page.parent == tmp_path / "out" and page.name.endswith(".html")
    assert page.stat().st_mode & 0o777 == 0o600
    assert _files(page).stat().st_mode & 0o777 == 0o700
    assert {p.name for p in _files(page).iterdir()} == {f"{name}.csv" for name in TABLES.values()}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in _files(page).iterdir())
    html = page.read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href|action|poster|srcset)\s*=\s*["']?\s*(?:[a-z]+:)?//""", html, re.I)
    assert not re.search(r"<link\b|<script\b[^>]*\bsrc=|<img\b|<iframe\b|@import|url\(", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "default-src 'none'" in html  # the browser itself refuses any fetch
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []  # no temporary leftovers


def test_the_page_holds_the_first_rows_and_the_csvs_hold_every_row(validated, tmp_path):
    config, _ = validated
    page = write_report(config, tmp_path, max_rows=5)
    url = config.target_url()
    totals = {
        "risk_flags": read_frame(url, "SELECT COUNT(*) AS n FROM risk_flag WHERE run_id = "
                                      "(SELECT MAX(run_id) FROM risk_flag)")["n"][0],
        "review_queue": read_frame(url, "SELECT COUNT(*) AS n FROM review_queue")["n"][0],
        "conflicts": read_frame(url, "SELECT COUNT(*) AS n FROM master_conflict")["n"][0],
        "rejected_rows": read_frame(url, "SELECT COUNT(*) AS n FROM rejected_record WHERE run_id = "
                                         "(SELECT MAX(run_id) FROM load_summary)")["n"][0],
    }  # fmt: skip
    assert all(n > 5 for n in totals.values()), totals  # so that the cap is exercised on every table
    shown = _rows_on_page(page)
    for table_id, name in TABLES.items():
        assert _csv_rows(_files(page) / f"{name}.csv") == totals[name], name
        assert shown[table_id] == 5, table_id
    html = page.read_text(encoding="utf-8")
    assert f"first 5 of {totals['risk_flags']:,} rows" in html
    assert f'href="{_files(page).name}/risk_flags.csv"' in html


def test_the_summary_figures_are_those_the_match_step_printed(validated, tmp_path):
    config, summary = validated
    engine = connect_target(config.target_url())
    try:
        data = gather(config, engine, tmp_path, mask=False, max_rows=10)
    finally:
        engine.dispose()
    figures = data.linkage
    assert (figures.records, figures.masters) == (summary.records, summary.masters)
    assert figures.linked_across_systems == summary.linked_across_systems > 0
    assert figures.duplicates_within_system == summary.duplicates_within_system
    assert (figures.families, figures.families_split) == (summary.families, summary.families_split)
    assert data.review_queue == summary.review_queue
    assert data.conflicts_by_field == summary.conflicts_by_field
    assert data.verdict is not None and int(data.flags_by_rule["count"].sum()) == sum(data.verdict.by_rule.values())
    assert set(data.loads["source_system"]) == {"lcs", "mosaic"}
    assert (data.loads["read"] == data.loads["loaded"] + data.loads["rejected"]).all()


def test_a_masked_report_holds_no_full_name_nhs_number_or_date_of_birth(validated, tmp_path):
    config, _ = validated
    url = config.target_url()
    person = read_frame(url, "SELECT source_system, person_id, surname, nhs_number, dob FROM person")
    queue = read_frame(url, "SELECT source_system_l, source_id_l, source_system_r, source_id_r FROM review_queue")
    ids = pd.concat([queue.iloc[:, :2].set_axis(["source_system", "person_id"], axis=1),
                     queue.iloc[:, 2:].set_axis(["source_system", "person_id"], axis=1)])  # fmt: skip
    shown = person.merge(ids.drop_duplicates(), on=["source_system", "person_id"])
    surnames = {s for s in shown["surname"].dropna() if len(s) > 2}
    nhs = {n for n in person["nhs_number"].dropna() if len(n) >= 10}
    dobs = {str(d) for d in shown["dob"].dropna()}
    plain = _everything(write_report(config, tmp_path / "plain"))
    masked_page = write_report(config, tmp_path / "masked", mask=True)
    masked = _everything(masked_page)
    assert masked_page.name.endswith("-masked.html")
    assert surnames and any(re.search(rf"\b{re.escape(s)}\b", plain) for s in surnames)  # the check can fail
    assert [s for s in surnames if re.search(rf"\b{re.escape(s)}\b", masked)] == []
    assert any(n in plain for n in nhs) and [n for n in nhs if n in masked] == []
    assert any(d in plain for d in dobs) and [d for d in dobs if d in masked] == []
    assert "--mask-pii" in masked


def test_the_trend_says_when_run_log_is_empty_and_lists_runs_when_not(validated, tmp_path):
    config, _ = validated
    html = write_report(config, tmp_path / "a").read_text(encoding="utf-8")
    assert 'id="no-runs"' in html
    engine = connect_target(config.target_url())
    try:
        with engine.begin() as conn:
            conn.execute(
                RUN_LOG.insert(),
                [{"run_id": "20260101T000000000000Z", "started_at": pd.Timestamp("2026-01-01 00:00"),
                  "finished_at": pd.Timestamp("2026-01-01 00:02"), "status": "succeeded", "mode": "full",
                  "exit_code": 1, "gate_verdict": "warn", "config_hash": "x" * 64, "version": "0.1.0",
                  "host": "h", "pid": 1, "steps": '[{"step": "match", "seconds": 42, "counts": {"masters": 7}}]'}],
            )  # fmt: skip
        html = write_report(config, tmp_path / "b").read_text(encoding="utf-8")
    finally:
        with engine.begin() as conn:
            conn.execute(RUN_LOG.delete())
        engine.dispose()
    assert 'id="no-runs"' not in html
    assert "20260101T000000000000Z" in html and "match (42 s): masters 7" in html and ">120<" in html


def test_the_front_door_from_what_validate_read_is_the_one_read_afresh(synthetic_run, tmp_path, monkeypatch):
    """`reconcile run` hands its report what the validation read; the figures are those a report reads itself."""
    config, _ = _copy_run(synthetic_run, tmp_path / "run")
    summary = validate(config, today=TODAY)
    engine = connect_target(config.target_url())
    try:
        (tmp_path / "handed").mkdir(), (tmp_path / "afresh").mkdir()
        with monkeypatch.context() as patch:
            patch.setattr("reconcile.validate.reconciled", lambda *a, **k: pytest.fail("read again"))
            handed_over = for_metrics(summary.data)
            handed = gather(config, engine, tmp_path / "handed", mask=False, max_rows=5, validated=handed_over)
        afresh = gather(config, engine, tmp_path / "afresh", mask=False, max_rows=5)
    finally:
        engine.dispose()
    assert handed.front_door is not None and handed.front_door["contacts"].sum() > 0
    pd.testing.assert_frame_equal(handed.front_door, afresh.front_door)


def test_without_a_validation_run_the_report_says_so(synthetic_run, tmp_path):
    config, _ = _copy_run(synthetic_run, tmp_path / "run")
    engine = sa.create_engine(config.target_url())
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM risk_flag"))
    engine.dispose()
    html = write_report(config, tmp_path / "out").read_text(encoding="utf-8")
    assert "no validation run in the target yet" in html
    assert 'class="empty">No flags.' in html


def test_reconcile_report_prints_the_path_and_exits_3_without_a_match_run(validated, tmp_path, legacy):
    config, _ = validated
    runner = CliRunner()
    out = tmp_path / "shared"
    result = runner.invoke(
        cli, ["report", "--config", str(config.path), "--out", str(out), "--mask-pii", "--max-rows", "3"]
    )
    assert result.exit_code == 0, result.output
    page = Path(result.output.strip().removeprefix("report: "))
    assert page.parent == out and page.is_file() and page.name.endswith("-masked.html")
    assert max(_rows_on_page(page).values()) == 3

    unmatched = write_config(tmp_path, {"target": "sqlite:///target.db", "sources": {
        "lcs": {"connector": "sql", "url": "sqlite:///lcs.db", "entities": LEGACY_ENTITIES}}})  # fmt: skip
    result = runner.invoke(cli, ["report", "--config", str(unmatched), "--out", str(tmp_path / "r")])
    assert result.exit_code == 3
    assert "run `reconcile match` first" in result.output
    assert list((tmp_path / "r").iterdir()) == []  # nothing half-written


def test_python_m_cli_finds_its_templates_beside_a_reports_folder(validated, tmp_path):
    """The default output folder is called reports/; run from there as a module, it must not stand for the package."""
    config, _ = validated
    (tmp_path / "reports").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "cli", "report", "--config", str(config.path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("report: ")


@given(st.floats(min_value=1e-6, max_value=1 - 1e-6))
def test_threshold_weights_are_the_inverse_of_the_models_probability(p):
    assert float(probability_of(weight_of(p))) == pytest.approx(p, rel=1e-9)


def test_the_report_works_in_a_real_browser(validated, chromium, tmp_path):
    config, _ = validated
    report = write_report(config, tmp_path, max_rows=40)
    page = chromium.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(f"fetch {r.url}"))
    try:
        page.goto(report.as_uri())
        for section in SECTIONS:
            assert page.locator(f"section#{section}").is_visible(), section
        assert page.locator("#weight-chart svg line.marker").count() == 2
        assert page.locator("#review-table > tbody > tr svg.waterfall").count() == 40

        rows = page.locator("#flags-table > tbody > tr")
        total = rows.count()
        master = rows.nth(total - 1).locator("td").first.inner_text().strip()
        page.fill('input[data-filter="flags-table"]', master.lower())
        visible = page.locator("#flags-table > tbody > tr:not([hidden])")
        assert 0 < visible.count() < total
        assert all(master in text for text in visible.all_inner_texts())
        assert page.locator('[data-count="flags-table"]').inner_text().startswith(f"{visible.count()} of {total}")
        page.fill('input[data-filter="flags-table"]', "")
        assert visible.count() == total

        header = page.locator("#review-table thead th", has_text="probability")
        header.locator("button").click()
        values = [float(v) for v in page.locator("#review-table > tbody > tr > td:nth-child(2)").all_inner_texts()]
        assert values == sorted(values) and values[0] < values[-1]
        assert header.get_attribute("aria-sort") == "ascending"
        header.locator("button").click()
        values = [float(v) for v in page.locator("#review-table > tbody > tr > td:nth-child(2)").all_inner_texts()]
        assert values == sorted(values, reverse=True)

        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    finally:
        page.close()
    assert problems == []

"""The risk suite and the cutover gate: every planted risk flagged, and exit codes CI can trust."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

import pandas as pd
import pytest
from click.testing import CliRunner

from cli import cli
from conftest import read_frame, write_config
from expectations.deadlines import decision_due
from reconcile.gate import FAIL, PASS, WARN, verdict
from reconcile.synthetic import REFERENCE_DATE
from reconcile.validate import validate

# planted kind -> the rule that must flag every planted row, matched on the flagged record itself
SAME_RECORD = {
    "contact_decision_late": "CONTACT_DECISION_OVERDUE",
    "contact_decision_missing": "CONTACT_DECISION_OVERDUE",
    "consent_missing": "CONTACT_CONSENT_NOT_RECORDED",
    "open_in_both_systems": "OPEN_IN_BOTH_SYSTEMS",
    "unborn_overdue": "UNBORN_PLACEHOLDER_UNRESOLVED",
}


@pytest.fixture(scope="module")
def validated(synthetic_run):
    files, config, _ = synthetic_run
    summary = validate(config, today=REFERENCE_DATE)
    flags = read_frame(config.target_url(), f"SELECT * FROM risk_flag WHERE run_id = '{summary.run_id}'")
    with sqlite3.connect(files.truth) as conn:
        planted = pd.read_sql("SELECT * FROM planted", conn)
    return config, summary, flags, planted


@pytest.mark.parametrize("kind,rule", SAME_RECORD.items())
def test_every_planted_risk_is_flagged(validated, kind, rule):
    _, _, flags, planted = validated
    wanted = planted[planted["kind"] == kind]
    assert len(wanted) > 0
    flagged = wanted.merge(flags[flags["rule"] == rule], on=["source_system", "source_id"])
    assert len(flagged) == len(wanted)


def test_contact_flags_are_exactly_the_planted_ones(validated):
    _, _, flags, planted = validated
    late = planted[planted["kind"].isin(["contact_decision_late", "contact_decision_missing"])]
    assert (flags["rule"] == "CONTACT_DECISION_OVERDUE").sum() == len(late)
    assert (flags["rule"] == "CONTACT_CONSENT_NOT_RECORDED").sum() == (planted["kind"] == "consent_missing").sum()


def test_a_cp_plan_held_in_one_system_flags_the_childs_records_in_the_other(validated):
    config, _, flags, planted = validated
    plans = planted[planted["kind"] == "cp_plan_one_system_only"]
    cp = read_frame(config.target_url(), "SELECT source_system, plan_id AS source_id, person_id FROM cp_plan")
    xref = read_frame(config.target_url(), "SELECT source_system, source_id AS person_id, master_id FROM person_xref")
    children = plans.merge(cp, on=["source_system", "source_id"]).merge(xref, on=["source_system", "person_id"])
    assert len(children) == len(plans) > 0
    flagged = flags[flags["rule"] == "CP_PLAN_NOT_VISIBLE"]
    assert set(children["master_id"]) <= set(flagged["master_id"])
    for child in children.itertuples():  # the flag sits on the record that lacks the plan, never on the plan's own
        own = flagged[(flagged["master_id"] == child.master_id) & (flagged["source_system"] == child.source_system)]
        assert own.empty


def test_risk_flag_is_the_contract_with_an_explanation_on_every_row(validated):
    _, summary, flags, _ = validated
    assert list(flags.columns) == [
        "run_id",
        "rule",
        "severity",
        "entity",
        "source_system",
        "source_id",
        "master_id",
        "explanation",
    ]
    assert flags["explanation"].str.len().min() > 10
    assert list(summary.flags["rule"])[0] == "CP_PLAN_NOT_VISIBLE" and summary.flags["count"].sum() == len(flags)


def test_one_working_day_skips_weekends_and_bank_holidays():
    received = pd.Series(["2026-12-24 15:00:00", "2026-11-27 10:00:00", "2026-11-28 10:00:00"])  # Thu, Fri, Sat
    due = decision_due(received, working_days=1, hours=None)
    assert list(due) == [
        pd.Timestamp("2026-12-29 15:00"),
        pd.Timestamp("2026-11-30 10:00"),
        pd.Timestamp("2026-12-01 00:00"),
    ]
    assert decision_due(received, None, 24).iloc[0] == pd.Timestamp("2026-12-25 15:00")


def test_the_gate_applies_severity_policy():
    flags = pd.DataFrame({"rule": ["A", "B", "B"], "severity": ["critical", "high", "high"]})
    assert verdict("r", flags.iloc[:0], 0, None).exit_code == PASS
    assert verdict("r", flags.iloc[1:], 0, None).exit_code == WARN
    assert verdict("r", flags.iloc[1:], 0, 1).exceeded == ["high"]
    assert verdict("r", flags, 0, None).exit_code == FAIL


def test_gate_exit_codes_and_json_through_the_cli(validated, tmp_path):
    config, _, flags, _ = validated
    runner = CliRunner()
    path = str(config.path)
    critical = int((flags["severity"] == "critical").sum())
    result = runner.invoke(cli, ["gate", "--config", path, "--json"])
    summary = json.loads(result.output)
    assert result.exit_code == (FAIL if critical else WARN) == summary["exit_code"]
    assert summary["flags_by_severity"]["critical"] == critical
    relaxed = runner.invoke(cli, ["gate", "--config", path, "--max-critical", "100000"])
    assert relaxed.exit_code == WARN and "warnings only" in relaxed.output
    strict = runner.invoke(cli, ["gate", "--config", path, "--max-critical", "100000", "--max-high", "0"])
    assert strict.exit_code == FAIL and "exceeded: high" in strict.output
    empty = write_config(
        tmp_path,
        {
            "target": "sqlite:///empty.db",
            "sources": {"lcs": {"connector": "sql", "url": "sqlite:///x.db", "entities": {"person": {"table": "p"}}}},
        },
    )
    error = runner.invoke(cli, ["gate", "--config", str(empty)])
    assert error.exit_code == 3 and "run `reconcile validate` first" in error.output


def test_reconcile_help_is_fast_because_great_expectations_is_not_imported():
    import subprocess
    import sys

    code = (
        "import sys, cli\n"
        "try:\n    cli.cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('GX', 'great_expectations' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("GX False")


def test_validate_needs_master_records(tmp_path, legacy):
    from conftest import LEGACY_ENTITIES
    from reconcile.config import load_config
    from reconcile.errors import ReconcileError

    path = write_config(
        tmp_path, {"sources": {"lcs": {"connector": "sql", "url": "sqlite:///lcs.db", "entities": LEGACY_ENTITIES}}}
    )
    with pytest.raises(ReconcileError, match="run `reconcile match` first"):
        validate(load_config(path), today=date(2026, 11, 1))


def test_front_door_metrics_per_system_and_combined(validated):
    from reconcile.metrics import front_door
    from reconcile.store import connect_target
    from reconcile.validate import reconciled

    config, _, flags, _ = validated
    engine = connect_target(config.target_url())
    try:
        data = reconciled(engine, config, REFERENCE_DATE)
        table = front_door(data).set_index("source_system")
    finally:
        engine.dispose()
    assert list(table.index) == ["lcs", "mosaic", "combined"]
    assert table.loc["combined", "contacts"] == table.loc[["lcs", "mosaic"], "contacts"].sum() == len(data.contact)
    overdue = (flags["rule"] == "CONTACT_DECISION_OVERDUE").sum()
    assert table.loc["combined", "decided_within_deadline"] == pytest.approx(1 - overdue / len(data.contact), abs=1e-4)
    for column in ("decided_within_deadline", "consent_recorded", "contact_to_referral"):
        assert 0 < table.loc["combined", column] < 1
    assert table.loc["combined", "children_in_both_systems"] > 0


def test_front_door_metrics_need_no_master_tables(validated):
    """The report and `reconcile metrics` read only the crosswalk and the activity: the figures must not change."""
    from reconcile.metrics import front_door
    from reconcile.store import connect_target
    from reconcile.validate import reconciled

    config = validated[0]
    engine = connect_target(config.target_url())
    try:
        lean = reconciled(engine, config, REFERENCE_DATE, masters=False)
        whole = front_door(reconciled(engine, config, REFERENCE_DATE))
    finally:
        engine.dispose()
    assert lean.person.empty and lean.master_person.empty and lean.review_queue.empty
    pd.testing.assert_frame_equal(front_door(lean), whole)


def test_source_suites_run_per_source_and_catch_the_planted_defects(validated):
    config, summary, _, planted = validated
    checks = read_frame(config.target_url(), f"SELECT * FROM source_check WHERE run_id = '{summary.run_id}'")
    assert set(checks["source_system"]) == {"lcs", "mosaic"}
    before = checks[checks["expectation"] == "contact.decision_not_before_contact"]["unexpected_count"].sum()
    assert before == (planted["kind"] == "decision_before_contact").sum() > 0
    assert checks[checks["expectation"] == "person.person_id_unique"]["success"].all()  # extract rejected duplicates


def test_the_gate_judges_the_latest_validation_run_even_when_it_raised_no_flags(tmp_path):
    """A clean run writes no risk_flag rows; the gate must not fall back on the run before it."""
    import sqlalchemy as sa

    from reconcile.gate import judge
    from reconcile.store import RISK_FLAG, SOURCE_CHECK, connect_target

    engine = connect_target(sa.make_url(f"sqlite:///{tmp_path / 'target.db'}"))
    check = {"source_system": "lcs", "entity": "person", "expectation": "x", "column": None, "success": True}
    flag = {"rule": "CP_PLAN_NOT_VISIBLE", "severity": "critical", "entity": "person", "source_system": "lcs"}
    with engine.begin() as conn:
        conn.execute(SOURCE_CHECK.insert(), [{**check, "run_id": "R1"}, {**check, "run_id": "R2"}])
        conn.execute(RISK_FLAG.insert(), [{**flag, "run_id": "R1", "source_id": "1", "explanation": "e"}])
    result = judge(engine, max_critical=0, max_high=None)
    engine.dispose()
    assert (result.run_id, result.exit_code, result.by_severity["critical"]) == ("R2", 0, 0)

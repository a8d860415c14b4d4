"""The README is a contract too: its set-up commands, its config example and its model table must be true."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from openpyxl import Workbook

from conftest import TODAY, table_rows
from reconcile.config import load_config
from reconcile.extract import extract
from reconcile.model import markdown_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_the_readme_opens_with_the_two_setup_commands_and_ci_runs_them():
    setup = _blocks("sh")[0].strip().splitlines()
    assert setup == ["pip install -e . && reconcile demo", 'pip install -e ".[dev]" && pytest']
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e . && reconcile demo" in ci
    assert 'pip install -e ".[dev]" && ruff check . && pytest' in ci


def test_the_model_table_is_the_model():
    table = README.split("<!-- model:start -->\n")[1].split("\n<!-- model:end -->")[0]
    assert table == markdown_table()


def test_a_config_written_from_the_readme_loads_two_unseen_systems(tmp_path, monkeypatch, postgres, unique):
    """The README's example, verbatim, against a real PostgreSQL 'eden' and CSV/XLSX exports from 'fairview'."""
    with postgres.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {unique}"))
        conn.execute(sa.text(f"SET LOCAL search_path TO {unique}"))  # this transaction only
        conn.execute(
            sa.text(
                "CREATE TABLE eden_clients (client_ref text, given_name text, family_name text, "
                "birth_date text, gender int, nhs text, post_code text)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO eden_clients VALUES ('E1', 'Ollie', 'Ward', '03.04.2016', 1, NULL, "
                "'LS6 2BB'), ('E2', 'Millie', 'Ward', '03.04.2016', 2, '9434765919', 'LS6 2BB')"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TABLE eden_front_door (ref text, client_ref text, received text, decided text, "
                "consent_flag text, kind text)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO eden_front_door VALUES ('F1', 'E1', '01.10.2026 09:00', "
                "'01.10.2026 12:00', 'Yes', 'contact'), ('F2', 'E2', '02.10.2026 09:00', NULL, NULL, "
                "'referral')"
            )
        )
    monkeypatch.setenv("EDEN_USER", "postgres")
    monkeypatch.setenv("EDEN_PASSWORD", "")
    monkeypatch.setenv("EDEN_HOST", "127.0.0.1:5432")
    monkeypatch.setenv("EDEN_DB", f"test?options=-csearch_path%3D{unique}")
    try:
        exports = tmp_path / "exports"
        exports.mkdir()
        (exports / "fairview_people.csv").write_bytes(
            "ID,FIRST,LAST,DOB,SEX\nF-1,Zoë,Ward,03/04/2016,Female\n".encode("cp1252")
        )
        book = Workbook()
        book.active.title = "Plans"
        book.active.append(["PLAN", "ID", "START", "END", "CATEGORY"])
        book.active.append(["CP1", "F-1", "01/06/2026", None, "Neglect"])
        book.save(exports / "fairview_cp.xlsx")
        path = tmp_path / "reconcile.yaml"
        path.write_text(_blocks("yaml")[0], encoding="utf-8")

        config = load_config(path)
        result = extract(config, today=TODAY)
        counts = {(c.source_system, c.entity): (c.read, c.loaded, c.rejected) for c in result.counts}
        assert counts == {
            ("eden", "person"): (2, 2, 0),
            ("eden", "contact"): (1, 1, 0),
            ("fairview", "person"): (1, 1, 0),
            ("fairview", "cp_plan"): (1, 1, 0),
        }
        target = config.target_url()
        assert target.database == str(tmp_path / "reconcile.db")
        assert table_rows(target, "SELECT source_system, person_id, forename, dob, sex FROM person ORDER BY 2") == [
            ("eden", "E1", "Ollie", "2016-04-03", "M"),
            ("eden", "E2", "Millie", "2016-04-03", "F"),
            ("fairview", "F-1", "Zoë", "2016-04-03", "F"),
        ]
        assert table_rows(target, "SELECT consent, decision_datetime FROM contact") == [
            ("Y", "2026-10-01 12:00:00.000000")
        ]
        # the cp_plan's start date came as text in an xlsx without a format: ISO was expected, so it is reported
        assert table_rows(target, "SELECT source_id, field FROM field_issue") == [("CP1", "start_date")]
    finally:
        with postgres.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {unique} CASCADE"))

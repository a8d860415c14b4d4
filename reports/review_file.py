"""The review spreadsheet: the queue written out for reviewers to fill in, and read back as text.

The export is `review_pairs()` (the same pairs, fields and reasons as the HTML report) with three
columns for the reviewer: `decision` (MATCH / NOT_MATCH / UNSURE), `reviewer` and `note`. Both
records' fields sit side by side (forename_l next to forename_r) so a pair reads across one row.
The file holds personal data: it is created owner-only and renamed into place only when written.
"""

from __future__ import annotations

import csv
import os
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from reconcile.decisions import DECISIONS
from reconcile.errors import ReconcileError
from reconcile.privacy import private_file
from reports.review_pairs import PERSON_FIELDS, SIDES, review_pairs

FORMATS = ("xlsx", "csv")
EDITABLE = ["decision", "reviewer", "note"]
SHEET = "review"
MAX_WIDTH = 40


def export_review(engine: sa.Engine, out: Path, fmt: str, *, mask: bool = False) -> int:
    """Write the review queue to `out` as xlsx or csv; returns the number of pairs written."""
    if not out.parent.is_dir():
        raise ReconcileError(f"{out.parent}: no such folder. Fix: create it, or give another --out.")
    frame = review_frame(engine, mask=mask)
    temp = private_file(out.with_name(f".{out.name}.tmp"), fresh=True)
    try:
        if fmt == "xlsx":
            _write_xlsx(frame, temp)
        else:
            _inert(frame).to_csv(temp, index=False, encoding="utf-8", lineterminator="\n")
        os.replace(temp, out)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return len(frame)


def review_frame(engine: sa.Engine, *, mask: bool = False) -> pd.DataFrame:
    """The queue as reviewers read it: what to decide first, then both records field by field, then the weights."""
    pairs = review_pairs(engine, mask=mask)
    side_by_side = [f"{name}{side}" for name in ("source_system", "source_id", "master_id") for side in SIDES]
    side_by_side += [f"{name}{side}" for name in PERSON_FIELDS for side in SIDES]
    head = ["review_id", *EDITABLE, "match_probability", "top_reasons", "reason"]
    rest = [c for c in pairs.columns if c not in head and c not in side_by_side]
    return pairs.assign(**{c: "" for c in EDITABLE})[head + side_by_side + rest]


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(frame: pd.DataFrame) -> pd.DataFrame:
    """Spreadsheets run a CSV cell that starts with = + - @ as a formula: shown text gets a leading '.
    Keys, decisions, reviewers and notes are read back on import, so they are left as they are."""
    read_back = {"review_id", *EDITABLE, *(c for c in frame.columns if c.startswith(("source_", "master_id")))}
    out = frame.copy()
    for name in out.columns:
        if name not in read_back and out[name].dtype == object:
            text = out[name].astype("string")
            out[name] = out[name].where(~text.str.startswith(FORMULA_START).fillna(False), "'" + text)
    return out


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = SHEET
    sheet.append(list(frame.columns))
    for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False):
        sheet.append(list(row))
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            if cell.data_type == "f":  # text from a legacy system that starts with "=" is text, not a formula
                cell.data_type = "s"
    sheet.freeze_panes = "B2"  # the header row and review_id stay in view
    for number, name in enumerate(frame.columns, start=1):
        longest = max([len(name), *(len(str(v)) for v in frame[name].dropna().head(1000))])
        sheet.column_dimensions[get_column_letter(number)].width = min(longest + 2, MAX_WIDTH)
    column = get_column_letter(frame.columns.get_loc("decision") + 1)
    choice = DataValidation(type="list", formula1='"' + ",".join(DECISIONS) + '"', allow_blank=True)
    choice.error = "Choose MATCH, NOT_MATCH or UNSURE, or leave the cell empty."
    choice.errorTitle = "decision"
    choice.add(f"{column}2:{column}{max(len(frame), 1) + 1}")
    sheet.add_data_validation(choice)
    book.save(path)


def read_review_file(path: Path) -> pd.DataFrame:
    """Every data row as text (empty cells ""), with `row`: its row number in the file, header = 1."""
    if not path.is_file():
        raise ReconcileError(f"{path}: no such file. Fix: give the path of the exported review file.")
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ReconcileError(
            f"{path}: not a review file. Fix: give the .xlsx or .csv that `reconcile review export` wrote."
        )
    rows = _xlsx_rows(path) if suffix == "xlsx" else _csv_rows(path)
    if not rows:
        raise ReconcileError(f"{path}: the file is empty. Fix: give the file `reconcile review export` wrote.")
    header = [_text(v) for v in rows[0]]
    width = len(header)
    body = [[_text(v) for v in row][:width] + [""] * (width - len(row)) for row in rows[1:]]
    frame = pd.DataFrame(body, columns=header, dtype=object)
    frame.insert(0, "row", range(2, len(body) + 2))
    return frame


def _xlsx_rows(path: Path) -> list[tuple]:
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a file that is not a workbook
        raise ReconcileError(f"{path}: not a readable .xlsx workbook ({type(exc).__name__}).") from None
    try:
        sheet = book[SHEET] if SHEET in book.sheetnames else book.worksheets[0]
        return [tuple(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()


def _csv_rows(path: Path) -> list[list[str]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.reader(handle))
    except UnicodeDecodeError:
        raise ReconcileError(f"{path}: not UTF-8 text. Fix: save it as 'CSV UTF-8' or as .xlsx.") from None


def _text(value: object) -> str:
    """A cell as the text a reviewer typed: 12 rather than 12.0, dates in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()

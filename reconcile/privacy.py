"""Files that hold children's records are readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import URL

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create the folder owner-only; an existing folder keeps its mode (it may be the user's own)."""
    if not path.exists():
        path.mkdir(parents=True, mode=DIR_MODE)
        path.chmod(DIR_MODE)
    return path


def private_file(path: Path, *, fresh: bool = False) -> Path:
    """Make the file owner read/write only before any data goes in; `fresh` replaces an old one."""
    if fresh:
        path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    path.chmod(FILE_MODE)
    return path


def private_sqlite(url: URL) -> None:
    """SQLite gives its journal and WAL files the database file's mode, so guarding the file guards them."""
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        private_file(Path(database))


# What `--mask-pii` leaves of a person: initials, year of birth and postcode district, for wider circulation.
_INITIALS = ("forename", "middle_names", "surname")
_YEARS = ("dob", "expected_dob")
_HIDDEN = ("nhs_number", "upn", "alt_id", "address", "ethnicity", "death_date")
_MASKED = (*_INITIALS, *_YEARS, "postcode", *_HIDDEN)  # every field mask_pii cuts down


def mask_pii(frame: pd.DataFrame, suffixes: tuple[str, ...] = ("",)) -> pd.DataFrame:
    """A copy with personal fields cut down; `suffixes` name side-by-side copies such as `forename_l`."""
    out = frame.copy()
    for suffix in suffixes:
        for base in _MASKED:
            name = base + suffix
            if name in out.columns:
                out[name] = _masked(base, out[name])
    return out


# Raw fields a masked rejected row may still show: IDs, codes and event dates, which say where the row is and
# why it was refused. Free text (a worker's name, an outcome note) and fields outside the model are hidden.
_SHOWN_TYPES = ("id", "code", "date", "datetime")


def mask_raw_rows(raw: pd.DataFrame, entity: str) -> pd.DataFrame:
    """Rejected rows of one entity as `--mask-pii` may show them: the person fields cut down as `mask_pii`
    cuts them, and every other field hidden unless it is an ID, a code or a date of the entity's model."""
    from reconcile.model import ENTITIES

    model = ENTITIES.get(entity)
    out = mask_pii(raw)
    for name in out.columns:
        known = model is not None and name in model.column_names
        if name not in _MASKED and not (known and model.column(name).type in _SHOWN_TYPES):
            out[name] = None
    return out


def _masked(base: str, values: pd.Series) -> pd.Series:
    from reconcile.matching.standardise import postcode_parts

    if base in _INITIALS:
        return values.map(_initials, na_action="ignore")
    if base in _YEARS:
        years = pd.to_datetime(values.astype(str), format="ISO8601", errors="coerce").dt.year
        return years.map(lambda year: str(int(year)), na_action="ignore").astype(object)
    if base == "postcode":
        return values.map(lambda code: postcode_parts(code)[2], na_action="ignore")
    return pd.Series(None, index=values.index, dtype=object)


def _initials(name: object) -> str:
    return " ".join(f"{part[0].upper()[0]}." for part in str(name).split() if part)  # ß upper-cases to SS

"""Private SQLite files: created owner-only before any data goes in, written in chunks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from reconcile.privacy import FILE_MODE, private_file

CHUNK_ROWS = 100_000


def write_database(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    """One SQLite database holding `tables`, columns TEXT (INTEGER for integer columns)."""
    private_file(path, fresh=True)
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode = OFF")
        con.execute("PRAGMA synchronous = OFF")
        for name, frame in tables.items():
            columns = ", ".join(f'"{c}" {_sql_type(frame[c])}' for c in frame.columns)
            con.execute(f'CREATE TABLE "{name}" ({columns})')
            insert = f'INSERT INTO "{name}" VALUES ({", ".join("?" * len(frame.columns))})'
            for start in range(0, len(frame), CHUNK_ROWS):
                chunk = frame.iloc[start : start + CHUNK_ROWS]
                con.executemany(insert, zip(*(_python(chunk[c]) for c in chunk.columns), strict=True))
        con.commit()
    finally:
        con.close()
    path.chmod(FILE_MODE)


def _sql_type(column: pd.Series) -> str:
    return "INTEGER" if pd.api.types.is_integer_dtype(column) else "TEXT"


def _python(column: pd.Series) -> list[object]:
    """Plain Python values with None for NULL, which sqlite3 binds directly."""
    values = column.to_numpy()
    if values.dtype == object:
        return values.tolist()
    return np.where(pd.isna(values), None, values).tolist() if values.dtype.kind == "f" else values.tolist()

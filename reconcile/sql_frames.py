"""Query results as the driver returns them, without SQLAlchemy's Row objects, where nothing is lost by it.

SQLAlchemy fetches through a Row object per row and runs each value through its column type's result
processor. Reading a table of the target, that was about half the time (person_xref's 125,000 rows: 0.34 s
through `pd.read_sql`, 0.26 s here; the relationships' 192,000: 0.41 s against 0.23 s), and a Row is a
third slower for pandas to take than a tuple. Here rows come straight from the DBAPI cursor, unless
SQLAlchemy would convert a column (its type has a result processor: on SQLite, dates, datetimes and
booleans) or buffers rows itself (server-side cursors); then SQLAlchemy's rows are used, as tuples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine.cursor import CursorFetchStrategy

KEYS_PER_QUERY = 500  # bound parameters per query, well under every driver's limit (SQLite's 999 the lowest)
T = TypeVar("T")


def key_batches(values: Sequence[T], bound_each: int = 1) -> Iterator[Sequence[T]]:
    """`values` a few hundred at a time, for one `IN (...)` query each: a value bound `bound_each` times in its
    query, so that no query binds more than KEYS_PER_QUERY parameters."""
    size = KEYS_PER_QUERY // bound_each
    for start in range(0, len(values), size):
        yield values[start : start + size]


def read_frame(conn: sa.Connection, query: sa.Executable) -> pd.DataFrame:
    """What `pd.read_sql(query, conn)` returns (a test holds the two equal on every target table)."""
    result = conn.execute(query)
    columns = list(result.keys())
    rows = [row for batch in batches(conn, query, result) for row in batch]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)  # decimals to floats, as read_sql
    for i, dtype in enumerate(frame.dtypes):
        if isinstance(dtype, pd.DatetimeTZDtype):  # read_sql gives time-zone-aware columns in UTC
            frame.isetitem(i, pd.to_datetime(frame.iloc[:, i], utc=True))
    return frame


def batches(
    conn: sa.Connection, query: sa.Executable, result: sa.CursorResult, size: int | None = None
) -> Iterator[list]:
    """The result's rows as tuples of the values SQLAlchemy would give, `size` at a time (all at once if None)."""
    try:
        if type(result.cursor_strategy) is CursorFetchStrategy and not _converted(conn, query, result):
            yield from _driver_rows(conn, result.cursor, size)  # SQLAlchemy has fetched nothing and changes nothing
            return
        for part in result.partitions(size) if size else [result.fetchall()]:
            yield list(map(tuple, part))
    finally:
        result.close()


def _driver_rows(conn: sa.Connection, cursor: object, size: int | None) -> Iterator[list]:
    """The cursor's rows; its driver's errors raised as SQLAlchemy raises them, so callers catch them alike."""
    error = conn.dialect.loaded_dbapi.Error
    try:
        if not size:
            yield cursor.fetchall()
            return
        while rows := cursor.fetchmany(size):
            yield rows
    except error as exc:
        raise sa.exc.DBAPIError.instance(None, None, exc, error, dialect=conn.dialect) from exc


def _converted(conn: sa.Connection, query: sa.Executable, result: sa.CursorResult) -> bool:
    """Whether SQLAlchemy converts the driver's value of any column of this result (by its column type)."""
    selected = getattr(query, "selected_columns", None)
    if selected is None:
        return False  # text: untyped columns, which SQLAlchemy does not convert
    dialect = conn.dialect
    description = result.cursor.description or []
    return any(
        column.type.dialect_impl(dialect).result_processor(dialect, described[1]) is not None
        for column, described in zip(selected, description, strict=False)
    )

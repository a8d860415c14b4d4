"""One load file, CSV or Parquet, streamed chunk by chunk and readable by its owner only.

Column types come from the database, not from the values: a chunk whose dates are all empty,
or an ID such as `007`, must come out exactly like every other chunk.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import sqlalchemy as sa

from reconcile.privacy import private_file

FORMATS = ("csv", "parquet")

# Python type the database hands back -> Arrow type. Anything else is written as text.
_ARROW = {
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    Decimal: pa.float64(),  # pandas already reads decimals as floats
    date: pa.date32(),
}


def schema_for(columns: Sequence[sa.ColumnElement], fmt: str) -> pa.Schema:
    """Timestamps stay timestamps in Parquet; in CSV they are ISO 8601 text, as Arrow's writer adds a space."""
    return pa.schema([(c.name, _arrow_type(c.type, fmt)) for c in columns])


def _arrow_type(sql_type: sa.types.TypeEngine, fmt: str) -> pa.DataType:
    try:
        python_type = sql_type.python_type
    except NotImplementedError:
        return pa.string()
    if python_type is datetime:
        timezone = "UTC" if getattr(sql_type, "timezone", False) else None
        return pa.timestamp("us", tz=timezone) if fmt == "parquet" else pa.string()
    return _ARROW.get(python_type, pa.string())


def write_file(path: Path, fmt: str, schema: pa.Schema, chunks: Iterable[pd.DataFrame]) -> None:
    """The file is created owner-only before any row goes in; chunks are appended, so memory stays flat."""
    private_file(path, fresh=True)
    with path.open("wb") as sink, _writer(fmt, sink, schema) as writer:
        for chunk in chunks:
            writer.write_table(_to_arrow(chunk, schema))


def _writer(fmt: str, sink: object, schema: pa.Schema) -> pq.ParquetWriter | pa_csv.CSVWriter:
    if fmt == "parquet":
        return pq.ParquetWriter(sink, schema)
    return pa_csv.CSVWriter(sink, schema)  # UTF-8, header row, no index


def _to_arrow(chunk: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    frame = chunk[schema.names].copy()
    for field in schema:
        if field.type == pa.string():
            frame[field.name] = _as_text(frame[field.name])
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def _as_text(column: pd.Series) -> pd.Series:
    values = column.astype(object).where(column.notna(), None)
    return values.map(_text, na_action="ignore")


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)

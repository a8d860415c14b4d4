"""Reads any SQLAlchemy database, one streamed SELECT per entity, through a read-only session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from sqlalchemy import column, select, table, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql import Select

from connectors.base import canonical_columns, frame
from connectors.guard import ensure_select
from connectors.readonly import read_only_engine
from reconcile.changes import KEYS_PER_QUERY
from reconcile.config import EntitySpec, SourceSpec
from reconcile.errors import SourceError


class SqlConnector:
    def __init__(self, name: str, spec: SourceSpec, url: URL) -> None:
        self.name = name
        self.spec = spec
        try:
            self.engine: Engine = read_only_engine(url, spec.timeout)
        except FileNotFoundError:
            raise SourceError(name, None, "connect", "the SQLite file does not exist. Fix: check `url`.") from None

    def entities(self) -> dict[str, EntitySpec]:
        return dict(self.spec.entities)

    def statement(self, entity: str, spec: EntitySpec) -> Select | str:
        if spec.query:
            ensure_select(spec.query, self.engine.dialect.name, self._where(entity))
            return spec.query
        source = table(spec.table or "", schema=self.spec.schema_)
        if not spec.columns:
            return select(text("*")).select_from(source)
        return select(*(column(src).label(canonical) for canonical, src in spec.columns.items())).select_from(source)

    def read(self, entity: str, spec: EntitySpec) -> Iterator[pd.DataFrame]:
        yield from self.stream(entity, self.statement(entity, spec))

    def narrow(self, entity: str, spec: EntitySpec, names: list[str]) -> Iterator[pd.DataFrame] | None:
        """Only these canonical columns, for an entity read from a table whose config maps each of them
        (None otherwise: a query or `select *` cannot be narrowed safely)."""
        if spec.query or not spec.table or not all(n in spec.columns for n in names):
            return None
        source = table(spec.table, schema=self.spec.schema_)
        return self.stream(entity, select(*(column(spec.columns[n]).label(n) for n in names)).select_from(source))

    def read_where(self, entity: str, spec: EntitySpec, key: str, values: list[object]) -> Iterator[pd.DataFrame]:
        """The whole rows whose `key` (a canonical column `narrow` could read) is exactly one of `values` (None
        matches a missing key), a few hundred values per query on one connection. Rows a case- or
        pad-insensitive collation also returns ('a1' for 'A1', 'X ' for 'X') are left out: they were not asked for."""
        statement = self.statement(entity, spec)
        assert not isinstance(statement, str)
        source_key = column(spec.columns[key])
        given = [v for v in values if v is not None]
        batches = [statement.where(source_key.is_(None))] if len(given) < len(values) else []
        asked = [[None]] if batches else []
        for start in range(0, len(given), KEYS_PER_QUERY):
            batches.append(statement.where(source_key.in_(given[start : start + KEYS_PER_QUERY])))
            asked.append(given[start : start + KEYS_PER_QUERY])
        with self._connection(entity) as conn:
            for batch, wanted in zip(batches, asked, strict=True):
                for chunk in self.stream(entity, batch, conn):
                    exact = chunk[key].isna() if wanted == [None] else chunk[key].isin(pd.Series(wanted, dtype=object))
                    yield chunk[exact.to_numpy()].reset_index(drop=True)

    def stream(self, entity: str, statement: Select | str, conn: Connection | None = None) -> Iterator[pd.DataFrame]:
        """Server-side cursor where the driver has one, so memory stays at one chunk. On `conn` if given."""
        if conn is None:
            with self._connection(entity) as conn:
                yield from self.stream(entity, statement, conn)
            return
        size = self.spec.chunk_size
        step = "query"
        try:
            executable = text(statement) if isinstance(statement, str) else statement
            result = conn.execution_options(stream_results=True, max_row_buffer=size).execute(executable)
            columns = canonical_columns(self._where(entity), entity, list(result.keys()))
            step = "read"
            for rows in result.partitions(size):
                yield frame(rows, columns)
        except DBAPIError as exc:
            raise SourceError(self.name, entity, step, _describe(exc, step)) from None
        except SQLAlchemyError as exc:
            raise SourceError(self.name, entity, step, type(exc).__name__) from None

    @contextmanager
    def _connection(self, entity: str) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
        except DBAPIError as exc:
            raise SourceError(self.name, entity, "connect", _describe(exc, "connect")) from None
        except SQLAlchemyError as exc:
            raise SourceError(self.name, entity, "connect", type(exc).__name__) from None
        with conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def _where(self, entity: str) -> str:
        return f"sources.{self.name}.entities.{entity}"


def _describe(exc: DBAPIError, step: str) -> str:
    """The driver's own words before any row is read; only the error class after, as they may quote data."""
    original = exc.orig
    kind = type(original).__name__
    if step == "read":
        code = getattr(original, "sqlstate", None) or (original.args[0] if original.args else "")
        return f"{kind} {code}".strip() + " while reading rows (details are in the source database's log)"
    first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{kind}: {first_line}"[:300]

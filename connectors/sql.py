"""Reads any SQLAlchemy database, one streamed SELECT per entity, through a read-only session."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from sqlalchemy import column, select, table, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.sql import ColumnElement, FromClause, Select, TextClause

from connectors.base import canonical_columns, frame
from connectors.guard import ensure_select
from connectors.readonly import read_only_engine
from reconcile.config import EntitySpec, SourceSpec
from reconcile.errors import SourceError
from reconcile.sql_frames import batches, key_batches


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
        """Only these canonical columns: from the table whose config maps each of them, or from the rows of the
        entity's query, which must return them (the caller falls back to a whole read if it does not). None for
        `select *` of a table, which cannot be narrowed safely."""
        found = self._keyed_source(entity, spec, names)
        if found is None:
            return None
        source, columns = found
        return self.stream(entity, select(*(columns[n].label(n) for n in names)).select_from(source))

    def read_where(self, entity: str, spec: EntitySpec, key: str, values: list[object]) -> Iterator[pd.DataFrame]:
        """The whole rows whose `key` (a canonical column `narrow` could read) is exactly one of `values` (None
        matches a missing key), a few hundred values per query on one connection. Rows a case- or
        pad-insensitive collation also returns ('a1' for 'A1', 'X ' for 'X') are left out: they were not asked for."""
        found = self._keyed_source(entity, spec, [key])
        assert found is not None
        source, columns = found
        statement = self.statement(entity, spec) if not spec.query else select(text("*")).select_from(source)
        assert not isinstance(statement, str)
        source_key = columns[key]
        given = [v for v in values if v is not None]
        batches = [statement.where(source_key.is_(None))] if len(given) < len(values) else []
        asked = [[None]] if batches else []
        for batch in key_batches(given):
            batches.append(statement.where(source_key.in_(batch)))
            asked.append(batch)
        with self._connection(entity) as conn:
            for batch, wanted in zip(batches, asked, strict=True):
                for chunk in self.stream(entity, batch, conn):
                    exact = chunk[key].isna() if wanted == [None] else chunk[key].isin(pd.Series(wanted, dtype=object))
                    yield chunk[exact.to_numpy()].reset_index(drop=True)

    def _keyed_source(
        self, entity: str, spec: EntitySpec, names: list[str]
    ) -> tuple[FromClause, dict[str, ColumnElement]] | None:
        """What keyed reads select from, and each canonical name's column there: the mapped table, or the
        entity's query as a subquery whose output columns carry the canonical names."""
        if spec.query:
            self.statement(entity, spec)  # the query's own checks first
            body = spec.query.rstrip()
            while body.endswith(";"):
                body = body[:-1].rstrip()
            # The newline ends a trailing `--` comment before the subquery's closing bracket.
            query = _query_text(body + "\n").columns(*(column(n) for n in names)).subquery("keyed")
            return query, {n: query.c[n] for n in names}
        if not spec.table or not all(n in spec.columns for n in names):
            return None
        return table(spec.table, schema=self.spec.schema_), {n: column(spec.columns[n]) for n in names}

    def stream(self, entity: str, statement: Select | str, conn: Connection | None = None) -> Iterator[pd.DataFrame]:
        """Server-side cursor where the driver has one, so memory stays at one chunk. On `conn` if given."""
        if conn is None:
            with self._connection(entity) as conn:
                yield from self.stream(entity, statement, conn)
            return
        size = self.spec.chunk_size
        step = "query"
        try:
            executable = _query_text(statement) if isinstance(statement, str) else statement
            # Streaming asks for a server-side cursor; where there is none (SQLite, whose cursor fetches as it
            # goes anyway) it only adds SQLAlchemy's own buffering, which would keep rows from coming as they are.
            streamed = conn.dialect.supports_server_side_cursors
            options = {"stream_results": True, "max_row_buffer": size} if streamed else {}
            result = conn.execution_options(**options).execute(executable)
            columns = canonical_columns(self._where(entity), entity, list(result.keys()))
            step = "read"
            for rows in batches(conn, executable, result, size):
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


def _query_text(query: str) -> TextClause:
    """A configured query as SQLAlchemy text in which `:name` is literal ('at :noon' in a string): it binds
    no parameters, and text() would otherwise take each as one."""
    return text(_BIND.sub(r"\\:", query))


_BIND = re.compile(r"(?<![:\w\\]):(?=\w)")  # what text() reads as the start of a bind parameter


def _describe(exc: DBAPIError, step: str) -> str:
    """The driver's own words before any row is read; only the error class after, as they may quote data."""
    original = exc.orig
    kind = type(original).__name__
    if step == "read":
        code = getattr(original, "sqlstate", None) or (original.args[0] if original.args else "")
        return f"{kind} {code}".strip() + " while reading rows (details are in the source database's log)"
    first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{kind}: {first_line}"[:300]

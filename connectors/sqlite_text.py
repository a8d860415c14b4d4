"""SQLite source connections that decode text in C and keep the bytes of a value that is not UTF-8.

Legacy exports hold text that is not UTF-8 (Windows-1252 above all); the loader repairs and reports it
(reconcile/fields.py), so such a value must arrive as its bytes (decoded with surrogateescape), not fail
the read. A text factory that does that is a Python call per value: it was half the time of reading a
source. Here the driver decodes strictly, in C, and only a row holding a value that is not UTF-8 is
converted again with the lenient decoder. Nothing is lost or read twice: the driver converts the row the
cursor is on before it steps past it, so a row that failed to convert is still there to convert again
(tests/test_sqlite_text.py holds every row of a source at every position to that).
"""

from __future__ import annotations

import sqlite3
import sys
from itertools import islice
from typing import Any

NOT_UTF8 = "Could not decode to UTF-8"  # the start of the driver's message (the rest holds the value: not logged)


def surrogate_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class SourceCursor(sqlite3.Cursor):
    """A cursor whose fetches (what SQLAlchemy reads through) fall back to `surrogate_text` for a row that is
    not all UTF-8. Iterating the cursor itself stays strict: overriding it would put a Python call on every row."""

    def fetchone(self) -> Any:
        rows = self.fetchmany(1)
        return rows[0] if rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        wanted = self.arraysize if size is None else size
        rows: list[Any] = []
        while len(rows) < wanted:
            try:
                # In C, no Python call per row; a row that fails to convert stops it, the rows before it kept.
                rows.extend(islice(self, wanted - len(rows)))
                break  # as many as wanted, or all there were
            except sqlite3.OperationalError as exc:
                if not str(exc).startswith(NOT_UTF8):
                    raise
                rows.append(self._leniently())
        return rows

    def fetchall(self) -> list[Any]:
        return self.fetchmany(sys.maxsize)

    def _leniently(self) -> Any:
        """The row the cursor is on (it did not step past it), with text that is not UTF-8 kept as its bytes."""
        connection = self.connection
        connection.text_factory = surrogate_text
        try:
            return next(self)
        finally:
            connection.text_factory = str


class SourceConnection(sqlite3.Connection):
    """Pass as `factory` to `sqlite3.connect`: every cursor it makes is a `SourceCursor`, its own `execute`'s too."""

    def cursor(self, factory: Any = SourceCursor) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().execute(sql, parameters)

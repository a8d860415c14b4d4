"""SQLite sources decode text in C and fall back, row by row, to keeping the bytes of text that is not UTF-8."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.sqlite_text import SourceConnection, surrogate_text

NOT_UTF8 = b"Zo\xeb"  # Windows-1252, as legacy exports hold it
VALUES = st.one_of(
    st.none(),
    st.integers(-5, 5),
    st.text(max_size=4),
    st.just(NOT_UTF8),  # stored as TEXT: not valid UTF-8
    st.binary(max_size=3),  # stored as BLOB: bytes either way
)


def _database(rows: list[tuple[object, object]]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", factory=SourceConnection)
    conn.execute("CREATE TABLE t (a, b)")
    for a, b in rows:
        conn.execute("INSERT INTO t VALUES (?, ?)", (a, b))
    for column in ("a", "b"):
        conn.execute(f"UPDATE t SET {column} = CAST({column} AS TEXT) WHERE {column} = ?", (NOT_UTF8,))
    return conn


def _expected(conn: sqlite3.Connection) -> list[tuple[object, ...]]:
    """What the lenient decoder on every value (the way sources were read before) gives."""
    conn.text_factory = surrogate_text
    try:
        return sqlite3.Cursor(conn).execute("SELECT a, b FROM t ORDER BY rowid").fetchall()
    finally:
        conn.text_factory = str


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(VALUES, VALUES), max_size=25), size=st.integers(1, 8))
def test_every_row_comes_back_in_order_decoded_as_the_lenient_decoder_would(rows, size):
    conn = _database(rows)
    expected = _expected(conn)
    assert len(expected) == len(rows)
    cursor = conn.execute("SELECT a, b FROM t ORDER BY rowid")
    got = []
    while batch := cursor.fetchmany(size):
        assert len(batch) <= size
        got.extend(batch)
    assert got == expected
    assert conn.execute("SELECT a, b FROM t ORDER BY rowid").fetchall() == expected
    one_by_one = conn.execute("SELECT a, b FROM t ORDER BY rowid")
    assert list(iter(one_by_one.fetchone, None)) == expected
    assert conn.text_factory is str  # strict again after each fallback


def test_text_that_is_not_utf8_arrives_as_its_bytes_and_blobs_stay_bytes():
    conn = _database([("1", NOT_UTF8), ("2", "Amélie")])
    conn.execute("INSERT INTO t VALUES ('3', X'00FF')")
    rows = conn.execute("SELECT a, b FROM t ORDER BY rowid").fetchmany(10)
    assert rows == [("1", "Zo\udceb"), ("2", "Amélie"), ("3", b"\x00\xff")]
    assert rows[0][1].encode("utf-8", "surrogateescape") == NOT_UTF8


def test_other_errors_are_raised_as_they_are():
    conn = sqlite3.connect(":memory:", factory=SourceConnection)
    conn.create_function("boom", 1, lambda n: 1 / (n - 2))  # fails on the second row, while fetching
    cursor = conn.execute("SELECT boom(n) FROM (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3)")
    with pytest.raises(sqlite3.OperationalError, match="user-defined function raised exception"):
        cursor.fetchmany(5)

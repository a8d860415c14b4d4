"""Rows read straight from the driver make the frame `pd.read_sql` makes, on every database the target may be."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from reconcile.sql_frames import KEYS_PER_QUERY, batches, key_batches, read_frame
from reconcile.store import metadata


def _typed(name: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("note", sa.Text()),
        sa.Column("n", sa.Integer()),
        sa.Column("share", sa.Double()),
        sa.Column("flag", sa.Boolean()),
        sa.Column("day", sa.Date()),
        sa.Column("at", sa.DateTime()),
        sa.Column("amount", sa.Numeric(10, 2)),
    )


ROWS = [
    {"id": "a", "note": "Zoë", "n": 1, "share": 0.5, "flag": True, "day": dt.date(2015, 3, 1),
     "at": dt.datetime(2026, 1, 1, 10, 11, 12), "amount": Decimal("12.50")},
    {"id": "b", "note": None, "n": None, "share": None, "flag": None, "day": None, "at": None, "amount": None},
    {"id": "c", "note": "O'Brien", "n": -3, "share": 1e-300, "flag": False, "day": dt.date(2000, 2, 29),
     "at": dt.datetime(1999, 12, 31, 23, 59, 59, 123456), "amount": Decimal("-0.01")},
]  # fmt: skip


def _engine(server: str, request: pytest.FixtureRequest, tmp_path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}") if server == "sqlite" else request.getfixturevalue(server)


@pytest.mark.parametrize("server", ["sqlite", "postgres", "mariadb"])
def test_read_frame_gives_what_read_sql_gives(server, request, tmp_path, unique):
    engine = _engine(server, request, tmp_path)
    table = _typed(unique)
    table.metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), ROWS)
        with engine.connect() as conn:
            for query in (
                sa.select(table).order_by(table.c.id),  # typed: dates and booleans converted as SQLAlchemy does
                sa.select(table.c.id, table.c.note, table.c.share).order_by(table.c.id),
                sa.select(table.c.flag, sa.func.count().label("n")).group_by(table.c.flag).order_by(table.c.flag),
                sa.select(sa.func.sum(table.c.n).label("total"), sa.func.avg(table.c.n).label("mean")),  # decimals
                sa.text(f"SELECT id, n, note FROM {unique} ORDER BY id"),  # untyped: as the driver gives them
                sa.select(table).where(table.c.id == "none"),  # no rows
            ):
                assert_frame_equal(read_frame(conn, query), pd.read_sql(query, conn), check_exact=True)
            typed = read_frame(conn, sa.select(table).order_by(table.c.id))
    finally:
        table.metadata.drop_all(engine)
    assert typed["day"].tolist()[::2] == [dt.date(2015, 3, 1), dt.date(2000, 2, 29)]
    assert typed["flag"].tolist() == [True, None, False]
    assert str(typed["at"].dtype) == "datetime64[ns]"
    assert typed["amount"].dtype == float and typed["amount"].tolist()[::2] == [12.5, -0.01]


def test_read_frame_gives_time_zone_aware_columns_in_utc_as_read_sql_does(postgres, unique):
    table = sa.Table(unique, sa.MetaData(), sa.Column("at", sa.DateTime(timezone=True)))
    table.metadata.create_all(postgres)
    try:
        with postgres.begin() as conn:
            conn.execute(table.insert(), [{"at": dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone.utc)}, {"at": None}])
        with postgres.connect() as conn:
            query = sa.select(table)
            frame = read_frame(conn, query)
            assert_frame_equal(frame, pd.read_sql(query, conn), check_exact=True)
    finally:
        table.metadata.drop_all(postgres)
    assert str(frame["at"].dtype) == "datetime64[ns, UTC]"


def test_read_frame_gives_what_read_sql_gives_for_every_table_of_a_matched_target(synthetic_run):
    _, config, _ = synthetic_run
    engine = sa.create_engine(config.target_url())
    try:
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                query = sa.select(table)
                assert_frame_equal(read_frame(conn, query), pd.read_sql(query, conn), check_exact=True, obj=table.name)
    finally:
        engine.dispose()


def test_batches_give_every_row_once_in_order(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (i INTEGER, s TEXT)")
        conn.exec_driver_sql("INSERT INTO t VALUES " + ", ".join(f"({i}, 's{i}')" for i in range(10)))
    with engine.connect() as conn:
        query = sa.text("SELECT i, s FROM t ORDER BY i")
        sizes = [len(b) for b in batches(conn, query, conn.execute(query), 4)]
        rows = [row for b in batches(conn, query, conn.execute(query), 4) for row in b]
    assert sizes == [4, 4, 2]
    assert rows == [(i, f"s{i}") for i in range(10)]


def test_a_driver_error_while_fetching_is_raised_as_sqlalchemy_raises_it(tmp_path):
    """Callers (the SQL connector) catch SQLAlchemy's DBAPIError to name the source and step that failed."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        # The first row is fetched as the query runs; the second fails only as the driver steps to it.
        query = sa.text("SELECT abs(v) FROM (SELECT 1 AS v UNION ALL SELECT -9223372036854775808)")
        with pytest.raises(sa.exc.DBAPIError):
            read_frame(conn, query)


@given(st.integers(0, 3 * KEYS_PER_QUERY + 7), st.sampled_from([1, 2, 3]))
def test_key_batches_bind_at_most_the_limit_and_lose_nothing(n: int, bound_each: int) -> None:
    values = [f"k{i}" for i in range(n)]
    parts = list(key_batches(values, bound_each))
    assert [v for part in parts for v in part] == values  # every value once, in order
    assert all(0 < len(part) * bound_each <= KEYS_PER_QUERY for part in parts)
    assert len(parts) == -(-n // (KEYS_PER_QUERY // bound_each))  # as few queries as the limit allows

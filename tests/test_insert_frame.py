"""Frames go into the target through the driver's executemany: stored exactly as SQLAlchemy's own insert stores them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from reconcile import store
from reconcile.store import insert_frame, records


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["Zoë", None, "O'Brien", "x" * 300],
            "number": [1, 2, 3, 4],
            "share": [0.5, np.nan, 1e-300, -2.0],
            "flag": [True, False, True, False],
            "boxed": pd.Series([np.int64(7), None, np.float64(1.5), "text"], dtype=object),
            "at": pd.to_datetime(
                format="ISO8601", arg=["2026-01-01 10:11:12", None, "1999-12-31 00:00:00", "2026-11-28 23:59:59.123456"]
            ),
            "day": pd.Series([pd.Timestamp("2015-03-01").date(), None, pd.Timestamp("2000-02-29").date(), None]),
        }
    )


def _table(name: str) -> sa.Table:
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("name", sa.Text()),
        sa.Column("number", sa.Integer()),
        sa.Column("share", sa.Float()),
        sa.Column("flag", sa.Boolean()),
        sa.Column("boxed", sa.Text()),
        sa.Column("at", sa.DateTime()),
        sa.Column("day", sa.Date()),
    )


def _round_trip(engine: sa.Engine, name: str, fast: bool, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    table = _table(name)
    table.metadata.create_all(engine)
    monkeypatch.setattr(store, "INSERT_ROWS", 3)  # several batches
    try:
        with engine.begin() as conn:
            if fast:
                insert_frame(conn, table, _frame())
            else:
                conn.execute(table.insert(), records(_frame()))
        with engine.connect() as conn:
            # As the driver returns them, with no type processing: the stored representation itself.
            return [tuple(row) for row in conn.exec_driver_sql(f"SELECT * FROM {name} ORDER BY number")]
    finally:
        table.metadata.drop_all(engine)


@pytest.mark.parametrize("server", ["sqlite", "postgres", "mariadb"])
def test_insert_frame_stores_what_sqlalchemys_insert_stores(server, request, tmp_path, unique, monkeypatch):
    if server == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    else:
        engine = request.getfixturevalue(server)
    fast = _round_trip(engine, unique, True, monkeypatch)
    slow = _round_trip(engine, unique + "b", False, monkeypatch)
    assert fast == slow
    assert len(fast) == 4 and fast[1][0] is None and fast[1][2] is None

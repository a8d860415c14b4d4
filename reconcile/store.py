"""The target database: canonical tables, and the staging that makes a load all-or-nothing.

A load writes every chunk into `stage_*` tables, then publishes them in one transaction.
A load that fails or is killed part-way leaves the published tables exactly as they were.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from reconcile.model import ENTITIES, Column, Entity
from reconcile.privacy import private_sqlite

STAGE_PREFIX = "stage_"
metadata = sa.MetaData()


def _sa_type(column: Column) -> sa.types.TypeEngine:
    return {
        "id": sa.String(128),
        "text": sa.Text(),
        "date": sa.Date(),
        "datetime": sa.DateTime(),
        "code": sa.String(16),
    }[column.type]


def _canonical_table(entity: Entity) -> sa.Table:
    keyed = all(entity.column(c).required for c in entity.key)
    table = sa.Table(
        entity.name,
        metadata,
        sa.Column("source_system", sa.String(40), nullable=False),
        *(sa.Column(c.name, _sa_type(c), nullable=not c.required) for c in entity.columns),
    )
    if keyed:
        table.append_constraint(sa.PrimaryKeyConstraint("source_system", *entity.key))
    else:
        sa.Index(f"ix_{entity.name}_key", table.c.source_system, *(table.c[c] for c in entity.key))
    for ref in entity.references:
        sa.Index(f"ix_{entity.name}_{ref}", table.c.source_system, table.c[ref])
    return table


CANONICAL: dict[str, sa.Table] = {name: _canonical_table(e) for name, e in ENTITIES.items()}

REJECTED_RECORD = sa.Table(
    "rejected_record",
    metadata,
    sa.Column("run_id", sa.String(40), nullable=False, index=True),
    sa.Column("source_system", sa.String(40), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("source_id", sa.String(512)),
    sa.Column("raw_row", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
)

FIELD_ISSUE = sa.Table(
    "field_issue",
    metadata,
    sa.Column("run_id", sa.String(40), nullable=False, index=True),
    sa.Column("source_system", sa.String(40), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("source_id", sa.String(512), nullable=False),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("raw_value", sa.Text()),
    sa.Column("problem", sa.Text(), nullable=False),
)

LOAD_SUMMARY = sa.Table(
    "load_summary",
    metadata,
    sa.Column("run_id", sa.String(40), nullable=False, index=True),
    sa.Column("source_system", sa.String(40), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("read", sa.Integer(), nullable=False),
    sa.Column("loaded", sa.Integer(), nullable=False),
    sa.Column("rejected", sa.Integer(), nullable=False),
    sa.Column("field_issues", sa.Integer(), nullable=False),
)

RUN_TABLES = (REJECTED_RECORD, FIELD_ISSUE, LOAD_SUMMARY)


def connect_target(url: URL) -> Engine:
    private_sqlite(url)
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    return engine


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


class Stage:
    """One load's staging tables; `publish` swaps them in for the sources loaded, atomically."""

    def __init__(self, engine: Engine, run_id: str) -> None:
        self.engine = engine
        self.run_id = run_id
        self.metadata = sa.MetaData()
        # Plain copies without keys or indexes: index names are global, and speed matters more here.
        self.tables = {
            table.name: sa.Table(
                STAGE_PREFIX + table.name, self.metadata, *(sa.Column(c.name, c.type) for c in table.columns)
            )
            for table in (*CANONICAL.values(), *RUN_TABLES)
        }
        self.metadata.drop_all(engine)  # leftovers of a run that was killed
        self.metadata.create_all(engine)

    def append(self, name: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        if name in (t.name for t in RUN_TABLES):
            frame = frame.assign(run_id=self.run_id)
        with self.engine.begin() as conn:
            conn.execute(self.tables[name].insert(), records(frame))

    def publish(self, sources: Iterable[str]) -> None:
        sources = list(sources)
        with self.engine.begin() as conn:
            for name, table in CANONICAL.items():
                conn.execute(table.delete().where(table.c.source_system.in_(sources)))
                self._copy(conn, name, table)
            for table in RUN_TABLES:
                self._copy(conn, table.name, table)
        self.discard()

    def discard(self) -> None:
        self.metadata.drop_all(self.engine)

    def _copy(self, conn: sa.Connection, name: str, table: sa.Table) -> None:
        stage = self.tables[name]
        names = [c.name for c in table.columns]
        conn.execute(table.insert().from_select(names, sa.select(*(stage.c[n] for n in names))))

"""The target database: canonical tables, and the staging that makes a load all-or-nothing.

A load writes every chunk into `stage_*` tables, then publishes them in one transaction.
A load that fails or is killed part-way leaves the published tables exactly as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import URL, Engine

from reconcile.model import ENTITIES, SURVIVING_FIELDS, Column, Entity
from reconcile.privacy import private_sqlite
from reconcile.schema_upgrade import add_missing_columns
from reconcile.sql_frames import read_frame

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


INSERT_ROWS = 50_000  # rows bound and sent at once


def connect_target(url: URL) -> Engine:
    private_sqlite(url)
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    add_missing_columns(engine, metadata)  # a target an earlier version made
    return engine


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as dicts of plain Python values, None where missing: what every driver binds.

    Built column by column (pandas' to_dict boxes each cell on its own, and was a sixth of a match run).
    """
    names = list(frame.columns)
    columns = [_plain(frame[name]) for name in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _plain(column: pd.Series) -> list[object]:
    values = column.astype(object).where(column.notna(), None).tolist()
    # An object column may hold NumPy scalars, which drivers cannot bind; one of text only (checked in C) holds none.
    if column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) not in ("string", "empty"):
        return [v.item() if isinstance(v, np.generic) else v for v in values]
    return values


def insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Insert a frame's rows in batches of INSERT_ROWS, straight through the driver's executemany.

    SQLAlchemy's own executemany builds and processes one parameter dict per row, which was most of the time
    of publishing a match run; here each column's values go through the column type's bind processor (the
    conversion SQLAlchemy itself would apply, e.g. datetimes to text on SQLite) once, as a list.
    """
    dialect = conn.dialect
    names = list(frame.columns)
    compiled = table.insert().compile(dialect=dialect, column_keys=names)
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    order = [names.index(name) for name in compiled.positiontup] if compiled.positional else None
    for start in range(0, len(frame), INSERT_ROWS):
        batch = frame.iloc[start : start + INSERT_ROWS]
        columns = [_plain(batch[name]) for name in names]
        columns = [
            [process(v) for v in values] if process else values
            for process, values in zip(processors, columns, strict=True)
        ]
        if order is not None:
            rows: list = list(zip(*(columns[i] for i in order), strict=True))
        else:
            keys = [compiled.binds[name].key for name in names]
            rows = [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
        conn.exec_driver_sql(compiled.string, rows)


class Stage:
    """One run's staging tables; `publish` swaps them in, in one transaction.

    `drops`: table -> key columns, for tables updated in place: `drop` stages keys, and on publish the
    published rows with those keys are deleted before the staged rows are copied in (an incremental run).
    """

    def __init__(
        self,
        engine: Engine,
        run_id: str,
        tables: Iterable[sa.Table],
        drops: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.engine = engine
        self.run_id = run_id
        self.metadata = sa.MetaData()
        # Plain copies without keys or indexes: index names are global, and speed matters more here.
        self.targets = {table.name: table for table in tables}
        self.tables = {
            name: sa.Table(STAGE_PREFIX + name, self.metadata, *(sa.Column(c.name, c.type) for c in table.columns))
            for name, table in self.targets.items()
        }
        self.drops = {
            name: sa.Table(
                f"{STAGE_PREFIX}drop_{name}", self.metadata, *(sa.Column(c, self.targets[name].c[c].type) for c in keys)
            )
            for name, keys in (drops or {}).items()
        }
        with engine.begin() as conn:  # one connection for all (pysqlite still commits each DDL statement itself)
            self.metadata.drop_all(conn)  # leftovers of a run that was killed
            self.metadata.create_all(conn)

    def append(self, name: str, frame: pd.DataFrame) -> None:
        if frame.empty:
            return
        if "run_id" in self.tables[name].c:
            frame = frame.copy(deep=False)  # `assign` would copy every row (a million masters' provenance) first
            frame["run_id"] = self.run_id
        with self.engine.begin() as conn:
            insert_frame(conn, self.tables[name], frame)

    def drop(self, name: str, keys: pd.DataFrame) -> None:
        """Keys of published rows of `name` that this run deletes or rewrites."""
        if keys.empty:
            return
        with self.engine.begin() as conn:
            insert_frame(conn, self.drops[name], keys[[c.name for c in self.drops[name].columns]])

    def publish(self, replace: dict[str, sa.ColumnElement[bool] | None], append: Iterable[str] = ()) -> None:
        """`replace`: table -> which published rows this run supersedes (None: all of them).

        Tables given `drops` lose the rows whose keys were dropped (after those `replace` removes, if both
        apply), then gain the staged rows.
        """
        with self.engine.begin() as conn:
            for name in dict.fromkeys([*replace, *self.drops]):
                table = self.targets[name]
                if name in replace:
                    where = replace[name]
                    conn.execute(table.delete() if where is None else table.delete().where(where))
                if name in self.drops:
                    keys = self.drops[name]
                    dropped = sa.select(*keys.columns)
                    conn.execute(table.delete().where(sa.tuple_(*(table.c[c.name] for c in keys.columns)).in_(dropped)))
                self._copy(conn, name)
            for name in append:
                self._copy(conn, name)
        self.discard()

    def discard(self) -> None:
        with self.engine.begin() as conn:
            self.metadata.drop_all(conn)

    def _copy(self, conn: sa.Connection, name: str) -> None:
        table, stage = self.targets[name], self.tables[name]
        names = [c.name for c in table.columns]
        conn.execute(table.insert().from_select(names, sa.select(*(stage.c[n] for n in names))))


# Master records: published by the match step, replaced whole on each run (history is appended).
SURVIVING = [c for c in ENTITIES["person"].columns if c.name in SURVIVING_FIELDS]
MASTER_PERSON = sa.Table(
    "master_person", metadata,
    sa.Column("master_id", sa.String(16), primary_key=True),
    *(sa.Column(c.name, _sa_type(c)) for c in SURVIVING),
    sa.Column("records", sa.Integer(), nullable=False),
    sa.Column("source_systems", sa.Text(), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
)  # fmt: skip

PERSON_XREF = sa.Table(
    "person_xref", metadata,
    sa.Column("source_system", sa.String(40), primary_key=True),
    sa.Column("source_id", sa.String(128), primary_key=True),
    sa.Column("master_id", sa.String(16), nullable=False, index=True),
    sa.Column("match_probability", sa.Double(), nullable=False),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sqlite_with_rowid=False,
)  # fmt: skip


def _pair_keys() -> list[sa.Column]:
    """The two records of a pair, as every pair table names them."""
    return [
        sa.Column(f"{name}_{side}", sa.String(40 if name == "source_system" else 128), nullable=False)
        for side in ("l", "r")
        for name in ("source_system", "source_id")
    ]


def _match_pair_table() -> sa.Table:
    from reconcile.matching.comparisons import COMPARISONS
    from reconcile.matching.constraints import FLAGS

    return sa.Table(
        "match_pair", metadata,
        sa.Column("run_id", sa.String(40), nullable=False),
        *_pair_keys(),
        sa.Column("match_weight", sa.Double(), nullable=False),
        sa.Column("match_probability", sa.Double(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        *(sa.Column(f"level_{k}", sa.SmallInteger()) for k in COMPARISONS),
        *(sa.Column(f"w_{k}", sa.Double()) for k in COMPARISONS),
        *(sa.Column(f, sa.Boolean()) for f in FLAGS),
    )  # fmt: skip


MATCH_PAIR = _match_pair_table()

REVIEW_QUEUE = sa.Table(
    "review_queue", metadata,
    sa.Column("review_id", sa.String(24), primary_key=True),
    *_pair_keys(),
    sa.Column("master_id_l", sa.String(16), nullable=False),
    sa.Column("master_id_r", sa.String(16), nullable=False),
    sa.Column("match_probability", sa.Double(), nullable=False),
    sa.Column("match_weight", sa.Double(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
)  # fmt: skip

# Reviewers' decisions on queued pairs: append-only, the latest per review_id wins. Microseconds on
# MySQL/MariaDB too, so two imports within a second still have an order.
REVIEW_DECISION = sa.Table(
    "review_decision", metadata,
    sa.Column("review_id", sa.String(24), nullable=False, index=True),
    *_pair_keys(),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reviewer", sa.String(128), nullable=False),
    sa.Column("note", sa.Text()),
    sa.Column("decided_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb"), nullable=False),
    sa.Column("file", sa.String(255), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
)  # fmt: skip

MASTER_ID_HISTORY = sa.Table(
    "master_id_history", metadata,
    sa.Column("run_id", sa.String(40), nullable=False, index=True),
    sa.Column("old_master_id", sa.String(16), nullable=False),
    sa.Column("new_master_id", sa.String(16)),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("records", sa.Integer(), nullable=False),
)  # fmt: skip

MASTER_RELATIONSHIP = sa.Table(
    "master_relationship", metadata,
    sa.Column("master_id", sa.String(16), nullable=False, index=True),
    sa.Column("related_master_id", sa.String(16), nullable=False),
    sa.Column("relationship", sa.String(16), nullable=False),
    sa.Column("derived", sa.Boolean(), nullable=False),
    sa.Column("source_systems", sa.Text(), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
)  # fmt: skip

MASTER_FAMILY = sa.Table(
    "master_family", metadata,
    sa.Column("family_id", sa.String(16), nullable=False, index=True),
    sa.Column("master_id", sa.String(16), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sqlite_with_rowid=False,
)  # fmt: skip

FAMILY_ID_HISTORY = sa.Table(
    "family_id_history",
    metadata,
    *(sa.Column(c.name, c.type, nullable=c.nullable) for c in MASTER_ID_HISTORY.columns),
)

MASTER_PERSON_PROVENANCE = sa.Table(
    "master_person_provenance", metadata,
    sa.Column("master_id", sa.String(16), primary_key=True),
    sa.Column("field", sa.String(40), primary_key=True),
    sa.Column("source_system", sa.String(40), nullable=False),
    sa.Column("source_id", sa.String(128), nullable=False),
    sa.Column("rule", sa.String(40), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sqlite_with_rowid=False,
)  # fmt: skip

MASTER_CONFLICT = sa.Table(
    "master_conflict", metadata,
    sa.Column("master_id", sa.String(16), primary_key=True),
    sa.Column("field", sa.String(40), primary_key=True),
    sa.Column("values", sa.Text(), nullable=False),  # JSON: [{value, source_system, source_id}, ...]
    sa.Column("n_values", sa.Integer(), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sqlite_with_rowid=False,
)  # fmt: skip

MATCH_TABLES = (
    MASTER_PERSON, MASTER_PERSON_PROVENANCE, MASTER_CONFLICT, PERSON_XREF, MATCH_PAIR, REVIEW_QUEUE,
    MASTER_RELATIONSHIP, MASTER_FAMILY,
)  # fmt: skip
HISTORY_TABLES = (MASTER_ID_HISTORY, FAMILY_ID_HISTORY)

# Incremental runs. record_state: the fingerprint of each loaded person and relationship row, kept by extract;
# record_change: what each extract found new, changed or deleted (appended); match_model: what the last
# match run fitted and saw, so the next run can score only what changed with exactly the same model.
RECORD_STATE = sa.Table(
    "record_state", metadata,
    sa.Column("source_system", sa.String(40), primary_key=True),
    sa.Column("entity", sa.String(40), primary_key=True),
    sa.Column("record_key", sa.String(512), primary_key=True),
    sa.Column("person_id", sa.String(128), nullable=False),
    sa.Column("related_person_id", sa.String(128)),
    sa.Column("row_hash", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sqlite_with_rowid=False,
)  # fmt: skip

# source_state: per source entity, a fingerprint of every raw row it loaded (see reconcile/raw_state.py), so a
# night canonicalises and writes only the rows that changed.
SOURCE_STATE = sa.Table(
    "source_state", metadata,
    sa.Column("source_system", sa.String(40), primary_key=True),
    sa.Column("entity", sa.String(40), primary_key=True),
    sa.Column("context", sa.String(32), nullable=False),  # hash of how the rows are read and mapped
    sa.Column("today", sa.Date(), nullable=False),  # the day the rows were canonicalised against
    sa.Column("rows", sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
)  # fmt: skip

RECORD_CHANGE = sa.Table(
    "record_change",
    metadata,
    *(sa.Column(c.name, c.type) for c in RECORD_STATE.columns if c.name != "row_hash"),
    sa.Column("change", sa.String(16), nullable=False),
    sa.Index("ix_record_change_run", "run_id"),
)

LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")  # MySQL's TEXT stops at 64 KB
MATCH_MODEL = sa.Table(
    "match_model", metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("extract_run_id", sa.String(40)),
    sa.Column("rules_hash", sa.String(32), nullable=False),
    sa.Column("model", LONG_TEXT, nullable=False),  # JSON: m, u, prior, term frequencies, records
    sa.Column("oversized_blocks", LONG_TEXT, nullable=False),  # JSON: blocks blocking skipped, per rule
    # Arrow (reconcile/frame_blob.py): every record as standardised, so a night re-standardises only what changed
    sa.Column("records", sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")),
)  # fmt: skip


def read_table(engine: Engine, table: sa.Table) -> pd.DataFrame:
    """In primary-key order (or column order), so what a step computes never depends on storage order."""
    order = list(table.primary_key.columns) or list(table.columns)
    with engine.connect() as conn:
        return read_frame(conn, sa.select(table).order_by(*order))


def publish_frames(
    engine: Engine,
    run_id: str,
    frames: dict[str, pd.DataFrame],
    replace: Iterable[str] = (),
    append: Iterable[str] = (),
    drop: Mapping[str, pd.DataFrame] | None = None,
) -> None:
    """Stage whole frames and publish them in one transaction: `replace` tables are superseded, `append` grow.

    `drop`: table -> keys (a frame of key columns) of published rows to delete before that table's frame is added.
    """
    replace, append, drop = list(replace), list(append), dict(drop or {})
    names = (*replace, *append, *drop)
    keys = {name: list(frame.columns) for name, frame in drop.items()}
    stage = Stage(engine, run_id, [metadata.tables[name] for name in names], keys)
    try:
        for name, keys in drop.items():
            stage.drop(name, keys)
        for name, frame in frames.items():
            stage.append(name, frame)
        stage.publish(replace={name: None for name in replace}, append=append)
    except BaseException:
        discard_quietly(stage)
        raise


def discard_quietly(stage: Stage) -> None:
    """Clean-up must not hide the error that made it necessary; leftovers are dropped by the next run."""
    try:
        stage.discard()
    except Exception:  # noqa: BLE001
        logging.getLogger(__name__).warning("could not drop the staging tables; the next run drops them")


RISK_FLAG = sa.Table(
    "risk_flag", metadata,
    sa.Column("run_id", sa.String(40), nullable=False, index=True),
    sa.Column("rule", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("source_system", sa.String(40), nullable=False),
    sa.Column("source_id", sa.String(128), nullable=False),
    sa.Column("master_id", sa.String(16)),
    sa.Column("explanation", sa.Text(), nullable=False),
)  # fmt: skip

SOURCE_CHECK = sa.Table(
    "source_check", metadata,
    sa.Column("run_id", sa.String(40), nullable=False, index=True),
    sa.Column("source_system", sa.String(40)),
    sa.Column("entity", sa.String(40), nullable=False),
    sa.Column("expectation", sa.String(80), nullable=False),
    sa.Column("column", sa.String(40)),
    sa.Column("success", sa.Boolean(), nullable=False),
    sa.Column("element_count", sa.Integer()),
    sa.Column("unexpected_count", sa.Integer()),
    sa.Column("unexpected_percent", sa.Float()),
)  # fmt: skip

# source_check_state: per entity, the source suites' row-local verdicts on every row they have judged, by a
# hash of the row (see expectations/row_verdicts.py), so a night judges only rows not judged before.
SOURCE_CHECK_STATE = sa.Table(
    "source_check_state", metadata,
    sa.Column("entity", sa.String(40), primary_key=True),
    sa.Column("signature", sa.String(64), nullable=False),  # the checks, code and versions that judged them
    sa.Column("verdicts", sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
)  # fmt: skip

# One row per `reconcile run`, written outside the run's own publish so that a failed or killed
# run is still accounted for. `steps` is JSON: [{"step", "seconds", "counts": {...}}, ...]; counts
# and timings only, never personal data.
RUN_LOG = sa.Table(
    "run_log", metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("started_at", sa.DateTime(), nullable=False),
    sa.Column("finished_at", sa.DateTime()),
    sa.Column("status", sa.String(16), nullable=False),  # running, succeeded, failed, abandoned
    sa.Column("mode", sa.String(16), nullable=False),  # full or incremental
    sa.Column("exit_code", sa.Integer()),
    sa.Column("gate_verdict", sa.String(16)),  # pass, warn, fail; null if the run stopped before the gate
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("steps", sa.Text(), nullable=False),
    sa.Column("error", sa.Text()),  # the failing step and error class; never the message, which may quote data
)  # fmt: skip

"""A run's private copy of the target, published in one atomic step or not at all.

Every step of `reconcile run` publishes into the workspace, exactly as it would into the
target when run on its own. Only when the whole run has succeeded does the workspace become
the target: on SQLite by SQLite's backup API into the target file (one transaction), on
PostgreSQL by replacing the published tables' rows in one transaction. A run killed at any moment
(SIGKILL, power loss) leaves the target exactly as the last successful run published it; the
next run clears the leftovers.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from reconcile.config import Config
from reconcile.errors import ConfigError
from reconcile.masters.activity import VIEW, activity_view_sql
from reconcile.privacy import private_file
from reconcile.store import connect_target, metadata

log = logging.getLogger(__name__)

WORK_SUFFIX = ".run-"
WORK_SCHEMA_PREFIX = "reconcile_run_"
SUPPORTED = ("sqlite", "postgresql")


@contextmanager
def workspace(config: Config, run_id: str) -> Iterator[Config]:
    """Yield a config whose target is the run's private copy; publish it if the block ends without error."""
    url = config.target_url()
    backend = url.get_backend_name()
    if backend not in SUPPORTED:
        raise ConfigError(
            f"{config.path}: target: `reconcile run` publishes atomically on sqlite and postgresql targets only, "
            f"not {backend}. Fix: use one of those, or run the steps one by one."
        )
    if backend == "sqlite":
        with _sqlite_workspace(config, url, run_id) as work:
            yield work
    else:
        with _postgres_workspace(config, url, run_id) as work:
            yield work


@contextmanager
def _sqlite_workspace(config: Config, url: URL, run_id: str) -> Iterator[Config]:
    target = Path(url.database or "")
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise ConfigError(f"{config.path}: target: `reconcile run` needs an SQLite file target, not {url.database!r}.")
    clear_sqlite_leftovers(target)
    work = target.with_name(target.name + WORK_SUFFIX + run_id)
    private_file(work, fresh=True)
    if target.exists():
        _sqlite_copy(target, work)
    try:
        yield config.model_copy(update={"target": str(url.set(database=str(work)))})
        private_file(target)
        _sqlite_copy(work, target)  # one write transaction on the target, under its own journal
    finally:
        work.unlink(missing_ok=True)


def clear_sqlite_leftovers(target: Path) -> None:
    """Working copies of runs that were killed: the lock guarantees none of them is still running."""
    for leftover in target.parent.glob(target.name + WORK_SUFFIX + "*"):
        leftover.unlink(missing_ok=True)
        log.info("removed a killed run's working copy")


def _sqlite_copy(source: Path, destination: Path) -> None:
    """SQLite's online backup API, both ways. Copying the work back this way, not renaming the file,
    goes through the target's own locking and journal (rollback or WAL): readers see the old pages or
    the new ones, a kill mid-copy is rolled back on next open, and no WAL of the old file is left
    beside a new one to corrupt it."""
    src, dst = sqlite3.connect(source), sqlite3.connect(destination, timeout=60)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@contextmanager
def _postgres_workspace(config: Config, url: URL, run_id: str) -> Iterator[Config]:
    engine = connect_target(url)  # creates the published tables if this is the first run
    try:
        published = _current_schema(engine)
        prefix = work_schema_prefix(published)
        schema = prefix + run_id.lower()
        clear_postgres_leftovers(engine, prefix)
        _postgres_copy(engine, published, schema)
        try:
            yield config.model_copy(update={"target": _with_search_path(url, schema)})
            _postgres_publish(engine, published, schema)
        finally:
            _drop_schema_quietly(engine, schema)
    finally:
        engine.dispose()


def work_schema_prefix(published: str) -> str:
    """Working schemas are named for the target's schema, so clearing leftovers never touches another target's."""
    return WORK_SCHEMA_PREFIX + hashlib.blake2b(published.encode(), digest_size=4).hexdigest() + "_"


def clear_postgres_leftovers(engine: sa.Engine, prefix: str) -> None:
    """Working schemas of this target's killed runs: the lock guarantees none of them is still running."""
    with engine.begin() as conn:
        names = conn.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE left(nspname, :n) = :prefix"),
            {"n": len(prefix), "prefix": prefix},
        ).scalars()
        for name in list(names):
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
            log.info("removed a killed run's working schema")


def _current_schema(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT current_schema()")).scalar_one())


def _ours(conn: sa.Connection, schema: str) -> list[str]:
    """The toolkit's own tables in a schema; anything else there belongs to someone else and is left alone."""
    return [name for name in sa.inspect(conn).get_table_names(schema=schema) if name in metadata.tables]


def _postgres_copy(engine: sa.Engine, published: str, schema: str) -> None:
    """The working schema starts as the published state, so an incremental run sees what was published."""
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        for table in _ours(conn, published):
            conn.execute(sa.text(f'CREATE TABLE "{schema}"."{table}" (LIKE "{published}"."{table}" INCLUDING ALL)'))
            conn.execute(sa.text(f'INSERT INTO "{schema}"."{table}" SELECT * FROM "{published}"."{table}"'))


def _postgres_publish(engine: sa.Engine, published: str, schema: str) -> None:
    """One transaction, rows replaced in place: the published tables keep their grants, comments and the
    views others built on them, and readers (MVCC) see the old rows or the new ones, never a mix."""
    with engine.begin() as conn:
        existing = set(_ours(conn, published))
        for table in _ours(conn, schema):
            if table not in existing:  # new this run: its table moves in whole
                conn.execute(sa.text(f'ALTER TABLE "{schema}"."{table}" SET SCHEMA "{published}"'))
                continue
            columns = ", ".join(f'"{c["name"]}"' for c in sa.inspect(conn).get_columns(table, schema=schema))
            conn.execute(sa.text(f'DELETE FROM "{published}"."{table}"'))
            conn.execute(
                sa.text(f'INSERT INTO "{published}"."{table}" ({columns}) SELECT {columns} FROM "{schema}"."{table}"')
            )
        if VIEW not in sa.inspect(conn).get_view_names(schema=published):  # first run: the view joins the tables
            conn.exec_driver_sql(activity_view_sql(conn.dialect, published))


def _with_search_path(url: URL, schema: str) -> str:
    options = f"-csearch_path={schema}"
    existing = url.query.get("options")
    if existing:
        options = f"{existing} {options}"
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


def _drop_schema_quietly(engine: sa.Engine, schema: str) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    except Exception:  # noqa: BLE001 - the next run clears it; the original error matters more
        log.warning("could not drop the working schema; the next run removes it")

"""A run's private copy of the target, published in one atomic step or not at all.

Every step of `reconcile run` publishes into the workspace, exactly as it would into the
target when run on its own. Only when the whole run has succeeded does the workspace become
the target: on SQLite by renaming the working file over the target file, on PostgreSQL by
moving the working schema's tables into place in one transaction. A run killed at any moment
(SIGKILL, power loss) leaves the target exactly as the last successful run published it; the
next run clears the leftovers.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL

from reconcile.config import Config
from reconcile.errors import ConfigError
from reconcile.privacy import private_file
from reconcile.store import connect_target

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
        _sqlite_durable(work)
        os.replace(work, target)  # atomic: readers see the old file or the new one, never a mix
        _fsync_dir(target.parent)
    except BaseException:
        work.unlink(missing_ok=True)
        raise


def clear_sqlite_leftovers(target: Path) -> None:
    """Working copies of runs that were killed: the lock guarantees none of them is still running."""
    for leftover in target.parent.glob(target.name + WORK_SUFFIX + "*"):
        leftover.unlink(missing_ok=True)
        log.info("removed a killed run's working copy")


def _sqlite_copy(source: Path, work: Path) -> None:
    """SQLite's online backup: a consistent copy even if a reader has the target open."""
    with sqlite3.connect(source) as src, sqlite3.connect(work) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def _sqlite_durable(work: Path) -> None:
    """Fold any WAL into the file and flush it, so the renamed file is complete after a power loss."""
    with sqlite3.connect(work) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    with open(work, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _postgres_workspace(config: Config, url: URL, run_id: str) -> Iterator[Config]:
    schema = WORK_SCHEMA_PREFIX + run_id.lower()
    engine = connect_target(url)  # creates the published tables if this is the first run
    try:
        published = _current_schema(engine)
        clear_postgres_leftovers(engine)
        _postgres_copy(engine, published, schema)
        try:
            yield config.model_copy(update={"target": _with_search_path(url, schema)})
            _postgres_publish(engine, published, schema)
        except BaseException:
            _drop_schema_quietly(engine, schema)
            raise
    finally:
        engine.dispose()


def clear_postgres_leftovers(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        names = conn.execute(
            sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :prefix"),
            {"prefix": WORK_SCHEMA_PREFIX + "%"},
        ).scalars()
        for name in list(names):
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
            log.info("removed a killed run's working schema")


def _current_schema(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(sa.text("SELECT current_schema()")).scalar_one())


def _postgres_copy(engine: sa.Engine, published: str, schema: str) -> None:
    """The working schema starts as the published state, so an incremental run sees what was published."""
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        for table in _tables(conn, published):
            conn.execute(sa.text(f'CREATE TABLE "{schema}"."{table}" (LIKE "{published}"."{table}" INCLUDING ALL)'))
            conn.execute(sa.text(f'INSERT INTO "{schema}"."{table}" SELECT * FROM "{published}"."{table}"'))


def _postgres_publish(engine: sa.Engine, published: str, schema: str) -> None:
    """One transaction: PostgreSQL's DDL is transactional, so readers see the old tables or the new ones."""
    with engine.begin() as conn:
        views = _views(conn, schema)
        for view in _views(conn, published):
            conn.execute(sa.text(f'DROP VIEW IF EXISTS "{published}"."{view}" CASCADE'))
        for table in _tables(conn, schema):
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{published}"."{table}" CASCADE'))
            conn.execute(sa.text(f'ALTER TABLE "{schema}"."{table}" SET SCHEMA "{published}"'))
        for view in views:
            conn.execute(sa.text(f'ALTER VIEW "{schema}"."{view}" SET SCHEMA "{published}"'))
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def _tables(conn: sa.Connection, schema: str) -> list[str]:
    return list(sa.inspect(conn).get_table_names(schema=schema))


def _views(conn: sa.Connection, schema: str) -> list[str]:
    return list(sa.inspect(conn).get_view_names(schema=schema))


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

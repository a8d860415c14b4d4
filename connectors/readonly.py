"""Engines that the database itself holds to read-only, so no bug of ours can write to a legacy system."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from connectors.sqlite_text import SourceConnection


def read_only_engine(url: URL, timeout: float) -> Engine:
    """One engine per source; `timeout` bounds both connecting and each statement where the dialect allows."""
    backend = url.get_backend_name()
    seconds = max(1, int(round(timeout)))
    connect_args: dict[str, Any] = {}
    if backend == "sqlite":
        url = _sqlite_read_only(url)
        connect_args = {"uri": True, "timeout": timeout, "factory": SourceConnection}
    elif backend == "postgresql":
        ours = f"-c default_transaction_read_only=on -c statement_timeout={seconds * 1000}"
        theirs = url.query.get("options")  # e.g. a search_path given in the URL: keep it, after ours
        url = url.difference_update_query(["options"])
        connect_args = {"connect_timeout": seconds, "options": f"{ours} {theirs}" if theirs else ours}
    elif backend in ("mysql", "mariadb"):
        connect_args = {
            "connect_timeout": seconds,
            "read_timeout": seconds,
            "init_command": "SET SESSION TRANSACTION READ ONLY",
        }
    engine = create_engine(url, connect_args=connect_args, poolclass=NullPool)
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_session)
    elif backend == "oracle":
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("SET TRANSACTION READ ONLY"))
    return engine


def _sqlite_read_only(url: URL) -> URL:
    database = url.database or ""
    if database.startswith("file:"):
        return url.update_query_dict({"mode": "ro", "uri": "true"})
    if not database or database == ":memory:" or not Path(database).exists():
        # mode=ro would fail with a vague "unable to open"; say what is wrong instead.
        raise FileNotFoundError(database or ":memory:")
    return url.set(database=f"file:{Path(database).resolve()}").update_query_dict({"mode": "ro", "uri": "true"})


def _sqlite_session(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA query_only = ON")

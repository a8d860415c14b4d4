"""One run at a time per target: a second run refuses at once and names the holder.

PostgreSQL: a session advisory lock, released by the server when the holder's connection
ends, however it ends. SQLite: an flock on a file beside the database, released by the
kernel when the holder's process dies. Either way a killed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from reconcile.errors import ReconcileError

APPLICATION_PREFIX = "reconcile-run"


class RunLocked(ReconcileError):
    """Another run holds the target."""


@dataclass(frozen=True)
class Holder:
    host: str
    pid: int
    started_at: str
    run_id: str

    @classmethod
    def me(cls, run_id: str) -> Holder:
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return cls(socket.gethostname(), os.getpid(), started, run_id)

    def describe(self) -> str:
        return f"host {self.host}, pid {self.pid}, started {self.started_at} (run {self.run_id})"


@contextmanager
def run_lock(url: URL, run_id: str) -> Iterator[Holder]:
    """Hold the target's run lock for the block, or raise RunLocked naming who holds it."""
    me = Holder.me(run_id)
    database = url.database or ""
    if url.get_backend_name() == "postgresql":
        with _advisory_lock(url, me):
            yield me
    elif url.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not database.startswith("file:"):
        with _file_lock(Path(database), me):
            yield me
    else:  # `reconcile run` refuses other targets, so no run can be holding one
        yield me


def _refusal(holder: str) -> RunLocked:
    return RunLocked(
        f"another run holds this target: {holder}. Fix: wait for it to finish; "
        "the lock is released when that process ends, even if it is killed."
    )


@contextmanager
def _file_lock(database: Path, me: Holder) -> Iterator[None]:
    path = database.with_name(database.name + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refusal(_read_holder(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me.__dict__).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        return Holder(**json.loads(os.pread(fd, 4096, 0))).describe()
    except (ValueError, TypeError):
        return "a run that has not yet written its details"


@contextmanager
def _advisory_lock(url: URL, me: Holder) -> Iterator[None]:
    """The lock lives as long as this connection; its application_name tells others who holds it."""
    name = f"{APPLICATION_PREFIX} {me.pid} {me.run_id} {me.host}"[:63]  # PostgreSQL keeps 63 characters
    engine = sa.create_engine(url, poolclass=NullPool, connect_args={"application_name": name})
    try:
        with engine.connect() as conn:
            key = _lock_key(conn, url)
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar_one()
            conn.commit()
            if not got:
                raise _refusal(_advisory_holder(conn, key))
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
    finally:
        engine.dispose()


def _lock_key(conn: sa.Connection, url: URL) -> int:
    """One key per target: server, database and the schema its tables land in, however the URL spells it."""
    schema = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    ident = f"reconcile:{url.host}:{url.port or 5432}:{url.database}:{schema}".encode()
    return int.from_bytes(hashlib.blake2b(ident, digest_size=8).digest(), "big", signed=True)


def _advisory_holder(conn: sa.Connection, key: int) -> str:
    row = conn.execute(
        sa.text(
            "SELECT a.application_name, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key"
        ),
        {"key": key},
    ).first()
    if row and str(row[0]).startswith(APPLICATION_PREFIX):
        _, pid, run_id, host = (str(row[0]).split(" ", 3) + [""] * 4)[:4]
        started = row[1].astimezone(timezone.utc).isoformat(timespec="seconds") if row[1] else "unknown"
        return Holder(host, int(pid or 0), started, run_id).describe()
    return "another session on the database server"

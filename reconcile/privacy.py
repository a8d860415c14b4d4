"""Files that hold children's records are readable by their owner only."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create the folder owner-only; an existing folder keeps its mode (it may be the user's own)."""
    if not path.exists():
        path.mkdir(parents=True, mode=DIR_MODE)
        path.chmod(DIR_MODE)
    return path


def private_file(path: Path, *, fresh: bool = False) -> Path:
    """Make the file owner read/write only before any data goes in; `fresh` replaces an old one."""
    if fresh:
        path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    path.chmod(FILE_MODE)
    return path


def private_sqlite(url: URL) -> None:
    """SQLite gives its journal and WAL files the database file's mode, so guarding the file guards them."""
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:" and not database.startswith("file:"):
        private_file(Path(database))

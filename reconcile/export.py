"""`reconcile export`: the published master tables and a crosswalk per legacy system, as load files.

The new case system loads these. Every table is read in one transaction (a snapshot on
PostgreSQL and MySQL, so the crosswalk and the masters agree), and every file is written
owner-only under a hidden temporary name; only when all are written are they renamed into
place, manifest.json last. A failed export leaves the folder as it was.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from reconcile.config import SOURCE_NAME, Config
from reconcile.errors import ReconcileError
from reconcile.loadfile import FORMATS, schema_for, write_file
from reconcile.privacy import private_dir, private_file, private_sqlite

log = logging.getLogger(__name__)

# Exported when present in the target, in this order; read by name, so new tables need no code here.
PUBLISHED = (
    "master_person",
    "person_xref",
    "master_person_provenance",
    "master_conflict",
    "master_relationship",
    "master_family",
    "master_activity",
    "review_queue",
    "master_id_history",
)
MANIFEST = "manifest.json"
CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class _Planned:
    """One file to write: the query that fills it and which of its columns are written."""

    file: str
    table: str
    query: sa.Select
    columns: tuple[str, ...]
    source_system: str | None = None


@dataclass
class _Tally:
    """Counts rows and run IDs as the chunks stream past, so the manifest needs no second read."""

    rows: int = 0
    run_ids: set[str] = field(default_factory=set)

    def count(self, chunks: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for chunk in chunks:
            self.rows += len(chunk)
            if "run_id" in chunk:
                self.run_ids.update(str(r) for r in chunk["run_id"].dropna().unique())
            yield chunk


def export(config: Config, out: Path, fmt: str) -> list[Path]:
    """Write the load files into `out` and return their paths, manifest.json last."""
    if fmt not in FORMATS:
        raise ReconcileError(f"unknown export format '{fmt}'. Fix: use one of {', '.join(FORMATS)}.")
    if out.exists() and not out.is_dir():
        raise ReconcileError(f"--out {out} is a file. Fix: give a folder (it is created if missing).")
    staged: dict[Path, Path] = {}  # temporary name -> final name
    engine = _engine(config)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execution_options(stream_results=True)
            plan = _plan(conn)
            private_dir(out)
            entries = [_write(conn, item, out, fmt, staged) for item in plan]
    except BaseException:
        for temp in staged:
            temp.unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()
    return _publish(out, fmt, staged, entries)


def load_manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / MANIFEST).read_text(encoding="utf-8"))


def _engine(config: Config) -> sa.Engine:
    url = config.target_url()
    private_sqlite(url)  # a SQLite target that does not exist yet is created owner-only, then found empty
    snapshot = url.get_backend_name() in ("postgresql", "mysql", "mariadb")
    return sa.create_engine(url, **({"isolation_level": "REPEATABLE READ"} if snapshot else {}))


def _plan(conn: sa.Connection) -> list[_Planned]:
    inspector = sa.inspect(conn)
    metadata = sa.MetaData()
    tables = [sa.Table(name, metadata, autoload_with=conn) for name in PUBLISHED if inspector.has_table(name)]
    xref = metadata.tables.get("person_xref")
    if xref is None or conn.execute(sa.select(xref.c.master_id).limit(1)).first() is None:
        raise ReconcileError("no master records in the target. Fix: run `reconcile match` first.")
    plan = [_Planned(t.name, t.name, sa.select(t).order_by(*t.primary_key.columns), tuple(t.c.keys())) for t in tables]
    return plan + _crosswalks(conn, xref)


def _crosswalks(conn: sa.Connection, xref: sa.Table) -> list[_Planned]:
    """One per legacy system: what the new system's legacy-reference field loads."""
    systems = conn.scalars(sa.select(xref.c.source_system).distinct().order_by(xref.c.source_system)).all()
    if not all(SOURCE_NAME.fullmatch(s) for s in systems):
        raise ReconcileError("person_xref holds a source_system that is not a source name. Fix: run `reconcile match`.")
    query = sa.select(xref.c.source_id.label("legacy_id"), xref.c.master_id, xref.c.run_id)
    return [
        _Planned(
            f"crosswalk_{system}",
            xref.name,
            query.where(xref.c.source_system == system).order_by(xref.c.source_id),
            ("legacy_id", "master_id"),
            system,
        )
        for system in systems
    ]


def _write(conn: sa.Connection, item: _Planned, out: Path, fmt: str, staged: dict[Path, Path]) -> dict[str, Any]:
    name = f"{item.file}.{fmt}"
    temp = out / f".{name}.tmp"
    staged[temp] = out / name
    schema = schema_for([c for c in item.query.selected_columns if c.name in item.columns], fmt)
    tally = _Tally()
    write_file(temp, fmt, schema, tally.count(pd.read_sql(item.query, conn, chunksize=CHUNK_ROWS)))
    log.info("export: %s, %d rows", name, tally.rows)
    where = {"source_system": item.source_system} if item.source_system else {}
    return {"file": name, "table": item.table, **where, "rows": tally.rows, "run_ids": sorted(tally.run_ids)}


def _publish(out: Path, fmt: str, staged: dict[Path, Path], entries: list[dict[str, Any]]) -> list[Path]:
    """Rename every file into place, then the manifest; files only an earlier export listed are removed."""
    earlier = _listed(out)
    for temp, final in staged.items():
        os.replace(temp, final)
    xref_runs = {run for entry in entries if entry["table"] == "person_xref" for run in entry["run_ids"]}
    manifest = {
        "exported_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "format": fmt,
        "run_ids": sorted(xref_runs),
        "files": entries,
    }
    temp = private_file(out / f".{MANIFEST}.tmp", fresh=True)
    temp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, out / MANIFEST)
    for name in earlier - {entry["file"] for entry in entries}:
        (out / name).unlink(missing_ok=True)
    return [*staged.values(), out / MANIFEST]


def _listed(out: Path) -> set[str]:
    """Load files the previous manifest in `out` named; nothing else in the folder is ever removed."""
    try:
        files = load_manifest(out).get("files", [])
        names = {str(entry["file"]) for entry in files}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return set()
    return {n for n in names if Path(n).name == n and Path(n).suffix.lstrip(".") in FORMATS}

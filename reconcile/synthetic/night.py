"""A night's work in the demo's legacy systems: a small share of person records changed, added, deleted.

For the incremental-run test and `benchmarks/nightly.py`. Changed values are taken from other rows of
the same table (a surname, a DOB, a postcode), so each system's own formats hold; new records are copies
of existing ones under new IDs (the duplicates a front door makes), some with a changed DOB. As the case
systems do, a changed or added row gets the night's last-updated stamp.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path

import numpy as np

from reconcile.synthetic.layout import LAYOUTS, EntityLayout, SystemLayout
from reconcile.synthetic.settings import REFERENCE_DATE

CHANGED_FIELDS = ("surname", "dob", "postcode")
NIGHT = datetime.combine(REFERENCE_DATE + timedelta(days=1), time(2, 30))  # after every generated stamp


@dataclass
class Night:
    changed: int = 0
    added: int = 0
    deleted: int = 0
    relationships_added: int = 0
    relationships_deleted: int = 0


def mutate(folder: Path, share: float = 0.01, seed: int = 7) -> Night:
    """Change, add and delete about `share` of each system's person rows (half changed, a quarter each
    added and deleted), and add and delete a few relationship rows, in the demo databases in `folder`."""
    rng = np.random.default_rng(seed)
    night = Night()
    for layout in LAYOUTS:
        with sqlite3.connect(folder / layout.database) as conn:
            _mutate_system(conn, layout, share, rng, night)
    return night


def _entity(layout: SystemLayout, name: str) -> tuple[str, dict[str, str]]:
    ent: EntityLayout = next(e for e in layout.entities if e.entity == name)
    return ent.table, dict(ent.columns)


def _mutate_system(conn: sqlite3.Connection, layout: SystemLayout, share: float, rng, night: Night) -> None:
    table, col = _entity(layout, "person")
    key = col["person_id"]
    ids = [r[0] for r in conn.execute(f'SELECT DISTINCT "{key}" FROM "{table}" WHERE "{key}" IS NOT NULL ORDER BY 1')]
    n = max(int(len(ids) * share), 4)
    chosen = rng.choice(len(ids), size=n, replace=False)
    change, add, delete = np.array_split(chosen, [n // 2, n // 2 + n // 4])
    stamp, stamp_column = NIGHT.strftime(layout.datetime_format), col["modified_at"]
    for i in change:
        field = CHANGED_FIELDS[int(rng.integers(len(CHANGED_FIELDS)))]
        donor = ids[int(rng.integers(len(ids)))]
        value = col[field]
        conn.execute(
            f'UPDATE "{table}" SET "{value}" = (SELECT "{value}" FROM "{table}" WHERE "{key}" = ?), '
            f'"{stamp_column}" = ? WHERE "{key}" = ?',
            (donor, stamp, ids[i]),
        )
    night.changed += len(change)
    columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
    for i in add:
        row = list(conn.execute(f'SELECT * FROM "{table}" WHERE "{key}" = ?', (ids[i],)).fetchone())
        row[columns.index(key)] = f"{ids[i]}N"
        row[columns.index(stamp_column)] = stamp
        conn.execute(f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(row))})', row)
    night.added += len(add)
    for i in delete:
        conn.execute(f'DELETE FROM "{table}" WHERE "{key}" = ?', (ids[i],))
    night.deleted += len(delete)
    _mutate_relationships(conn, layout, ids, rng, night)


def _mutate_relationships(conn: sqlite3.Connection, layout: SystemLayout, ids: list, rng, night: Night) -> None:
    table, col = _entity(layout, "relationship")
    rows = list(conn.execute(f'SELECT rowid, * FROM "{table}" ORDER BY rowid'))
    if not rows:
        return
    for r in rng.choice(len(rows), size=min(3, len(rows)), replace=False):
        conn.execute(f'DELETE FROM "{table}" WHERE rowid = ?', (rows[int(r)][0],))
        night.relationships_deleted += 1
    kind = conn.execute(f'SELECT "{col["relationship"]}" FROM "{table}" LIMIT 1').fetchone()[0]
    names = ", ".join(f'"{col[c]}"' for c in ("person_id", "related_person_id", "relationship"))
    for _ in range(3):
        a, b = rng.choice(len(ids), size=2, replace=False)
        conn.execute(f'INSERT INTO "{table}" ({names}) VALUES (?, ?, ?)', (ids[int(a)], ids[int(b)], kind))
        night.relationships_added += 1

"""An existing target brought up to this version's tables: columns a later version added are added.

The nightly job is upgraded in place, and its target holds years of published masters: a run after
an upgrade must not fail on a table an earlier version made. Only additions are made, as nullable
columns, so nothing an earlier version wrote is dropped or rewritten.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


def add_missing_columns(engine: Engine, metadata: sa.MetaData) -> list[str]:
    """Add to each existing table of `metadata` the columns it lacks; returns them as table.column."""
    inspector = sa.inspect(engine)
    existing = set(inspector.get_table_names())
    preparer = engine.dialect.identifier_preparer
    added: list[str] = []
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.name not in existing:
                continue
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                conn.execute(
                    sa.text(f"ALTER TABLE {preparer.quote(table.name)} ADD COLUMN {preparer.quote(column.name)} {kind}")
                )
                added.append(f"{table.name}.{column.name}")
    if added:
        log.warning("target upgraded to this version's tables: added %s", ", ".join(added))
    return added

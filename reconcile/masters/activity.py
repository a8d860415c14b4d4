"""master_activity: every case activity row under its master, as a view so it is never stale.

Risk rules and reports ask questions such as "which masters have an active CP plan in one
system and any record in another"; this view answers them with one join, over whatever
extract and match last published.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Dialect, Engine

from reconcile.store import CANONICAL, PERSON_XREF

VIEW = "master_activity"
# entity -> (its ID column, when it started, when it ended); an activity with no end is open.
SPANS = {
    "contact": ("contact_id", "contact_datetime", "decision_datetime"),
    "referral": ("referral_id", "referral_date", None),
    "assessment": ("assessment_id", "start_date", "completed_date"),
    "cp_plan": ("plan_id", "start_date", "end_date"),
    "involvement": ("involvement_id", "start_date", "end_date"),
}


def activity_select() -> sa.Select:
    """master_id, source_system, entity, source_id, start_at, end_at, status (open, closed; none for referrals)."""
    parts = []
    xref = PERSON_XREF
    for entity, (id_column, start, end) in SPANS.items():
        table = CANONICAL[entity]
        end_at = table.c[end] if end else sa.null()
        status = sa.case((end_at.is_(None), "open"), else_="closed") if end else sa.null()
        parts.append(
            sa.select(
                xref.c.master_id,
                table.c.source_system,
                sa.literal(entity).label("entity"),
                table.c[id_column].label("source_id"),
                # No CAST: SQLite would turn ISO text into a number; PostgreSQL widens dates itself.
                table.c[start].label("start_at"),
                end_at.label("end_at"),
                status.label("status"),
            ).select_from(
                table.outerjoin(
                    xref, (xref.c.source_system == table.c.source_system) & (xref.c.source_id == table.c.person_id)
                )
            )
        )
    return sa.union_all(*parts)


def create_activity_view(engine: Engine) -> None:
    """(Re)create the view in the target's own SQL dialect, unless SQLite already holds it as written: there a
    schema change costs a journal sync (a sixth of a second a run, for a view that had not changed)."""
    sql = activity_view_sql(engine.dialect)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            held = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'view' AND name = :name"),
                                {"name": VIEW}).scalar()  # fmt: skip
            if held == sql:
                return
        conn.exec_driver_sql(f"DROP VIEW IF EXISTS {VIEW}")
        conn.exec_driver_sql(sql)


def activity_view_sql(dialect: Dialect, schema: str | None = None) -> str:
    """CREATE VIEW, in `schema` if given; the tables it reads are found on the search path."""
    body = activity_select().compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    name = f'"{schema}".{VIEW}' if schema else VIEW
    return f"CREATE VIEW {name} AS {body}"

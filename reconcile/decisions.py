"""Reviewers' decisions on queued pairs: stored append-only in `review_decision`, read back latest-first.

The table is a log, not a state: a reviewer who changes their mind adds a row, and the latest
row per pair is the one the match step honours. Nothing is ever updated or deleted, so every
decision can be traced to who made it, when, and from which file.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from reconcile.sql_frames import read_frame
from reconcile.store import REVIEW_DECISION, records

DECISIONS = ("MATCH", "NOT_MATCH", "UNSURE")


def record_decisions(engine: sa.Engine, decisions: pd.DataFrame) -> None:
    """Append decisions in one transaction, all of them or none.

    Not through `publish_frames`: its staging stamps one run ID on every row, and each decision keeps
    the run ID of the queue it answered.
    """
    if decisions.empty:
        return
    with engine.begin() as conn:
        conn.execute(REVIEW_DECISION.insert(), records(decisions[[c.name for c in REVIEW_DECISION.columns]]))


def latest_decisions(engine: sa.Engine) -> pd.DataFrame:
    """The latest decision per pair, every column of `review_decision`, in review_id order."""
    with engine.connect() as conn:
        log = read_frame(conn, sa.select(REVIEW_DECISION))
    if log.empty:
        return log
    latest = log.sort_values(["review_id", "decided_at"], kind="stable").drop_duplicates("review_id", keep="last")
    return latest.reset_index(drop=True)

"""The review queue as a reviewer reads it: both records side by side, and why the pair scored as it did.

One frame serves the HTML report's review table and the spreadsheet export, so the two always
show the same pairs, fields and reasons.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reconcile.matching.comparisons import COMPARISONS, LEVELS, MISSING
from reconcile.privacy import mask_pii
from reconcile.sql_frames import read_frame
from reconcile.store import CANONICAL, MATCH_PAIR, REVIEW_QUEUE

PERSON_FIELDS = (
    "forename", "middle_names", "surname", "dob", "expected_dob", "sex", "nhs_number", "upn", "alt_id", "postcode",
    "address",
)  # fmt: skip
SIDES = ("_l", "_r")
PAIR_KEYS = ["source_system_l", "source_id_l", "source_system_r", "source_id_r"]
TOP_REASONS = 3


def review_pairs(engine: sa.Engine, *, mask: bool = False, limit: int | None = None) -> pd.DataFrame:
    """One row per queued pair, strongest first: scores, both records' fields, and each comparison's weight."""
    with engine.connect() as conn:
        order = (REVIEW_QUEUE.c.match_probability.desc(), REVIEW_QUEUE.c.review_id)
        queue = read_frame(conn, sa.select(REVIEW_QUEUE).order_by(*order).limit(limit))
        if queue.empty:
            return _empty()
        weights = _weights(conn, queue)
        people = _people(conn, queue)
    rows = queue.merge(weights, on=PAIR_KEYS, how="left")
    for side in SIDES:
        side_people = people.rename(columns={c: c + side for c in people.columns})
        keys = [f"source_system{side}", f"source_id{side}"]
        rows = rows.merge(side_people, on=keys, how="left")
    rows["top_reasons"] = top_reasons(rows)
    rows = rows[_columns()]
    return mask_pii(rows, SIDES) if mask else rows


def top_reasons(pairs: pd.DataFrame, top: int = TOP_REASONS) -> pd.Series:
    """The comparisons that moved each pair's score most, e.g. 'dob exact +6.1; forename different -4.3'."""
    weights = pairs[[f"w_{k}" for k in COMPARISONS]].to_numpy(dtype=float)
    levels = pairs[[f"level_{k}" for k in COMPARISONS]].to_numpy(dtype=float)
    order = np.argsort(-np.abs(np.nan_to_num(weights)), axis=1)[:, :top]
    texts = []
    for row, picks in enumerate(order):
        parts = [
            f"{COMPARISONS[k]} {level_name(COMPARISONS[k], levels[row, k])} {weights[row, k]:+.1f}"
            for k in picks
            if not np.isnan(weights[row, k]) and weights[row, k] != 0
        ]
        texts.append("; ".join(parts))
    return pd.Series(texts, index=pairs.index, dtype=object)


def level_name(comparison: str, level: float) -> str:
    """A comparison level in words, e.g. 'exact' or 'missing', as the reasons and the report's waterfall name it."""
    if np.isnan(level) or level == MISSING:
        return "missing"
    return LEVELS[comparison][int(level)]


def _weights(conn: sa.Connection, queue: pd.DataFrame) -> pd.DataFrame:
    """The queued pairs' per-comparison levels and weights from match_pair (same run, same keys)."""
    columns = [MATCH_PAIR.c[k] for k in PAIR_KEYS]
    columns += [MATCH_PAIR.c[f"level_{k}"] for k in COMPARISONS] + [MATCH_PAIR.c[f"w_{k}"] for k in COMPARISONS]
    pairs = read_frame(conn, sa.select(*columns).where(MATCH_PAIR.c.decision == "review"))
    return pairs.merge(queue[PAIR_KEYS], on=PAIR_KEYS)


def _people(conn: sa.Connection, queue: pd.DataFrame) -> pd.DataFrame:
    """The canonical person rows the queue names, keyed by source_system and source_id."""
    person = CANONICAL["person"]
    wanted = pd.concat(
        [queue[[f"source_system{s}", f"source_id{s}"]].set_axis(["source_system", "person_id"], axis=1) for s in SIDES]
    ).drop_duplicates()
    frames = []
    for system, ids in wanted.groupby("source_system")["person_id"]:
        select = sa.select(person.c.source_system, person.c.person_id, *(person.c[f] for f in PERSON_FIELDS))
        for chunk in np.array_split(ids.to_numpy(), max(1, len(ids) // 500 + 1)):
            query = select.where(person.c.source_system == system, person.c.person_id.in_(list(chunk)))
            frames.append(read_frame(conn, query))
    return pd.concat(frames, ignore_index=True).rename(columns={"person_id": "source_id"})


def _columns() -> list[str]:
    head = ["review_id", "match_probability", "match_weight", "reason", "top_reasons"]
    sides = [f"{name}{side}" for side in SIDES for name in ("source_system", "source_id", "master_id", *PERSON_FIELDS)]
    return head + sides + [f"level_{k}" for k in COMPARISONS] + [f"w_{k}" for k in COMPARISONS]


def _empty() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=object) for name in _columns()})

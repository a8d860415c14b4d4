"""Reading reviewers' decisions back: every row checked against the queue, all stored or none.

A partly filled file is normal: rows without a decision are skipped. A row that names a pair
the target does not know, whose record keys disagree with its review_id, or whose decision is
not a code is an error naming the file's row number; all such errors are reported together and
nothing is stored, so a file can be fixed and imported again without double counting. Messages
name rows and columns, never a cell's value (the cells hold children's records).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from reconcile.decisions import DECISIONS, latest_decisions, record_decisions
from reconcile.errors import ReconcileError
from reconcile.sql_frames import read_frame
from reconcile.store import REVIEW_DECISION, REVIEW_QUEUE
from reports.review_file import read_review_file
from reports.review_pairs import PAIR_KEYS

REQUIRED = ["review_id", *PAIR_KEYS, "decision"]
MAX_REVIEWER = REVIEW_DECISION.c.reviewer.type.length
SHOWN_ERRORS = 50


@dataclass(frozen=True)
class ImportSummary:
    stored: dict[str, int] = field(default_factory=dict)  # decision code -> rows stored
    skipped: int = 0  # rows without a decision
    unchanged: int = 0  # rows repeating the decision already stored for the pair


def import_review(
    engine: sa.Engine, path: Path, reviewer: str | None = None, *, replace: bool = False
) -> ImportSummary:
    """Validate `path` against the review queue and store its decisions in review_decision.

    `replace`: let this file lift a NOT_MATCH in force. Without it such a row is an error, so
    re-importing an old file can never undo a later NOT_MATCH (a false merge). Files are not told apart
    by name: every export is called review_queue.xlsx until someone renames it."""
    rows = read_review_file(path)
    missing = [c for c in REQUIRED if c not in rows.columns]
    if missing:
        raise ReconcileError(
            f"{path}: missing column(s) {', '.join(missing)}. Fix: import the file `reconcile review export` "
            "wrote, with its header row as it was."
        )
    for optional in ("reviewer", "note"):
        if optional not in rows.columns:
            rows[optional] = ""
    known = _known_pairs(engine)
    latest = latest_decisions(engine)
    kept_apart = set() if replace or latest.empty else _kept_apart(latest)
    decided, skipped, errors = _decided_rows(rows, known, (reviewer or "").strip(), kept_apart)
    if errors:
        shown = errors[:SHOWN_ERRORS] + (
            [f"... and {len(errors) - SHOWN_ERRORS} more"] if len(errors) > SHOWN_ERRORS else []
        )
        listing = "\n  ".join(shown)
        raise ReconcileError(f"{path}: {len(errors)} problem(s), nothing stored:\n  {listing}")
    fresh, unchanged = _new_decisions(decided, latest)
    fresh = fresh.assign(decided_at=datetime.now(timezone.utc).replace(tzinfo=None), file=path.name)
    record_decisions(engine, fresh)
    return ImportSummary(stored=dict(Counter(fresh["decision"])), skipped=skipped, unchanged=unchanged)


def _known_pairs(engine: sa.Engine) -> pd.DataFrame:
    """Pairs a file may answer: the current queue, and pairs decided before (a reviewer may change their mind)."""
    with engine.connect() as conn:
        queue = read_frame(
            conn, sa.select(REVIEW_QUEUE.c.review_id, *(REVIEW_QUEUE.c[k] for k in PAIR_KEYS), REVIEW_QUEUE.c.run_id)
        )
    earlier = latest_decisions(engine)
    if not earlier.empty:
        queue = pd.concat([queue, earlier[queue.columns]], ignore_index=True)
    return queue.drop_duplicates("review_id").set_index("review_id")


def _kept_apart(latest: pd.DataFrame) -> set[str]:
    """Pairs whose decision in force is a NOT_MATCH."""
    return set(latest.loc[latest["decision"] == "NOT_MATCH", "review_id"])


def _decided_rows(
    rows: pd.DataFrame, known: pd.DataFrame, reviewer: str, kept_apart: set[str]
) -> tuple[pd.DataFrame, int, list[str]]:
    """The rows holding a decision, checked; the number of rows without one; every row's problems."""
    errors: list[str] = []
    decided: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    skipped = 0
    for row in rows.to_dict("records"):
        number = row["row"]
        if not row["decision"]:
            if any(row[c] for c in REQUIRED):  # a wholly empty row is not a row
                skipped += 1
            continue
        problems = _row_problems(row, known, reviewer, seen)
        if row["review_id"] in kept_apart and _code(row["decision"]) != "NOT_MATCH":
            problems.append(
                "a NOT_MATCH stored by an earlier import is in force for this pair; this row would lift it. Fix: "
                "leave the decision empty, or import with --replace if the pair really is one person"
            )
        errors += [f"row {number}: {problem}" for problem in problems]
        seen.setdefault(row["review_id"], number)
        if not problems:
            pair = known.loc[row["review_id"]]
            decided.append(
                {
                    "review_id": row["review_id"],
                    **{k: pair[k] for k in PAIR_KEYS},
                    "decision": _code(row["decision"]),
                    "reviewer": row["reviewer"] or reviewer,
                    "note": row["note"] or None,
                    "run_id": pair["run_id"],
                }
            )
    return (
        pd.DataFrame(decided, columns=["review_id", *PAIR_KEYS, "decision", "reviewer", "note", "run_id"]),
        skipped,
        errors,
    )


def _row_problems(row: dict[str, str], known: pd.DataFrame, reviewer: str, seen: dict[str, int]) -> list[str]:
    problems = []
    if _code(row["decision"]) not in DECISIONS:
        problems.append("decision must be MATCH, NOT_MATCH or UNSURE (or empty to skip the pair)")
    review_id = row["review_id"]
    if review_id not in known.index:
        problems.append(
            "review_id is not a pair in the review queue. Fix: do not edit review_id; export the queue again "
            "if `reconcile match` has run since"
        )
    elif not _same_pair(row, known.loc[review_id]):
        problems.append(
            "the record keys (source_system_l/r, source_id_l/r) do not match review_id. Fix: do not edit them"
        )
    if review_id in seen:
        problems.append(f"the pair is decided again here, after row {seen[review_id]}. Fix: keep one of the rows")
    if not (row["reviewer"] or reviewer):
        problems.append("no reviewer. Fix: fill the reviewer column or pass --reviewer NAME")
    elif len(row["reviewer"] or reviewer) > MAX_REVIEWER:
        problems.append(f"reviewer longer than {MAX_REVIEWER} characters")
    return problems


def _same_pair(row: dict[str, str], pair: pd.Series) -> bool:
    """Either way round: review_id does not depend on which record came first."""
    left, right = (row["source_system_l"], row["source_id_l"]), (row["source_system_r"], row["source_id_r"])
    expected = {(pair["source_system_l"], pair["source_id_l"]), (pair["source_system_r"], pair["source_id_r"])}
    return left != right and {left, right} == expected


def _code(typed: str) -> str:
    """What a reviewer typed as a decision code: ' not match ', 'Not-Match' and 'not_match' are NOT_MATCH."""
    return re.sub(r"[\s\-]+", "_", typed.strip()).upper()


def _new_decisions(decided: pd.DataFrame, latest: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop rows that repeat the pair's stored decision word for word, so importing a file twice adds nothing."""
    if decided.empty or latest.empty:
        return decided, 0
    compared = ["review_id", "decision", "reviewer", "note"]
    before = latest[compared].astype(object).where(latest[compared].notna(), None)
    repeat = decided[compared].astype(object).merge(before, how="left", indicator=True)["_merge"] == "both"
    return decided[~repeat.to_numpy()].reset_index(drop=True), int(repeat.sum())

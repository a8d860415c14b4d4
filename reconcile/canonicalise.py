"""One chunk of raw source rows -> rejected rows (`screen`), then canonical rows and field problems.

Pure functions of their inputs, so they can run on any partition anywhere. A row is rejected
only when it cannot be used at all (no ID, or an ID already seen); a bad field is set
aside and recorded against that field, and the row is kept. Each kept row's canonical row
depends on its own values (and the day) alone, so a night canonicalises only changed rows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from reconcile.config import EntitySpec
from reconcile.fields import clean_text, map_codes, parse_dates
from reconcile.model import Entity

ISSUE_COLUMNS = ["source_system", "entity", "source_id", "field", "raw_value", "problem"]
REJECT_COLUMNS = ["source_system", "entity", "source_id", "raw_row", "reason"]
MAX_ID_LENGTH = 128  # the target's ID columns; longer IDs would abort a PostgreSQL load


def source_ids(frame: pd.DataFrame, entity: Entity) -> pd.Series:
    """The row's own ID as text. Composite keys are joined with '|'; a missing required part makes it None."""
    parts = []
    for name in entity.key:
        text = clean_text(frame[name])[0] if name in frame else pd.Series(None, index=frame.index, dtype=object)
        parts.append(text if entity.column(name).required else text.fillna(""))
    if len(parts) == 1:
        return parts[0]
    return _joined(parts)


def _joined(parts: list[pd.Series]) -> pd.Series:
    """The parts' text joined by '|', None where any part is missing, by NumPy's loop over objects (pandas'
    `str.cat` through its string dtype took four times as long)."""
    values = [part.to_numpy(dtype=object) for part in parts]
    missing = np.logical_or.reduce([pd.isna(v) for v in values])
    joined = np.where(missing, "", values[0])
    for more in values[1:]:
        joined = np.add(np.add(joined, "|"), np.where(missing, "", more))
    joined[missing] = None
    return pd.Series(joined, index=parts[0].index, dtype=object)


@dataclass(frozen=True)
class Screened:
    ids: pd.Series  # each row's source ID (None where missing)
    keep: pd.Series  # bool per row: not rejected
    rejected: pd.DataFrame  # REJECT_COLUMNS


def screen(frame: pd.DataFrame, entity: Entity, source_system: str, seen: frozenset[str] | set[str]) -> Screened:
    """Which rows are rejected, and why: no ID, an ID too long, or one already read (here or in `seen`)."""
    ids = source_ids(frame, entity)
    missing = ids.isna()
    present = ids.notna().to_numpy()
    lengths = np.zeros(len(ids), dtype=np.int64)
    lengths[present] = np.fromiter(map(len, ids.to_numpy(dtype=object)[present]), dtype=np.int64, count=present.sum())
    too_long = pd.Series(lengths > MAX_ID_LENGTH, index=ids.index)
    repeated = ids.notna() & ~too_long & (ids.duplicated(keep="first") | _already_seen(ids, seen))
    reasons = pd.Series(None, index=frame.index, dtype=object)
    key_label = " or ".join(c for c in entity.key if entity.column(c).required)
    reasons = reasons.mask(missing, f"missing {key_label}")
    reasons = reasons.mask(repeated, f"duplicate {key_label} (the first row read was kept)")
    reasons = reasons.mask(too_long, f"{key_label} longer than {MAX_ID_LENGTH} characters")
    keep = reasons.isna()

    rejected = pd.DataFrame(
        {
            "source_system": source_system,
            "entity": entity.name,
            "source_id": ids[~keep].where(~too_long[~keep], None),  # a runaway ID stays in raw_row only
            "raw_row": [_raw_json(r) for r in frame[~keep].to_dict("records")],
            "reason": reasons[~keep],
        },
        columns=REJECT_COLUMNS,
    )
    return Screened(ids, keep, rejected.reset_index(drop=True))


def _already_seen(ids: pd.Series, seen: frozenset[str] | set[str]) -> pd.Series:
    """Whether each ID is in `seen`, by one set lookup per row: `isin` turned the whole set (every ID read so far)
    into an array for each chunk, which at a million records was a seventh of extract's time."""
    if not seen:
        return pd.Series(False, index=ids.index)
    found = np.fromiter((i in seen for i in ids.to_numpy(dtype=object)), dtype=bool, count=len(ids))
    return pd.Series(found, index=ids.index)


def canonical_rows(
    kept: pd.DataFrame, kept_ids: pd.Series, entity: Entity, spec: EntitySpec, source_system: str, today: date
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(canonical rows, ISSUE_COLUMNS) of rows `screen` kept; each row's result depends on its values alone."""
    if kept.empty:  # most chunks of a night: the frames the loop below gives, without its dozens of passes
        names = ["source_system", *(col.name for col in entity.columns)]
        return pd.DataFrame({name: pd.Series([], dtype=object) for name in names}), pd.DataFrame(columns=ISSUE_COLUMNS)
    columns: dict[str, pd.Series] = {"source_system": pd.Series(source_system, index=kept.index, dtype=object)}
    issues: list[pd.DataFrame] = []
    for col in entity.columns:
        raw = kept[col.name] if col.name in kept else pd.Series(None, index=kept.index, dtype=object)
        if col.type in ("date", "datetime"):
            values, problems = parse_dates(raw, spec.formats.get(col.name), col.type, today, col.past_only)
        elif col.type == "code" or col.name in spec.values:
            values, problems = map_codes(raw, col.name, spec.values.get(col.name, {}), col.codes)
        else:
            values, problems = clean_text(raw)
        columns[col.name] = values
        flagged = problems.notna()
        if flagged.any():
            issues.append(
                pd.DataFrame(
                    {
                        "source_system": source_system,
                        "entity": entity.name,
                        "source_id": kept_ids[flagged],
                        "field": col.name,
                        "raw_value": [_raw_text(v) for v in raw[flagged]],
                        "problem": problems[flagged],
                    },
                    columns=ISSUE_COLUMNS,
                )
            )
    rows = pd.DataFrame(columns, index=kept.index)
    issue_frame = pd.concat(issues, ignore_index=True) if issues else pd.DataFrame(columns=ISSUE_COLUMNS)
    return rows.reset_index(drop=True), issue_frame


def _raw_text(value: object) -> str | None:
    """The value as the source held it; undecodable bytes are escaped rather than lost."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "backslashreplace")
    text = value if isinstance(value, str) else str(value)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _raw_json(row: dict[str, object]) -> str:
    return json.dumps({k: _raw_text(v) for k, v in row.items()}, ensure_ascii=False)

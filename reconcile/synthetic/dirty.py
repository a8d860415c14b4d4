"""A few deliberately broken rows, of the kinds loaders and checks must survive.

Each kind hits about DIRTY_RATE of the eligible rows of each system (at least one from
EVERY_KIND_FROM_PEOPLE people on) and never a row whose DOB already carries another
planted feature, so every planted row shows exactly what it says.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.synthetic import settings as S
from reconcile.synthetic.sampling import DAY, Stage, iso
from reconcile.synthetic.truth import planted

# (month, day) pairs that no calendar has, kept in ISO order until the layout writes them out
IMPOSSIBLE_DAYS = ("02-30", "02-31", "04-31", "06-31", "09-31", "11-31")


def dirty(stage: Stage, rows: pd.DataFrame, contact: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(rows, contacts, planted) with the dirty rows in; the inputs are not changed."""
    rows = rows.copy()
    contact = contact.copy()
    found: list[pd.DataFrame] = []
    system = rows["system"].to_numpy()
    real = ~rows["placeholder"].to_numpy()
    for name in S.SYSTEMS:
        mine = real & (system == name)
        found.append(_sex(stage, rows, mine))
        found.append(_dobs(stage, rows, mine & ~rows["dob_swapped"].to_numpy()))
        found.append(_decision_before_contact(stage, contact, contact["system"].to_numpy() == name))
    extra = []
    for name, kind in (
        (S.SYSTEMS[0], "duplicate_source_id"),
        (S.SYSTEMS[1], "duplicate_source_id"),
        (S.SYSTEMS[1], "null_person_id"),
    ):
        source = rows[stage.pick(real & (system == name) & ~rows["duplicate"].to_numpy(), S.DIRTY_RATE)].copy()
        source["modified_at"] = source["modified_at"].to_numpy() + DAY
        if kind == "null_person_id":
            source["person_id"] = None
        extra.append(source)
        found.append(planted(source, np.ones(len(source), dtype=bool), "person", "person_id", kind))
    rows = pd.concat([rows, *extra], ignore_index=True)
    return rows, contact, pd.concat(found, ignore_index=True)


def _sex(stage: Stage, rows: pd.DataFrame, eligible: np.ndarray) -> pd.DataFrame:
    """A sex code in neither system's list nor any synonym list ('X'; 'Indeterminate' would read as U)."""
    mask = stage.pick(eligible, S.DIRTY_RATE)
    rows.loc[mask, "sex"] = "X"
    return planted(rows, mask, "person", "person_id", "unknown_sex_code")


def _dobs(stage: Stage, rows: pd.DataFrame, eligible: np.ndarray) -> pd.DataFrame:
    """Dates of birth in the future, and ones no calendar has (31/02/2015)."""
    dob = rows["dob"].to_numpy()
    text = dob if dob.dtype == object else iso(dob)
    present = pd.notna(text)
    future = stage.pick(eligible & present, S.DIRTY_RATE)
    text[future] = iso(stage.ref + stage.days(1, 400, int(future.sum())))
    impossible = stage.pick(eligible & present & ~future, S.DIRTY_RATE)
    days = stage.draw(list(IMPOSSIBLE_DAYS), int(impossible.sum()))
    text[impossible] = [f"{d[:4]}-{md}" for d, md in zip(text[impossible], days, strict=True)]
    rows["dob"] = text
    return pd.concat(
        [
            planted(rows, future, "person", "person_id", "future_dob"),
            planted(rows, impossible, "person", "person_id", "impossible_dob"),
        ],
        ignore_index=True,
    )


def _decision_before_contact(stage: Stage, contact: pd.DataFrame, eligible: np.ndarray) -> pd.DataFrame:
    """A decision stamped up to three days before the contact it decides."""
    on_time = ~contact["late"].to_numpy() & ~contact["missing"].to_numpy()
    mask = stage.pick(eligible & on_time, S.DIRTY_RATE)
    received = contact["contact_datetime"].to_numpy()[mask].astype("datetime64[m]")
    contact.loc[mask, "decision_datetime"] = received - stage.minutes(60, 3 * 24 * 60, int(mask.sum())).astype(
        "timedelta64[m]"
    )
    return planted(contact, mask, "contact", "contact_id", "decision_before_contact")

"""The answer key: which rows are the same person, and every feature planted on purpose.

Scoring of matching and risk rules reads these tables, so they are built from the very
masks that changed the data, never re-derived from it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.synthetic.sampling import Mask, iso

# Every kind of planted feature, by the entity whose rows carry it.
PLANTED_KINDS: dict[str, tuple[str, ...]] = {
    "person": (
        "transliteration",
        "nickname",
        "middle_names_missing",
        "surname_change",
        "double_barrelled",
        "typo",
        "name_swap",
        "dob_day_month_swap",
        "nhs_missing",
        "nhs_mistyped",
        "moved_address",
        "twin",
        "unborn_placeholder",
        "unborn_overdue",
        "within_system_duplicate",
        "unknown_sex_code",
        "future_dob",
        "impossible_dob",
        "duplicate_source_id",
        "null_person_id",
    ),
    "contact": ("contact_decision_late", "contact_decision_missing", "consent_missing", "decision_before_contact"),
    "cp_plan": ("cp_plan_one_system_only",),
    "involvement": ("open_in_both_systems",),
}
PLANTED_COLUMNS = ("source_system", "entity", "source_id", "kind")
PERSON_TRUTH_COLUMNS = (
    "source_system",
    "person_id",
    "true_id",
    "family_id",
    "role",
    "twin_group",
    "is_within_system_duplicate",
)


def planted(frame: pd.DataFrame, mask: Mask, entity: str, id_column: str, kind: str) -> pd.DataFrame:
    """One `planted` row per masked row of an internal frame (which carries a `system` column)."""
    mask = np.asarray(mask, dtype=bool)
    return pd.DataFrame(
        {
            "source_system": frame["system"].to_numpy()[mask],
            "entity": entity,
            "source_id": frame[id_column].to_numpy()[mask],
            "kind": kind,
        },
        columns=list(PLANTED_COLUMNS),
    )


def person_truth(rows: pd.DataFrame, pop: pd.DataFrame) -> pd.DataFrame:
    """One row per person row of either system, NULL IDs included."""
    true = rows["true"].to_numpy()
    return pd.DataFrame(
        {
            "source_system": rows["system"].to_numpy(),
            "person_id": rows["person_id"].to_numpy(),
            "true_id": pop["true_id"].to_numpy()[true],
            "family_id": pop["family_id"].to_numpy()[true],
            "role": pop["role"].to_numpy()[true],
            "twin_group": pop["twin_group"].to_numpy()[true],
            "is_within_system_duplicate": rows["duplicate"].to_numpy().astype(int),
        },
        columns=list(PERSON_TRUTH_COLUMNS),
    )


def true_person(pop: pd.DataFrame) -> pd.DataFrame:
    """The real people behind the rows, for debugging and for scoring beyond IDs."""
    out = pop[
        [
            "true_id",
            "family_id",
            "role",
            "forename",
            "middle_names",
            "surname",
            "sex",
            "nhs_number",
            "upn",
            "postcode",
            "twin_group",
            "unborn_state",
        ]
    ].copy()
    for col in ("dob", "expected_dob", "death_date"):
        out.insert(out.columns.get_loc("sex"), col, iso(pop[col].to_numpy()))
    return out.astype(object).where(out.notna(), None)

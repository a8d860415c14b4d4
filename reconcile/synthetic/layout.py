"""The two legacy layouts: where each canonical column lives, and how each system writes it.

One description per system drives both the writing of its tables and the reconcile.yaml
that reads them back, so the demo config cannot drift from the demo data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from reconcile.model import ENTITIES

# Internal relationship codes are finer than the model's: Mosaic says brother or sister.
CANONICAL_CODE = {"brother": "sibling", "sister": "sibling"}
FORMAT_POSITIONS = {"Y": (0, 4), "m": (5, 7), "d": (8, 10), "H": (11, 13), "M": (14, 16), "S": (17, 19)}


@dataclass(frozen=True)
class EntityLayout:
    """Where one canonical entity sits in a legacy database."""

    entity: str
    table: str
    columns: tuple[tuple[str, str], ...]  # (canonical, legacy), in the legacy table's order
    use_query: bool = False  # read with a SELECT rather than table + columns
    where: tuple[str, str] | None = None  # (legacy column, value) marking this entity's rows in a shared table
    stored_as_datetime: tuple[str, ...] = ()  # canonical date columns the system keeps with a time

    def __post_init__(self) -> None:
        if (self.where or self.stored_as_datetime) and not self.use_query:
            raise ValueError(f"{self.table}: a filter or a date cut from a datetime needs a query")


@dataclass(frozen=True)
class SystemLayout:
    """One legacy system: its database file, its date habits, its codes and its tables."""

    name: str
    database: str
    date_format: str
    datetime_format: str
    values: dict[str, dict[str, str]]  # canonical column -> internal code -> legacy code
    entities: tuple[EntityLayout, ...]

    def storage_format(self, ent: EntityLayout, canonical: str) -> str | None:
        """The strftime format a column is written in, or None for non-date columns."""
        kind = ENTITIES[ent.entity].column(canonical).type
        if kind == "datetime" or (kind == "date" and canonical in ent.stored_as_datetime):
            return self.datetime_format
        return self.date_format if kind == "date" else None

    def read_format(self, ent: EntityLayout, canonical: str) -> str | None:
        """The strftime format a reader sees (a datetime cut to its date part reads as a date)."""
        kind = ENTITIES[ent.entity].column(canonical).type
        return self.date_format if kind == "date" else self.datetime_format if kind == "datetime" else None


def _cols(pairs: str) -> tuple[tuple[str, str], ...]:
    """Space-separated 'canonical=LEGACY' pairs, or just 'name' where both agree."""
    return tuple((p.split("=")[0], p.split("=")[-1]) for p in pairs.split())


LCS = SystemLayout(
    name="lcs",
    database="lcs.db",
    date_format="%Y-%m-%d",
    datetime_format="%Y-%m-%d %H:%M:%S",
    values={
        "relationship": {
            "mother": "MOTHER",
            "father": "FATHER",
            "brother": "SIBLING",
            "sister": "SIBLING",
            "sibling": "SIBLING",
        }
    },
    entities=(
        EntityLayout(
            "person",
            "LCS_PERSON",
            _cols(
                "person_id=PERSON_ID forename=FORENAME middle_names=MIDDLE_NAMES surname=SURNAME dob=DOB "
                "expected_dob=EXPECTED_DOB sex=GENDER nhs_number=NHS_NUMBER upn=UPN postcode=POSTCODE "
                "address=ADDRESS_LINE ethnicity=ETHNICITY death_date=DATE_OF_DEATH "
                "modified_at=LAST_UPDATED"
            ),
        ),
        EntityLayout(
            "relationship",
            "LCS_RELATIONSHIP",
            _cols("person_id=PERSON_ID related_person_id=RELATED_PERSON_ID relationship=RELATIONSHIP_TYPE"),
        ),
        EntityLayout(
            "contact",
            "LCS_CONTACT",
            _cols(
                "contact_id=CONTACT_ID person_id=PERSON_ID contact_datetime=CONTACT_DTTM "
                "decision_datetime=DECISION_DTTM outcome=OUTCOME_CODE consent=CONSENT_FLAG "
                "source=SOURCE_CODE"
            ),
            use_query=True,
        ),
        EntityLayout(
            "referral",
            "LCS_REFERRAL",
            _cols("referral_id=REFERRAL_ID person_id=PERSON_ID referral_date=REFERRAL_DATE outcome=REFERRAL_OUTCOME"),
            use_query=True,
        ),
        EntityLayout(
            "assessment",
            "LCS_ASSESSMENT",
            _cols(
                "assessment_id=ASSESSMENT_ID person_id=PERSON_ID start_date=START_DATE completed_date=COMPLETED_DATE"
            ),
        ),
        EntityLayout(
            "cp_plan",
            "LCS_CP_PLAN",
            _cols("plan_id=CP_PLAN_ID person_id=PERSON_ID start_date=START_DATE end_date=END_DATE category=CATEGORY"),
        ),
        EntityLayout(
            "involvement",
            "LCS_ALLOCATION",
            _cols(
                "involvement_id=ALLOCATION_ID person_id=PERSON_ID team=TEAM_NAME worker=WORKER_NAME "
                "start_date=START_DATE end_date=END_DATE"
            ),
        ),
    ),
)

MOSAIC = SystemLayout(
    name="mosaic",
    database="mosaic.db",
    date_format="%d/%m/%Y",
    datetime_format="%d/%m/%Y %H:%M",
    values={
        "sex": {"M": "Male", "F": "Female", "U": "Not known"},
        "consent": {"Y": "Yes", "N": "No"},
        "relationship": {
            "mother": "Mother",
            "father": "Father",
            "brother": "Brother",
            "sister": "Sister",
            "sibling": "Sibling",
        },
    },
    entities=(
        EntityLayout(
            "person",
            "people",
            _cols(
                "person_id forename=first_name middle_names=other_names surname=last_name "
                "dob=date_of_birth expected_dob=due_date sex=gender nhs_number=nhs_no upn "
                "postcode=post_code address ethnicity death_date=date_of_death modified_at=updated_on"
            ),
        ),
        EntityLayout(
            "relationship",
            "person_relationships",
            _cols("person_id related_person_id relationship=relationship_type"),
        ),
        EntityLayout(
            "contact",
            "workflow_steps",
            _cols(
                "contact_id=step_id person_id contact_datetime=started_on decision_datetime=completed_on "
                "outcome consent source"
            ),
            use_query=True,
            where=("step_type", "CONTACT"),
        ),
        EntityLayout(
            "referral",
            "workflow_steps",
            _cols("referral_id=step_id person_id referral_date=started_on outcome"),
            use_query=True,
            where=("step_type", "REFERRAL"),
            stored_as_datetime=("referral_date",),
        ),
        EntityLayout(
            "assessment",
            "workflow_steps",
            _cols("assessment_id=step_id person_id start_date=started_on completed_date=completed_on"),
            use_query=True,
            where=("step_type", "ASSESSMENT"),
            stored_as_datetime=("start_date", "completed_date"),
        ),
        EntityLayout(
            "cp_plan",
            "registrations",
            _cols("plan_id=registration_id person_id start_date end_date category"),
            use_query=True,
            where=("registration_type", "CP"),
        ),
        EntityLayout(
            "involvement",
            "allocations",
            _cols("involvement_id=allocation_id person_id team worker=worker_name start_date end_date"),
        ),
    ),
)
LAYOUTS = (LCS, MOSAIC)


def render(layout: SystemLayout, frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Legacy tables (all TEXT, None for NULL) from internal frames holding this system's rows."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for ent in layout.entities:
        frame = frames[ent.entity]
        out: dict[str, np.ndarray] = {}
        for canonical, legacy in ent.columns:
            values = frame[canonical].to_numpy()
            fmt = layout.storage_format(ent, canonical)
            if fmt is not None:
                values = format_dates(values, fmt)
            elif canonical in layout.values:
                codes = layout.values[canonical]
                values = np.array([codes.get(v, v) if v is not None else None for v in values], dtype=object)
            out[legacy] = _text(values)
            if ent.where and len(out) == 1:
                out[ent.where[0]] = np.full(len(frame), ent.where[1], dtype=object)
        parts.setdefault(ent.table, []).append(pd.DataFrame(out))
    tables = {}
    for table, found in parts.items():
        columns = list(dict.fromkeys(c for part in found for c in part.columns))
        found = [
            part.assign(**{c: np.full(len(part), None, dtype=object) for c in columns if c not in part})[columns]
            for part in found
        ]
        joined = pd.concat(found, ignore_index=True)
        if len(found) > 1:  # a shared table reads in ID order, as the system would list it
            joined = joined.sort_values(columns[0], kind="stable", ignore_index=True)
        tables[table] = joined
    return tables


def _text(values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=object).copy()
    missing = pd.isna(out)
    out[missing] = None
    return out


def format_dates(values: np.ndarray, fmt: str) -> np.ndarray:
    """Dates or datetimes (datetime64, or ISO text that may name an impossible day) in `fmt`.

    Works on the characters of the ISO form, so '2015-02-31' comes out as '31/02/2015'
    exactly as a careless legacy screen would have stored it.
    """
    if np.issubdtype(values.dtype, np.datetime64):
        present = ~np.isnat(values)
        text = np.datetime_as_string(values[present].astype("datetime64[s]"), unit="s")
    else:
        present = pd.notna(values)
        text = values[present].astype("<U19")
    codes = np.ascontiguousarray(text.astype("<U19")).view(np.uint32).reshape(-1, 19).copy()
    short = codes[:, 10] == 0
    codes[short, 10:] = np.frombuffer("T00:00:00".encode("utf-32-le"), dtype=np.uint32)
    template = _template(fmt)
    out = np.empty((len(codes), len(template)), dtype=np.uint32)
    for j, piece in enumerate(template):
        out[:, j] = codes[:, piece] if isinstance(piece, int) else ord(piece)
    result = np.full(len(values), None, dtype=object)
    result[present] = out.view(f"<U{len(template)}").ravel().astype(object)
    return result


def _template(fmt: str) -> list[int | str]:
    """A strftime format as source character positions (ints) and literal characters."""
    out: list[int | str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            start, end = FORMAT_POSITIONS[fmt[i + 1]]
            out += list(range(start, end))
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return out


def date_part_length(layout: SystemLayout) -> int:
    """How many leading characters of a stored datetime make its date."""
    return len(date(2000, 1, 1).strftime(layout.date_format))

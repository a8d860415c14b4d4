"""The canonical model: the one place that says what every connector must produce.

Entity and column names follow the Standard Safeguarding Dataset (SSD), simplified.
Everything else (target tables, config checks, the README table, `reconcile model`)
is derived from the definitions here, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["id", "text", "date", "datetime", "code"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    meaning: str
    required: bool = False
    codes: tuple[str, ...] = ()  # closed code set; empty means any value is kept
    past_only: bool = False  # an event that cannot lie in the future, so a future value is set aside


@dataclass(frozen=True)
class Entity:
    name: str
    meaning: str
    key: tuple[str, ...]  # columns that identify a row within one source
    columns: tuple[Column, ...]
    required: bool = False
    references: tuple[str, ...] = field(default=("person_id",))

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


SEX_CODES = ("M", "F", "U")
CONSENT_CODES = ("Y", "N")
RELATIONSHIP_CODES = ("mother", "father", "parent", "sibling", "other")

PERSON = Entity(
    "person",
    "A child, young person, parent or carer as one legacy system records them.",
    key=("person_id",),
    required=True,
    references=(),
    columns=(
        Column("person_id", "id", "The legacy system's own person ID.", required=True),
        Column("forename", "text", "First name as recorded, including placeholders such as 'Baby'."),
        Column("middle_names", "text", "Middle names, space separated."),
        Column("surname", "text", "Family name; double-barrelled names kept whole."),
        Column("dob", "date", "Date of birth. Set aside if unparseable, before 1900 or in the future.", past_only=True),
        Column("expected_dob", "date", "Expected date of birth of an unborn child."),
        Column("sex", "code", "Recorded sex.", codes=SEX_CODES),
        Column("nhs_number", "text", "NHS number as recorded; check digits are judged later, not here."),
        Column("upn", "text", "Unique Pupil Number as recorded."),
        Column(
            "alt_id",
            "text",
            "Another identifier that names one person wherever it is held (for example a Unique Learner Number, "
            "National Insurance number or Home Office reference); never a family or case reference.",
        ),
        Column("postcode", "text", "Postcode of the current address."),
        Column("address", "text", "Current address, one line."),
        Column("ethnicity", "text", "Ethnicity code or description as recorded."),
        Column("death_date", "date", "Date of death. Set aside if in the future.", past_only=True),
        Column("modified_at", "datetime", "When the source last changed this record."),
    ),
)

RELATIONSHIP = Entity(
    "relationship",
    "A family link between two people held by the same system.",
    key=("person_id", "related_person_id", "relationship"),
    references=("person_id", "related_person_id"),
    columns=(
        Column("person_id", "id", "The person the link starts from.", required=True),
        Column("related_person_id", "id", "The related person.", required=True),
        Column(
            "relationship",
            "code",
            "What related_person_id is to person_id.",
            codes=RELATIONSHIP_CODES,
        ),
    ),
)

CONTACT = Entity(
    "contact",
    "A contact received at the front door (MASH), with its decision.",
    key=("contact_id",),
    columns=(
        Column("contact_id", "id", "The legacy system's contact ID.", required=True),
        Column("person_id", "id", "The child the contact is about."),
        Column("contact_datetime", "datetime", "When the contact was received.", past_only=True),
        Column("decision_datetime", "datetime", "When the front door decided what to do.", past_only=True),
        Column("outcome", "text", "The decision, e.g. NFA, referral, early help."),
        Column("consent", "code", "Whether consent was recorded (Y/N); empty if not recorded.", codes=CONSENT_CODES),
        Column("source", "text", "Who made the contact, e.g. police, school, health."),
    ),
)

REFERRAL = Entity(
    "referral",
    "A referral to children's social care.",
    key=("referral_id",),
    columns=(
        Column("referral_id", "id", "The legacy system's referral ID.", required=True),
        Column("person_id", "id", "The child referred."),
        Column("referral_date", "date", "When the referral was made.", past_only=True),
        Column("outcome", "text", "What followed the referral."),
    ),
)

ASSESSMENT = Entity(
    "assessment",
    "A social work assessment.",
    key=("assessment_id",),
    columns=(
        Column("assessment_id", "id", "The legacy system's assessment ID.", required=True),
        Column("person_id", "id", "The child assessed."),
        Column("start_date", "date", "When the assessment started."),
        Column("completed_date", "date", "When it was completed; empty while open."),
    ),
)

CP_PLAN = Entity(
    "cp_plan",
    "A child protection plan.",
    key=("plan_id",),
    columns=(
        Column("plan_id", "id", "The legacy system's plan ID.", required=True),
        Column("person_id", "id", "The child on the plan."),
        Column("start_date", "date", "When the plan started."),
        Column("end_date", "date", "When it ended; empty while active."),
        Column("category", "text", "Category of abuse, e.g. neglect, emotional."),
    ),
)

INVOLVEMENT = Entity(
    "involvement",
    "An open case or allocation of a worker or team.",
    key=("involvement_id",),
    columns=(
        Column("involvement_id", "id", "The legacy system's allocation ID.", required=True),
        Column("person_id", "id", "The child allocated."),
        Column("team", "text", "Allocated team."),
        Column("worker", "text", "Allocated worker."),
        Column("start_date", "date", "When the allocation started."),
        Column("end_date", "date", "When it ended; empty while open."),
    ),
)

ENTITIES: dict[str, Entity] = {
    e.name: e for e in (PERSON, RELATIONSHIP, CONTACT, REFERRAL, ASSESSMENT, CP_PLAN, INVOLVEMENT)
}


# Fields a master record keeps one value of: every person column but the record's own ID and timestamp.
SURVIVING_FIELDS = tuple(c.name for c in PERSON.columns if c.name not in ("person_id", "modified_at"))


def entity(name: str) -> Entity:
    return ENTITIES[name]


def markdown_table() -> str:
    """The model as Markdown; the README embeds exactly this and a test keeps them equal."""
    lines = ["| entity | column | type | required | meaning |", "|---|---|---|---|---|"]
    for ent in ENTITIES.values():
        for col in ent.columns:
            kind = col.type if not col.codes else f"code ({'/'.join(col.codes)})"
            needed = "yes" if col.required else ""
            lines.append(f"| `{ent.name}` | `{col.name}` | {kind} | {needed} | {col.meaning} |")
    return "\n".join(lines)

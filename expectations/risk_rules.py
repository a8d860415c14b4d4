"""The master (risk) suite: named rules, each flagging the records that could compromise a risk decision.

Every rule is a declarative object (a stable ID, a default severity, what it flags) with one
function over the reconciled tables. Every flagged record becomes a `risk_flag` row: no cap on
how many, and an explanation a practitioner can read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from expectations.deadlines import decision_due
from reconcile.masters.survivorship import placeholder as is_placeholder_name
from reconcile.matching.standardise import identifier

FLAG_COLUMNS = ["rule", "severity", "entity", "source_system", "source_id", "master_id", "explanation"]
SEVERITIES = ("critical", "high", "medium")


@dataclass
class Reconciled:
    """The published tables a rule reads, and the day it is judged on."""

    today: pd.Timestamp
    xref: pd.DataFrame  # source_system, person_id, master_id
    person: pd.DataFrame
    master_person: pd.DataFrame
    master_family: pd.DataFrame
    master_conflict: pd.DataFrame
    review_queue: pd.DataFrame
    contact: pd.DataFrame
    referral: pd.DataFrame
    cp_plan: pd.DataFrame
    involvement: pd.DataFrame
    deadline_working_days: int | None = 1
    deadline_hours: float | None = None

    def with_master(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.merge(self.xref, on=["source_system", "person_id"], how="left")

    def active_plans(self) -> pd.DataFrame:
        return self.with_master(_current(self.cp_plan, self.today))

    def open_cases(self) -> pd.DataFrame:
        return self.with_master(_current(self.involvement, self.today))

    def active_masters(self) -> set[str]:
        """Children with an active CP plan or an open case in any system."""
        return set(self.active_plans()["master_id"].dropna()) | set(self.open_cases()["master_id"].dropna())


@dataclass(frozen=True)
class RiskRule:
    id: str
    severity: str
    flags: str  # what it flags, as the README and the report say it
    find: Callable[[Reconciled], pd.DataFrame]  # entity, source_system, source_id, master_id, explanation

    def evaluate(self, data: Reconciled) -> pd.DataFrame:
        found = self.find(data)
        return found.assign(rule=self.id, severity=self.severity)[FLAG_COLUMNS]


def _current(frame: pd.DataFrame, today: pd.Timestamp) -> pd.DataFrame:
    """Started by today and not yet ended: an active plan, an open allocation."""
    start = pd.to_datetime(frame["start_date"], errors="coerce")
    end = pd.to_datetime(frame["end_date"], errors="coerce")
    return frame[(start.isna() | (start <= today)) & (end.isna() | (end > today))]


def _records(data: Reconciled, masters: pd.DataFrame) -> pd.DataFrame:
    """Every person record of the given masters; `masters` holds master_id and `why`, the explanation."""
    rows = data.xref.merge(masters[["master_id", "why"]].drop_duplicates("master_id"), on="master_id")
    return pd.DataFrame(
        {
            "entity": "person",
            "source_system": rows["source_system"],
            "source_id": rows["person_id"],
            "master_id": rows["master_id"],
            "explanation": rows["why"],
        }
    )


def cp_plan_not_visible(data: Reconciled) -> pd.DataFrame:
    plans = data.active_plans().dropna(subset=["master_id"])
    held = plans.groupby("master_id")["source_system"].agg(lambda s: ", ".join(sorted(set(s)))).rename("held")
    records = data.xref[data.xref["master_id"].isin(held.index)].join(held, on="master_id")
    planned = set(zip(plans["master_id"], plans["source_system"], strict=True))
    missing = records[
        [(m, s) not in planned for m, s in zip(records["master_id"], records["source_system"], strict=True)]
    ]
    return pd.DataFrame(
        {
            "entity": "person",
            "source_system": missing["source_system"],
            "source_id": missing["person_id"],
            "master_id": missing["master_id"],
            "explanation": "active child protection plan recorded in " + missing["held"] + " is not on this record",
        }
    )


def open_in_both_systems(data: Reconciled) -> pd.DataFrame:
    cases = data.open_cases().dropna(subset=["master_id"])
    systems = cases.groupby("master_id")["source_system"].agg(lambda s: sorted(set(s)))
    both = cases[cases["master_id"].map(systems.map(len)) > 1]
    return pd.DataFrame(
        {
            "entity": "involvement",
            "source_system": both["source_system"],
            "source_id": both["involvement_id"],
            "master_id": both["master_id"],
            "explanation": "open case or allocation in "
            + both["master_id"].map(systems.map(" and ".join))
            + " at once",
        }
    )


def sibling_cp_split(data: Reconciled) -> pd.DataFrame:
    plans = data.active_plans().dropna(subset=["master_id"])[["master_id", "source_system"]].drop_duplicates()
    family = data.master_family
    plans = plans.rename(columns={"master_id": "planned", "source_system": "plan_system"})
    planned = family.merge(plans, left_on="master_id", right_on="planned")[["family_id", "planned", "plan_system"]]
    children = family[family["role"] == "child"][["family_id", "master_id"]]
    known = pd.MultiIndex.from_frame(data.xref[["master_id", "source_system"]])  # the systems each master is in
    pairs = children.merge(planned, on="family_id")
    pairs = pairs[pairs["master_id"] != pairs["planned"]]
    unseen = pairs[~pd.MultiIndex.from_arrays([pairs["master_id"], pairs["plan_system"]]).isin(known)]
    why = "a sibling has an active child protection plan in " + unseen["plan_system"] + ", which holds no record of "
    return _records(data, unseen.assign(why=why + "this child"))


def conflicting_identity(data: Reconciled) -> pd.DataFrame:
    risky = data.master_conflict[data.master_conflict["field"].isin(["dob", "sex", "nhs_number"])]
    fields = risky.groupby("master_id")["field"].agg(lambda f: ", ".join(sorted(f))).rename("fields").reset_index()
    fields["why"] = "this child's records disagree on " + fields["fields"].str.replace("nhs_number", "NHS number")
    return _records(data, fields)


def unresolved_review_active_child(data: Reconciled) -> pd.DataFrame:
    active = data.active_masters()
    queue = data.review_queue
    hit = queue[queue["master_id_l"].isin(active) | queue["master_id_r"].isin(active)]
    why = "an undecided possible match involves a child with an active plan or open case"
    sides = [
        pd.DataFrame(
            {
                "entity": "person",
                "source_system": hit[f"source_system_{s}"],
                "source_id": hit[f"source_id_{s}"],
                "master_id": hit[f"master_id_{s}"],
                "explanation": why,
            }
        )  # fmt: skip
        for s in ("l", "r")
    ]
    return pd.concat(sides, ignore_index=True).drop_duplicates(["source_system", "source_id"])


def contact_decision_overdue(data: Reconciled) -> pd.DataFrame:
    contacts = data.with_master(data.contact)
    due = decision_due(contacts["contact_datetime"], data.deadline_working_days, data.deadline_hours)
    decided = pd.to_datetime(contacts["decision_datetime"], errors="coerce")
    late = due.notna() & ((decided.isna() & (data.today > due)) | (decided > due))
    limit = f"{data.deadline_hours:g} hours" if data.deadline_hours else f"{data.deadline_working_days} working day(s)"
    return _contacts(contacts[late], f"no decision within {limit} of the contact")


def contact_consent_not_recorded(data: Reconciled) -> pd.DataFrame:
    contacts = data.with_master(data.contact)
    return _contacts(contacts[contacts["consent"].isna()], "consent is not recorded on this contact")


def _contacts(rows: pd.DataFrame, why: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity": "contact",
            "source_system": rows["source_system"],
            "source_id": rows["contact_id"],
            "master_id": rows["master_id"],
            "explanation": why,
        }  # fmt: skip
    )


def nhs_number_missing_or_invalid(data: Reconciled) -> pd.DataFrame:
    masters = data.master_person[data.master_person["master_id"].isin(data.active_masters())]
    valid = identifier(masters["nhs_number"], _nhs_validate)[0]
    lacking = masters.loc[valid.isna().to_numpy(), ["master_id"]]
    return _records(data, lacking.assign(why="active plan or open case, and no valid NHS number (CP-IS needs one)"))


def _nhs_validate(number: str) -> str:
    from stdnum.gb import nhs

    return nhs.validate(number)


def unborn_placeholder_unresolved(data: Reconciled) -> pd.DataFrame:
    person = data.with_master(data.person)
    placeholder = is_placeholder_name(person["forename"])
    expected = pd.to_datetime(person["expected_dob"], errors="coerce")
    overdue = placeholder & (expected < data.today - pd.Timedelta(days=30))
    born = set(data.master_person.loc[data.master_person["dob"].notna(), "master_id"])
    rows = person[overdue & ~person["master_id"].isin(born)]
    return pd.DataFrame(
        {"entity": "person", "source_system": rows["source_system"], "source_id": rows["person_id"],
         "master_id": rows["master_id"],
         "explanation": "unborn placeholder more than 30 days past its expected date, not linked to a born child"}
    )  # fmt: skip


RULES: tuple[RiskRule, ...] = (
    RiskRule("CP_PLAN_NOT_VISIBLE", "critical", "a record of a child whose active CP plan is held only by another "
             "system", cp_plan_not_visible),
    RiskRule("OPEN_IN_BOTH_SYSTEMS", "high", "open cases or allocations of one child in two systems at once",
             open_in_both_systems),
    RiskRule("SIBLING_CP_SPLIT", "high", "a child known only to one system while a sibling has an active CP plan in "
             "the other", sibling_cp_split),
    RiskRule("CONFLICTING_IDENTITY", "high", "records of one child that disagree on DOB, sex or a valid NHS number",
             conflicting_identity),
    RiskRule("UNRESOLVED_REVIEW_ACTIVE_CHILD", "high", "records in an undecided review pair where either child has "
             "an active CP plan or open case", unresolved_review_active_child),
    RiskRule("CONTACT_DECISION_OVERDUE", "high", "a contact with no decision within the deadline",
             contact_decision_overdue),
    RiskRule("CONTACT_CONSENT_NOT_RECORDED", "medium", "a contact whose consent is not recorded",
             contact_consent_not_recorded),
    RiskRule("NHS_NUMBER_MISSING_OR_INVALID", "medium", "records of a child with a CP plan or open case and no valid "
             "NHS number", nhs_number_missing_or_invalid),
    RiskRule("UNBORN_PLACEHOLDER_UNRESOLVED", "medium", "a 'Baby'/'Unborn' record more than 30 days past its "
             "expected date", unborn_placeholder_unresolved),
)  # fmt: skip


def evaluate(data: Reconciled, rules: tuple[RiskRule, ...] = RULES) -> pd.DataFrame:
    found = [rule.evaluate(data) for rule in rules]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=FLAG_COLUMNS)

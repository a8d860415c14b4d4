"""Front-door performance, per system and combined: the figures two systems made unreliable.

Combined figures follow each child through their master record, so a referral recorded in one
system after a contact recorded in the other counts as the conversion it was.
"""

from __future__ import annotations

import pandas as pd

from expectations.deadlines import decision_due
from expectations.risk_rules import Reconciled

REFERRAL_WINDOW = pd.Timedelta(days=30)  # a referral this soon after a contact follows from it


def front_door(data: Reconciled) -> pd.DataFrame:
    """One row per source system and one 'combined' row: contacts, timeliness, consent, conversion, overlap."""
    contacts = data.with_master(data.contact)
    due = decision_due(contacts["contact_datetime"], data.deadline_working_days, data.deadline_hours)
    decided = pd.to_datetime(contacts["decision_datetime"], errors="coerce")
    contacts = contacts.assign(
        on_time=decided.notna() & due.notna() & (decided <= due),
        consent_recorded=contacts["consent"].notna(),
        received=pd.to_datetime(contacts["contact_datetime"], errors="coerce"),
    )
    referrals = data.with_master(data.referral).assign(
        referred=lambda f: pd.to_datetime(f["referral_date"], errors="coerce")
    )
    rows = [_figures(system, group, referrals[referrals["source_system"] == system], by_master=False)
            for system, group in contacts.groupby("source_system", sort=True)]  # fmt: skip
    rows.append(_figures("combined", contacts, referrals, by_master=True))
    frame = pd.DataFrame(rows)
    overlap = [None] * (len(frame) - 1) + [_children_in_both(data)]
    frame["children_in_both_systems"] = pd.array(overlap, dtype="Int64")
    return frame


def _figures(label: str, contacts: pd.DataFrame, referrals: pd.DataFrame, by_master: bool) -> dict[str, object]:
    key = "master_id" if by_master else "person_id"
    followed = contacts[["contact_id", "source_system", key, "received"]].merge(
        referrals[[key, "referred"]].dropna(), on=key, how="left"
    )
    converts = (followed["referred"] >= followed["received"]) & (
        followed["referred"] <= followed["received"] + REFERRAL_WINDOW
    )
    converted = followed[converts].drop_duplicates(["source_system", "contact_id"])
    n = len(contacts)
    return {
        "source_system": label,
        "contacts": n,
        "decided_within_deadline": _share(contacts["on_time"].sum(), n),
        "consent_recorded": _share(contacts["consent_recorded"].sum(), n),
        "contact_to_referral": _share(len(converted), n),
    }


def _share(part: int, whole: int) -> float | None:
    return round(float(part) / whole, 4) if whole else None


def _children_in_both(data: Reconciled) -> int:
    """Children (masters) with case activity recorded in more than one system."""
    activity = pd.concat(
        [data.with_master(frame)[["master_id", "source_system"]]
         for frame in (data.contact, data.referral, data.cp_plan, data.involvement)]
    ).dropna()  # fmt: skip
    return int((activity.drop_duplicates().groupby("master_id").size() > 1).sum())

"""All casework for both systems, with each system's IDs and wording, and what was planted.

IDs follow time, as real case systems hand them out; Mosaic draws contacts, referrals and
assessments from one sequence because they share its workflow_steps table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.synthetic import casework, frontdoor
from reconcile.synthetic import settings as S
from reconcile.synthetic.pools import forenames, surnames
from reconcile.synthetic.sampling import Stage, ids
from reconcile.synthetic.truth import planted
from reconcile.synthetic.vocab import (
    CONTACT_OUTCOME,
    CONTACT_SOURCE,
    CP_CATEGORY,
    REFERRAL_OUTCOME,
    TEAM,
    WORKERS_PER_SYSTEM,
    wording,
    worker_name,
)

# entity: (column its IDs follow in time, Mosaic ID prefix; entities sharing a prefix share a sequence)
ID_ORDER = {
    "contact": ("contact_datetime", "W"),
    "referral": ("referral_date", "W"),
    "assessment": ("start_date", "W"),
    "cp_plan": ("start_date", "R"),
    "involvement": ("start_date", "A"),
}
ID_COLUMN = {
    "contact": "contact_id",
    "referral": "referral_id",
    "assessment": "assessment_id",
    "cp_plan": "plan_id",
    "involvement": "involvement_id",
}
WORDED = {
    "contact": {"outcome": CONTACT_OUTCOME, "source": CONTACT_SOURCE},
    "referral": {"outcome": REFERRAL_OUTCOME},
    "cp_plan": {"category": CP_CATEGORY},
    "involvement": {"team": TEAM},
}


def activity(stage: Stage, rows: pd.DataFrame, pop: pd.DataFrame) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Internal frames per casework entity (both systems, `system` and `true` alongside) and planted rows."""
    kids = frontdoor.children(rows, pop)
    contact = frontdoor.contacts(stage, kids)
    referral = frontdoor.referrals(stage, contact)
    assessment = casework.assessments(stage, referral)
    plan = casework.cp_plans(stage, assessment)
    involvement = casework.involvements(stage, assessment, plan)
    plan = plan.drop(columns="assessment")
    plan = casework.open_in_other_system(stage, plan, kids, S.MIRROR_ACTIVE_PLAN_RATE, casework.PLAN_FILL)
    involvement = casework.open_in_other_system(
        stage, involvement, kids, S.MIRROR_OPEN_ALLOCATION_RATE, casework.ALLOCATION_FILL
    )
    frames = {
        "contact": contact,
        "referral": referral,
        "assessment": assessment,
        "cp_plan": plan,
        "involvement": involvement,
    }
    frames = _with_ids(stage, frames)
    frames["involvement"]["worker"] = _workers(stage, frames["involvement"]["system"].to_numpy())
    for entity, columns in WORDED.items():
        for column, vocab in columns.items():
            _reword(frames[entity], column, vocab)
    contact = frames["contact"]
    found = [
        planted(contact, contact["late"].to_numpy(), "contact", "contact_id", "contact_decision_late"),
        planted(contact, contact["missing"].to_numpy(), "contact", "contact_id", "contact_decision_missing"),
        planted(contact, contact["consent_missing"].to_numpy(), "contact", "contact_id", "consent_missing"),
        planted(
            frames["cp_plan"],
            casework.one_system_only(frames["cp_plan"], rows),
            "cp_plan",
            "plan_id",
            "cp_plan_one_system_only",
        ),
        planted(
            frames["involvement"],
            casework.both_open(frames["involvement"]),
            "involvement",
            "involvement_id",
            "open_in_both_systems",
        ),
    ]
    return frames, pd.concat(found, ignore_index=True)


def _with_ids(stage: Stage, frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Sort each system's rows by time and number them; Mosaic's shared tables share a sequence."""
    out: dict[str, list[pd.DataFrame]] = {e: [] for e in frames}
    for system in S.SYSTEMS:
        groups: dict[str, list[str]] = {}
        for entity, (_, prefix) in ID_ORDER.items():
            key = entity if system == "lcs" else prefix
            groups.setdefault(key, []).append(entity)
        for key, entities in groups.items():
            parts = [frames[e][frames[e]["system"] == system] for e in entities]
            when = np.concatenate(
                [p[ID_ORDER[e][0]].to_numpy().astype("datetime64[m]") for e, p in zip(entities, parts, strict=True)]
            )
            order = np.argsort(when, kind="stable")
            numbers = np.empty(len(when), dtype=np.int64)
            numbers[order] = np.cumsum(stage.rng.integers(1, 4, size=len(when)))
            width = max(6, len(str(int(numbers.max(initial=0)))))
            text = numbers.astype(str).astype(object) if system == "lcs" else ids(key, numbers, width)
            at = 0
            for entity, part in zip(entities, parts, strict=True):
                part = part.copy()
                part.insert(0, ID_COLUMN[entity], text[at : at + len(part)])
                at += len(part)
                out[entity].append(part.iloc[np.argsort(part[ID_ORDER[entity][0]].to_numpy(), kind="stable")])
    return {e: pd.concat(parts, ignore_index=True) for e, parts in out.items()}


def _reword(frame: pd.DataFrame, column: str, vocab: dict[str, tuple[float, str, str]]) -> None:
    """Internal codes to each system's own wording, in place."""
    values = frame[column].to_numpy().copy()
    for system in S.SYSTEMS:
        words = wording(vocab, system)
        at = (frame["system"].to_numpy() == system) & pd.notna(values)
        values[at] = [words[v] for v in values[at]]
    frame[column] = values


def _workers(stage: Stage, systems: np.ndarray) -> np.ndarray:
    """A small staff list per system (mostly women, as in the workforce), each allocation to one of them."""
    out = np.empty(len(systems), dtype=object)
    women, men, family = forenames("british", "F"), forenames("british", "M"), surnames("british")
    n = WORKERS_PER_SYSTEM
    for system in S.SYSTEMS:
        woman = stage.rng.random(n) < 0.8
        fore = np.where(woman, stage.draw(women.names, n, women.p), stage.draw(men.names, n, men.p))
        sur = stage.draw(family.names, n, family.p)
        staff = np.array([worker_name(system, f, s) for f, s in zip(fore, sur, strict=True)], dtype=object)
        at = systems == system
        out[at] = staff[stage.rng.integers(0, n, size=int(at.sum()))]
    return out

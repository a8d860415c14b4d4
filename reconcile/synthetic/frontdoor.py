"""Front-door activity: contacts about children and the referrals some of them lead to.

Decision timing is planted in three clear bands so a risk rule has an unambiguous answer:
on time (within 20 clock hours), late (6 to 20 days: late by any reading of '24 working
hours'), or missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.synthetic import settings as S
from reconcile.synthetic.sampling import DAY, MINUTE, Stage
from reconcile.synthetic.vocab import CONTACT_SOURCE, weights

LATE_ELIGIBLE_DAYS = 21  # only contacts this old can have a late decision by REFERENCE_DATE
YOUNGEST_CONTACT_DAYS = 14  # babies younger than this have no contacts yet


def children(rows: pd.DataFrame, pop: pd.DataFrame) -> pd.DataFrame:
    """One entry per (system, child): its main row, its duplicate row if any, its true DOB."""
    kids = rows[(rows["role"] == "child") & ~rows["placeholder"]]
    main = kids[~kids["duplicate"]][["system", "true", "person_id"]]
    dup = kids[kids["duplicate"]][["system", "true", "person_id"]].drop_duplicates(["system", "true"])
    out = main.merge(dup.rename(columns={"person_id": "duplicate_id"}), on=["system", "true"], how="left")
    out["dob"] = pop["dob"].to_numpy().astype("datetime64[D]")[out["true"].to_numpy()]
    return out


def contacts(stage: Stage, kids: pd.DataFrame) -> pd.DataFrame:
    """Poisson contacts per child per system, each with its decision, consent, outcome and source."""
    rng = stage.rng
    dob = kids["dob"].to_numpy().astype("datetime64[D]")
    count = rng.poisson(S.CONTACTS_PER_CHILD, size=len(kids))
    count[dob > stage.ref - YOUNGEST_CONTACT_DAYS * DAY] = 0
    k = np.repeat(np.arange(len(kids)), count)
    n = len(k)
    on_dup = kids["duplicate_id"].notna().to_numpy()[k] & (rng.random(n) < S.DUPLICATE_ROW_ACTIVITY_RATE)
    start = np.maximum(dob[k], stage.ref - S.CONTACT_WINDOW_DAYS * DAY)
    end = stage.ref - 2 * DAY
    span = (end - start).astype(int)
    day = start + (rng.random(n) * (span + 1)).astype(int) * DAY
    office = rng.random(n) < S.WORKING_HOURS_RATE
    minute = np.where(office, rng.integers(8 * 60, 18 * 60, size=n), rng.integers(0, 24 * 60, size=n))
    received = day.astype("datetime64[m]") + minute * MINUTE
    late = stage.pick(received <= stage.ref - LATE_ELIGIBLE_DAYS * DAY, S.DECISION_LATE_RATE)
    missing = stage.pick(~late, S.DECISION_MISSING_RATE)
    delay = np.where(
        late,
        stage.days(*S.LATE_DECISION_DAYS, n).astype("timedelta64[m]") + stage.minutes(0, 8 * 60, n),
        stage.minutes(10, S.ON_TIME_DECISION_MAX_HOURS * 60, n),
    )
    decided = received + delay
    decided[missing] = np.datetime64("NaT")
    no_consent = stage.pick(np.ones(n, dtype=bool), S.CONSENT_MISSING_RATE)
    consent = np.where(rng.random(n) < S.CONSENT_GIVEN_RATE, "Y", "N").astype(object)
    consent[no_consent] = None
    outcome = stage.draw(list(S.CONTACT_OUTCOME_WEIGHTS), n, np.array(list(S.CONTACT_OUTCOME_WEIGHTS.values())))
    outcome[missing] = None
    codes, w = weights(CONTACT_SOURCE)
    return pd.DataFrame(
        {
            "system": kids["system"].to_numpy()[k],
            "true": kids["true"].to_numpy()[k],
            "person_id": np.where(on_dup, kids["duplicate_id"].to_numpy()[k], kids["person_id"].to_numpy()[k]),
            "contact_datetime": received,
            "decision_datetime": decided,
            "outcome": outcome,
            "consent": consent,
            "source": stage.draw(codes, n, np.array(w)),
            "late": late,
            "missing": missing,
            "consent_missing": no_consent,
        }
    )


def referrals(stage: Stage, contact: pd.DataFrame) -> pd.DataFrame:
    """A referral for every contact decided 'referral', dated (and timed) at the decision."""
    src = contact[(contact["outcome"] == "referral").to_numpy()]
    n = len(src)
    assessed = stage.rng.random(n) < S.REFERRAL_ASSESSED_RATE
    return pd.DataFrame(
        {
            "system": src["system"].to_numpy(),
            "true": src["true"].to_numpy(),
            "person_id": src["person_id"].to_numpy(),
            "referral_date": src["decision_datetime"].to_numpy(),
            "outcome": np.where(assessed, "assessment", "nfa").astype(object),
        }
    )

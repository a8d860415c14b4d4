"""Every rate and fixed date of the synthetic generator, gathered here so tuning touches one file.

Rates are probabilities per eligible row (or per person, household or contact, as named).
The generator never reads the clock: all ages and due dates count back from REFERENCE_DATE,
which is what makes the same seed give byte-identical files on any day.
"""

from __future__ import annotations

from datetime import date

REFERENCE_DATE = date(2026, 11, 1)

SYSTEMS = ("lcs", "mosaic")  # the source names used in reconcile.yaml and truth.db

# Households -------------------------------------------------------------------------------
TWO_PARENT_RATE = 0.55  # else one parent
SINGLE_FATHER_RATE = 0.08  # share of one-parent households headed by the father
CHILDREN_WEIGHTS = (0.38, 0.32, 0.17, 0.09, 0.04)  # 1..5 children
MULTIPLE_BIRTH_RATE = 0.03  # chance a child shares the previous child's birth (twins; chains give triplets)
TWINS_SAME_SEX_RATE = 2 / 3
MOTHER_OWN_SURNAME_RATE = 0.35  # in two-parent households
ABSENT_FATHER_SURNAME_RATE = 0.15  # one-parent households whose children carry another surname
MIDDLE_NAME_RATE = 0.55
SECOND_MIDDLE_NAME_RATE = 0.1
OTHER_ORIGIN_FORENAME_RATE = 0.15  # forename drawn from the British pool whatever the family origin
ORIGIN_WEIGHTS = {
    "british": 0.72,
    "south_asian": 0.10,
    "polish": 0.06,
    "nigerian": 0.05,
    "arabic": 0.04,
    "somali": 0.03,
}
SCHOOL_AGE_YEARS = 5  # children this old or older have a UPN
ADULT_DEATH_RATE = 0.002

# Unborn babies ----------------------------------------------------------------------------
UNBORN_RATE = 0.05  # households whose mother (aged 44 or under) is expecting
UNBORN_STATES = {  # shares of expected babies by what has happened by REFERENCE_DATE
    "future": 0.40,  # due after REFERENCE_DATE
    "overdue": 0.20,  # due over 30 days ago, never recorded as born
    "recent": 0.10,  # due within the last 30 days, not yet recorded
    "born": 0.30,  # born and recorded again, with a real name and DOB, in the other system
}
OVERDUE_DAYS = 30

# Which system holds whom: shares of (LCS only, Mosaic only, both) ------------------------
CHILD_SYSTEMS = (0.40, 0.35, 0.25)
CHILD_LEAVES_FAMILY_RATE = 0.10  # child whose systems are drawn afresh, not the family's
PARENT_SYSTEMS = (0.45, 0.40, 0.15)
PARENT_FOLLOWS_FAMILY_RATE = 0.60
WITHIN_SYSTEM_DUPLICATE_RATE = 0.02  # person rows recorded a second time in the same system
RELATIONSHIP_MISSING_RATE = 0.05

# Differences between a row and the true person ---------------------------------------------
TRANSLITERATION_RATE = 0.35  # of rows whose name has other spellings
NICKNAME_RATE = 0.10  # of rows whose forename has a nickname or full form
MIDDLE_NAMES_MISSING_RATE = 0.30  # of rows whose person has middle names
SURNAME_CHANGE_RATES = {"mother": 0.10, "father": 0.02, "child": 0.03}
DOUBLE_BARRELLED_RATE = 0.04  # of child rows
TYPO_RATE = 0.03
NAME_SWAP_RATE = 0.005
DOB_SWAP_RATE = 0.03  # of rows whose day and month can be swapped
NHS_MISSING_RATES = {"lcs": 0.08, "mosaic": 0.30}
NHS_MISTYPED_RATE = 0.01
MOVED_ADDRESS_RATE = 0.06
NHS_SPACED_RATES = {"lcs": 0.0, "mosaic": 0.4}  # NHS numbers written '943 476 5919'
UPN_RECORDED_RATES = {"lcs": 0.75, "mosaic": 0.4}
ETHNICITY_MISSING_RATE = 0.05
PLACEHOLDER_SEX_KNOWN_RATE = 0.2
RECORD_HISTORY_DAYS = 4 * 365  # last-updated stamps fall within this many days before REFERENCE_DATE

# Front door and casework, per child row set in one system -------------------------------
CONTACTS_PER_CHILD = 1.3  # Poisson mean
CONTACT_WINDOW_DAYS = 6 * 365
WORKING_HOURS_RATE = 0.8  # contacts received between 08:00 and 18:00
ON_TIME_DECISION_MAX_HOURS = 20  # on time: within 20 clock hours
LATE_DECISION_DAYS = (6, 20)  # late: so late that any reading of '24 working hours' is missed
DECISION_LATE_RATE = 0.07
DECISION_MISSING_RATE = 0.03
CONSENT_MISSING_RATE = 0.12
CONSENT_GIVEN_RATE = 0.8
CONTACT_OUTCOME_WEIGHTS = {"referral": 0.30, "nfa": 0.35, "early_help": 0.20, "advice": 0.15}
REFERRAL_ASSESSED_RATE = 0.75
ASSESSMENT_DAYS = (5, 60)
CP_PLAN_RATE = 0.15  # of completed assessments
CP_PLAN_DAYS = (90, 730)
ALLOCATION_TAIL_DAYS = (0, 90)  # an allocation ends this long after a plan-less assessment
DUPLICATE_ROW_ACTIVITY_RATE = 0.25  # casework logged against the duplicate row, when there is one
MIRROR_ACTIVE_PLAN_RATE = 0.40  # active plan copied to the other system that also holds the child
MIRROR_OPEN_ALLOCATION_RATE = 0.30  # open case opened in the other system too

# Dirty rows ------------------------------------------------------------------------------
DIRTY_RATE = 0.002  # per kind and system
EVERY_KIND_FROM_PEOPLE = 1000  # from this many people on, every planted kind appears at least once

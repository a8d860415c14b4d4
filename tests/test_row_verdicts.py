"""Kept verdicts: judging only new rows gives exactly what judging every row gives, and judges only new rows."""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from test_source_suites import TODAY, VALID_NHS, VALID_UPN, WRONG_UPN, clean_people, counts, dirty_people

from expectations.row_verdicts import validate_sources
from expectations.source_suites import run_source_suites
from reconcile.config import load_config
from reconcile.model import ENTITIES
from reconcile.store import SOURCE_CHECK
from reconcile.validate import kept_verdicts, validate

CONTACT = pd.DataFrame(
    {
        "source_system": "alpha",
        "contact_id": ["C1", "C2", "C3", None, "C1"],
        "contact_datetime": ["2026-01-05T10:00:00", pd.Timestamp("2026-01-05 10:00"), None, "2026-01-05", None],
        "decision_datetime": ["2026-01-05T09:59:00", "2026-01-05T10:00:00", "2026-01-01", None, None],
        "consent": ["Y", "N", None, "maybe", " "],
    }
)
PLANS = pd.DataFrame(
    {
        "source_system": ["alpha", "alpha", "beta", "beta"],
        "plan_id": ["X1", "X2", "X3", "X3"],
        "start_date": ["2025-05-01", date(2025, 5, 1), "2025-05-01", None],
        "end_date": ["2025-04-30", "2025-05-01", None, "2020-01-01"],
    }
)
LINKS = pd.DataFrame(
    {
        "source_system": "alpha",
        "person_id": ["P1", "P1", None],
        "related_person_id": ["P2", "P2", "P3"],
        "relationship": ["mother", "aunt", "father"],
    }
)
BASIC_ISO_DATES = pytest.mark.skipif(sys.version_info < (3, 11), reason="fromisoformat reads 18991231 from 3.11")
SCENARIOS = {
    "clean people": {"person": clean_people()},
    "planted people": {"person": dirty_people()},
    "two sources": {"person": pd.concat([clean_people("alpha"), dirty_people().assign(source_system="beta")])},
    "contacts, plans, links": {"contact": CONTACT, "cp_plan": PLANS, "relationship": LINKS},
    "an entity one source lacks": {"person": clean_people("alpha"), "cp_plan": PLANS},
    "empty and absent": {"person": clean_people(), "contact": CONTACT.iloc[:0], "cp_plan": pd.DataFrame()},
    "a missing id column": {"person": clean_people().drop(columns=["person_id", "postcode"])},
}


def people(n: int, seed: int, source: str = "alpha") -> pd.DataFrame:
    """`n` people with every kind of value the person checks judge: good, bad, blank and absent."""
    rng = np.random.default_rng(seed)

    def pick(values: list[object]) -> list[object]:
        return [values[i] for i in rng.integers(0, len(values), n)]

    dobs = [date(2015, 3, 4), "2010-06-01", pd.Timestamp("1899-12-31"), "1066-10-14", None, " ", "not a date"]
    return pd.DataFrame(
        {
            "source_system": source,
            "person_id": [f"P{i}" for i in rng.permutation(n)],
            "forename": pick(["Amy", "Ben", None]),
            "dob": pick([*dobs, (TODAY + timedelta(days=3)).isoformat()]),
            "sex": pick(["F", "M", "U", "X", None, ""]),
            "nhs_number": pick([VALID_NHS, "943 476 5919", "9434765918", "1111111111", "", None]),
            "upn": pick([VALID_UPN, WRONG_UPN, None]),
            "postcode": pick(["SW1A 1AA", "m1 1ae", "SW1A1AAA", "12345", "  ", None]),
        }
    ).reindex(columns=["source_system", *ENTITIES["person"].column_names])


def assert_same(ours: pd.DataFrame, whole: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(ours, whole, check_exact=True)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_with_nothing_kept_the_result_is_whole_validations(scenario):
    frames = SCENARIOS[scenario]
    judged = validate_sources(frames, TODAY, {})
    assert_same(judged.checks, run_source_suites(frames, TODAY))


def test_a_night_judges_only_new_and_changed_rows_and_counts_as_whole_validation():
    before = {"person": people(600, seed=1), "contact": CONTACT}
    first = validate_sources(before, TODAY, {})
    assert (first.rows_judged, first.rows_known) == (605, 0)

    again = validate_sources(before, TODAY, first.verdicts)
    assert (again.rows_judged, again.rows_known) == (0, 605)
    assert_same(again.checks, first.checks)

    after = before["person"].iloc[40:].copy()  # 40 deleted
    after.iloc[:25, after.columns.get_loc("sex")] = "Q"  # 25 changed to a sex outside the code set
    added = people(30, seed=2, source="beta").assign(sex="F", dob="2001-02-03", person_id=[f"B{i}" for i in range(30)])
    night = {"person": pd.concat([after, added], ignore_index=True), "contact": CONTACT}
    judged = validate_sources(night, TODAY, again.verdicts)
    assert_same(judged.checks, run_source_suites(night, TODAY))
    assert 0 < judged.rows_judged <= 25 + 30  # the changed and added rows, less those whose content was known
    assert judged.rows_known == len(night["person"]) + len(CONTACT) - judged.rows_judged


def test_the_days_checks_are_judged_again_each_day():
    frames = {"person": people(200, seed=3)}
    first = validate_sources(frames, TODAY, {})
    later = TODAY + timedelta(days=5)  # the dates three days ahead are no longer in the future
    judged = validate_sources(frames, later, first.verdicts)
    assert judged.rows_judged == 0
    assert_same(judged.checks, run_source_suites(frames, later))
    future = judged.checks.set_index("expectation").loc["person.dob_not_in_future", "unexpected_count"]
    assert future == 0 != first.checks.set_index("expectation").loc["person.dob_not_in_future", "unexpected_count"]


def test_verdicts_kept_under_another_signature_are_not_used():
    frames = {"person": people(100, seed=4)}
    first = validate_sources(frames, TODAY, {})
    stale = {name: replace(v, signature="another version") for name, v in first.verdicts.items()}
    assert validate_sources(frames, TODAY, stale).rows_judged == first.rows_judged
    retyped = {"person": frames["person"].assign(dob=pd.to_datetime(frames["person"]["dob"], errors="coerce"))}
    assert validate_sources(retyped, TODAY, first.verdicts).rows_known == 0  # another dtype: all judged afresh


@BASIC_ISO_DATES
def test_a_value_of_another_type_with_the_same_text_is_judged_again():
    """pandas hashes a column of mixed objects by their text: the ISO text 18991231 is a date of birth before
    1900, the number 18991231 is no date at all, and must not be given the text's verdict."""
    text = clean_people()
    text.loc[0, "dob"] = "18991231"
    first = validate_sources({"person": text}, TODAY, {})
    number = text.copy()
    number.loc[0, "dob"] = 18991231
    judged = validate_sources({"person": number}, TODAY, first.verdicts)
    assert judged.rows_judged == 1
    assert_same(judged.checks, run_source_suites({"person": number}, TODAY))
    assert not judged.checks.equals(first.checks)  # the number is no date, so not one before 1900


@BASIC_ISO_DATES
def test_categories_and_nullable_columns_are_hashed_by_type_and_null():
    """pandas hashes categories by their text, and a nullable integer's NA as one integer's own hash."""
    row = clean_people().iloc[[0]].reset_index(drop=True)
    number = row.assign(dob=pd.Categorical([18991231]))
    text = row.assign(dob=pd.Categorical(["18991231"]))  # a date before 1900, where the number is no date
    unknown = row.assign(person_id=pd.array([pd.NA], dtype="Int64"))
    clash = row.assign(person_id=pd.array([4904004565857947459], dtype="Int64"))  # hashed as NA would be
    for before, after in ((number, text), (clash, unknown)):
        judged = validate_sources({"person": after}, TODAY, validate_sources({"person": before}, TODAY, {}).verdicts)
        assert judged.rows_judged == 1
        assert_same(judged.checks, run_source_suites({"person": after}, TODAY))


def test_equal_values_of_different_types_are_each_judged_by_their_own_text():
    """9434765919.0 is a valid NHS number, Decimal("9434765919.0") reads as text with a decimal point and is not;
    in Python they are equal, and neither whole validation nor kept verdicts may let one take the other's."""
    both = clean_people().iloc[:2].astype({"nhs_number": object})
    both.loc[0, "nhs_number"], both.loc[1, "nhs_number"] = 9434765919.0, Decimal("9434765919.0")
    whole = run_source_suites({"person": both}, TODAY)
    assert counts(whole)["person.nhs_number_valid"] == 1
    assert_same(run_source_suites({"person": both.iloc[::-1].reset_index(drop=True)}, TODAY), whole)
    kept = validate_sources({"person": both.iloc[[1]]}, TODAY, {}).verdicts
    assert_same(validate_sources({"person": both}, TODAY, kept).checks, whole)


def test_a_nullable_text_source_column_with_rows_of_no_source():
    people = clean_people().assign(source_system=pd.array(["alpha", "alpha", None, None], dtype="string"))
    assert_same(validate_sources({"person": people}, TODAY, {}).checks, run_source_suites({"person": people}, TODAY))


def test_validate_keeps_verdicts_and_a_changed_row_is_the_only_one_judged(synthetic_run, tmp_path):
    files, _, _ = synthetic_run
    folder = tmp_path / "demo"
    shutil.copytree(files.config.parent, folder)
    config = load_config(folder / "reconcile.yaml")
    engine = sa.create_engine(config.target_url())
    try:
        first = validate(config, today=TODAY, full=True)  # other tests may have validated this target before
        assert first.rows_known == 0 and set(kept_verdicts(engine)) >= {"person", "contact", "relationship"}
        assert validate(config, today=TODAY).rows_judged == 0
        with engine.begin() as conn:
            first_id = conn.execute(sa.text("SELECT min(person_id) FROM person WHERE source_system = 'lcs'")).scalar()
            change = sa.text("UPDATE person SET sex = 'Q' WHERE source_system = 'lcs' AND person_id = :id")
            conn.execute(change, {"id": first_id})
        night = validate(config, today=TODAY)
        assert night.rows_judged == 1
        full = validate(config, today=TODAY, full=True)
        assert full.rows_known == 0
        checks = pd.read_sql(sa.select(SOURCE_CHECK), engine)
    finally:
        engine.dispose()
    runs = [checks[checks["run_id"] == s.run_id].drop(columns="run_id").reset_index(drop=True) for s in (night, full)]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)
    first_sex = checks[(checks["run_id"] == first.run_id) & (checks["expectation"] == "person.sex_in_code_set")]
    night_sex = runs[0][runs[0]["expectation"] == "person.sex_in_code_set"]
    assert night_sex["unexpected_count"].sum() == first_sex["unexpected_count"].sum() + 1

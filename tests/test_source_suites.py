"""Per-source GE suites: each check fails on exactly the rows planted for it, and the result holds no values."""

from __future__ import annotations

import logging
import time
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from stdnum.gb import upn

from expectations.source_suites import RESULT_COLUMNS, entity_checks, run_source_suites, source_suites
from reconcile.model import ENTITIES
from reconcile.synthetic.identifiers import nhs_numbers, upns

TODAY = date(2026, 11, 1)
VALID_NHS = "9434765919"
VALID_UPN = "B801200005001"
WRONG_UPN = next(c + VALID_UPN[1:] for c in "ABCDEFGHJKLMNPQRTUVWXYZ" if not upn.is_valid(c + VALID_UPN[1:]))
DISTINCT_NAME = "Zebedee-Quixotefield"
DISTINCT_NHS = "9434765918"  # fails modulus 11


def person(rows: list[dict], source: str = "alpha") -> pd.DataFrame:
    frame = pd.DataFrame(rows).reindex(columns=list(ENTITIES["person"].column_names))
    return frame.assign(source_system=source)


def clean_people(source: str = "alpha") -> pd.DataFrame:
    """Every way a good value may arrive: ISO text, date, Timestamp, spaced NHS number, lower-case postcode."""
    return person(
        [
            {"person_id": "P1", "forename": "Amy", "dob": "2015-03-04", "sex": "F", "nhs_number": VALID_NHS,
             "upn": VALID_UPN, "postcode": "SW1A 1AA"},
            {"person_id": "P2", "forename": "Ben", "dob": date(1980, 1, 2), "sex": "M", "nhs_number": "943 476 5919",
             "postcode": "m1 1ae"},
            {"person_id": "P3", "dob": pd.Timestamp("1900-01-01"), "sex": "U", "postcode": "B338TH"},
            {"person_id": "P4", "dob": TODAY.isoformat(), "nhs_number": "", "upn": None, "postcode": "  "},
        ],
        source,
    )  # fmt: skip


def dirty_people() -> pd.DataFrame:
    return person(
        [
            {"person_id": "D1", "forename": DISTINCT_NAME, "dob": "2026-11-02", "nhs_number": DISTINCT_NHS},
            {"person_id": "D1", "dob": date(1899, 12, 31), "nhs_number": "1111111111", "sex": "X"},
            {"person_id": "  ", "dob": "1066-10-14", "upn": WRONG_UPN, "postcode": "SW1A1AAA"},
            {"person_id": "D4", "dob": pd.Timestamp("2030-01-01"), "sex": "F", "postcode": "AB1 2CD"},
            {"person_id": None, "dob": "2010-06-01", "nhs_number": VALID_NHS, "upn": VALID_UPN, "postcode": "12345"},
        ]
    )  # fmt: skip


def counts(result: pd.DataFrame, source: str = "alpha") -> dict[str, int | None]:
    rows = result[result["source_system"] == source]
    return {
        r.expectation: (None if pd.isna(r.unexpected_count) else int(r.unexpected_count)) for r in rows.itertuples()
    }


def test_clean_people_pass_every_check():
    result = run_source_suites({"person": clean_people()}, TODAY)
    assert list(result.columns) == RESULT_COLUMNS
    assert set(result["expectation"]) == {c.name for c in entity_checks(ENTITIES["person"])}
    assert result["success"].all(), result[~result["success"]]
    assert (result["unexpected_count"].fillna(0) == 0).all()
    assert (result["element_count"] == 4).all()


PLANTED_PERSON = {
    "person.person_id_present": None,  # a table check: it has no unexpected rows
    "person.person_id_not_null": 2,  # one None, one blank
    "person.person_id_unique": 2,  # both D1 rows
    "person.dob_not_in_future": 2,  # tomorrow and 2030
    "person.dob_not_before_1900": 2,  # 1899 and 1066 (outside pandas' nanosecond range)
    "person.nhs_number_valid": 2,  # bad check digit, one repeated digit
    "person.upn_valid": 1,
    "person.postcode_format_valid": 2,
    "person.sex_in_code_set": 1,
}


def test_each_person_check_fails_exactly_on_its_planted_rows():
    result = run_source_suites({"person": dirty_people()}, TODAY)
    assert counts(result) == PLANTED_PERSON
    success = dict(zip(result["expectation"], result["success"], strict=True))
    assert success.pop("person.person_id_present") is True
    assert not any(success.values())
    assert (result["element_count"] == 5).all()


def test_contact_decision_before_contact_is_flagged_only_where_both_present():
    contact = pd.DataFrame(
        {
            "source_system": "alpha",
            "contact_id": ["C1", "C2", "C3", "C4", "C5"],
            "contact_datetime": ["2026-01-05T10:00:00", pd.Timestamp("2026-01-05 10:00"), None, "2026-01-05", None],
            "decision_datetime": [
                datetime(2026, 1, 5, 9, 59),  # a minute before the contact: planted
                "2026-01-05T10:00:00",  # the same moment is allowed
                "2026-01-01T00:00:00",
                date(2026, 1, 5),  # a date alone is midnight, the contact's own moment
                None,
            ],
            "consent": ["Y", "N", None, "Y", "N"],
        }
    )
    result = run_source_suites({"contact": contact}, TODAY)
    assert counts(result) == {
        "contact.contact_id_present": None,
        "contact.contact_id_not_null": 0,
        "contact.contact_id_unique": 0,
        "contact.consent_in_code_set": 0,
        "contact.decision_not_before_contact": 1,
    }
    check = result.set_index("expectation").loc["contact.decision_not_before_contact"]
    assert not check["success"] and check["column"] == "decision_datetime,contact_datetime"


def test_cp_plan_end_before_start_and_duplicate_plan_ids():
    plans = pd.DataFrame(
        {
            "source_system": "alpha",
            "plan_id": ["X1", "X2", "X3", "X3"],
            "start_date": ["2025-05-01", date(2025, 5, 1), "2025-05-01", None],
            "end_date": ["2025-04-30", "2025-05-01", None, "2020-01-01"],
        }
    )
    found = counts(run_source_suites({"cp_plan": plans}, TODAY))
    assert found["cp_plan.end_not_before_start"] == 1
    assert found["cp_plan.plan_id_unique"] == 2
    assert found["cp_plan.plan_id_not_null"] == 0


def test_relationship_needs_both_people_and_has_no_single_id_to_be_unique():
    links = pd.DataFrame(
        {
            "source_system": "alpha",
            "person_id": ["P1", "P1", None],
            "related_person_id": ["P2", "P2", "P3"],
            "relationship": ["mother", "aunt", "father"],
        }
    )
    assert counts(run_source_suites({"relationship": links}, TODAY)) == {
        "relationship.person_id_present": None,
        "relationship.person_id_not_null": 1,
        "relationship.related_person_id_present": None,
        "relationship.related_person_id_not_null": 0,
        "relationship.relationship_in_code_set": 1,
    }


def test_a_missing_id_column_fails_and_a_missing_optional_column_passes():
    frame = clean_people().drop(columns=["person_id", "postcode", "nhs_number"])
    result = run_source_suites({"person": frame}, TODAY).set_index("expectation")
    assert not result.loc["person.person_id_present", "success"]
    assert not result.loc["person.person_id_not_null", "success"]
    assert result.loc["person.postcode_format_valid", "success"]
    assert result.loc["person.nhs_number_valid", "success"]


def test_two_sources_are_validated_separately():
    beta = clean_people("beta")
    beta.loc[1, "dob"] = "2027-01-01"
    both = pd.concat([clean_people("alpha"), beta, clean_people("beta").iloc[:1]], ignore_index=True)
    result = run_source_suites({"person": both}, TODAY)
    assert set(result["source_system"]) == {"alpha", "beta"}
    assert counts(result, "alpha")["person.dob_not_in_future"] == 0
    assert counts(result, "beta")["person.dob_not_in_future"] == 1
    # The same person_id in two systems is two records, not a duplicate; within beta it is one.
    assert counts(result, "alpha")["person.person_id_unique"] == 0
    assert counts(result, "beta")["person.person_id_unique"] == 2
    elements = result.groupby("source_system")["element_count"].unique().to_dict()
    assert [int(n) for n in elements["alpha"]] == [4] and [int(n) for n in elements["beta"]] == [5]


def test_empty_and_absent_entities():
    empty = pd.DataFrame(columns=["source_system", *ENTITIES["contact"].column_names])
    result = run_source_suites({"person": clean_people(), "contact": empty, "cp_plan": pd.DataFrame()}, TODAY)
    assert set(result["entity"]) == {"person", "contact", "cp_plan"}  # relationship, referral ... were not given
    others = result[result["entity"] != "person"]
    assert set(others["source_system"]) == {"alpha"}  # a source with no rows of an entity is still reported
    assert others["success"].all() and (others["element_count"] == 0).all()
    nothing = run_source_suites({"cp_plan": pd.DataFrame()}, TODAY)
    assert len(nothing) == len(entity_checks(ENTITIES["cp_plan"])) and nothing["success"].all()


def test_no_record_value_reaches_the_result_or_the_log(caplog: pytest.LogCaptureFixture):
    frame = dirty_people().drop(columns=["person_id"])  # a missing column makes GE raise internally, too
    with caplog.at_level(logging.DEBUG):
        result = run_source_suites({"person": frame}, TODAY)
    dump = result.to_string() + result.to_csv() + caplog.text
    assert not result["success"].all()
    for value in (DISTINCT_NAME, DISTINCT_NHS, "1111111111", WRONG_UPN, "SW1A1AAA", "2030-01-01", "1066"):
        assert value not in dump


def test_suites_are_named_and_declarative():
    suites = source_suites()
    assert set(suites) == set(ENTITIES)
    for name, suite in suites.items():
        assert suite.name == f"source.{name}"
        names = [e.meta["name"] for e in suite.expectations]
        assert names == [c.name for c in entity_checks(ENTITIES[name])]
        assert len(set(names)) == len(names) and all(n.startswith(f"{name}.") for n in names)


def test_five_thousand_people_in_well_under_twenty_seconds():
    n = 5_000
    rng = np.random.default_rng(7)
    frame = person(
        [
            {"person_id": f"P{i}", "dob": f"{2000 + i % 20}-0{1 + i % 9}-1{i % 10}", "sex": "MFU"[i % 3],
             "nhs_number": nhs, "upn": pupil, "postcode": f"M{i % 9 + 1} {i % 10}AB"}
            for i, (nhs, pupil) in enumerate(
                zip(nhs_numbers(n, rng), upns(np.full(n, 801), rng.integers(2005, 2020, n)), strict=True)
            )
        ]
    )  # fmt: skip
    frame.loc[::100, "nhs_number"] = "1111111111"
    start = time.perf_counter()
    result = run_source_suites({"person": frame}, TODAY)
    assert time.perf_counter() - start < 20
    assert counts(result)["person.nhs_number_valid"] == n // 100
    assert result.set_index("expectation").drop("person.nhs_number_valid")["success"].all()


@pytest.mark.filterwarnings("ignore:Discarding nonzero nanoseconds")  # the one-by-one path's own warning
def test_datetime64_columns_become_the_same_python_values_as_one_by_one() -> None:
    """The whole-array conversion of naive datetime64 columns gives what `_as_datetime`/`_as_date` give."""
    from expectations.source_suites import _as_date, _as_datetime, _per_value, _python_times

    stamps = pd.Series(
        pd.to_datetime(["2024-01-02 03:04:05", None, "1999-12-31 23:59:59.123456789", "2024-01-02"], format="ISO8601")
    )
    for dates, judge in ((False, _as_datetime), (True, _as_date)):
        expected = _per_value(stamps.astype(object), judge)
        found = _python_times(stamps, dates=dates)
        assert found.tolist() == expected.tolist()
        assert [type(v) for v in found] == [type(v) for v in expected]

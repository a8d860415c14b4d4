"""Master records: the surviving value of each field with the record and rule behind it, and conflicts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.errors import ConfigError
from reconcile.masters import conflicts, survive
from reconcile.matching.rules import Survivorship, load_rules
from reconcile.store import MASTER_PERSON

NO_PRIORITY = Survivorship(priority={}, default=[])
VALID_NHS = ("9434765919", "4010232137", "9876543210")
INVALID_NHS = "9434765918"


def records(*rows: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(persons, xref) from rows that name their master; unnamed fields are missing."""
    persons = pd.DataFrame(
        [{"source_system": "lcs", "person_id": f"p{i}", "modified_at": None, **row} for i, row in enumerate(rows)]
    )
    xref = persons[["source_system", "person_id", "master"]].rename(columns={"master": "master_id"})
    return persons.drop(columns="master"), xref


def one_master(*rows: dict, priority: Survivorship = NO_PRIORITY) -> tuple[pd.Series, pd.DataFrame]:
    """The surviving values of a single master M1, and its provenance indexed by field."""
    values, provenance = survive(*records(*({"master": "M1", **row} for row in rows)), priority)
    assert len(values) == 1
    return values.iloc[0], provenance.set_index("field")


def chosen(provenance: pd.DataFrame, field: str) -> tuple[str, str]:
    return provenance.loc[field, "source_id"], provenance.loc[field, "rule"]


def test_valid_nhs_number_beats_a_more_recent_invalid_one_and_survives_compacted() -> None:
    value, why = one_master(
        {"nhs_number": INVALID_NHS, "modified_at": "2025-01-01"},
        {"nhs_number": "943 476 5919", "modified_at": "2020-01-01"},
    )
    assert value["nhs_number"] == "9434765919"
    assert chosen(why, "nhs_number") == ("p1", "valid_nhs_number")


def test_most_recent_valid_nhs_number_wins_among_valid_ones() -> None:
    value, why = one_master(
        {"nhs_number": VALID_NHS[1], "modified_at": "2020-01-01"},
        {"nhs_number": VALID_NHS[2], "modified_at": "2024-01-01"},
        {"nhs_number": INVALID_NHS, "modified_at": "2025-01-01"},
    )
    assert value["nhs_number"] == VALID_NHS[2]
    assert chosen(why, "nhs_number") == ("p1", "most_recent")


def test_invalid_upn_loses_to_a_valid_one() -> None:
    value, why = one_master(
        {"upn": "A801200005001", "modified_at": "2025-01-01"}, {"upn": "b801200005001", "modified_at": "2020-01-01"}
    )
    assert value["upn"] == "B801200005001"
    assert chosen(why, "upn") == ("p1", "valid_upn")


def test_a_placeholder_alt_id_loses_to_a_real_one_which_survives_as_recorded() -> None:
    value, why = one_master(
        {"alt_id": "0000000", "modified_at": "2025-01-01"}, {"alt_id": "ab 12 34 56 c", "modified_at": "2020-01-01"}
    )
    assert value["alt_id"] == "ab 12 34 56 c"
    assert chosen(why, "alt_id") == ("p1", "real_alt_id")


def test_actual_dob_beats_an_expected_one_and_then_expected_dob_is_empty() -> None:
    value, why = one_master(
        {"expected_dob": "2024-03-01", "modified_at": "2025-01-01"},
        {"dob": pd.Timestamp("2024-02-27"), "modified_at": "2024-01-01"},
    )
    assert value["dob"] == date(2024, 2, 27)
    assert value["expected_dob"] is None
    assert chosen(why, "dob") == ("p1", "actual_dob")
    assert "expected_dob" not in why.index


def test_expected_dob_survives_when_no_record_has_a_dob() -> None:
    value, why = one_master(
        {"expected_dob": date(2024, 3, 1), "modified_at": "2024-01-01"},
        {"expected_dob": "2024-03-08", "modified_at": "2024-02-01"},
    )
    assert value["dob"] is None and "dob" not in why.index
    assert value["expected_dob"] == date(2024, 3, 8)
    assert chosen(why, "expected_dob") == ("p1", "most_recent")


@pytest.mark.parametrize("placeholder", ["Baby", "UNBORN", "Baby of Sarah", "baby boy"])
def test_real_forename_beats_a_more_recent_placeholder(placeholder: str) -> None:
    value, why = one_master(
        {"forename": placeholder, "modified_at": "2025-06-01"}, {"forename": "Amara", "modified_at": "2024-01-01"}
    )
    assert value["forename"] == "Amara"
    assert chosen(why, "forename") == ("p1", "real_forename")


def test_a_placeholder_survives_when_it_is_all_there_is() -> None:
    value, why = one_master({"forename": "Baby", "modified_at": "2025-06-01"})
    assert value["forename"] == "Baby"
    assert chosen(why, "forename") == ("p0", "only_value")


def test_most_recent_record_wins_and_a_missing_modified_at_counts_as_oldest() -> None:
    value, why = one_master(
        {"surname": "Old", "modified_at": "2023-01-01"},
        {"surname": "Newest", "modified_at": pd.Timestamp("2024-05-01 10:00")},
        {"surname": "Undated", "modified_at": None},
    )
    assert value["surname"] == "Newest"
    assert chosen(why, "surname") == ("p1", "most_recent")


def test_nulls_never_win_and_a_field_nobody_holds_has_no_provenance() -> None:
    value, why = one_master(
        {"surname": None, "ethnicity": "  ", "modified_at": "2025-01-01"},
        {"surname": "Okoro", "modified_at": "2020-01-01"},
    )
    assert value["surname"] == "Okoro"
    assert chosen(why, "surname") == ("p1", "only_value")
    assert value["ethnicity"] is None and value["address"] is None
    assert not {"ethnicity", "address", "upn"} & set(why.index)


def test_system_priority_breaks_a_modified_at_tie_per_field_then_default() -> None:
    trust = Survivorship(priority={"address": ["mosaic", "lcs"]}, default=["lcs", "mosaic"])
    tied = "2024-01-01 09:00:00"
    value, why = one_master(
        {"address": "1 High St", "surname": "Lee", "modified_at": tied},
        {"source_system": "mosaic", "address": "2 Low Rd", "surname": "Li", "modified_at": tied},
        priority=trust,
    )
    assert value["address"] == "2 Low Rd"
    assert chosen(why, "address") == ("p1", "system_priority")
    assert value["surname"] == "Lee"
    assert chosen(why, "surname") == ("p0", "system_priority")


def test_a_tie_with_no_priority_falls_to_system_then_id_so_it_is_deterministic() -> None:
    tied = "2024-01-01"
    value, why = one_master(
        {"source_system": "mosaic", "person_id": "a", "surname": "Ali", "modified_at": tied},
        {"source_system": "lcs", "person_id": "z", "surname": "Lee", "modified_at": tied},
        {"source_system": "lcs", "person_id": "y", "surname": "Khan", "modified_at": tied},
    )
    assert value["surname"] == "Khan"
    assert chosen(why, "surname") == ("y", "tie_break")


def test_records_that_agree_are_no_contest() -> None:
    value, why = one_master(
        {"sex": "F", "modified_at": "2020-01-01"}, {"source_system": "mosaic", "sex": "F", "modified_at": "2024-01-01"}
    )
    assert chosen(why, "sex") == ("p1", "only_value")


def test_output_has_the_master_person_columns_with_counts_and_systems() -> None:
    values, _ = survive(
        *records(
            {"master": "M2", "source_system": "mosaic"},
            {"master": "M2", "source_system": "lcs"},
            {"master": "M2", "source_system": "lcs"},
            {"master": "M1"},
        ),
        NO_PRIORITY,
    )
    assert list(values.columns) == [c.name for c in MASTER_PERSON.columns if c.name != "run_id"]
    assert values[["master_id", "records", "source_systems"]].values.tolist() == [
        ["M1", 1, "lcs"],
        ["M2", 3, "lcs,mosaic"],
    ]


def test_survivorship_settings_come_from_default_yaml_and_reject_unknown_fields(tmp_path: Path) -> None:
    assert load_rules().survivorship == NO_PRIORITY
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"survivorship": {"priority": {"adress": ["lcs"]}}}))
    with pytest.raises(ConfigError, match="'adress'"):
        load_rules(rules)
    rules.write_text(yaml.safe_dump({"survivorship": {"priority": {"address": ["lcs"]}}}))
    assert load_rules(rules).survivorship.priority == {"address": ["lcs"]}


def conflicting(field: str, *values: object) -> pd.DataFrame:
    """The conflicts of one master whose records hold `values` for `field`, one record each."""
    found = conflicts(*records(*({"master": "M1", field: value} for value in values)))
    return found[found["field"] == field]


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("dob", ("2020-01-02", date(2020, 2, 1))),
        ("sex", ("M", "F")),
        ("nhs_number", (VALID_NHS[0], "401 023 2137")),
        ("surname", ("Smith", "Jones")),
        ("surname", ("Smith-Jones", "Smith")),
        ("forename", ("Amara", "Zoe")),
        ("upn", ("B801200005001", "H801200001001")),
        ("alt_id", ("AB123456C", "AB123457C")),
        ("postcode", ("AB1 2CD", "AB1 2CE")),
    ],
)
def test_disagreements_are_conflicts(field: str, values: tuple) -> None:
    found = conflicting(field, *values)
    assert len(found) == 1
    assert found.iloc[0]["n_values"] == 2


def test_conflict_lists_each_raw_value_once_with_its_first_record() -> None:
    found = conflicting("nhs_number", "943 476 5919", VALID_NHS[1], "9434765919", INVALID_NHS)
    listed = json.loads(found.iloc[0]["values"])
    assert listed == [
        {"value": VALID_NHS[1], "source_system": "lcs", "source_id": "p1"},
        {"value": "943 476 5919", "source_system": "lcs", "source_id": "p0"},
        {"value": "9434765919", "source_system": "lcs", "source_id": "p2"},
    ]
    assert found.iloc[0]["n_values"] == 3


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("forename", ("ZOË", "Zoe")),
        ("surname", ("O'Brien", "obrien")),
        ("surname", ("Smith-Jones", "Smith Jones")),
        ("surname", ("Mc Donald", "MCDONALD")),
        ("forename", ("Alfie", "Alfred")),
        ("forename", ("Baby", "Amara")),
        ("nhs_number", ("943 476 5919", "9434765919")),
        ("nhs_number", (INVALID_NHS, VALID_NHS[1])),
        ("sex", ("U", "M")),
        ("sex", (None, "F")),
        ("dob", (None, "2020-01-02")),
        ("dob", ("2020-01-02", pd.Timestamp("2020-01-02"))),
        ("postcode", ("ab1 2cd", "AB12CD")),
        ("alt_id", ("ab 12 34 56 c", "AB123456C")),
        ("alt_id", ("0000000", "AB123456C")),
    ],
)
def test_minor_differences_are_not_conflicts(field: str, values: tuple) -> None:
    assert conflicting(field, *values).empty


def test_records_of_different_masters_never_conflict() -> None:
    found = conflicts(*records({"master": "M1", "sex": "M"}, {"master": "M2", "sex": "F"}))
    assert found.empty and list(found.columns) == ["master_id", "field", "values", "n_values"]


VALUES = {
    "forename": st.sampled_from([None, "Baby", "Amara", "amara", "Zoë"]),
    "surname": st.sampled_from([None, "Smith", "Jones", " "]),
    "dob": st.sampled_from([None, "2020-01-02", date(2020, 1, 3), pd.Timestamp("2020-01-02")]),
    "expected_dob": st.sampled_from([None, "2020-02-01"]),
    "sex": st.sampled_from([None, "M", "F", "U"]),
    "nhs_number": st.sampled_from([None, INVALID_NHS, "943 476 5919", *VALID_NHS]),
    "modified_at": st.sampled_from([None, "2024-01-01", "2024-01-01 00:00:00", "2025-01-01"]),
    "source_system": st.sampled_from(["lcs", "mosaic"]),
    "master": st.sampled_from(["M1", "M2", "M3"]),
}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries(VALUES), min_size=1, max_size=12))
def test_one_row_per_master_and_every_value_comes_from_its_provenance_record(rows: list[dict]) -> None:
    persons, xref = records(*rows)
    values, provenance = survive(persons, xref, Survivorship(priority={"sex": ["mosaic"]}, default=["lcs"]))
    assert sorted(values["master_id"]) == sorted(xref["master_id"].unique())
    assert values["records"].sum() == len(persons)
    by_master = values.set_index("master_id")
    source = persons.assign(master_id=xref["master_id"]).set_index(["source_system", "person_id"])
    for _, row in provenance.iterrows():
        record = source.loc[(row["source_system"], row["source_id"])]
        assert record["master_id"] == row["master_id"]
        raw = record[row["field"]]
        forms = {raw, str(raw).replace(" ", ""), pd.Timestamp(raw).date() if row["field"].endswith("dob") else raw}
        assert by_master.loc[row["master_id"], row["field"]] in forms
    surviving = values.melt("master_id", [c for c in VALUES if c in values]).dropna()
    assert len(surviving) == len(provenance[provenance["field"].isin(VALUES)])


def test_postcode_and_address_come_from_one_record_and_unknown_sex_never_wins():
    persons = pd.DataFrame(
        {
            "source_system": ["a", "b"],
            "person_id": ["1", "2"],
            "postcode": ["LS1 1AA", "M1 1AA"],
            "address": ["1 Old Road", None],
            "sex": ["F", "U"],
            "modified_at": ["2020-01-01 00:00:00", "2024-01-01 00:00:00"],
        }
    )
    xref = pd.DataFrame({"source_system": ["a", "b"], "person_id": ["1", "2"], "master_id": ["M1", "M1"]})
    values, provenance = survive(persons, xref, load_rules().survivorship)
    row = values.iloc[0]
    assert (row["postcode"], row["address"]) == ("LS1 1AA", "1 Old Road")  # the newer record has no address line
    assert row["sex"] == "F"
    rules = dict(zip(provenance["field"], provenance["rule"], strict=True))
    assert rules["address"] == rules["postcode"] == "whole_address" and rules["sex"] == "known_sex"

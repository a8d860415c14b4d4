"""Master records end to end: surviving values with provenance, and conflicts that surface, not hide."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd

from conftest import people, read_frame, with_crowd
from reconcile.masters import conflicts, survive
from reconcile.matching import load_rules, match_people


def test_every_surviving_value_comes_from_the_record_its_provenance_names(synthetic_run):
    _, config, _ = synthetic_run
    url = config.target_url()
    columns = "master_id, field, source_system, source_id, rule"
    provenance = read_frame(url, f"SELECT {columns} FROM master_person_provenance")
    masters = read_frame(url, "SELECT * FROM master_person").set_index("master_id")
    persons = read_frame(url, "SELECT * FROM person").set_index(["source_system", "person_id"])
    assert set(provenance["rule"]) >= {"most_recent", "only_value"}
    sample = provenance[provenance["field"].isin(["forename", "surname", "dob", "postcode"])].head(2000)
    for row in sample.itertuples():
        survived = masters.at[row.master_id, row.field]
        raw = persons.at[(row.source_system, row.source_id), row.field]
        assert str(survived) == str(raw), (row.field, row.rule)


def test_planted_day_month_swaps_surface_as_dob_conflicts(synthetic_run):
    files, config, _ = synthetic_run
    with sqlite3.connect(files.truth) as conn:
        planted = pd.read_sql("SELECT source_system, source_id FROM planted WHERE kind = 'dob_day_month_swap'", conn)
    xref = read_frame(config.target_url(), "SELECT source_system, source_id, master_id FROM person_xref")
    size = xref.groupby("master_id").size()
    swapped = planted.merge(xref, on=["source_system", "source_id"])
    merged = swapped[swapped["master_id"].map(size) > 1]  # a swap in a master of one record conflicts with nothing
    assert len(merged) > 5
    dob = read_frame(config.target_url(), "SELECT master_id FROM master_conflict WHERE field = 'dob'")
    assert set(merged["master_id"]) <= set(dob["master_id"])


def test_seeded_sex_and_nhs_conflicts_are_kept_as_conflict_entries():
    same = {"forename": "Sam", "surname": "Okafor", "dob": "2015-03-01", "postcode": "LS6 2BB"}
    frame = with_crowd(
        people(
            {**same, "sex": "M", "nhs_number": "9434765919"},
            {**same, "sex": "F", "nhs_number": "943 476 5919", "source_system": "b"},  # same child: NHS agrees
            {**same, "forename": "Ola", "sex": "F", "nhs_number": "4010232137"},
            {**same, "forename": "Ola", "sex": "F", "nhs_number": "9434765919", "source_system": "b"},
        )
    )
    decisions = pd.DataFrame(
        {
            "source_system_l": ["a"],
            "person_id_l": ["2"],
            "source_system_r": ["b"],
            "person_id_r": ["3"],
            "decision": ["MATCH"],
        }
    )  # a reviewer merged two NHS numbers
    result = match_people(frame, decisions=decisions)
    xref = result.clusters.assign(master_id=result.clusters["master_key"])[["source_system", "person_id", "master_id"]]
    found = conflicts(frame, xref)
    master_of = dict(zip(xref["person_id"], xref["master_id"], strict=True))
    sex = found[(found["field"] == "sex") & (found["master_id"] == master_of["0"])]
    assert len(sex) == 1 and {v["value"] for v in json.loads(sex.iloc[0]["values"])} == {"M", "F"}
    assert found[(found["field"] == "nhs_number") & (found["master_id"] == master_of["0"])].empty  # formatting only
    nhs = found[(found["field"] == "nhs_number") & (found["master_id"] == master_of["2"])]
    assert len(nhs) == 1 and nhs.iloc[0]["n_values"] == 2
    values, provenance = survive(frame, xref, load_rules().survivorship)
    survivor = values.set_index("master_id").at[master_of["0"], "nhs_number"]
    assert survivor == "9434765919"  # stored compacted

"""The review queue as reviewers read it, and what --mask-pii leaves of a person."""

from __future__ import annotations

import json

import pandas as pd
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from reconcile.matching.comparisons import COMPARISONS
from reconcile.privacy import mask_pii
from reports.report_data import _raw_rows
from reports.review_pairs import review_pairs, top_reasons


def test_every_queued_pair_shows_both_records_and_its_weights(synthetic_run):
    _, config, summary = synthetic_run
    engine = sa.create_engine(config.target_url())
    try:
        rows = review_pairs(engine)
        queue = pd.read_sql("SELECT review_id, source_id_l FROM review_queue", engine)
        person = pd.read_sql("SELECT source_system, person_id, surname FROM person", engine)
    finally:
        engine.dispose()
    assert len(rows) == summary.review_queue == len(queue) > 0
    assert set(rows["review_id"]) == set(queue["review_id"])
    assert rows["match_probability"].is_monotonic_decreasing
    first = rows.iloc[0]
    held = person[(person["source_system"] == first["source_system_l"]) & (person["person_id"] == first["source_id_l"])]
    assert held["surname"].tolist() == [first["surname_l"]]
    assert rows["w_dob"].notna().all() and (rows["top_reasons"].str.len() > 0).all()


def test_top_reasons_name_the_strongest_comparisons_first():
    pair = {f"w_{k}": 0.0 for k in COMPARISONS}
    pair |= {f"level_{k}": -1 for k in COMPARISONS}
    pair |= {"w_dob": 6.1, "level_dob": 5, "w_forename": -4.3, "level_forename": 0, "w_sex": 0.5, "level_sex": 1}
    pair |= {"w_surname": 2.0, "level_surname": 4}
    assert top_reasons(pd.DataFrame([pair])).tolist() == ["dob exact +6.1; forename different -4.3; surname exact +2.0"]


def test_masking_keeps_initials_birth_year_and_postcode_district_only():
    frame = pd.DataFrame(
        {
            "forename_l": ["amy jo"],
            "surname_l": ["Smith-Jones"],
            "dob_l": ["2015-03-02"],
            "postcode_l": ["sw1a 1aa"],
            "nhs_number_l": ["9434765919"],
            "alt_id_l": ["AB123456C"],
            "address_l": ["1 High St"],
            "source_id_l": ["L1"],
        }
    )
    masked = mask_pii(frame, ("_l",)).iloc[0]
    assert (masked["forename_l"], masked["surname_l"], masked["dob_l"]) == ("A. J.", "S.", "2015")
    assert masked["postcode_l"] == "SW1A"
    assert pd.isna(masked["nhs_number_l"]) and pd.isna(masked["address_l"]) and pd.isna(masked["alt_id_l"])
    assert masked["source_id_l"] == "L1"


@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=1, max_size=5))
def test_masked_names_never_hold_more_than_initials(names):
    masked = mask_pii(pd.DataFrame({"forename": names, "postcode": names, "dob": names}))
    for value in masked["forename"].dropna():
        assert all(len(part) == 2 and part.endswith(".") for part in value.split())
    assert masked["dob"].dropna().str.fullmatch(r"\d{1,4}").all()


def test_a_masked_rejected_row_shows_its_ids_codes_and_dates_and_hides_free_text():
    chunk = pd.DataFrame(
        {
            "entity": ["involvement", "person"],
            "raw_row": [
                json.dumps({"involvement_id": "A7", "person_id": "P1", "worker": "Jo Bloggs", "team": "MASH",
                            "start_date": "2025-01-02", "notes": "visited at home"}),
                json.dumps({"person_id": "P1", "forename": "Amy", "dob": "2015-03-02", "sex": "F",
                            "unknown_field": "Amy's school"}),
            ],
        }
    )  # fmt: skip
    rows = [json.loads(text) for text in _raw_rows(True)(chunk)["raw_row"]]
    assert rows[0] == {"involvement_id": "A7", "person_id": "P1", "worker": None, "team": None,
                       "start_date": "2025-01-02", "notes": None}  # fmt: skip
    assert rows[1] == {"person_id": "P1", "forename": "A.", "dob": "2015", "sex": "F", "unknown_field": None}
    assert _raw_rows(False)(chunk).equals(chunk)  # unmasked reports show the row as the source held it

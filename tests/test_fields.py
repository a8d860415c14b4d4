"""Field parsers: never raise, never lose a row, and say what was wrong with a value they set aside."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile.canonicalise import _joined, canonical_rows
from reconcile.config import EntitySpec
from reconcile.fields import clean_text, map_codes, parse_dates, text_value
from reconcile.model import ENTITIES

TODAY = date(2026, 11, 1)
raw_values = st.one_of(
    st.none(),
    st.text(),
    st.binary(max_size=20),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.dates(),
)


@given(st.lists(raw_values, max_size=30))
def test_clean_text_keeps_every_row_and_never_returns_blank_text(values):
    series = pd.Series(values, dtype=object)
    cleaned, problems = clean_text(series)
    assert len(cleaned) == len(problems) == len(values)
    for value in cleaned:
        assert value is None or (isinstance(value, str) and value == value.strip() and value != "")
        assert value is None or value.encode("utf-8")  # always storable as UTF-8


@given(
    st.one_of(
        st.lists(st.one_of(st.none(), st.just(float("nan")), st.text()), max_size=30), st.lists(raw_values, max_size=30)
    )
)
def test_clean_text_is_text_value_of_each_value(values):
    """The fast path for columns of plain text gives exactly what text_value gives, problems included."""
    series = pd.Series(values, dtype=object)
    cleaned, problems = clean_text(series)
    assert list(zip(cleaned, problems, strict=True)) == [text_value(v) for v in values]


TEXT_CHARACTERS = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))  # Cs: lone surrogates
NO_NUL = st.text(alphabet=TEXT_CHARACTERS)


@given(NO_NUL)
def test_utf8_text_is_only_trimmed(text):
    value, problem = text_value(text.encode("utf-8").decode("utf-8", "surrogateescape"))
    assert problem is None
    assert value == (text.strip() or None)


def test_nul_bytes_are_removed_and_reported():
    assert text_value("Am\x00y") == ("Amy", "held a NUL byte, removed")


def test_times_with_a_zone_become_utc_and_compare_with_the_rest():
    series = pd.Series(["2026-10-01T10:00:00+01:00", "2026-10-01T09:00:00Z", "2026-10-01 09:00:00"], dtype=object)
    parsed, problems = parse_dates(series, None, "datetime", TODAY, True)
    assert list(parsed) == [datetime(2026, 10, 1, 9, 0)] * 3
    assert problems.isna().all()


def test_integral_floats_from_spreadsheets_lose_their_decimal_point():
    assert text_value(9434765919.0) == ("9434765919", None)
    assert text_value(b"Zo\xeb") == ("Zoë", "not valid UTF-8; read as Windows-1252")


@given(st.dates(min_value=date(1900, 1, 1), max_value=TODAY), st.sampled_from(["%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y"]))
def test_dates_round_trip_through_their_declared_format(day, fmt):
    parsed, problems = parse_dates(pd.Series([day.strftime(fmt)], dtype=object), fmt, "date", TODAY, True)
    assert parsed.iloc[0] == day
    assert problems.iloc[0] is None


@given(st.lists(st.one_of(st.none(), st.text(max_size=12), st.dates(), st.datetimes()), max_size=20))
def test_date_parsing_never_raises_and_explains_every_value_it_sets_aside(values):
    series = pd.Series(values, dtype=object)
    parsed, problems = parse_dates(series, "%d/%m/%Y", "date", TODAY, True)
    assert len(parsed) == len(values)
    for raw, value, problem in zip(values, parsed, problems, strict=True):
        had_value = raw is not None and not (isinstance(raw, str) and not raw.strip())
        assert (value is None) == (problem is not None or not had_value)


def test_impossible_future_and_ancient_dates_are_set_aside_with_reasons():
    series = pd.Series(["31/02/2015", "01/01/2099", "01/01/1850", "02/03/2015"], dtype=object)
    parsed, problems = parse_dates(series, "%d/%m/%Y", "date", TODAY, True)
    assert list(parsed) == [None, None, None, date(2015, 3, 2)]
    assert list(problems) == ["not a valid date (expected %d/%m/%Y)", "in the future", "before 1900", None]


def test_native_dates_and_datetimes_need_no_format():
    series = pd.Series([date(2015, 3, 2), datetime(2020, 1, 1, 9, 30), None], dtype=object)
    parsed, problems = parse_dates(series, None, "datetime", TODAY, False)
    assert list(parsed) == [datetime(2015, 3, 2), datetime(2020, 1, 1, 9, 30), None]
    assert problems.isna().all()


def test_expected_dates_may_lie_in_the_future():
    parsed, problems = parse_dates(pd.Series(["2027-01-05"], dtype=object), None, "date", TODAY, False)
    assert parsed.iloc[0] == date(2027, 1, 5) and problems.iloc[0] is None


def test_codes_map_by_config_then_synonyms_then_case():
    series = pd.Series(["Male", "female", "m", "Unknown", "X", "1", None], dtype=object)
    mapped, problems = map_codes(series, "sex", {"1": "M"}, ("M", "F", "U"))
    assert list(mapped) == ["M", "F", "M", "U", None, "M", None]
    assert list(problems)[4] == "unknown code (expected M/F/U; map it under values.sex)"
    assert problems.notna().sum() == 1


@given(st.lists(st.one_of(st.none(), st.text(alphabet=TEXT_CHARACTERS, max_size=8)), max_size=20))
def test_open_code_columns_keep_unmapped_values(values):
    mapped, problems = map_codes(pd.Series(values, dtype=object), "outcome", {"NFA": "No further action"}, ())
    assert problems.isna().all()
    for raw, value in zip(values, mapped, strict=True):
        expected = None if raw is None or not raw.strip() else raw.strip()
        expected = "No further action" if expected == "NFA" else expected
        assert value == expected


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_an_empty_chunk_canonicalises_to_the_frames_a_chunk_with_rows_gives(name):
    """A night's unchanged chunk skips the per-column passes; what it returns must still stack with the rest."""
    entity = ENTITIES[name]
    spec = EntitySpec(table="t", columns={c.name: c.name for c in entity.columns})
    one = pd.DataFrame({c.name: pd.Series(["1"], dtype=object) for c in entity.columns})
    rows, issues = canonical_rows(one, pd.Series(["1"], dtype=object), entity, spec, "lcs", TODAY)
    empty_rows, empty_issues = canonical_rows(one.iloc[:0], pd.Series([], dtype=object), entity, spec, "lcs", TODAY)
    pd.testing.assert_frame_equal(empty_rows, rows.iloc[:0])
    pd.testing.assert_frame_equal(empty_issues, issues.iloc[:0].reset_index(drop=True))


@given(st.lists(st.tuples(*[st.one_of(st.none(), st.text(max_size=4))] * 3), max_size=20))
def test_composite_ids_join_as_pandas_joins_them(rows):
    """A relationship's ID is its key's parts joined by '|', missing when a required part is missing."""
    parts = [pd.Series([r[i] for r in rows], dtype=object, index=range(3, 3 + len(rows))) for i in range(3)]
    expected = parts[0].astype("string").str.cat([p.astype("string") for p in parts[1:]], sep="|")
    expected = expected.astype(object).where(expected.notna(), None)
    pd.testing.assert_series_equal(_joined(parts), expected)


@pytest.mark.parametrize(
    "values, cleaned",
    [
        (["A1", "", None, "b2"], ["A1", None, None, "b2"]),  # nothing to trim: only empty text goes
        (["A1", " b2 ", "", "\u00a0", None], ["A1", "b2", None, None, None]),  # some whitespace: each is trimmed
    ],
)
def test_plain_text_is_trimmed_only_where_a_value_holds_whitespace(values, cleaned):
    result, problems = clean_text(pd.Series(values, dtype=object))
    assert result.tolist() == cleaned and problems.isna().all()

"""NHS numbers judged over whole arrays give exactly python-stdnum's verdicts, whatever the shape of the value."""

from __future__ import annotations

import numpy as np
import pandas as pd
from stdnum.gb import nhs

from expectations.source_suites import _as_text, _judged, _nhs_valid
from reconcile.masters.survivorship import valid_identifier
from reconcile.matching.standardise import identifier

SHAPES = [
    "9434765919", "9434765918", "943 476 5919", " 9434765919 ", "943-476-5919", "0000000000", "1111111111",
    "4010232137", "401023213", "40102321370", "94347659１9", "９４３４７６５９１９", "943476591x", "", "   ",
    "9434765919\n", "abcdefghij", None, np.nan, 9434765919, 9434765919.0, "6660000000", "1234567881",
    " 943 476 5919\t", "943--476 5919", "943476591 9", "\t-\t9434765919", "9434765919-", "94 34 76 59 19",
    "943\t476\t5919", "943–476–5919", "943\u00a0476\u00a05919", "943_476_5919", "000 000 0000", "`9434765919",
]  # fmt: skip


def _random_numbers(count: int, seed: int) -> list[str]:
    """Ten random digits, some written the way legacy systems do (3-3-4 with spaces or hyphens)."""
    rng = np.random.default_rng(seed)
    numbers = ["".join(map(str, digits)) for digits in rng.integers(0, 10, size=(count, 10))]
    return [f"{n[:3]}{' -'[i % 2]}{n[3:6]} {n[6:]}" if i % 3 == 0 else n for i, n in enumerate(numbers)]


def test_valid_identifier_agrees_with_stdnum_one_value_at_a_time() -> None:
    values = pd.Series([*SHAPES, *_random_numbers(2_000, 1), *SHAPES], dtype=object)
    expected = identifier(values, nhs.validate)[0]
    found = valid_identifier(values, "nhs_number")
    pd.testing.assert_series_equal(found, expected)
    assert found.notna().sum() > 100  # random digits pass the check about one time in eleven


def test_source_suite_helper_agrees_with_judging_each_value() -> None:
    values = pd.Series([*SHAPES, *_random_numbers(2_000, 2)], dtype=object)
    expected = [None if pd.isna(v) else _nhs_valid(_as_text(v)) for v in values]
    assert _judged(values, _nhs_valid).tolist() == expected


def test_standardise_judges_nhs_numbers_as_stdnum_does_valid_and_invalid_alike() -> None:
    values = pd.Series([*SHAPES, *_random_numbers(2_000, 3)], dtype=object)
    fast_valid, fast_invalid = identifier(values, nhs.validate, ten_digits=True)
    slow_valid, slow_invalid = identifier(values, nhs.validate)
    pd.testing.assert_series_equal(fast_valid, slow_valid)
    assert fast_invalid.tolist() == slow_invalid.tolist() and fast_invalid.any()

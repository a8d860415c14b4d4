"""Comparison vectors: for each candidate pair, the agreement level of each evidence field.

Levels are small integers, higher meaning closer agreement; -1 means the field is missing
on either side and counts for nothing. String similarity runs in rapidfuzz's C++ over whole
arrays (`process.cpdist`, all cores), never in a Python loop over pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz import distance, fuzz, process

from reconcile.matching.names import name_variants
from reconcile.matching.rules import Comparisons

MISSING = -1
# Level names per comparison, index = level; they label match weights and the review waterfall.
LEVELS: dict[str, tuple[str, ...]] = {
    "forename": ("different", "jaro-winkler low", "jaro-winkler high", "same name (nickname or spelling)", "exact"),
    "surname": ("different", "jaro-winkler low", "jaro-winkler high or sounds alike", "shares a surname", "exact"),
    "dob": ("different", "same year and month", "expected date near", "one digit or a day off", "day/month swapped",
            "exact"),
    "nhs": ("both valid and different", "equal"),
    "upn": ("both valid and different", "equal"),
    "sex": ("different", "same"),
    # One comparison for where someone lives: postcode and address lines are one piece of evidence,
    # and counting them twice would make every member of a household look like the same person.
    "address": ("different", "same district", "same sector", "same postcode", "same address"),
}  # fmt: skip
COMPARISONS = tuple(LEVELS)
EXPECTED_DOB_DAYS = 42


class _Sides:
    """The left and right values of each pair, as NumPy arrays taken once per column."""

    def __init__(self, std: pd.DataFrame, pairs: pd.DataFrame) -> None:
        self.std = std
        self.left = pairs["rid_l"].to_numpy()
        self.right = pairs["rid_r"].to_numpy()
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.left)

    def values(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        if column not in self._cache:
            values = self.std[column].to_numpy()
            self._cache[column] = (values[self.left], values[self.right])
        return self._cache[column]

    def text(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Strings with '' for missing, for rapidfuzz."""
        key = f"{column}:text"
        if key not in self._cache:
            values = self.std[column].fillna("").to_numpy(dtype=object)
            self._cache[key] = (values[self.left], values[self.right])
        return self._cache[key]

    def missing(self, column: str) -> np.ndarray:
        absent = self.std[column].isna().to_numpy()
        return absent[self.left] | absent[self.right]

    def equal(self, column: str) -> np.ndarray:
        a, b = self.values(column)
        return (a == b) & ~self.missing(column)


def compare(std: pd.DataFrame, pairs: pd.DataFrame, settings: Comparisons) -> pd.DataFrame:
    """One int8 column per comparison, aligned with `pairs`; also `dob_days` for the constraints."""
    sides = _Sides(std, pairs)
    forename = _name_levels(sides, "forename", settings.forename.jaro_winkler, same_name=True)
    surname = _surname_levels(sides, settings.surname.jaro_winkler)
    # A forename and surname entered the wrong way round agree crosswise, exactly.
    fl, fr = sides.values("forename")
    sl, sr = sides.values("surname")
    swapped = (fl == sr) & (sl == fr) & (forename < 4) & ~sides.missing("forename") & ~sides.missing("surname")
    forename = np.where(swapped, 4, forename)
    surname = np.where(swapped, 4, surname)
    dob, dob_days = _dob_levels(sides, settings.dob.near_days)
    out = pd.DataFrame(
        {
            "forename": forename,
            "surname": surname,
            "dob": dob,
            "nhs": _identifier_levels(sides, "nhs"),
            "upn": _identifier_levels(sides, "upn"),
            "sex": _identifier_levels(sides, "sex"),
            "address": _address_levels(sides, settings.address.token_similarity),
        }
    ).astype(np.int8)
    out["dob_days"] = dob_days
    return out


def _cpdist(a: np.ndarray, b: np.ndarray, scorer: object) -> np.ndarray:
    if len(a) == 0:
        return np.zeros(0, dtype=np.float32)
    return process.cpdist(a.tolist(), b.tolist(), scorer=scorer, workers=-1, dtype=np.float32)


def _name_levels(sides: _Sides, column: str, jw: tuple[float, float], same_name: bool) -> np.ndarray:
    similarity = _cpdist(*sides.text(column), distance.JaroWinkler.normalized_similarity)
    levels = np.select([similarity >= jw[0], similarity >= jw[1]], [2, 1], 0)
    if same_name:
        levels = np.where(_same_name(*sides.values(column)), 3, levels)
    levels = np.where(sides.equal(column), 4, levels)
    return np.where(sides.missing(column), MISSING, levels)


def _same_name(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Nickname or transliteration: integer-coded pairs looked up among the equivalences of the names present."""
    codes, names = pd.factorize(np.concatenate([a, b]), use_na_sentinel=True)
    if len(names) == 0:
        return np.zeros(len(a), dtype=bool)
    equivalent = name_variants().equivalences(names)
    if not equivalent:
        return np.zeros(len(a), dtype=bool)
    index = pd.Index(names)
    x = index.get_indexer([e[0] for e in equivalent])
    y = index.get_indexer([e[1] for e in equivalent])
    width = len(names) + 1
    known = x.astype(np.int64) * width + y
    pair = codes[: len(a)].astype(np.int64) * width + codes[len(a) :]
    return np.isin(pair, known) & (codes[: len(a)] >= 0) & (codes[len(a) :] >= 0)


def _surname_levels(sides: _Sides, jw: tuple[float, float]) -> np.ndarray:
    levels = _name_levels(sides, "surname", jw, same_name=False)
    sounds = sides.equal("surname_phonetic")
    levels = np.where((levels < 2) & sounds, 2, levels)
    shared = _shares_token(sides, "surname")  # Smith and Smith-Jones, or a married name added
    levels = np.where((levels < 3) & shared, 3, levels)
    return np.where(sides.missing("surname"), MISSING, levels)


def _shares_token(sides: _Sides, column: str) -> np.ndarray:
    """Any word in common, checked only where either side has more than one word."""
    result = np.zeros(len(sides), dtype=bool)
    several = sides.std[column].map(lambda v: isinstance(v, str) and " " in v).to_numpy(dtype=bool)
    rows = np.flatnonzero((several[sides.left] | several[sides.right]) & ~sides.missing(column))
    if len(rows) == 0:
        return result
    a, b = sides.values(column)
    left = pd.DataFrame({"row": rows, "token": [v.split(" ") for v in a[rows]]}).explode("token")
    right = pd.DataFrame({"row": rows, "token": [v.split(" ") for v in b[rows]]}).explode("token")
    result[left.merge(right, on=["row", "token"])["row"].unique()] = True
    return result


def _dob_levels(sides: _Sides, near_days: int) -> tuple[np.ndarray, np.ndarray]:
    dob = sides.std["dob"]
    ordinal = _as_float(dob.to_numpy(dtype="datetime64[D]").astype("int64"), dob.isna())
    ymd = _as_float((dob.dt.year * 10000 + dob.dt.month * 100 + dob.dt.day).to_numpy(na_value=0), dob.isna())
    days = np.abs(ordinal[sides.left] - ordinal[sides.right])
    a, b = ymd[sides.left], ymd[sides.right]
    ya, ma, da = a // 10000, (a // 100) % 100, a % 100
    yb, mb, db = b // 10000, (b // 100) % 100, b % 100
    expected = sides.std["dob_expected"].to_numpy()
    expected = expected[sides.left] | expected[sides.right]
    exact = days == 0
    swapped = (ya == yb) & (ma == db) & (da == mb) & (da != ma)
    near = (days <= near_days) | (_digit_distance(a, b) == 1)
    expected_near = expected & (days <= EXPECTED_DOB_DAYS)
    same_month = (ya == yb) & (ma == mb)
    levels = np.select([exact, swapped, near, expected_near, same_month], [5, 4, 3, 2, 1], 0)
    return np.where(np.isnan(days), MISSING, levels), days


def _as_float(values: np.ndarray, missing: pd.Series) -> np.ndarray:
    return np.where(missing.to_numpy(), np.nan, values.astype("float64"))


def _digit_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many of the eight digits of YYYYMMDD differ: one mistyped digit is a common slip."""
    valid = ~(np.isnan(a) | np.isnan(b))
    ia, ib = np.where(valid, a, 0).astype(np.int64), np.where(valid, b, 0).astype(np.int64)
    differing = sum(((ia // 10**k) % 10 != (ib // 10**k) % 10).astype(np.int8) for k in range(8))
    return np.where(valid, differing, 99)


def _identifier_levels(sides: _Sides, column: str) -> np.ndarray:
    return np.where(sides.missing(column), MISSING, sides.equal(column).astype(np.int8))


def _address_levels(sides: _Sides, cut: tuple[float, float]) -> np.ndarray:
    similarity = _cpdist(*sides.text("address"), fuzz.token_set_ratio) / 100
    similarity = np.where(sides.missing("address"), 0.0, similarity)
    district = sides.equal("pc_district") | (similarity >= cut[1])
    levels = np.select(
        [similarity >= cut[0], sides.equal("postcode"), sides.equal("pc_sector"), district], [4, 3, 2, 1], 0
    )
    return np.where(sides.missing("postcode") & sides.missing("address"), MISSING, levels)

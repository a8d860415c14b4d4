"""Comparison vectors: for each candidate pair, the agreement level of each evidence field.

Levels are small integers, higher meaning closer agreement; -1 means the field is missing
on either side and counts for nothing. String similarity runs in rapidfuzz's C++ over whole
arrays (`process.cpdist`, all cores), never in a Python loop over pairs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from rapidfuzz import distance, fuzz, process

from reconcile.matching.names import name_variants
from reconcile.matching.rules import Comparisons
from reconcile.matching.standardise import objects

MISSING = -1
# Level names per comparison, index = level; they label match weights and the review waterfall.
LEVELS: dict[str, tuple[str, ...]] = {
    "forename": ("different", "jaro-winkler low", "jaro-winkler high", "same name (nickname or spelling)", "exact"),
    # Forenames after the first: often left out by one system (missing, no evidence), seldom wholly different.
    "middle_names": ("different", "close, or an initial", "one name in common", "exact"),
    "surname": ("different", "jaro-winkler low", "jaro-winkler high or sounds alike", "shares a surname", "exact"),
    "dob": ("different", "same year and month", "expected date near", "one digit or a day off", "day/month swapped",
            "exact"),
    "nhs": ("both valid and different", "equal"),
    "upn": ("both valid and different", "equal"),
    "alt_id": ("different", "one character out", "equal"),
    "sex": ("different", "same"),
    # One comparison for where someone lives: postcode and address lines are one piece of evidence,
    # and counting them twice would make every member of a household look like the same person.
    "address": ("different", "same district", "same sector", "same postcode", "same address"),
}  # fmt: skip
COMPARISONS = tuple(LEVELS)
EXPECTED_DOB_DAYS = 42


class Prepared:
    """A standardised frame's columns as NumPy arrays, with missing masks, made once and reused by every
    comparison over it (training compares many chunks of random pairs against the same records)."""

    def __init__(self, std: pd.DataFrame) -> None:
        self.std = std
        self._values: dict[str, np.ndarray] = {}
        self._absent: dict[str, np.ndarray] = {}
        self._text: dict[str, np.ndarray] = {}
        self._derived: dict[str, np.ndarray] = {}

    def derived(self, name: str, make: Callable[[pd.DataFrame], np.ndarray]) -> np.ndarray:
        """A per-record array computed from the frame once, e.g. DOB as day numbers."""
        if name not in self._derived:
            self._derived[name] = make(self.std)
        return self._derived[name]

    def values(self, column: str) -> np.ndarray:
        """Text columns as Python strings with None for missing (`objects`), whatever their compact dtype."""
        if column not in self._values:
            values = self.std[column]
            is_text = values.dtype == object or isinstance(values.dtype, pd.CategoricalDtype | pd.StringDtype)
            self._values[column] = objects(values) if is_text else values.to_numpy()
        return self._values[column]

    def absent(self, column: str) -> np.ndarray:
        if column not in self._absent:
            self._absent[column] = self.std[column].isna().to_numpy()
        return self._absent[column]

    def text(self, column: str) -> np.ndarray:
        """Strings with '' for missing, for rapidfuzz."""
        if column not in self._text:
            text = self.values(column).copy()
            text[self.absent(column)] = ""
            self._text[column] = text
        return self._text[column]


class _Sides:
    """The left and right values of each pair, taken from the prepared columns."""

    def __init__(self, prepared: Prepared, pairs: pd.DataFrame) -> None:
        self.prepared = prepared
        self.std = prepared.std
        self.left = pairs["rid_l"].to_numpy()
        self.right = pairs["rid_r"].to_numpy()

    def __len__(self) -> int:
        return len(self.left)

    def values(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        values = self.prepared.values(column)
        return values[self.left], values[self.right]

    def text(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        values = self.prepared.text(column)
        return values[self.left], values[self.right]

    def missing(self, column: str) -> np.ndarray:
        absent = self.prepared.absent(column)
        return absent[self.left] | absent[self.right]

    def equal(self, column: str) -> np.ndarray:
        a, b = self.values(column)
        return (a == b) & ~self.missing(column)


def compare(std: pd.DataFrame | Prepared, pairs: pd.DataFrame, settings: Comparisons) -> pd.DataFrame:
    """One int8 column per comparison, aligned with `pairs`; also `dob_days` for the constraints."""
    sides = _Sides(std if isinstance(std, Prepared) else Prepared(std), pairs)
    forename = _name_levels(sides, "forename", settings.forename.jaro_winkler, same_name=True)
    surname = _surname_levels(sides, settings.surname.jaro_winkler)
    forename, surname = _crosswise(sides, forename, surname, settings.forename.jaro_winkler)
    dob, dob_days = _dob_levels(sides, settings.dob.near_days)
    out = pd.DataFrame(
        {
            "forename": forename,
            "middle_names": _middle_levels(sides, settings.middle_names.jaro_winkler[0]),
            "surname": surname,
            "dob": dob,
            "nhs": _identifier_levels(sides, "nhs"),
            "upn": _identifier_levels(sides, "upn"),
            "alt_id": _alt_id_levels(sides),
            "sex": _identifier_levels(sides, "sex"),
            "address": _address_levels(sides, settings.address.token_similarity),
        }
    ).astype(np.int8)
    out["dob_days"] = dob_days.astype(np.float32)  # whole days, exact in float32; NaN where a DOB is missing
    return out


def _crosswise(
    sides: _Sides, forename: np.ndarray, surname: np.ndarray, jw: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """A forename and surname entered the wrong way round: score them crosswise where that agrees better.

    Only pairs whose names disagree both ways are looked at. The swap is believed when both crosswise
    names are at least close (Jaro-Winkler high), or one is equal: a swap in which the other name was
    also changed ("James Coleman" / "Howie James") is still a swap.
    """
    rows = np.flatnonzero((forename <= 1) & (surname <= 1) & (forename >= 0) & (surname >= 0))
    if len(rows) == 0:
        return forename, surname
    cross_f = _cross_level(sides, rows, jw, forename_left=True)
    # The other way round can only matter where this way is close, or the other way is equal: elsewhere the
    # swap is not believed whatever it scores. Random pairs (u is estimated on a million) mostly skip it.
    cross_s = 4 * _cross_equal(sides, rows, forename_left=False)
    need = np.flatnonzero((cross_f >= 2) | (cross_s == 4))
    cross_s[need] = _cross_level(sides, rows[need], jw, forename_left=False)
    believed = ((np.minimum(cross_f, cross_s) >= 2) | (np.maximum(cross_f, cross_s) >= 4)) & (
        cross_f + cross_s > forename[rows] + surname[rows]
    )
    # Which record was keyed the wrong way round decides whether a crosswise agreement is of forenames or of
    # surnames. Where only one name agrees, it is counted as the surname: a shared surname and different
    # forenames is how twins look, so the twin guard sees the pair ("Isla White" keyed "White Isla" beside
    # her twin "Jade White").
    forename, surname = forename.copy(), surname.copy()
    forename[rows[believed]] = np.minimum(cross_f, cross_s)[believed]
    surname[rows[believed]] = np.maximum(cross_f, cross_s)[believed]
    return forename, surname


def _cross_level(sides: _Sides, rows: np.ndarray, jw: tuple[float, float], forename_left: bool) -> np.ndarray:
    """One side's forename against the other side's surname: 4 equal, 2 or 1 close, 0 not.

    Both the first forename and the whole forenames field are tried: a middle name follows a forename
    keyed as a surname ("Leah Nicola Howard" as "Howard Nicola" / "Leah"), and a hyphenated surname keyed
    as a forename is split by standardisation into a forename and a middle name ("Slack-Smith").
    """
    first, every, surname = _cross_names(sides, rows, forename_left)
    best = _jw_level(first, surname, jw) + 2 * (first == surname)
    more = np.flatnonzero(every != first)  # most records have one forename: the whole field is the first
    best[more] = np.maximum(best[more], _jw_level(every[more], surname[more], jw) + 2 * (every[more] == surname[more]))
    return best


def _cross_equal(sides: _Sides, rows: np.ndarray, forename_left: bool) -> np.ndarray:
    first, every, surname = _cross_names(sides, rows, forename_left)
    return ((first == surname) | (every == surname)).astype(np.int64)


def _cross_names(sides: _Sides, rows: np.ndarray, forename_left: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One side's first forename and whole forenames field, and the other side's surname (only `rows`)."""
    mine, theirs = (sides.left, sides.right) if forename_left else (sides.right, sides.left)
    mine, theirs = mine[rows], theirs[rows]
    text = sides.prepared.text
    return text("forename")[mine], text("forenames")[mine], text("surname")[theirs]


def _jw_level(a: np.ndarray, b: np.ndarray, jw: tuple[float, float]) -> np.ndarray:
    similarity = _cpdist(a, b, distance.JaroWinkler.normalized_similarity)
    return np.select([similarity >= jw[0], similarity >= jw[1]], [2, 1], 0)


def _cpdist(a: np.ndarray, b: np.ndarray, scorer: object) -> np.ndarray:
    if len(a) == 0:
        return np.zeros(0, dtype=np.float32)
    return process.cpdist(a.tolist(), b.tolist(), scorer=scorer, workers=-1, dtype=np.float32)


def _name_levels(sides: _Sides, column: str, jw: tuple[float, float], same_name: bool) -> np.ndarray:
    levels = _jw_level(*sides.text(column), jw)
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
    values = sides.prepared.values(column)
    several = sides.prepared.derived(f"{column}:several", lambda _: _several_words(values))
    rows = np.flatnonzero((several[sides.left] | several[sides.right]) & ~sides.missing(column))
    return _token_in_common(*sides.values(column), rows)


def _several_words(values: np.ndarray) -> np.ndarray:
    return np.array([isinstance(v, str) and " " in v for v in values], dtype=bool)


def _token_in_common(a: np.ndarray, b: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per pair: True where rows' two space-separated names share a word."""
    result = np.zeros(len(a), dtype=bool)
    if len(rows) == 0:
        return result
    left = pd.DataFrame({"row": rows, "token": [v.split(" ") for v in a[rows]]}).explode("token")
    right = pd.DataFrame({"row": rows, "token": [v.split(" ") for v in b[rows]]}).explode("token")
    result[left.merge(right, on=["row", "token"])["row"].unique()] = True
    return result


def _middle_levels(sides: _Sides, close: float) -> np.ndarray:
    names = sides.prepared.derived("middle_names", _middle_names)
    several = sides.prepared.derived("middle_names:several", lambda _: np.char.find(names.astype(str), " ") >= 0)
    first = sides.prepared.derived("middle_names:first", lambda _: names.astype("U1"))
    initial = sides.prepared.derived("middle_names:initial", lambda _: np.char.str_len(names.astype(str)) == 1)
    present = sides.prepared.derived("middle_names:present", lambda _: names != "")
    levels = np.full(len(sides), MISSING, dtype=np.int8)
    both = np.flatnonzero(present[sides.left] & present[sides.right])  # most pairs: one side has none
    left, right = sides.left[both], sides.right[both]
    a, b = names[left], names[right]
    shared = _token_in_common(a, b, np.flatnonzero(several[left] | several[right]))
    similar = _cpdist(a, b, distance.JaroWinkler.normalized_similarity) >= close
    initials_agree = (initial[left] | initial[right]) & (first[left] == first[right])
    levels[both] = np.select([a == b, shared, similar | initials_agree], [3, 2, 1], 0)
    return levels


def _middle_names(std: pd.DataFrame) -> np.ndarray:
    """The forenames after the first ("Mary Ann Jo" -> "ann jo"), all of them where the first is missing;
    '' where none."""
    full = objects(std["forenames"])
    present = pd.notna(full)
    first_known = std["forename"].notna().to_numpy()
    middle = np.full(len(full), "", dtype=object)
    names = full[present]
    rest = np.array([name.partition(" ")[2] for name in names], dtype=object)  # str.split was six times slower
    middle[present] = np.where(first_known[present], rest, names)
    return middle


def _dob_levels(sides: _Sides, near_days: int) -> tuple[np.ndarray, np.ndarray]:
    ordinal = sides.prepared.derived("dob:ordinal", _dob_ordinal)
    ymd = sides.prepared.derived("dob:ymd", _dob_ymd)
    days = np.abs(ordinal[sides.left] - ordinal[sides.right])
    a, b = ymd[sides.left], ymd[sides.right]
    ya, ma, da = a // 10000, (a // 100) % 100, a % 100
    yb, mb, db = b // 10000, (b // 100) % 100, b % 100
    expected = sides.prepared.values("dob_expected")
    expected = expected[sides.left] | expected[sides.right]
    exact = days == 0
    swapped = (ya == yb) & (ma == db) & (da == mb) & (da != ma)
    near = (days <= near_days) | (_digit_distance(a, b) == 1)
    expected_near = expected & (days <= EXPECTED_DOB_DAYS)
    same_month = (ya == yb) & (ma == mb)
    levels = np.select([exact, swapped, near, expected_near, same_month], [5, 4, 3, 2, 1], 0)
    return np.where(np.isnan(days), MISSING, levels), days


def _dob_ordinal(std: pd.DataFrame) -> np.ndarray:
    dob = std["dob"]
    return _as_float(dob.to_numpy(dtype="datetime64[D]").astype("int64"), dob.isna())


def _dob_ymd(std: pd.DataFrame) -> np.ndarray:
    dob = std["dob"]
    return _as_float((dob.dt.year * 10000 + dob.dt.month * 100 + dob.dt.day).to_numpy(na_value=0), dob.isna())


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


def _alt_id_levels(sides: _Sides) -> np.ndarray:
    """With no check digit, one keying slip (a character changed, added, dropped or two swapped) is a level
    of its own, learned like any other, not taken for equality.

    Except a change in the last character alone: that is how numbering runs (B1234567, B1234568; 4412/1,
    4412/2), so siblings or a family's dependants issued together look like that, and it counts as different.
    """
    a, b = sides.text("alt_id")
    edits = _cpdist(a, b, distance.DamerauLevenshtein.distance)
    slip = np.flatnonzero(edits == 1)
    next_number = [len(x) == len(y) and x[:-1] == y[:-1] for x, y in zip(a[slip], b[slip], strict=True)]
    edits[slip[np.asarray(next_number, dtype=bool)]] = 2
    levels = np.select([sides.equal("alt_id"), edits == 1], [2, 1], 0)
    return np.where(sides.missing("alt_id"), MISSING, levels)


def _address_levels(sides: _Sides, cut: tuple[float, float]) -> np.ndarray:
    similarity = _cpdist(*sides.text("address"), fuzz.token_set_ratio) / 100
    similarity = np.where(sides.missing("address"), 0.0, similarity)
    district = sides.equal("pc_district") | (similarity >= cut[1])
    levels = np.select(
        [similarity >= cut[0], sides.equal("postcode"), sides.equal("pc_sector"), district], [4, 3, 2, 1], 0
    )
    return np.where(sides.missing("postcode") & sides.missing("address"), MISSING, levels)

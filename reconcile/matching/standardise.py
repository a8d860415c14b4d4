"""Standardise: canonical person rows -> the columns blocking and comparison work on.

A pure function of one partition. Work is done once per distinct value (names, postcodes
and identifiers repeat a great deal), then mapped back onto the rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import jellyfish
import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals
from stdnum.exceptions import ValidationError
from stdnum.gb import nhs, upn

from reconcile.matching.names import is_placeholder, normalise
from reconcile.nhs_numbers import ten_digit_verdicts

STANDARD_COLUMNS = [
    "rid", "source_system", "person_id", "forename", "forenames", "surname", "forename_phonetic",
    "surname_phonetic", "names_phonetic", "forename_initial", "placeholder", "dob", "dob_expected", "dob_year",
    "dob_ym", "sex", "nhs", "nhs_invalid", "upn", "upn_invalid", "alt_id", "postcode", "pc_sector", "pc_district",
    "pc_area", "address", "address_number",
]  # fmt: skip
# Text columns held as categoricals: their values repeat (names, sounds, postcode parts, homes), so a code per
# record and each value once take a fraction of the memory of a Python string per record. `objects` reads them.
# person_id and nhs stay Python strings: nearly one value per record, a code would save little. (Arrow strings
# made the frame smaller still, but the match's peak RSS larger: Arrow's allocator keeps what it frees.)
CATEGORICAL = [
    "source_system", "forename", "forenames", "surname", "forename_phonetic", "surname_phonetic", "names_phonetic",
    "forename_initial", "sex", "upn", "alt_id", "postcode", "pc_sector", "pc_district", "pc_area", "address",
    "address_number",
]  # fmt: skip
_UK_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")


def standardise(persons: pd.DataFrame) -> pd.DataFrame:
    """One row per input row, in input order; `rid` is the row's position and the key of every later step."""
    n = len(persons)
    column = _getter(persons)
    forename = per_value(column("forename"), normalise)
    placeholder = forename.map(lambda name: is_placeholder(name) if isinstance(name, str) else False).astype(bool)
    forename = forename.mask(placeholder, None)
    middle = per_value(column("middle_names"), normalise)
    surname = per_value(column("surname"), normalise)

    dob = pd.to_datetime(column("dob"), errors="coerce")
    expected = pd.to_datetime(column("expected_dob"), errors="coerce")
    # An unborn placeholder is matched on its expected date; so is any record with no real DOB.
    dob_expected = dob.isna() & expected.notna()
    effective = dob.where(dob.notna(), expected)

    nhs_compact, nhs_invalid = identifier(column("nhs_number"), nhs.validate, ten_digits=True)
    upn_compact, upn_invalid = identifier(column("upn"), upn.validate)
    postcode = per_value(column("postcode"), postcode_parts)
    address = per_value(column("address"), lambda a: normalise(a, digits=True))
    forename_phonetic = per_value(_first_token(forename), jellyfish.metaphone)
    surname_phonetic = per_value(_first_token(surname), jellyfish.metaphone)

    out = pd.DataFrame(
        {
            "rid": np.arange(n, dtype=np.int64),
            "source_system": column("source_system").astype(str).to_numpy(),
            "person_id": column("person_id").astype(str).to_numpy(),
            "forename": _first_token(forename),
            "forenames": _join(forename, middle),
            "surname": surname,
            "forename_phonetic": forename_phonetic,
            "surname_phonetic": surname_phonetic,
            "names_phonetic": _either_way(forename_phonetic, surname_phonetic),
            "forename_initial": forename.str[0],
            "placeholder": placeholder.to_numpy(),
            "dob": effective,
            "dob_expected": dob_expected.to_numpy(),
            "dob_year": effective.dt.year.astype("Int32"),
            "dob_ym": (effective.dt.year * 100 + effective.dt.month).astype("Int32"),
            "sex": column("sex").where(column("sex").isin(["M", "F"]), None),
            "nhs": nhs_compact,
            "nhs_invalid": nhs_invalid,
            "upn": upn_compact,
            "upn_invalid": upn_invalid,
            "alt_id": per_value(column("alt_id"), alt_identifier),
            "postcode": postcode.str[0],
            "pc_sector": postcode.str[1],
            "pc_district": postcode.str[2],
            "pc_area": postcode.str[3],
            "address": address,
            "address_number": per_value(address, _first_number),
        }
    )
    return compact(out[STANDARD_COLUMNS])


def compact(std: pd.DataFrame) -> pd.DataFrame:
    """The standardised columns in their compact dtypes, whatever dtypes they arrive in (last run's stored
    records, or those joined with tonight's, whose categories differ and so come back as plain objects)."""
    columns = {}
    for name in std.columns:
        values = std[name]
        if name in CATEGORICAL and isinstance(values.dtype, pd.CategoricalDtype):
            values = _used_categories(values)
        elif name in CATEGORICAL:  # categories in order of first appearance: sorting them took longer than coding
            values = pd.Categorical.from_codes(*pd.factorize(values.to_numpy(dtype=object, na_value=None)))
        columns[name] = values
    # A new frame: columns replaced in a copy would leave the rest as views holding the old block of objects.
    return pd.DataFrame(columns, index=std.index)


def _used_categories(values: pd.Series) -> pd.Series:
    """`values.cat.remove_unused_categories()`, by counting codes rather than sorting them."""
    codes = values.cat.codes.to_numpy()
    used = np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)) > 0
    if used.all():
        return values
    renumbered = np.cumsum(used) - 1
    dtype = pd.CategoricalDtype(values.cat.categories[used], ordered=values.cat.ordered)
    kept = pd.Categorical.from_codes(np.where(codes >= 0, renumbered[codes], -1), dtype=dtype)
    return pd.Series(kept, index=values.index, name=values.name)


def stacked(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames' rows one after another, categorical columns still categorical (their categories joined):
    `pd.concat` makes plain objects of categoricals whose categories differ, and coding a night's every
    record again cost more than standardising its changed ones."""
    columns = {}
    for name in frames[0].columns:
        parts = [frame[name] for frame in frames]
        dtypes = [part.dtype for part in parts]
        if (
            all(isinstance(d, pd.CategoricalDtype) and not d.ordered for d in dtypes)
            and len({d.categories.dtype for d in dtypes}) == 1
        ):
            columns[name] = joined_categoricals([part.array for part in parts])
            continue
        try:
            columns[name] = union_categoricals([part.array for part in parts])
        except TypeError:  # not all categorical, or categories of different types: `compact` codes them again
            columns[name] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(columns)


def joined_categoricals(parts: list[pd.Categorical]) -> pd.Categorical:
    """`union_categoricals(parts)` of unordered categoricals whose categories are of one type, coding again only
    what needs it: the union starts with the first part's categories, so its codes (last run's every record)
    stand as they are, and only the later parts' categories are looked up (union_categoricals hashed the
    whole union twice and recoded every part: most of joining a night's records)."""
    categories = parts[0].categories
    codes = [parts[0].codes.astype(np.int64)]
    for part in parts[1:]:
        at = categories.get_indexer(part.categories)
        new = at < 0
        if new.any():
            at[new] = len(categories) + np.arange(int(new.sum()))
            categories = categories.append(part.categories[new])
        codes.append(np.where(part.codes >= 0, at[part.codes], -1) if len(at) else part.codes.astype(np.int64))
    return pd.Categorical.from_codes(np.concatenate(codes), dtype=pd.CategoricalDtype(categories, ordered=False))


def objects(values: pd.Series) -> np.ndarray:
    """A standardised text column as Python strings, None where missing, whatever its dtype: the form
    comparisons, rapidfuzz and dict look-ups take. From a categorical, each value is one shared object."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        lookup = np.append(values.cat.categories.to_numpy(dtype=object), None)  # code -1 (missing) -> None
        return lookup[values.cat.codes.to_numpy()]
    return values.to_numpy(dtype=object, na_value=None)


def record_rids(std: pd.DataFrame, systems: pd.Series, *ids: pd.Series) -> np.ndarray:
    """The rid of each (source system, person ID) given, one row per `ids` column (a relationship row's person
    and related person, say); NaN where no such record was standardised.

    Looked up one system at a time, with one index of that system's IDs for every column: an index of plain
    IDs is several times faster than one of pairs."""
    rids = std["rid"].to_numpy(dtype="float64")
    std_systems, std_ids = as_text(std["source_system"]), as_text(std["person_id"])
    systems_given, ids_given = as_text(systems), [as_text(column) for column in ids]
    found = np.full((len(ids), len(systems_given)), np.nan)
    for system in pd.unique(systems_given):
        mine, theirs = std_systems == system, systems_given == system
        if mine.any():
            index = pd.Index(std_ids[mine])
            for row, given in enumerate(ids_given):
                position = index.get_indexer(given[theirs])
                found[row, theirs] = np.where(position >= 0, rids[mine][position], np.nan)
    return found


def as_text(values: pd.Series) -> np.ndarray:
    """`values.astype(str)` as objects, without converting a column whose values are all str already (an object
    column is looked at as it is: `objects` would copy it to make missing values None, which no str column has).
    The array may be the column's own: read it, never change it."""
    array = values.to_numpy(dtype=object) if values.dtype == object else objects(values)
    if pd.api.types.infer_dtype(array, skipna=False) == "string":
        return array
    return values.astype(str).to_numpy(dtype=object)


def _getter(persons: pd.DataFrame) -> Callable[[str], pd.Series]:
    """Absent columns read as all-missing, so a source without a DOB column is still matched."""
    index = pd.RangeIndex(len(persons))

    def column(name: str) -> pd.Series:
        if name in persons:
            return pd.Series(persons[name].to_numpy(), index=index, dtype=object)
        return pd.Series(None, index=index, dtype=object)

    return column


def per_value(values: pd.Series, fn: Callable[[object], object]) -> pd.Series:
    """Apply `fn` once per distinct non-null value."""
    present = values.dropna()
    mapping = {v: fn(v) for v in pd.unique(present)}
    return values.map(mapping).astype(object).where(values.notna(), None)


def _first_token(values: pd.Series) -> pd.Series:
    return values.str.split(" ", n=1).str[0].astype(object).where(values.notna(), None)


def _either_way(a: pd.Series, b: pd.Series) -> pd.Series:
    """Both sounds, in a fixed order: the same key whichever way round the forename and surname were keyed."""
    both = a.notna() & b.notna()
    low, high = a.where(a <= b, b), b.where(a <= b, a)
    return low.str.cat(high, sep=" ").where(both, None).astype(object)


def _join(first: pd.Series, rest: pd.Series) -> pd.Series:
    joined = first.fillna("").str.cat(rest.fillna(""), sep=" ").str.strip()
    return joined.where(joined != "", None).astype(object)


def identifier(
    values: pd.Series, validate: Callable[[str], str], ten_digits: bool = False
) -> tuple[pd.Series, np.ndarray]:
    """A valid identifier is evidence; an invalid one is kept in the source but counts for nothing.

    `ten_digits` (NHS numbers): plain ten-digit values are judged all at once by the modulus 11 check, which
    gives stdnum's verdicts (reconcile.nhs_numbers); stdnum judges the rest. It was most of standardising.
    """

    def judge(raw: object) -> tuple[str | None, bool]:
        text = str(raw).strip()
        if not text:
            return None, False
        try:
            number = validate(text)  # python-stdnum: the compact number, or an exception
        except ValidationError:
            return None, True
        # 0000000000 ... 9999999999 pass the check digit, and legacy systems use them for "not known".
        return (None, True) if len(set(number)) == 1 else (number, False)

    # Judged once per distinct value, and the verdicts spread back by code (mapping tuples per row, then
    # unpacking them per row, took longer than the judging).
    codes, distinct = pd.factorize(values.to_numpy(dtype=object))
    distinct = np.asarray(distinct, dtype=object)
    numbers = np.full(len(distinct), None, dtype=object)
    invalid = np.zeros(len(distinct), dtype=bool)
    rest = np.ones(len(distinct), dtype=bool)
    if ten_digits:
        plain, valid, compact = ten_digit_verdicts(distinct)
        numbers[np.flatnonzero(plain)[valid]] = compact[valid]
        invalid[plain] = ~valid
        rest = ~plain
    for i in np.flatnonzero(rest):
        numbers[i], invalid[i] = judge(distinct[i])
    present = codes >= 0
    out, flags = np.full(len(values), None, dtype=object), np.zeros(len(values), dtype=bool)
    out[present], flags[present] = numbers[codes[present]], invalid[codes[present]]
    return pd.Series(out, index=values.index, dtype=object, name=values.name), flags


def alt_identifier(raw: object) -> str | None:
    """An alt_id as evidence: upper case, letters and digits only; None where it names no one.

    With no check digit to judge it, only the shape can tell a placeholder: one character repeated
    (0000000, XXXX) or no digit at all (UNKNOWN, N/A, REFUSED) is how a system says "not known".
    """
    text = unicodedata.normalize("NFKC", str(raw)).upper()
    compact = "".join(ch for ch in text if ch.isalnum())
    if len(set(compact)) <= 1 or not any(ch.isdigit() for ch in compact):
        return None
    return compact


def _first_number(address: str) -> str | None:
    """The first number in an address (the house or flat number): with both names it blocks a record whose
    DOB is missing and whose postcode was mistyped, without the millions of namesakes the names alone pair."""
    found = re.search(r"[0-9]+", address)
    return found.group(0) if found else None


def postcode_parts(raw: object) -> tuple[str | None, str | None, str | None, str | None]:
    """(full, sector, district, area) of a UK postcode; anything else is compared whole or not at all."""
    compact = re.sub(r"[^A-Z0-9]", "", str(raw).upper())
    if not compact:
        return (None, None, None, None)
    match = _UK_POSTCODE.match(compact)
    if not match:
        return (compact, None, None, None)
    outward, inward = match.groups()
    area = re.match(r"[A-Z]+", outward).group(0)  # type: ignore[union-attr]
    return (f"{outward} {inward}", f"{outward} {inward[0]}", outward, area)

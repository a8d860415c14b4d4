"""Turning one source column's raw values into canonical values, field by field.

Each function returns the canonical values and, beside them, the problem found in each
value (or None). A bad value is set aside (becomes null) and its problem is recorded; it
never costs the rest of the row.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd

Problems = pd.Series  # of str | None, aligned with the values

EARLIEST = pd.Timestamp("1900-01-01")

# Unambiguous spellings accepted for closed code sets without any config; `values:` extends them.
SYNONYMS: dict[str, dict[str, str]] = {
    "sex": {"male": "M", "female": "F", "unknown": "U", "not known": "U", "not stated": "U", "indeterminate": "U"},
    "consent": {"yes": "Y", "no": "N", "true": "Y", "false": "N"},
    "relationship": {
        "mum": "mother",
        "birth mother": "mother",
        "dad": "father",
        "birth father": "father",
        "brother": "sibling",
        "sister": "sibling",
        "half-sibling": "sibling",
        "half sibling": "sibling",
        "step-parent": "parent",
        "stepparent": "parent",
        "carer": "other",
    },
}


def text_value(value: object) -> tuple[str | None, str | None]:
    """One raw value as trimmed text, or None when empty; repairs text that is not UTF-8."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None, None
    problem = None
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8", "surrogateescape")
    if isinstance(value, bool):
        text = "Y" if value else "N"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))  # an NHS number that passed through a spreadsheet
    elif isinstance(value, Decimal) and value == value.to_integral_value():
        text = str(value.quantize(Decimal(1)))
    else:
        text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates carry the bytes that were not UTF-8; legacy UK systems wrote Windows-1252.
        raw = text.encode("utf-8", "surrogateescape")
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        problem = "not valid UTF-8; read as Windows-1252"
    if "\x00" in text:
        # A NUL byte cannot be stored by PostgreSQL and is never meant: drop it, and say so.
        text = text.replace("\x00", "")
        problem = "held a NUL byte, removed"
    text = text.strip()
    return (text or None), problem


_WHITESPACE = re.compile(r"\s")  # the characters str.strip() trims (both use Py_UNICODE_ISSPACE)


def clean_text(values: pd.Series) -> tuple[pd.Series, Problems]:
    fast = _clean_plain_text(values)
    if fast is not None:
        return fast
    pairs = [text_value(v) for v in values]
    return (
        pd.Series([p[0] for p in pairs], index=values.index, dtype=object),
        pd.Series([p[1] for p in pairs], index=values.index, dtype=object),
    )


def _clean_plain_text(values: pd.Series) -> tuple[pd.Series, Problems] | None:
    """`clean_text` of the usual column, every value a str (valid UTF-8, no NUL byte) or missing, at a
    fraction of the cost: such values are only trimmed, and where no value holds whitespace not even that
    (one regular-expression scan of the column: `\\s` is what `str.strip` trims). None for any other column
    (text_value decides)."""
    array = values.to_numpy(dtype=object)
    if not set(map(type, array)) <= {str, type(None)}:
        return None
    text = array != None  # noqa: E711 - elementwise
    texts = array[text].tolist()
    joined = "".join(texts)
    if "\x00" in joined or not joined.isascii() and not _utf8(joined):
        return None
    if _WHITESPACE.search(joined) is None:  # nothing to trim, as in most columns: only empty text goes
        cleaned = array.copy()
        cleaned[array == ""] = None
    else:
        cleaned = np.full(len(array), None, dtype=object)
        cleaned[text] = [t.strip() or None for t in texts]
    problems = np.full(len(array), None, dtype=object)
    return pd.Series(cleaned, index=values.index, dtype=object), pd.Series(problems, index=values.index, dtype=object)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_dates(
    values: pd.Series, fmt: str | None, kind: str, today: date, past_only: bool
) -> tuple[pd.Series, Problems]:
    """Dates arrive as text in a declared format, or as the database's own date types."""
    if set(map(type, values.to_numpy(dtype=object))) <= {str, type(None)}:  # text, as most sources hold dates
        native = pd.Series(False, index=values.index)
    else:
        native = values.map(lambda v: isinstance(v, date | datetime | pd.Timestamp) and v is not pd.NaT)
    texts, problems = clean_text(values.where(~native, None))
    parsed_text = _naive(pd.to_datetime(texts, format=fmt or "ISO8601", errors="coerce", utc=True))
    parsed_native = _naive(pd.to_datetime(values.where(native, None), errors="coerce", utc=True))
    parsed = parsed_native.where(native, parsed_text)

    expected = f" (expected {fmt})" if fmt else " (expected ISO 8601; set `formats:` if it differs)"
    unparsed = texts.notna() & parsed.isna()
    problems = problems.mask(unparsed, f"not a valid {kind}{expected}")
    problems = problems.mask(native & parsed.isna(), f"not a valid {kind} (out of range)")
    too_early = parsed.notna() & (parsed < EARLIEST)
    problems = problems.mask(too_early, "before 1900")
    limit = pd.Timestamp(today) + (pd.Timedelta(days=1) if kind == "datetime" else pd.Timedelta(0))
    in_future = parsed.notna() & (parsed > limit) if past_only else pd.Series(False, index=values.index)
    problems = problems.mask(in_future, "in the future")
    parsed = parsed.mask(too_early | in_future)

    if kind == "date":  # one date object per distinct day, not one per row (days repeat a great deal)
        codes, days = pd.factorize(parsed)  # a missing day has code -1: the None put last
        result = pd.Series(np.array([d.date() for d in days] + [None], dtype=object)[codes], index=values.index)
        return result, problems
    result = pd.Series(parsed.astype(object), index=values.index, dtype=object).where(parsed.notna(), None)
    return result, problems


def _naive(parsed: pd.Series) -> pd.Series:
    """Times with a zone (timestamptz, '...Z', '+01:00') become UTC without one, so all compare alike."""
    return parsed.dt.tz_convert(None)


def map_codes(
    values: pd.Series, column: str, mapping: dict[str, str], codes: tuple[str, ...]
) -> tuple[pd.Series, Problems]:
    """Config maps first, then built-in synonyms; a closed code set sets aside what is still unknown."""
    texts, problems = clean_text(values)
    exact = {str(k): v for k, v in mapping.items()}
    folded = {str(k).casefold(): v for k, v in SYNONYMS.get(column, {}).items()}
    folded.update({str(k).casefold(): v for k, v in mapping.items()})
    folded.update({c.casefold(): c for c in codes})

    def lookup(text: str | None) -> str | None:
        if text is None:
            return None
        if text in exact:
            return exact[text]
        return folded.get(text.casefold(), None if codes else text)

    mapped = texts.map(lookup)
    if codes:
        unknown = texts.notna() & mapped.isna()
        hint = f"unknown code (expected {'/'.join(codes)}; map it under values.{column})"
        problems = problems.mask(unknown, hint)
    return mapped.astype(object).where(mapped.notna(), None), problems

"""Conflicts: fields on which the records of one master disagree in substance, for risk rules and review.

Each field is reduced to a comparison key that drops what is not a disagreement (case, accents,
punctuation, spacing, NHS number formatting) and is missing where a value is no evidence (an
invalid NHS number, a placeholder forename, sex U). A master conflicts on a field when its records
hold two keys that are not the same; only forenames need more than equality (nicknames).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd

from reconcile.masters.survivorship import KEY, master_records, placeholder, valid_column
from reconcile.matching.names import name_variants, normalise
from reconcile.matching.standardise import alt_identifier, per_value

FIELDS = ("forename", "surname", "dob", "sex", "nhs_number", "upn", "alt_id", "postcode")
COLUMNS = ["master_id", "field", "values", "n_values"]


def conflicts(persons: pd.DataFrame, xref: pd.DataFrame) -> pd.DataFrame:
    """master_id, field, values (JSON text: list of {value, source_system, source_id}), n_values.

    `values` lists each distinct raw value that counts as evidence once, from the first record
    (by system, ID) holding it; `n_values` is the length of that list.
    """
    return record_conflicts(master_records(persons, xref))


def record_conflicts(rows: pd.DataFrame) -> pd.DataFrame:
    """`conflicts` over rows already read by `master_records` (which survivorship can share)."""
    masters = pd.factorize(rows["master_id"])[0]  # once, not once per field
    found = [frame for frame in (_field_conflicts(rows, field, masters) for field in FIELDS) if len(frame)]
    if not found:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(found, ignore_index=True).sort_values(["master_id", "field"], ignore_index=True)[COLUMNS]


def comparison_key(rows: pd.DataFrame, field: str) -> pd.Series:
    """What two values of `field` must share to agree; missing where the value is no evidence."""
    values = rows[field]
    if field in ("nhs_number", "upn"):
        return valid_column(rows, field)
    if field == "alt_id":
        return per_value(values, alt_identifier)
    if field == "dob":
        return values.dt.strftime("%Y-%m-%d").astype(object).where(values.notna(), None)
    if field == "sex":
        sex = values.astype(object).str.strip().str.upper()
        return sex.where(sex.isin(["M", "F"]), None)
    if field == "postcode":
        compact = values.astype(object).str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
        return compact.where(compact.str.len() > 0, None)
    names = per_value(values, normalise)
    if field == "forename":
        return names.where(~placeholder(values), None)
    return names.str.replace(" ", "", regex=False)


def _field_conflicts(rows: pd.DataFrame, field: str, masters: np.ndarray) -> pd.DataFrame:
    """`masters`: a code per row for its master_id. Rows are found by position and codes, and only the rows of
    masters holding two keys are taken as a frame (taking every row with evidence, per field, cost more)."""
    key = comparison_key(rows, field).to_numpy(dtype=object)
    present = np.flatnonzero(pd.notna(key))
    codes = masters[present]
    distinct = present[~pd.DataFrame({"m": codes, "k": pd.factorize(key[present])[0]}).duplicated().to_numpy()]
    several = distinct[pd.Series(masters[distinct]).duplicated(keep=False).to_numpy()]  # rows: a master, a key
    if field == "forename":
        ids = rows["master_id"].to_numpy(dtype=object)
        disagree = _disagreeing(pd.DataFrame({"master_id": ids[several], "key": key[several]}), _same_forename)
        several = several[pd.Index(ids[several]).isin(disagree)]
    held = rows.iloc[present[np.isin(codes, masters[several])]][["master_id", *KEY, field]]
    held = held.sort_values(["master_id", *KEY])
    raw = held[field].dt.strftime("%Y-%m-%d") if field == "dob" else held[field].astype(str)
    entries = held.assign(value=raw).drop_duplicates(["master_id", "value"])  # the first record holding it
    entries = entries.sort_values(["master_id", "value", *KEY])
    items = [{"value": v, "source_system": s, "source_id": i} for v, s, i in entries[["value", *KEY]].to_numpy()]
    grouped = pd.Series(items, index=entries["master_id"].to_numpy(), dtype=object).groupby(level=0, sort=True)
    return pd.DataFrame(
        {
            "master_id": grouped.size().index.to_numpy(),
            "field": field,
            "values": grouped.agg(lambda v: json.dumps(list(v), ensure_ascii=False)).to_numpy(),
            "n_values": grouped.size().to_numpy(dtype=np.int64),
        }
    )


def _disagreeing(keys: pd.DataFrame, same: Callable[[str, str], bool]) -> np.ndarray:
    """Masters holding two keys that `same` says are different, judged once per distinct pair of keys."""
    pairs = keys.merge(keys, on="master_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["key_a"] < pairs["key_b"]]
    distinct = pairs[["key_a", "key_b"]].drop_duplicates()
    verdict = {(a, b): same(a, b) for a, b in distinct.itertuples(index=False)}
    differ = [not verdict[pair] for pair in zip(pairs["key_a"], pairs["key_b"], strict=True)]
    return pairs.loc[differ, "master_id"].unique()


def _same_forename(a: str, b: str) -> bool:
    """Equal but for spacing, or the same name (nickname, transliteration) in full or by first name."""
    variants = name_variants()
    first_a, first_b = a.split(" ", 1)[0], b.split(" ", 1)[0]
    return a.replace(" ", "") == b.replace(" ", "") or variants.same_name(a, b) or variants.same_name(first_a, first_b)

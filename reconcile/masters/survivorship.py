"""Surviving values: which record's value a master keeps for each field, and the rule that chose it.

Work is whole-array: one integer key per ordering concern, one lexsort per field, the first row of
each master wins. No loop over masters, so a million person rows take seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from stdnum.gb import nhs, upn

from reconcile.matching.names import is_placeholder, normalise
from reconcile.matching.rules import Survivorship
from reconcile.matching.standardise import alt_identifier, identifier, per_value
from reconcile.model import PERSON, SURVIVING_FIELDS

FIELDS = SURVIVING_FIELDS
DATE_FIELDS = tuple(c.name for c in PERSON.columns if c.type == "date" and c.name in FIELDS)
KEY = ["source_system", "person_id"]
# A rule that prefers one kind of value over another, per field; every other field has none.
CLASS_RULES = {
    "nhs_number": "valid_nhs_number", "upn": "valid_upn", "dob": "actual_dob", "forename": "real_forename",
    "sex": "known_sex", "address": "whole_address", "alt_id": "real_alt_id",
}  # fmt: skip
# Fields that describe one thing and must come from one record: a postcode from one home and an address
# line from another would be a home that does not exist.
TOGETHER = {"address": ("address", "postcode")}
FOLLOWERS = {f for group in TOGETHER.values() for f in group[1:]}
VALIDATORS = {"nhs_number": nhs.validate, "upn": upn.validate}
VALID = {field: f"_valid_{field}" for field in VALIDATORS}  # master_records' column of each one's valid form


def survive(persons: pd.DataFrame, xref: pd.DataFrame, settings: Survivorship) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(master_person values, provenance): one row per master, and per (master, field) the record and rule."""
    return survive_records(master_records(persons, xref), settings)


def survive_records(rows: pd.DataFrame, settings: Survivorship) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`survive` over rows already read by `master_records` (which conflicts can share)."""
    masters, master_ids = pd.factorize(rows["master_id"], sort=True)
    order_keys = {
        "recency": _recency(rows["modified_at"]),
        "system": pd.factorize(rows["source_system"], sort=True)[0],
        "person": pd.factorize(rows["person_id"], sort=True)[0],
    }
    default = _priority(rows["source_system"], settings.default)
    out = pd.DataFrame({"master_id": np.asarray(master_ids, dtype=object)})
    provenance = []
    for field in FIELDS:
        if field in FOLLOWERS:
            continue
        values, klass = _candidates(rows, field, masters)
        own = settings.priority.get(field)
        ranks = {"priority": default if own is None else _priority(rows["source_system"], own), **order_keys}
        winners = _choose(masters, values, klass, ranks, CLASS_RULES.get(field, "tie_break"))
        for member in TOGETHER.get(field, (field,)):
            taken = _column(rows[member] if field in TOGETHER else values, winners, len(out))
            out[member] = taken
            chosen = pd.notna(taken[winners["master"]])
            provenance.append(
                pd.DataFrame(
                    {
                        "master_id": out["master_id"].to_numpy()[winners["master"]][chosen],
                        "field": member,
                        "source_system": rows["source_system"].to_numpy()[winners["row"]][chosen],
                        "source_id": rows["person_id"].to_numpy()[winners["row"]][chosen],
                        "rule": winners["rule"][chosen],
                    }
                )
            )
    out["records"] = np.bincount(masters, minlength=len(out))
    out["source_systems"] = _systems(masters, rows["source_system"], len(out))
    return out[["master_id", *FIELDS, "records", "source_systems"]], pd.concat(provenance, ignore_index=True)


def master_records(persons: pd.DataFrame, xref: pd.DataFrame) -> pd.DataFrame:
    """Person rows that have a master, with its master_id; dates as dates, blank text as missing."""
    position = pd.Index(_record_key(xref)).get_indexer(_record_key(persons))  # xref holds each record once
    rows = persons[position >= 0].reset_index(drop=True).astype({k: str for k in KEY})
    rows["master_id"] = xref["master_id"].to_numpy()[position[position >= 0]]
    for field in (*FIELDS, "modified_at"):
        if field not in rows:
            rows[field] = None
        elif rows[field].dtype == object and field not in DATE_FIELDS:
            rows[field] = _blank_to_none(rows[field])
    for field in DATE_FIELDS:
        rows[field] = pd.to_datetime(rows[field], errors="coerce", format="ISO8601").dt.normalize()
    for field, column in VALID.items():  # judged once here: survivorship and conflicts both read them
        rows[column] = valid_identifier(rows[field], field)
    return rows


def placeholder(forenames: pd.Series) -> np.ndarray:
    """'Baby', 'Unborn', 'Baby of …': a forename that names no one, judged once per distinct value."""
    judged = per_value(forenames, lambda name: is_placeholder(normalise(name)))
    return judged.eq(True).to_numpy(dtype=bool)


def valid_column(rows: pd.DataFrame, field: str) -> pd.Series:
    """The valid NHS numbers or UPNs of `master_records` rows, as `valid_identifier` judged them."""
    return rows[VALID[field]] if VALID[field] in rows else valid_identifier(rows[field], field)


def valid_identifier(values: pd.Series, field: str) -> pd.Series:
    """The compact form of a valid NHS number or UPN; None where invalid or missing (no evidence)."""
    return identifier(values, VALIDATORS[field], ten_digits=field == "nhs_number")[0]


def _record_key(frame: pd.DataFrame) -> pd.Series:
    return frame["source_system"].astype(str) + "\x1f" + frame["person_id"].astype(str)


def _blank_to_none(values: pd.Series) -> pd.Series:
    """'' and whitespace are no value; checked once per distinct value."""
    distinct = pd.Series(pd.unique(values.dropna()), dtype=object)
    blanks = distinct[distinct.str.strip().eq("")]
    return values.where(~values.isin(blanks), None) if len(blanks) else values


def _candidates(rows: pd.DataFrame, field: str, masters: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """The value each row offers for `field` and its class: 0 preferred, 1 less so, -1 not a candidate."""
    values = rows[field]
    present = values.notna().to_numpy()
    klass = np.where(present, 0, -1)
    if field in VALIDATORS:
        compact = valid_column(rows, field)
        values = compact.where(compact.notna(), values)
        klass[present & compact.isna().to_numpy()] = 1
    elif field == "forename":
        klass[present & placeholder(values)] = 1
    elif field == "alt_id":  # kept as recorded; a placeholder such as 0000000 never beats a real one
        klass[present & per_value(values, alt_identifier).isna().to_numpy()] = 1
    elif field == "sex":
        klass[present & (values == "U").to_numpy()] = 1  # "not known" never beats a known sex
    elif field == "address":
        # A row with only a postcode, or only a line, still offers a home; a whole address is preferred.
        postcode = rows["postcode"].notna().to_numpy()
        klass = np.where(present & postcode, 0, np.where(present | postcode, 1, -1))
        values = values.where(present, rows["postcode"])
    elif field == "dob":
        # A record with only an expected date competes (and loses) so the rule can say the actual DOB won.
        klass[~present & rows["expected_dob"].notna().to_numpy()] = 1
    elif field == "expected_dob":
        has_dob = rows["dob"].notna().groupby(masters).transform("any").to_numpy(dtype=bool)
        klass[has_dob] = -1
    return values, klass


def _choose(
    masters: np.ndarray, values: pd.Series, klass: np.ndarray, ranks: dict[str, np.ndarray], class_rule: str
) -> dict[str, np.ndarray]:
    """Per master the best row with a value (master, row) and the first key that set it above its best rival.

    The rival is the best row offering a different value: agreeing records do not compete.
    """
    codes = pd.factorize(values)[0]  # -1: no value
    cand = np.flatnonzero(klass >= 0)
    keys = [
        (klass, class_rule),
        (ranks["recency"], "most_recent"),
        (ranks["priority"], "system_priority"),
        (ranks["system"], "system_priority"),
        (ranks["person"], "tie_break"),
    ]
    order = cand[np.lexsort([k[cand] for k, _ in reversed(keys)] + [masters[cand]])]
    starts = np.r_[True, masters[order][1:] != masters[order][:-1]] if len(order) else np.zeros(0, bool)
    group = np.cumsum(starts) - 1
    winner = order[starts]
    differs = np.flatnonzero(codes[order] != codes[winner][group])
    rival_groups, first = np.unique(group[differs], return_index=True)
    rival = np.full(len(winner), -1)
    rival[rival_groups] = order[differs[first]]
    rule = np.where(rival >= 0, "tie_break", "only_value").astype(object)
    decided = rival < 0
    for key, name in keys:
        newly = ~decided & (key[winner] != key[rival])
        rule[newly] = name
        decided |= newly
    kept = codes[winner] >= 0  # a master whose only candidates hold no value keeps none
    return {"master": masters[winner][kept], "row": winner[kept], "rule": rule[kept]}


def _column(values: pd.Series, winners: dict[str, np.ndarray], n: int) -> np.ndarray:
    """The surviving values as a column over all masters: None where nothing survived; dates as dates."""
    chosen = values.iloc[winners["row"]]
    if pd.api.types.is_datetime64_any_dtype(chosen):
        chosen = chosen.dt.date
    column = np.full(n, None, dtype=object)
    column[winners["master"]] = chosen.to_numpy(dtype=object)
    return column


def _systems(masters: np.ndarray, systems: pd.Series, n: int) -> np.ndarray:
    """Each master's systems, sorted and comma-joined: joined once per distinct set of systems, not per master."""
    codes, names = pd.factorize(systems, sort=True)
    held = np.zeros((n, len(names)), dtype=bool)
    held[masters, codes] = True
    sets, which = np.unique(held, axis=0, return_inverse=True)
    joined = np.array([",".join(names[row]) for row in sets], dtype=object)
    return joined[which.reshape(-1)]


def _recency(modified_at: pd.Series) -> np.ndarray:
    """Most recent first; a record with no modified_at counts as the oldest."""
    stamps = pd.to_datetime(modified_at, errors="coerce", utc=True, format="ISO8601")
    missing = stamps.isna().to_numpy()
    nanoseconds = np.where(missing, 0, stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64))
    return np.where(missing, np.iinfo(np.int64).max, -nanoseconds)


def _priority(systems: pd.Series, order: list[str]) -> np.ndarray:
    """Position in the configured order; systems not listed come after those that are, all equal."""
    return systems.map({system: i for i, system in enumerate(order)}).fillna(len(order)).to_numpy(dtype=np.int64)

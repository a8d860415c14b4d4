"""Each system's person rows: which true people it holds, and its copy of each of them.

Rows keep a few helper columns (system, true, placeholder, duplicate, role, true_sex, dob_swapped) next
to the canonical person columns; the legacy layout drops them when it writes the tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.synthetic import settings as S
from reconcile.synthetic.identifiers import spaced_nhs
from reconcile.synthetic.sampling import MINUTE, Stage, ids
from reconcile.synthetic.truth import planted
from reconcile.synthetic.variations import vary
from reconcile.synthetic.vocab import ETHNICITY, wording

COPIED = (
    "forename",
    "middle_names",
    "surname",
    "dob",
    "sex",
    "nhs_number",
    "upn",
    "postcode",
    "address",
    "ethnicity",
    "death_date",
)
TRUTH_COLUMNS = (*COPIED, "role", "origin", "area", "expected_dob", "unborn_state", "twin_group", "mother", "father")
PLACEHOLDER_FORENAMES = {"Baby": 0.40, "Unborn": 0.30, "Baby of": 0.15, "Unborn Baby": 0.15}


def person_rows(stage: Stage, pop: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows of both systems in ID order, planted person features)."""
    rows = _rows(stage, pop, _membership(stage, pop))
    truth = _truth_view(pop, rows["true"].to_numpy())
    for col in COPIED:
        rows[col] = truth[col].to_numpy()
    rows["expected_dob"] = np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[D]")
    rows["role"] = truth["role"].to_numpy()
    rows["true_sex"] = truth["sex"].to_numpy()
    _placeholders(stage, rows, truth)
    done = vary(stage, rows, truth)
    rows["dob_swapped"] = done["dob_day_month_swap"]
    _present(stage, rows)
    real = ~rows["placeholder"].to_numpy()
    found = [planted(rows, mask, "person", "person_id", kind) for kind, mask in done.items()]
    found += [
        planted(rows, real & truth["twin_group"].notna().to_numpy(), "person", "person_id", "twin"),
        planted(rows, ~real, "person", "person_id", "unborn_placeholder"),
        planted(rows, ~real & (truth["unborn_state"] == "overdue").to_numpy(), "person", "person_id", "unborn_overdue"),
        planted(rows, rows["duplicate"].to_numpy(), "person", "person_id", "within_system_duplicate"),
    ]
    return rows, pd.concat(found, ignore_index=True)


def _membership(stage: Stage, pop: pd.DataFrame) -> np.ndarray:
    """0 LCS only, 1 Mosaic only, 2 both; mostly the family's, so families split only sometimes."""
    rng = stage.rng
    n = len(pop)
    home = pop["home"].to_numpy()
    child = pop["role"].to_numpy() == "child"
    own_child = rng.choice(3, size=n, p=S.CHILD_SYSTEMS)
    own_parent = rng.choice(3, size=n, p=S.PARENT_SYSTEMS)
    leaves = np.where(child, rng.random(n) < S.CHILD_LEAVES_FAMILY_RATE, rng.random(n) >= S.PARENT_FOLLOWS_FAMILY_RATE)
    return np.where(leaves, np.where(child, own_child, own_parent), home)


def _rows(stage: Stage, pop: pd.DataFrame, member: np.ndarray) -> pd.DataFrame:
    """Row skeletons: every (person, system) held, placeholders, born babies, duplicates; with IDs."""
    rng = stage.rng
    unborn = pop["unborn"].to_numpy()
    parts: list[tuple[np.ndarray, np.ndarray, bool]] = []  # (true person, system code, placeholder?)
    for code in (0, 1):
        held = np.flatnonzero(~unborn & ((member == code) | (member == 2)))
        parts.append((held, np.full(len(held), code), False))
    expecting = np.flatnonzero(unborn)
    mother = member[pop["mother"].to_numpy()[expecting]]
    first = np.where(mother == 2, rng.integers(0, 2, size=len(expecting)), mother)  # where the mother is
    born = pop["unborn_state"].to_numpy()[expecting] == "born"
    parts.append((expecting, first, True))
    parts.append((expecting[born], 1 - first[born], False))  # recorded again, once born, in the other system
    true_a = np.concatenate([p[0] for p in parts])
    system_a = np.concatenate([p[1] for p in parts])
    placeholder = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    dup = np.flatnonzero(stage.pick(~placeholder, S.WITHIN_SYSTEM_DUPLICATE_RATE))
    true_a = np.r_[true_a, true_a[dup]]
    system_a = np.r_[system_a, system_a[dup]]
    duplicate = np.r_[np.zeros(len(placeholder), bool), np.ones(len(dup), bool)]
    placeholder = np.r_[placeholder, np.zeros(len(dup), bool)]
    order, person_id = [], []
    for code in (0, 1):
        shuffled = rng.permutation(np.flatnonzero(system_a == code))
        numbers = np.cumsum(rng.integers(1, 4, size=len(shuffled)))
        order.append(shuffled)
        person_id.append(_person_ids(S.SYSTEMS[code], numbers))
    at = np.concatenate(order)
    return pd.DataFrame(
        {
            "system": np.array(S.SYSTEMS, dtype=object)[system_a[at]],
            "person_id": np.concatenate(person_id),
            "true": true_a[at],
            "placeholder": placeholder[at],
            "duplicate": duplicate[at],
        }
    )


def _person_ids(system: str, numbers: np.ndarray) -> np.ndarray:
    """LCS: bare numbers from 100001; Mosaic: 'P' and at least six digits."""
    if system == "lcs":
        return (100000 + numbers).astype(str).astype(object)
    width = max(6, len(str(int(numbers.max(initial=0)))))
    return ids("P", numbers, width)


def _truth_view(pop: pd.DataFrame, true: np.ndarray) -> pd.DataFrame:
    """The true person behind each row, with the parents' names alongside."""
    view = pd.DataFrame({col: pop[col].to_numpy()[true] for col in TRUTH_COLUMNS})
    for parent in ("mother", "father"):
        at = view[parent].to_numpy()
        for col in ("surname", "forename"):
            view[f"{parent}_{col}"] = np.where(at >= 0, pop[col].to_numpy()[np.maximum(at, 0)], None)
    return view


def _placeholders(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame) -> None:
    """Unborn babies: 'Baby'/'Unborn' (or 'Baby of <mother>'), mother's surname, a due date, no DOB."""
    mask = rows["placeholder"].to_numpy()
    n = int(mask.sum())
    style = stage.draw(list(PLACEHOLDER_FORENAMES), n, np.array(list(PLACEHOLDER_FORENAMES.values())))
    mother = truth["mother_forename"].to_numpy()[mask]
    rows.loc[mask, "forename"] = np.where(style == "Baby of", "Baby of " + mother.astype(str), style)
    rows.loc[mask, "surname"] = truth["mother_surname"].to_numpy()[mask]
    rows.loc[mask, "expected_dob"] = truth["expected_dob"].to_numpy()[mask]
    known = stage.rng.random(n) < S.PLACEHOLDER_SEX_KNOWN_RATE
    rows.loc[mask, "sex"] = np.where(known, truth["sex"].to_numpy()[mask], "U")
    for col in ("middle_names", "nhs_number", "upn"):
        rows.loc[mask, col] = None
    rows.loc[mask, "dob"] = np.datetime64("NaT")


def _present(stage: Stage, rows: pd.DataFrame) -> None:
    """Each system's habits: spaced NHS numbers, patchy UPNs and ethnicity, its own wording, stamps."""
    rng = stage.rng
    n = len(rows)
    system = rows["system"]
    nhs = rows["nhs_number"].to_numpy()
    spaced = pd.notna(nhs) & (rng.random(n) < system.map(S.NHS_SPACED_RATES).to_numpy(dtype=float))
    rows.loc[spaced, "nhs_number"] = [spaced_nhs(x) for x in nhs[spaced]]
    lost = rng.random(n) >= system.map(S.UPN_RECORDED_RATES).to_numpy(dtype=float)
    rows.loc[lost, "upn"] = None
    ethnicity = rows["ethnicity"].to_numpy().copy()
    missing = rng.random(n) < S.ETHNICITY_MISSING_RATE
    ethnicity[missing] = np.where(rng.random(int(missing.sum())) < 0.5, "NOBT", None)
    for name in S.SYSTEMS:
        words = wording(ETHNICITY, name)
        at = (system == name).to_numpy() & pd.notna(ethnicity)
        ethnicity[at] = [words[e] for e in ethnicity[at]]
    rows["ethnicity"] = ethnicity
    rows["modified_at"] = (
        stage.ref.astype("datetime64[m]") - rng.integers(1, S.RECORD_HISTORY_DAYS * 24 * 60, size=n) * MINUTE
    )

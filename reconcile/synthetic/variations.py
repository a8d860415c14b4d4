"""How a system's copy of a person drifts from the truth: one small function pair per kind.

Each kind says which rows it can touch and how it changes them; the driver picks rows at the
kind's rate, makes sure every within-system duplicate differs from its main row somehow, and
records exactly the rows it changed, which is what truth.db's `planted` table lists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reconcile.synthetic import settings as S
from reconcile.synthetic.addresses import addresses
from reconcile.synthetic.identifiers import mistype_nhs
from reconcile.synthetic.pools import surnames
from reconcile.synthetic.sampling import Mask, Stage
from reconcile.synthetic.variants import nicknames, pick_each, transliterations, typo

Done = dict[str, Mask]


@dataclass(frozen=True)
class Variation:
    """One way a row drifts: which rows it may touch, at what rate, and the change itself."""

    name: str  # unique step name
    kind: str  # the planted kind it records
    rate: Callable[[pd.DataFrame], float | np.ndarray]
    eligible: Callable[[pd.DataFrame, pd.DataFrame, Done], Mask]
    apply: Callable[[Stage, pd.DataFrame, pd.DataFrame, Mask], None]


def _real(rows: pd.DataFrame) -> Mask:
    return ~rows["placeholder"].to_numpy()


# --- names -----------------------------------------------------------------------------
def _translit_options(rows: pd.DataFrame, column: str) -> list[tuple[str, ...]]:
    return [transliterations(n) for n in rows[column].tolist()]


def _translit(
    column: str,
) -> tuple[
    Callable[[pd.DataFrame, pd.DataFrame, Done], Mask], Callable[[Stage, pd.DataFrame, pd.DataFrame, Mask], None]
]:
    """Eligibility and change for another spelling of one name column (forename first, then surname)."""

    def eligible(rows: pd.DataFrame, truth: pd.DataFrame, done: Done) -> Mask:
        has = np.array([bool(o) for o in _translit_options(rows, column)], dtype=bool)
        return _real(rows) & has & ~done.get("transliteration_forename", np.zeros(len(rows), dtype=bool))

    def apply(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame, mask: Mask) -> None:
        rows.loc[mask, column] = pick_each(_translit_options(rows[mask], column), stage.rng)

    return eligible, apply


def _nickname_options(rows: pd.DataFrame) -> list[tuple[str, ...]]:
    return [nicknames(n, s) for n, s in zip(rows["forename"].tolist(), rows["true_sex"].tolist(), strict=True)]


def _nickname_eligible(rows: pd.DataFrame, truth: pd.DataFrame, done: Done) -> Mask:
    has = np.array([bool(o) for o in _nickname_options(rows)], dtype=bool)
    return _real(rows) & has & ~done["transliteration_forename"]


def _nickname_apply(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame, mask: Mask) -> None:
    rows.loc[mask, "forename"] = pick_each(_nickname_options(rows[mask]), stage.rng)


def _middle_eligible(rows: pd.DataFrame, truth: pd.DataFrame, done: Done) -> Mask:
    return _real(rows) & truth["middle_names"].notna().to_numpy()


def _middle_apply(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame, mask: Mask) -> None:
    rows.loc[mask, "middle_names"] = None


def _other_surnames(stage: Stage, origins: np.ndarray, avoid: np.ndarray) -> np.ndarray:
    """A surname per row from the row's origin pool, never the one to avoid."""
    out = np.empty(len(origins), dtype=object)
    todo = np.ones(len(origins), dtype=bool)
    while todo.any():
        for origin in np.unique(origins[todo]).tolist():
            m = todo & (origins == origin)
            pool = surnames(origin)
            out[m] = pool.names[stage.rng.choice(len(pool.names), size=int(m.sum()), p=pool.p)]
        todo = out == avoid
    return out


def _surname_change_rate(rows: pd.DataFrame) -> np.ndarray:
    return rows["role"].map(S.SURNAME_CHANGE_RATES).to_numpy(dtype=float)


def _surname_change_eligible(rows: pd.DataFrame, truth: pd.DataFrame, done: Done) -> Mask:
    return _real(rows) & ~done["transliteration_surname"]  # keep the other spelling visible


def _surname_change_apply(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame, mask: Mask) -> None:
    rows.loc[mask, "surname"] = _other_surnames(
        stage, truth["origin"].to_numpy()[mask], truth["surname"].to_numpy()[mask]
    )


def _double_eligible(rows: pd.DataFrame, truth: pd.DataFrame, done: Done) -> Mask:
    return _real(rows) & (rows["role"].to_numpy() == "child") & ~done["surname_change"]


def _double_apply(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame, mask: Mask) -> None:
    """Joins the surname with the other parent's (or a new partner's) into 'Smith-Jones'."""
    own = rows["surname"].to_numpy()[mask]
    mother = truth["mother_surname"].to_numpy()[mask]
    father = truth["father_surname"].to_numpy()[mask]
    other = np.where((mother != own) & pd.notna(mother), mother, father)
    fresh = _other_surnames(stage, truth["origin"].to_numpy()[mask], own)
    other = np.where(pd.isna(other) | (other == own), fresh, other)
    first = stage.rng.random(len(own)) < 0.5
    rows.loc[mask, "surname"] = np.where(first, own + "-" + other, other + "-" + own)


def _typo_apply(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame, mask: Mask) -> None:
    n = int(mask.sum())
    rng = stage.rng
    on_fore = rng.random(n) < 0.5
    ops, at, letters = rng.integers(0, 4, n).tolist(), rng.random(n).tolist(), rng.integers(0, 26, n).tolist()
    for col, which in (("forename", on_fore), ("surname", ~on_fore)):
        idx = np.flatnonzero(mask)[which]
        old = rows[col].to_numpy()[idx].tolist()
        picks = np.flatnonzero(which).tolist()
        new = [typo(name, ops[k], at[k], letters[k]) for name, k in zip(old, picks, strict=True)]
        rows.iloc[idx, rows.columns.get_loc(col)] = np.array(new, dtype=object)


def _swap_eligible(rows: pd.DataFrame, truth: pd.DataFrame, done: Done) -> Mask:
    return _real(rows) & (rows["forename"].to_numpy() != rows["surname"].to_numpy())


def _swap_apply(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame, mask: Mask) -> None:
    fore = rows["forename"].to_numpy()[mask]
    rows.loc[mask, "forename"] = rows["surname"].to_numpy()[mask]
    rows.loc[mask, "surname"] = fore


# --- dates, numbers, addresses -------------------------------------------------------------
def _day_month(dob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dob = dob.astype("datetime64[D]")
    month = dob.astype("datetime64[M]")
    return (dob - month.astype("datetime64[D]")).astype(int) + 1, month.astype(int) % 12 + 1


def _swapped(dob: np.ndarray) -> np.ndarray:
    """The date read the other way round (day as month); only for days up to 12."""
    day, month = _day_month(dob)
    year = dob.astype("datetime64[Y]").astype("datetime64[M]")
    return (year + (day - 1)).astype("datetime64[D]") + (month - 1)


def _dob_swap_eligible(rows: pd.DataFrame, truth: pd.DataFrame, done: Done) -> Mask:
    dob = rows["dob"].to_numpy().astype("datetime64[D]")
    present = ~np.isnat(dob)
    safe = np.where(present, dob, np.datetime64("2000-01-01"))
    day, month = _day_month(safe)
    can = present & (day <= 12) & (day != month)
    can[can] = _swapped(safe[can]) <= np.datetime64(S.REFERENCE_DATE, "D")  # swapped, still not in the future
    return _real(rows) & can


def _dob_swap_apply(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame, mask: Mask) -> None:
    rows.loc[mask, "dob"] = _swapped(rows["dob"].to_numpy()[mask].astype("datetime64[D]"))


def _nhs_eligible(rows: pd.DataFrame, truth: pd.DataFrame, done: Done) -> Mask:
    return _real(rows) & rows["nhs_number"].notna().to_numpy()


def _nhs_missing_rate(rows: pd.DataFrame) -> np.ndarray:
    return rows["system"].map(S.NHS_MISSING_RATES).to_numpy(dtype=float)


def _nhs_missing_apply(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame, mask: Mask) -> None:
    rows.loc[mask, "nhs_number"] = None


def _nhs_mistyped_eligible(rows: pd.DataFrame, truth: pd.DataFrame, done: Done) -> Mask:
    return _nhs_eligible(rows, truth, done) & ~done["nhs_missing"]


def _nhs_mistyped_apply(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame, mask: Mask) -> None:
    starts = stage.rng.integers(0, 8, int(mask.sum())).tolist()
    old = rows["nhs_number"].to_numpy()[mask].tolist()
    rows.loc[mask, "nhs_number"] = [mistype_nhs(n, s) for n, s in zip(old, starts, strict=True)]


def _moved_apply(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame, mask: Mask) -> None:
    """An old or newer address: usually in the other council's area, since families move across."""
    area = truth["area"].to_numpy()[mask]
    area = np.where(stage.rng.random(len(area)) < 0.7, 1 - area, area)
    postcode, line = addresses(stage, area)
    same = postcode == rows["postcode"].to_numpy()[mask]
    postcode[same] = [p[:-1] + ("A" if p[-1] != "A" else "B") for p in postcode[same]]
    rows.loc[mask, "postcode"] = postcode
    rows.loc[mask, "address"] = line


def _every_real(rows: pd.DataFrame, truth: pd.DataFrame, done: Done) -> Mask:
    return _real(rows)


def _fixed(rate: float) -> Callable[[pd.DataFrame], float]:
    return lambda rows: rate


# Order matters: a kind may only touch what earlier kinds left alone (see the eligibility rules).
VARIATIONS: tuple[Variation, ...] = (
    Variation("transliteration_forename", "transliteration", _fixed(S.TRANSLITERATION_RATE), *_translit("forename")),
    Variation("transliteration_surname", "transliteration", _fixed(S.TRANSLITERATION_RATE), *_translit("surname")),
    Variation("nickname", "nickname", _fixed(S.NICKNAME_RATE), _nickname_eligible, _nickname_apply),
    Variation(
        "middle_names_missing",
        "middle_names_missing",
        _fixed(S.MIDDLE_NAMES_MISSING_RATE),
        _middle_eligible,
        _middle_apply,
    ),
    Variation(
        "surname_change", "surname_change", _surname_change_rate, _surname_change_eligible, _surname_change_apply
    ),
    Variation("double_barrelled", "double_barrelled", _fixed(S.DOUBLE_BARRELLED_RATE), _double_eligible, _double_apply),
    Variation("typo", "typo", _fixed(S.TYPO_RATE), _every_real, _typo_apply),
    Variation("name_swap", "name_swap", _fixed(S.NAME_SWAP_RATE), _swap_eligible, _swap_apply),
    Variation("dob_day_month_swap", "dob_day_month_swap", _fixed(S.DOB_SWAP_RATE), _dob_swap_eligible, _dob_swap_apply),
    Variation("nhs_missing", "nhs_missing", _nhs_missing_rate, _nhs_eligible, _nhs_missing_apply),
    Variation("nhs_mistyped", "nhs_mistyped", _fixed(S.NHS_MISTYPED_RATE), _nhs_mistyped_eligible, _nhs_mistyped_apply),
    Variation("moved_address", "moved_address", _fixed(S.MOVED_ADDRESS_RATE), _every_real, _moved_apply),
)
BY_NAME = {v.name: v for v in VARIATIONS}
# What a within-system duplicate row is made to differ by (typo when the drawn kind cannot apply).
DUPLICATE_KINDS = ("typo", "nickname", "nhs_missing", "moved_address", "middle_names_missing")


def vary(stage: Stage, rows: pd.DataFrame, truth: pd.DataFrame) -> Done:
    """Apply every variation to `rows` in place; returns, per planted kind, the rows it changed."""
    assert rows.index.equals(pd.RangeIndex(len(rows)))
    duplicate = rows["duplicate"].to_numpy()
    forced_kind = np.where(duplicate, stage.draw(list(DUPLICATE_KINDS), len(rows)), None)
    done: Done = {}
    for v in VARIATIONS:
        eligible = v.eligible(rows, truth, done)
        forced = eligible & (forced_kind == v.kind)
        mask = stage.pick(eligible & ~forced, v.rate(rows)) | forced
        if mask.any():
            v.apply(stage, rows, truth, mask)
        done[v.name] = mask
    for _ in range(5):  # a duplicate must differ from its main row, a name kind from the true name
        again = _same_as_main(rows) | _name_unchanged(rows, truth, done)
        if not again.any():
            break
        BY_NAME["typo"].apply(stage, rows, truth, again)
        done["typo"] = done["typo"] | again
    kinds: Done = {}
    for v in VARIATIONS:
        kinds[v.kind] = kinds.get(v.kind, np.zeros(len(rows), dtype=bool)) | done[v.name]
    return kinds


NAME_STEPS = (
    "transliteration_forename",
    "transliteration_surname",
    "nickname",
    "surname_change",
    "double_barrelled",
    "typo",
    "name_swap",
)


def _name_unchanged(rows: pd.DataFrame, truth: pd.DataFrame, done: Done) -> Mask:
    """Rows a name kind touched that, by chance, came back to the true forename and surname."""
    touched = np.logical_or.reduce([done[n] for n in NAME_STEPS])
    same = (rows["forename"].to_numpy() == truth["forename"].to_numpy()) & (
        rows["surname"].to_numpy() == truth["surname"].to_numpy()
    )
    return touched & same


COMPARED = ["forename", "middle_names", "surname", "dob", "nhs_number", "postcode", "address"]


def _same_as_main(rows: pd.DataFrame) -> Mask:
    """Duplicate rows whose compared fields equal those of the main row for the same person."""
    key = rows["true"].to_numpy() * 2 + (rows["system"].to_numpy() == S.SYSTEMS[1])
    duplicate = rows["duplicate"].to_numpy()
    dup_at = np.flatnonzero(duplicate)
    main_at = np.flatnonzero(~duplicate & np.isin(key, key[dup_at]))
    main_of = pd.Series(main_at, index=key[main_at])
    pair = main_of.reindex(key[dup_at]).to_numpy()
    paired = ~np.isnan(pair)
    dup_at, main_at = dup_at[paired], pair[paired].astype(np.int64)
    equal = np.ones(len(dup_at), dtype=bool)
    for col in COMPARED:
        values = rows[col].to_numpy()
        a, b = values[dup_at], values[main_at]
        equal &= (a == b) | (pd.isna(a) & pd.isna(b))
    out = np.zeros(len(rows), dtype=bool)
    out[dup_at[equal]] = True
    return out

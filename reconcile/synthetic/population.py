"""The true population: households of parents and children with their real details.

Everything here is what is actually so; the legacy systems' rows (records.py) are copies
of it, with the gaps and slips that real recording adds. Built household by household
but fully vectorised, so millions of people take seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reconcile.synthetic import settings as S
from reconcile.synthetic.addresses import addresses
from reconcile.synthetic.identifiers import nhs_numbers, upns
from reconcile.synthetic.pools import forenames, surnames
from reconcile.synthetic.sampling import DAY, Stage, group_position, ids
from reconcile.synthetic.vocab import ETHNICITY_BY_ORIGIN

YEAR = 365.25
MAX_CHILD_AGE_DAYS = 18 * 365 + 3  # strictly under 18 at the reference date
LA_NUMBERS = np.array([370, 371])  # the two councils' DfE LA numbers, as UPNs carry them
MAX_MOTHER_AGE_FOR_UNBORN = 44 * YEAR


def population(stage: Stage, people: int) -> pd.DataFrame:
    """One row per true person: parents then children (and any expected baby) per household."""
    size = max(8, int(people / 3.2) + 8)
    while True:
        house, children = _households(stage, size)
        if int(house["members"].sum()) >= people:
            break
        size *= 2
    pop = _members(house, children, people)
    _sexes(stage, pop)
    _names(stage, pop, house)
    _dates(stage, pop)
    _identifiers(stage, pop, house)
    pop["twin_group"] = _twin_groups(pop)
    pop["true_id"] = ids("T", np.arange(1, people + 1), 7)
    pop["family_id"] = ids("F", pop["household"].to_numpy() + 1, 7)
    return pop


def _households(stage: Stage, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Household shapes and parents' ages; children's ages and births (twins share one)."""
    rng = stage.rng
    two = rng.random(n) < S.TWO_PARENT_RATE
    father_only = ~two & (rng.random(n) < S.SINGLE_FATHER_RATE)
    kids = rng.choice(np.arange(1, len(S.CHILDREN_WEIGHTS) + 1), size=n, p=S.CHILDREN_WEIGHTS)
    # children: a child may share the previous child's birth (twins, and rarely triplets)
    child_house = np.repeat(np.arange(n), kids)
    multiple = (group_position(child_house) > 0) & (rng.random(len(child_house)) < S.MULTIPLE_BIRTH_RATE)
    birth = np.cumsum(~multiple) - 1
    birth_house = child_house[~multiple]
    gaps = np.where(group_position(birth_house) > 0, rng.integers(300, 4 * 365, size=len(birth_house)), 0)
    first_birth = np.r_[0, np.flatnonzero(np.diff(birth_house)) + 1]
    span = np.add.reduceat(gaps, first_birth)
    oldest = span + rng.integers(0, MAX_CHILD_AGE_DAYS - span + 1)
    since_first = pd.Series(gaps).groupby(birth_house).cumsum().to_numpy()
    birth_age = oldest[birth_house] - since_first
    mother_at_first = rng.uniform(16, np.minimum(40, 50 - span / YEAR)) * YEAR
    father_at_first = np.clip(mother_at_first + rng.normal(2.5, 4, size=n) * YEAR, 16 * YEAR, 50 * YEAR - span)
    has_mother = ~father_only
    mother_age = (mother_at_first + oldest).astype(np.int64)
    unborn = has_mother & (mother_age <= MAX_MOTHER_AGE_FOR_UNBORN) & (rng.random(n) < S.UNBORN_RATE)
    house = pd.DataFrame(
        {
            "has_mother": has_mother,
            "has_father": two | father_only,
            "children": kids,
            "unborn": unborn,
            "mother_age": mother_age,
            "father_age": (father_at_first + oldest).astype(np.int64),
            "origin": stage.draw(list(S.ORIGIN_WEIGHTS), n, np.array(list(S.ORIGIN_WEIGHTS.values()))),
            "home": rng.choice(3, size=n, p=S.CHILD_SYSTEMS),  # 0 LCS only, 1 Mosaic only, 2 both
        }
    )
    house["members"] = house["has_mother"].astype(int) + house["has_father"] + kids + unborn
    return house, pd.DataFrame({"age": birth_age[birth], "birth": birth})


def _members(house: pd.DataFrame, children: pd.DataFrame, people: int) -> pd.DataFrame:
    """Expand households into people (mother, father, children, unborn) and stop at `people`."""
    counts = house["members"].to_numpy()
    hid = np.repeat(np.arange(len(house)), counts)[:people]
    pos = group_position(hid)
    hm = house["has_mother"].to_numpy().astype(int)[hid]
    hf = house["has_father"].to_numpy().astype(int)[hid]
    nc = house["children"].to_numpy()[hid]
    role = np.select([pos < hm, pos < hm + hf, pos < hm + hf + nc], ["mother", "father", "child"], "unborn")
    child_start = (np.cumsum(house["children"].to_numpy()) - house["children"].to_numpy())[hid]
    is_child = role == "child"
    child_idx = np.where(is_child, child_start + pos - hm - hf, 0)
    age = np.select(
        [role == "mother", role == "father", is_child],
        [
            house["mother_age"].to_numpy()[hid],
            house["father_age"].to_numpy()[hid],
            children["age"].to_numpy()[child_idx],
        ],
        -1,
    )
    start = np.flatnonzero(pos == 0)[np.searchsorted(np.flatnonzero(pos == 0), np.arange(people), side="right") - 1]
    father_at = start + hm
    return pd.DataFrame(
        {
            "household": hid,
            "role": np.where(role == "unborn", "child", role),
            "unborn": role == "unborn",
            "age_days": age,
            "birth": np.where(is_child, children["birth"].to_numpy()[child_idx], -1),
            "origin": house["origin"].to_numpy()[hid],
            "home": house["home"].to_numpy()[hid],
            "mother": np.where(hm == 1, start, -1),
            "father": np.where((hf == 1) & (father_at < people), father_at, -1),
        }
    )


def _sexes(stage: Stage, pop: pd.DataFrame) -> None:
    """Mothers F, fathers M, children either; twins share their sex two times in three."""
    rng = stage.rng
    n = len(pop)
    sex = np.where(rng.random(n) < 0.51, "M", "F").astype(object)
    sex[pop["role"].to_numpy() == "mother"] = "F"
    sex[pop["role"].to_numpy() == "father"] = "M"
    birth = pop["birth"].to_numpy()
    follows = np.r_[False, (birth[1:] == birth[:-1]) & (birth[1:] >= 0)]
    same = follows & (rng.random(n) < S.TWINS_SAME_SEX_RATE)
    for _ in range(int(group_position(birth).max(initial=0)) + 1):  # chains: triplets copy through
        sex[1:][same[1:]] = sex[:-1][same[1:]]
    pop["sex"] = sex


def _names(stage: Stage, pop: pd.DataFrame, house: pd.DataFrame) -> None:
    """Forenames by origin and sex (siblings never share one), family surnames, middle names."""
    rng = stage.rng
    n = len(pop)
    hid = pop["household"].to_numpy()
    pop["forename"] = _forenames(stage, pop)
    kids = (pop["role"] == "child").to_numpy()
    for _ in range(30):
        clash = np.zeros(n, dtype=bool)
        clash[kids] = pd.DataFrame({"h": hid[kids], "f": pop["forename"].to_numpy()[kids]}).duplicated().to_numpy()
        if not clash.any():
            break
        pop.loc[clash, "forename"] = _forenames(stage, pop[clash])
    middle = _forenames(stage, pop)
    second = _forenames(stage, pop)
    has_middle = (rng.random(n) < S.MIDDLE_NAME_RATE) & (middle != pop["forename"].to_numpy())
    two = has_middle & (rng.random(n) < S.SECOND_MIDDLE_NAME_RATE) & (second != middle)
    middle = np.where(two, middle + " " + second, middle)
    pop["middle_names"] = np.where(has_middle, middle, None)

    origins = house["origin"].to_numpy()
    family = _surnames(stage, origins)
    mother_own = _surnames(stage, origins)
    absent_father = _surnames(stage, origins)
    has_father = house["has_father"].to_numpy()
    mother_name = np.where(has_father & (rng.random(len(house)) < S.MOTHER_OWN_SURNAME_RATE), mother_own, family)
    child_name = np.where(~has_father & (rng.random(len(house)) < S.ABSENT_FATHER_SURNAME_RATE), absent_father, family)
    role = pop["role"].to_numpy()
    pop["surname"] = np.select(
        [role == "mother", role == "father"], [mother_name[hid], family[hid]], child_name[hid]
    ).astype(object)


def _forenames(stage: Stage, rows: pd.DataFrame) -> np.ndarray:
    """One forename per row from its origin's pool for its sex, sometimes from the British pool."""
    rng = stage.rng
    origin = np.where(rng.random(len(rows)) < S.OTHER_ORIGIN_FORENAME_RATE, "british", rows["origin"].to_numpy())
    sex = rows["sex"].to_numpy()
    out = np.empty(len(rows), dtype=object)
    for o in S.ORIGIN_WEIGHTS:
        for s in ("F", "M"):
            mask = (origin == o) & (sex == s)
            if mask.any():
                pool = forenames(o, s)
                out[mask] = pool.names[rng.choice(len(pool.names), size=int(mask.sum()), p=pool.p)]
    return out


def _surnames(stage: Stage, origins: np.ndarray) -> np.ndarray:
    out = np.empty(len(origins), dtype=object)
    for o in S.ORIGIN_WEIGHTS:
        mask = origins == o
        if mask.any():
            pool = surnames(o)
            out[mask] = pool.names[stage.rng.choice(len(pool.names), size=int(mask.sum()), p=pool.p)]
    return out


def _dates(stage: Stage, pop: pd.DataFrame) -> None:
    """Dates of birth from ages; due dates (and births) of expected babies; rare adult deaths."""
    rng = stage.rng
    n = len(pop)
    dob = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    born = ~pop["unborn"].to_numpy()
    dob[born] = stage.ref - pop["age_days"].to_numpy()[born] * DAY
    expected = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    state = np.full(n, None, dtype=object)
    unborn = np.flatnonzero(~born)
    state[unborn] = stage.labels(len(unborn), S.UNBORN_STATES)
    offsets = {
        "future": (1, 180),
        "overdue": (-240, -(S.OVERDUE_DAYS + 1)),
        "recent": (-S.OVERDUE_DAYS, 0),
        "born": (-300, -14),
    }
    for name, (low, high) in offsets.items():
        idx = unborn[state[unborn] == name]
        expected[idx] = stage.ref + stage.days(low, high, len(idx))
    came = np.flatnonzero(state == "born")
    dob[came] = np.minimum(expected[came] + stage.days(-21, 10, len(came)), stage.ref - DAY)
    adult = pop["role"].to_numpy() != "child"
    dies = adult & (rng.random(n) < S.ADULT_DEATH_RATE)
    death = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    death[dies] = stage.ref - stage.days(30, 1500, int(dies.sum()))
    pop["dob"] = dob
    pop["expected_dob"] = expected
    pop["unborn_state"] = state
    pop["death_date"] = death


def _identifiers(stage: Stage, pop: pd.DataFrame, house: pd.DataFrame) -> None:
    """NHS numbers for everyone born, UPNs for school-age children, household addresses, ethnicity."""
    rng = stage.rng
    dob = pop["dob"].to_numpy()
    born = ~np.isnat(dob)
    nhs = np.full(len(pop), None, dtype=object)
    nhs[born] = nhs_numbers(int(born.sum()), rng)
    pop["nhs_number"] = nhs
    home = house["home"].to_numpy()
    area = np.where(home == 2, rng.integers(0, 2, size=len(house)), home)
    postcode, line = addresses(stage, area)
    hid = pop["household"].to_numpy()
    pop["area"] = area[hid]
    pop["postcode"] = postcode[hid]
    pop["address"] = line[hid]
    school = born & (pop["role"].to_numpy() == "child") & (dob <= stage.ref - int(S.SCHOOL_AGE_YEARS * YEAR) * DAY)
    upn = np.full(len(pop), None, dtype=object)
    years = dob[school].astype("datetime64[Y]").astype(int) + 1970 + S.SCHOOL_AGE_YEARS
    upn[school] = upns(LA_NUMBERS[pop["area"].to_numpy()[school]], years)
    pop["upn"] = upn
    ethnicity = np.empty(len(house), dtype=object)
    origins = house["origin"].to_numpy()
    for origin, dist in ETHNICITY_BY_ORIGIN.items():
        mask = origins == origin
        ethnicity[mask] = stage.draw(list(dist), int(mask.sum()), np.array(list(dist.values())))
    pop["ethnicity"] = ethnicity[hid]


def _twin_groups(pop: pd.DataFrame) -> np.ndarray:
    """A group label for children who share a birth, as far as they made it into the population."""
    birth = pop["birth"].to_numpy()
    sizes = pd.Series(birth).map(pd.Series(birth[birth >= 0]).value_counts()).fillna(0).to_numpy()
    shared = (birth >= 0) & (sizes >= 2)
    _, number = np.unique(birth[shared], return_inverse=True)
    out = np.full(len(pop), None, dtype=object)
    out[shared] = ids("G", number + 1, 6)
    return out

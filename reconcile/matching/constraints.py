"""Hard safeguarding constraints: pairs that must never be linked automatically, whatever they score.

A false merge puts one child's risk history on another child. These rules hold even when
the model is confident; a pair that breaks one goes to review, and clustering makes sure
no chain of other links joins it either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reconcile.matching.clustering import components
from reconcile.matching.comparisons import LEVELS, MISSING
from reconcile.matching.names import name_variants
from reconcile.matching.rules import Constraints
from reconcile.matching.standardise import objects, record_rids

FLAGS = ("nhs_conflict", "twin_guard", "sex_conflict", "related", "placeholder", "namesake_guard", "identity_guard")
DOB_DIFFERENT = LEVELS["dob"].index("different")
FORENAME_EXACT = LEVELS["forename"].index("exact")
FORENAME_SAME = LEVELS["forename"].index("same name (nickname or spelling)")
DOB_SLIP = LEVELS["dob"].index("one digit or a day off")  # this level and above: the same date, or a slip of it
REASONS = {
    "nhs_conflict": "both NHS numbers are valid and they differ",
    "twin_guard": "possible twins: same or near DOB, same family, home or surname, forenames differ or one is missing",
    "sex_conflict": "recorded sexes differ",
    "related": "one system records these two as relatives of each other",
    "placeholder": "an unborn or unnamed placeholder: a person confirms which child, if any, it became",
    "namesake_guard": "same home, and no DOB on one record or wholly different DOBs: a parent and child of one name",
    "identity_guard": "forenames and DOBs both wholly differ: other fields join them, as a sibling's NHS number can",
}


@dataclass(frozen=True)
class Relatives:
    """Relationship rows as record pairs, and the households they form: made once, used by every chunk of pairs
    and by a night's family rebuild (which reads `ends` rather than keying every relationship row again)."""

    edges: pd.DataFrame  # a, b: rids of two records one system holds as relatives
    family: np.ndarray  # per rid: its household, -1 where none
    pair_keys: np.ndarray  # sorted and distinct: min(a, b) * records + max(a, b) of every edge
    ends: np.ndarray  # per relationship row (columns), the rids of its person and related person: -1 where none

    @classmethod
    def of(cls, std: pd.DataFrame, links: pd.DataFrame | None) -> Relatives:
        ends = _end_rids(std, links)
        a, b = ends
        edges = pd.DataFrame({"a": a, "b": b})[(a >= 0) & (b >= 0) & (a != b)]
        return cls(edges, family_ids(len(std), edges), _pair_keys(edges, len(std)), ends)

    def among(self, rids: np.ndarray) -> Relatives:
        """The same, for the records of these rids (sorted, distinct) numbered 0, 1, ... in that order: to score
        pairs over only the records they name. Households keep their numbers, so both sides still compare."""
        local = np.full(len(self.family), -1, dtype=np.int64)
        local[rids] = np.arange(len(rids))
        a, b = local[self.edges["a"].to_numpy()], local[self.edges["b"].to_numpy()]
        kept = (a >= 0) & (b >= 0)
        edges = pd.DataFrame({"a": a[kept], "b": b[kept]})
        ends = np.where(self.ends >= 0, local[self.ends], -1)
        return Relatives(edges, self.family[rids], _pair_keys(edges, len(rids)), ends)


def _pair_keys(edges: pd.DataFrame, records: int) -> np.ndarray:
    """Each edge as one integer, min(a, b) * records + max(a, b), sorted and distinct (`Relatives.pair_keys`)."""
    a, b = edges["a"].to_numpy(), edges["b"].to_numpy()
    return np.unique(np.minimum(a, b) * records + np.maximum(a, b))


def flag(
    std: pd.DataFrame,
    pairs: pd.DataFrame,
    gammas: pd.DataFrame,
    settings: Constraints,
    links: pd.DataFrame | Relatives | None,
) -> pd.DataFrame:
    """One boolean column per constraint, aligned with `pairs`. `links`: relationship rows, or `Relatives`."""
    left, right = pairs["rid_l"].to_numpy(), pairs["rid_r"].to_numpy()
    relatives = links if isinstance(links, Relatives) else Relatives.of(std, links)
    family = relatives.family
    same_family = (family[left] == family[right]) & (family[left] >= 0)
    forename = gammas["forename"].to_numpy()
    # Near: within twin_dob_days, or what the DOB comparison itself takes for a slip (one digit out, day and
    # month swapped). Twin Harry keyed 2015-03-14 is still Jack's twin, whatever the model makes of the pair.
    near_dob = (np.nan_to_num(gammas["dob_days"].to_numpy(), nan=np.inf) <= settings.twin_dob_days) | (
        gammas["dob"].to_numpy() >= DOB_SLIP
    )
    shared_home_or_name = same_family | (gammas["address"].to_numpy() >= 3) | (gammas["surname"].to_numpy() >= 3)
    nhs_equal = gammas["nhs"].to_numpy() == 1
    # A valid NHS number or UPN names one person, and twins never share one; alt_id (no check digit, and a
    # misconfigured family reference would look the same) exempts nothing.
    person_id_equal = nhs_equal | (gammas["upn"].to_numpy() == 1)
    # Different forenames: not equal. Twins are given names as close as Amelia and Amelie, so even a
    # near-typo counts, unless the two share a valid person identifier. So does "the same name": the
    # nickname tables join full names twins are given (Amelia and Emily, Jack and John), and a short form
    # fits twins Edward and Theodore alike (Ted). Only two spellings of one name (Mohammed, Muhammad) are
    # one name. A missing forename fits either twin equally well too.
    spelling = _spellings(std, left, right, forename == FORENAME_SAME)
    unsure = (forename == MISSING) | ((forename >= 1) & (forename < FORENAME_EXACT) & ~spelling)
    # Ella-Rose and Ella-Mae share a first forename; the rest of their forenames tells the twins apart.
    middle_differs = gammas["middle_names"].to_numpy() == 0
    different_forenames = (forename == 0) | ((unsure | middle_differs) & ~person_id_equal)
    return pd.DataFrame(
        {
            "nhs_conflict": settings.nhs_conflict & (gammas["nhs"].to_numpy() == 0),
            "twin_guard": settings.twin_guard & near_dob & shared_home_or_name & different_forenames,
            "sex_conflict": settings.sex_conflict & (gammas["sex"].to_numpy() == 0) & ~nhs_equal,
            "related": _directly_related(left, right, relatives),
            # A "Baby" record has only a surname, a home and a due date: its sibling born weeks before or
            # after fits as well as the child it became, so its links are a person's decision.
            # Without a DOB on one side, Jamie Farnfield senior and junior at one address are the same record;
            # with both DOBs a generation apart, the shared name and home can outscore the one field that differs.
            "namesake_guard": settings.namesake_guard
            & np.isin(gammas["dob"].to_numpy(), (MISSING, DOB_DIFFERENT))
            & (gammas["address"].to_numpy() >= 3)
            & ~person_id_equal,
            # Liam's NHS number keyed on his brother Tyler's record in the other system: the number, the
            # surname and the home agree, and outweigh a forename and a DOB that share nothing.
            "identity_guard": settings.identity_guard & (forename == 0) & (gammas["dob"].to_numpy() == DOB_DIFFERENT),
            "placeholder": settings.placeholder_review
            & (std["placeholder"].to_numpy()[left] | std["placeholder"].to_numpy()[right]),
        }
    )


def _spellings(std: pd.DataFrame, left: np.ndarray, right: np.ndarray, same_name: np.ndarray) -> np.ndarray:
    """Per pair, whether its forenames are two spellings of one name (a transliteration group)."""
    found = np.zeros(len(left), dtype=bool)
    rows = np.flatnonzero(same_name)
    if len(rows):
        names = objects(std["forename"])
        known = name_variants().spellings
        found[rows] = [(a, b) in known for a, b in zip(names[left[rows]], names[right[rows]], strict=True)]
    return found


def family_ids(n: int, edges: pd.DataFrame) -> np.ndarray:
    """Households within each source: records joined by any relationship row. -1 where none."""
    result = np.full(n, -1, dtype=np.int64)
    if edges.empty:
        return result
    labels = components(n, edges["a"].to_numpy(), edges["b"].to_numpy())
    linked = np.zeros(n, dtype=bool)
    linked[edges["a"].to_numpy()] = True
    linked[edges["b"].to_numpy()] = True
    return np.where(linked, labels, -1)


def _directly_related(left: np.ndarray, right: np.ndarray, relatives: Relatives) -> np.ndarray:
    """A person is not their own mother: a relationship row between two records keeps them apart.

    Looked up as one integer per pair in the edges' sorted keys, made once: a MultiIndex of every edge, built
    for each chunk of pairs, was half the time of scoring them at a million records.
    """
    known = relatives.pair_keys
    if len(known) == 0 or len(left) == 0:
        return np.zeros(len(left), dtype=bool)
    keys = left.astype(np.int64) * len(relatives.family) + right.astype(np.int64)
    at = np.minimum(np.searchsorted(known, keys), len(known) - 1)
    return known[at] == keys


def _end_rids(std: pd.DataFrame, links: pd.DataFrame | None) -> np.ndarray:
    """Per relationship row, the rids of its two people (rows: person, related person); -1 for one not in `std`."""
    if links is None or links.empty:
        return np.zeros((2, 0), dtype=np.int64)
    ends = record_rids(std, links["source_system"], links["person_id"], links["related_person_id"])
    return np.nan_to_num(ends, nan=-1).astype(np.int64)

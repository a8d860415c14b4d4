"""Weighted name and place pools, loaded once from the small CSVs beside this module.

Surnames get a generated long tail (Ashford, Blackley, ...) so that a surname is as
discriminating as in a real register: a few very common names and many rare ones.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent
# Surname weight 1 / (rank + 5) ** 0.8: Smith about 2% of British-origin people, the top 200 about 60%.
ZIPF_OFFSET = 5
ZIPF_EXPONENT = 0.8


def words(text: str) -> tuple[str, ...]:
    """A word list written as one string, to keep long lists short on the page."""
    return tuple(text.split())


TAIL_PREFIXES = words(
    "Ash Black Brad Brook Cal Chester Craw Dal Dun Elm Fair Farn Hal Hasel Hay Holl Kirk Lang Mar Mid "
    "Mill Moor North Oak Pen Red Rush Sand Shel South Stan Stock Thorn Wal War West Whit Wins"
)
TAIL_SUFFIXES = words(
    "ford ley ton worth field wood by ham well bridge combe hurst stead thorpe wick more den croft gate shaw"
)
STREETS = words(
    "Church Station Victoria Park Mill High Manor King Albert Chapel School North Green Springfield "
    "Windsor York Orchard Meadow Highfield Beech Cedar Willow Hawthorn Brook Cromwell Nelson Milton "
    "Clarence Moorland Westfield Queens Grange Elm Oak Ash Rowan Larch Heather Primrose Bluebell "
    "Riverside Canal Market Bridge Castle Abbey Priory Lime Sycamore Poplar"
)
STREET_TYPES = words("Road Street Avenue Close Lane Drive Way Crescent Grove Court Gardens Place Terrace Walk")
# Two fictional councils; postcode areas keep the real format but name no real area.
AREAS = (
    ("NX", ("Castlebridge", "Northmoor", "Fenley", "Holme End", "Oakworth", "Stanmere")),
    ("SX", ("Eastwold", "Kirkham Green", "Westbury Vale", "Ravensford", "Lowther", "Brackendale")),
)


@dataclass(frozen=True)
class Pool:
    """Values and their probabilities, ready for rng.choice."""

    names: np.ndarray
    p: np.ndarray

    @classmethod
    def of(cls, names: list[str], weights: list[float]) -> Pool:
        w = np.asarray(weights, dtype=float)
        return cls(np.asarray(names, dtype=object), w / w.sum())


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@cache
def forenames(origin: str, sex: str) -> Pool:
    """Forenames for one origin and sex ('M' or 'F'), weighted by rough UK frequency."""
    rows = [r for r in _rows("forenames.csv") if r["origin"] == origin and r["sex"] == sex]
    return Pool.of([r["name"] for r in rows], [float(r["weight"]) for r in rows])


@cache
def forename_sexes() -> dict[str, str]:
    """Each pool forename's sexes as a sorted string ('F', 'M' or 'FM'), to keep nicknames on the right side."""
    found: dict[str, str] = {}
    for r in _rows("forenames.csv"):
        found[r["name"]] = "".join(sorted(set(found.get(r["name"], "")) | {r["sex"]}))
    return found


@cache
def surnames(origin: str) -> Pool:
    """Surnames for one origin, Zipf-weighted by their rank in the CSV; the British pool gets the long tail."""
    names = [r["name"] for r in _rows("surnames.csv") if r["origin"] == origin]
    if origin == "british":
        seen = set(names)
        names += [p + s for p in TAIL_PREFIXES for s in TAIL_SUFFIXES if p + s not in seen]
    rank = np.arange(1, len(names) + 1)
    return Pool.of(names, (1 / (rank + ZIPF_OFFSET) ** ZIPF_EXPONENT).tolist())

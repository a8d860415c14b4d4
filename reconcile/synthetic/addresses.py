"""Addresses and postcodes in the two fictional councils' areas.

Postcodes follow the real format (outward code, space, digit and two letters) so that
postcode parsing is exercised, but the area letters name no real place.
"""

from __future__ import annotations

import numpy as np

from reconcile.synthetic.pools import AREAS, STREET_TYPES, STREETS
from reconcile.synthetic.sampling import Stage

INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)  # the letters Royal Mail uses
FLAT_RATE = 0.15


def addresses(stage: Stage, areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(postcode, one-line address) for each entry of `areas` (0 or 1: which council)."""
    n = len(areas)
    rng = stage.rng
    area_codes = np.array([a[0] for a in AREAS], dtype=object)
    district = rng.integers(1, 31, size=n)
    inward = rng.integers(0, 10, size=n)
    letters = INWARD_LETTERS[rng.integers(0, len(INWARD_LETTERS), size=(n, 2))]
    postcode = [
        f"{a}{d} {i}{x}{y}"
        for a, d, i, x, y in zip(
            area_codes[areas].tolist(), district.tolist(), inward.tolist(), letters[:, 0], letters[:, 1], strict=True
        )
    ]
    number = rng.integers(1, 200, size=n)
    flat = np.where(rng.random(n) < FLAT_RATE, rng.integers(1, 30, size=n), 0)
    street = stage.draw(list(STREETS), n)
    kind = stage.draw(list(STREET_TYPES), n)
    towns = np.array([rng.choice(np.array(a[1], dtype=object), size=n) for a in AREAS], dtype=object)
    town = towns[areas, np.arange(n)]
    line = [
        f"{'Flat ' + str(f) + ', ' if f else ''}{num} {s} {k}, {t}"
        for f, num, s, k, t in zip(flat.tolist(), number.tolist(), street, kind, town, strict=True)
    ]
    return np.array(postcode, dtype=object), np.array(line, dtype=object)

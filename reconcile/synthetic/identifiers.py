"""NHS numbers and UPNs that pass (or, when mistyped, fail) the checks python-stdnum applies.

Check digits always come from stdnum rather than our own arithmetic, so the generator
and any validator downstream agree by construction.
"""

from __future__ import annotations

import numpy as np
from stdnum.gb import nhs, upn

# NHS numbers are drawn from the 9xx xxx xxxx block (the block of the well-known example
# 943 476 5919), which keeps synthetic numbers away from the 4xx and 6xx-7xx ranges that
# hold most real English NHS numbers.
NHS_BLOCK = 900_000_000


def nhs_numbers(n: int, rng: np.random.Generator) -> np.ndarray:
    """n distinct valid NHS numbers, in draw order."""
    found: list[str] = []
    seen: set[str] = set()
    while len(found) < n:
        bodies = (NHS_BLOCK + rng.integers(0, 100_000_000, size=int((n - len(found)) * 1.15) + 16)).tolist()
        for body in bodies:
            number = _with_check_digit(str(body))
            if number is not None and number not in seen:
                seen.add(number)
                found.append(number)
                if len(found) == n:
                    break
    return np.array(found, dtype=object)


def _with_check_digit(body: str) -> str | None:
    """The body plus its check digit, or None for the 1 in 11 bodies that have none.

    stdnum's checksum weighs the check digit by 1, so the digit that brings the checksum
    to 0 is what is missing from it; a body needing '10' cannot be an NHS number.
    """
    digit = -nhs.checksum(body + "0") % 11
    return None if digit == 10 else body + str(digit)


def mistype_nhs(number: str, start: int) -> str:
    """The number with two adjacent, different digits of its first nine swapped.

    Such a swap always breaks the check digit; stdnum confirms it, and a changed check digit
    is the fallback for the (all-equal-digits) numbers where no swap exists.
    """
    for k in range(8):
        i = (start + k) % 8
        if number[i] != number[i + 1]:
            out = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
            if not nhs.is_valid(out):
                return out
    return number[:9] + str((int(number[9]) + 1) % 10)


def spaced_nhs(number: str) -> str:
    """The NHS's own 3-3-4 presentation (as stdnum's format gives), as some systems store it."""
    return f"{number[:3]} {number[3:6]} {number[6:]}"


def upns(la_numbers: np.ndarray, entry_years: np.ndarray) -> np.ndarray:
    """Distinct valid UPNs: LA number, school, two-digit issue year, serial, check letter from stdnum."""
    n = len(la_numbers)
    seq = np.arange(n)
    school = 2000 + (seq // 1000) % 8000
    serial = seq % 1000
    parts = zip(la_numbers.tolist(), school.tolist(), entry_years.tolist(), serial.tolist(), strict=True)
    bodies = [f"{la:03d}{est:04d}{yy % 100:02d}{ser:03d}" for la, est, yy, ser in parts]
    return np.array([upn.calc_check_digit(b) + b for b in bodies], dtype=object)

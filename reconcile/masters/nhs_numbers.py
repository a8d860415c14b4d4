"""NHS numbers of ten plain digits, judged by the modulus 11 check over whole arrays.

python-stdnum judges one value at a time, tens of microseconds each, and a run judges every
record's NHS number several times over. For a text of exactly ten ASCII digits stdnum's verdict
is the check alone (nothing to strip, nothing to compact), so those are judged here at once;
any other shape still goes to stdnum, which keeps every verdict exactly stdnum's.
"""

from __future__ import annotations

import numpy as np

WEIGHTS = np.arange(10, 0, -1)  # stdnum.gb.nhs.checksum: 1 for the last digit, 10 for the first


def ten_digit_verdicts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(plain, valid) per value: plain, a str of exactly ten ASCII digits; valid, such a value that passes
    the modulus 11 check and is not one digit repeated (0000000000 passes the check and means "not known")."""
    plain = np.fromiter(
        (isinstance(v, str) and len(v) == 10 and v.isascii() and v.isdigit() for v in values), bool, len(values)
    )
    text = "".join(values[plain]).encode("ascii")
    digits = (np.frombuffer(text, dtype=np.uint8).reshape(-1, 10) - ord("0")).astype(np.int64)
    passes = (digits @ WEIGHTS) % 11 == 0
    repeated = (digits == digits[:, :1]).all(axis=1)
    return plain, passes & ~repeated

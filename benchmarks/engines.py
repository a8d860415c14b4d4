"""The engines under test, each run alone in a child process so its time and peak memory are its own.

    python -m benchmarks.engines ENGINE WORKDIR

reads WORKDIR/persons.pkl (and relationships.pkl if present), writes WORKDIR/ENGINE.clusters.pkl and
WORKDIR/ENGINE.stats.json. The clock runs from the persons frame in memory to the clusters frame, nothing else.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

Matcher = Callable[[pd.DataFrame, "pd.DataFrame | None", int], pd.DataFrame]
# "ours-nofamily": our engine with matching_rules/no_families.yaml (no twin guard), for data such as FEBRL
# whose generator makes no families. On care data it shows what the twin guard prevents.
ENGINES = ("ours", "ours-nofamily", "splink")
RULES = {"ours": None, "ours-nofamily": "matching_rules/no_families.yaml"}
OURS_MISSING = (
    "cannot import reconcile.matching.match_people ({error}). The engine under test is missing or broken; "
    "run with --skip-ours to benchmark the peer alone."
)


class EngineUnavailable(RuntimeError):
    """The engine cannot be imported: a setup problem, reported as such rather than as a crash."""


def _ours(rules_file: str | None) -> Matcher:
    try:
        from reconcile.matching import load_rules, match_people
    except ImportError as exc:
        raise EngineUnavailable(OURS_MISSING.format(error=exc)) from exc
    rules = load_rules(Path(__file__).resolve().parents[1] / rules_file if rules_file else None)

    def run(persons: pd.DataFrame, relationships: pd.DataFrame | None, seed: int) -> pd.DataFrame:
        return match_people(persons, relationships, rules=rules, seed=seed).clusters

    return run


def _splink() -> Matcher:
    try:
        from benchmarks.splink_peer import match_with_splink, preload

        preload()
    except ImportError as exc:
        raise EngineUnavailable(f"cannot import Splink ({exc}); install it with `pip install -e .[bench]`") from exc

    def run(persons: pd.DataFrame, relationships: pd.DataFrame | None, seed: int) -> pd.DataFrame:
        return match_with_splink(persons, seed=seed)

    return run


def load(engine: str) -> Matcher:
    """Import the engine before the clock starts: import time is not matching time."""
    return _splink() if engine == "splink" else _ours(RULES[engine])


def _rss_now_mb() -> float:
    """Resident memory before matching (interpreter, libraries, input), so the engine's own share can be seen."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(engine: str, workdir: Path, seed: int) -> dict[str, float]:
    persons = pd.read_pickle(workdir / "persons.pkl")
    rel_path = workdir / "relationships.pkl"
    relationships = pd.read_pickle(rel_path) if rel_path.exists() else None
    matcher = load(engine)
    baseline = _rss_now_mb()
    start = time.perf_counter()
    clusters = matcher(persons, relationships, seed)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    clusters[["source_system", "person_id", "master_key"]].to_pickle(workdir / f"{engine}.clusters.pkl")
    stats = {"wall_s": wall, "peak_rss_mb": peak, "baseline_rss_mb": baseline}
    (workdir / f"{engine}.stats.json").write_text(json.dumps(stats))
    return stats


def main(argv: list[str]) -> int:
    engine, workdir, seed = argv[0], Path(argv[1]), int(argv[2]) if len(argv) > 2 else 42
    try:
        run_child(engine, workdir, seed)
    except EngineUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Nightly benchmark: a full load and match, then a night where about 1% of person records changed.

    python benchmarks/nightly.py [--people 100000] [--share 0.01] [--seed 42] [--out DIR] [--no-rebuild]

Times, on the synthetic demo's two legacy systems: the first `extract` and a full `match` (the full
run); then, after `reconcile.synthetic.night.mutate` has changed, added and deleted `share` of the
person rows and a few relationship rows, `extract` and the default incremental `match` (the night);
then, on the same data, `match --full` (a full rebuild of that night, unless --no-rebuild). Prints
wall and CPU seconds per step, the night's share of the full run, and the process's peak RSS. The
machine may be shared: CPU seconds are less disturbed by other work than wall seconds. The legacy
systems are generated once per generator version into benchmarks/.cache/ (not timed) and copied.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "benchmarks" / ".cache"

from reconcile.config import load_config  # noqa: E402
from reconcile.extract import extract  # noqa: E402
from reconcile.match import match  # noqa: E402
from reconcile.synthetic import write_demo  # noqa: E402
from reconcile.synthetic.night import mutate  # noqa: E402


def timed(label: str, step: Callable[[], object], figures: dict[str, tuple[float, float]]) -> object:
    wall, cpu = time.perf_counter(), time.process_time()
    result = step()
    figures[label] = (time.perf_counter() - wall, time.process_time() - cpu)
    print(f"{label:<22} wall {figures[label][0]:8.1f} s   cpu {figures[label][1]:8.1f} s", flush=True)
    return result


def demo_folder(people: int, seed: int) -> Path:
    """The demo's legacy systems, generated once per version of the generator."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "reconcile" / "synthetic").glob("*")):
        if path.is_file() and path.suffix in (".py", ".csv"):
            digest.update(path.name.encode() + path.read_bytes())
    folder = CACHE / f"nightly-n{people}-seed{seed}-{digest.hexdigest()[:10]}"
    if not (folder / "generated.ok").exists():
        shutil.rmtree(folder, ignore_errors=True)
        write_demo(folder, people=people, seed=seed)
        (folder / "generated.ok").touch()
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--share", type=float, default=0.01, help="share of person records changed in the night")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, help="keep the demo here (default: a temporary folder)")
    parser.add_argument("--no-rebuild", action="store_true", help="skip the full rebuild of the night's data")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.out or Path(scratch) / "demo"
        for leftover in folder.glob("reconcile.db*"):  # a fresh target, as on a first run
            leftover.unlink()
        ignore = shutil.ignore_patterns("generated.ok")
        shutil.copytree(demo_folder(args.people, args.seed), folder, ignore=ignore, dirs_exist_ok=True)
        config = load_config(folder / "reconcile.yaml")
        t: dict[str, tuple[float, float]] = {}
        loaded = timed("full: extract", lambda: extract(config), t)
        full = timed("full: match", lambda: match(config), t)
        night = mutate(folder, share=args.share, seed=args.seed)
        print(f"night: {night}", flush=True)
        tonight = timed("night: extract", lambda: extract(config), t)
        rows = [getattr(result, "canonicalised", "?") for result in (loaded, tonight)]  # "?": code from before it
        print(f"extract canonicalised {rows[0]} rows on the full run, {rows[1]} tonight", flush=True)
        incremental = timed("night: match", lambda: match(config), t)
        print(f"full match: {full.records} records; night match: {incremental.mode}, {incremental.why}")
        if not args.no_rebuild:
            timed("night: match --full", lambda: match(config, full=True), t)
        for kind, i in (("wall", 0), ("cpu", 1)):
            whole = t["full: extract"][i] + t["full: match"][i]
            nightly = t["night: extract"][i] + t["night: match"][i]
            print(
                f"{kind}: full run {whole:.1f} s, night {nightly:.1f} s, night/full {nightly / whole:.3f}; "
                f"match alone {t['night: match'][i] / t['full: match'][i]:.3f}; "
                f"extract's share of the night {t['night: extract'][i] / nightly:.2f}"
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {peak:.0f} MB (the whole process: generation, extract and match)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Scale benchmark: the synthetic two-system data at several sizes, end to end, with Splink 5 on the matching part.

    python benchmarks/scale.py --records 100000,500000,1000000 [--engine local|dask] [--skip-splink] [--json PATH]

Sizes are source person records; the generator is asked for records / 1.26 people. Generating the two legacy
systems is not timed (it is cached in benchmarks/.cache/ like the matching benchmark's data). Each stage (extract,
match, validate, report) then runs in a fresh interpreter against a fresh target, as `reconcile` would run it, so
each stage's time and peak RSS are its own and one size's memory cannot hide another's. The match stage also
reports the time inside `match_people` alone. Matching alone (the persons frame in memory to clusters) is then run
for our engine and for Splink 5 by `benchmarks.engines`, each in its own process on the same persons frame: the
ratios compare those two.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("extract", "match", "validate", "report")
RECORDS_PER_PERSON = 1.26  # source person records per real person in the synthetic data (125,849 for 100,000)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", default="100000,500000,1000000", help="source person records per size")
    parser.add_argument("--engine", choices=("local", "dask"), default="local", help="engine of the match stage")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-splink", action="store_true", help="no Splink run (and no matching-only ratio)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per stage")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # child mode: one stage, one process
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s.replace("_", "")) for s in args.records.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--records {args.records}: give whole numbers separated by commas, e.g. 100000,500000")
    if not args.sizes or min(args.sizes) < 100:
        parser.error("--records: each size must be at least 100 source person records")
    return args


def data_folder(records: int, seed: int) -> Path:
    """The two legacy systems for this size, generated once per generator version (not timed)."""
    from benchmarks.datasets import CACHE, _generator_fingerprint
    from reconcile.synthetic import write_demo

    people = round(records / RECORDS_PER_PERSON)
    folder = CACHE / f"scale-n{people}-seed{seed}-{_generator_fingerprint()}"
    if not (folder / "generated.ok").exists():
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        write_demo(folder, people=people, seed=seed)
        (folder / "generated.ok").touch()
        print(f"  generated {people:,} people in {time.perf_counter() - started:.0f}s (not counted)", flush=True)
    for old in [folder / "reconcile.db", folder / "reports", folder / "matching"]:  # a fresh target each time
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    return folder


def run_stage(stage: str, folder: Path, engine: str) -> dict[str, float]:
    """Child mode: one stage, timed; writes its figures to FOLDER/STAGE.stats.json."""
    from reconcile.config import load_config, with_engine

    config = with_engine(load_config(folder / "reconcile.yaml"), engine)
    figures: dict[str, float] = {}
    started = time.perf_counter()
    if stage == "extract":
        from reconcile.extract import extract

        extract(config)
    elif stage == "match":
        import reconcile.match as match_step

        inner = match_step.match_people

        def timed(*args: object, **kwargs: object) -> object:  # the engine's own share of the stage
            began = time.perf_counter()
            result = inner(*args, **kwargs)
            figures["match_people_s"] = time.perf_counter() - began
            figures["pairs"] = len(result.pairs)
            return result

        match_step.match_people = timed
        match_step.match(config)
    elif stage == "validate":
        from reconcile.validate import validate

        validate(config)
    else:
        from reports.html_report import write_report

        write_report(config, folder / "reports")
    figures["wall_s"] = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    figures["cpu_s"] = usage.ru_utime + usage.ru_stime  # steadier than wall time on a shared machine
    (folder / f"{stage}.stats.json").write_text(json.dumps(figures))
    return figures


def _child(cmd: list[str], timeout: float) -> str | None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f}s"
    if done.returncode != 0:
        return f"exit {done.returncode}: " + "\n".join(done.stderr.strip().splitlines()[-10:])
    return None


def run_size(records: int, args: argparse.Namespace) -> dict[str, object]:
    folder = data_folder(records, args.seed)
    row: dict[str, object] = {"target_records": records}
    for stage in STAGES:
        cmd = [sys.executable, "-m", "benchmarks.scale", "--stage", stage, "--folder", str(folder)]
        error = _child([*cmd, "--engine", args.engine], args.timeout)
        if error:
            row[f"{stage}_error"] = error
            print(f"  {stage}: FAILED {error}", flush=True)
            return row
        stats = json.loads((folder / f"{stage}.stats.json").read_text())
        row |= {f"{stage}_{k}": v for k, v in stats.items()}
        cpu = f", CPU {stats['cpu_s']:.1f}s" if "cpu_s" in stats else ""
        print(f"  {stage}: {stats['wall_s']:.1f}s{cpu}, peak RSS {stats['peak_rss_mb']:.0f} MB", flush=True)
    persons = _persons(folder)
    row["records"] = len(persons)
    row |= _matching_only(folder, persons, args)
    return row


def _persons(folder: Path) -> pd.DataFrame:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(folder / "reconcile.db")) as conn:
        return pd.read_sql_query("SELECT * FROM person ORDER BY source_system, person_id", conn)


def _matching_only(folder: Path, persons: pd.DataFrame, args: argparse.Namespace) -> dict[str, object]:
    """Ours and Splink from the same persons frame to clusters, each alone in a child process."""
    workdir = folder / "matching"
    workdir.mkdir(exist_ok=True)
    persons.to_pickle(workdir / "persons.pkl")
    out: dict[str, object] = {}
    for engine in ("ours", *(() if args.skip_splink else ("splink",))):
        cmd = [sys.executable, "-m", "benchmarks.engines", engine, str(workdir), str(args.seed)]
        error = _child(cmd, args.timeout)
        if error:
            out[f"{engine}_error"] = error
            print(f"  matching only, {engine}: FAILED {error}", flush=True)
            continue
        stats = json.loads((workdir / f"{engine}.stats.json").read_text())
        out[f"{engine}_s"], out[f"{engine}_rss_mb"] = stats["wall_s"], stats["peak_rss_mb"]
        print(f"  matching only, {engine}: {stats['wall_s']:.1f}s, peak RSS {stats['peak_rss_mb']:.0f} MB", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def table(rows: list[dict[str, object]]) -> str:
    """The README's table: per stage time and peak RSS, totals, time per 100k records, and the ratios to Splink."""
    head = (
        "| source records | extract s / MB | match s / MB | validate s / MB | report s / MB | end to end s "
        "| s per 100k | peak RSS MB | matching only: ours s / MB | Splink 5 s / MB | time ours/Splink "
        "| RSS ours/Splink |"
    )
    lines = [head, "|" + "---|" * 12]
    for row in rows:
        if any(f"{stage}_error" in row for stage in STAGES):
            lines.append(f"| {row['target_records']:,} | failed: see the log |" + " |" * 10)
            continue
        total = sum(float(row[f"{s}_wall_s"]) for s in STAGES)
        peak = max(float(row[f"{s}_peak_rss_mb"]) for s in STAGES)
        cells = [f"{row['records']:,}"]
        cells += [f"{row[f'{s}_wall_s']:.1f} / {row[f'{s}_peak_rss_mb']:,.0f}" for s in STAGES]
        cells += [f"{total:.1f}", f"{total / int(row['records']) * 100_000:.1f}", f"{peak:,.0f}"]
        cells += [_pair(row, "ours"), _pair(row, "splink"), _ratio(row, "s"), _ratio(row, "rss_mb")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pair(row: dict[str, object], engine: str) -> str:
    return f"{row[f'{engine}_s']:.1f} / {row[f'{engine}_rss_mb']:,.0f}" if f"{engine}_s" in row else "-"


def _ratio(row: dict[str, object], what: str) -> str:
    ours, splink = row.get(f"ours_{what}"), row.get(f"splink_{what}")
    return f"{float(ours) / float(splink):.2f}x" if ours and splink else "-"


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))  # run as a script, benchmarks/ is not on the path
    args = parse(argv)
    if args.stage:
        run_stage(args.stage, args.folder, args.engine)
        return 0
    rows = []
    for records in args.sizes:
        print(f"{records:,} source person records ({args.engine} engine)", flush=True)
        rows.append(run_size(records, args))
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 1 if any(k.endswith("_error") for row in rows for k in row) else 0


if __name__ == "__main__":
    sys.exit(main())

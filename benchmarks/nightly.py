"""Nightly benchmark: a full load and match, then a night where about 1% of person records changed.

    python benchmarks/nightly.py [--people 100000] [--share 0.01] [--seed 42] [--rounds 1]
                                 [--out DIR] [--no-rebuild] [--in-process]

Times, on the synthetic demo's two legacy systems: the first `extract` and a full `match` (the full
run); then, after `reconcile.synthetic.night.mutate` has changed, added and deleted `share` of the
person rows and a few relationship rows, `extract` and the default incremental `match` (the night);
then, on the same data, `match --full` (a full rebuild of that night, unless --no-rebuild). Each step
runs in a fresh process, as cron runs each night, timed from when the step starts: the modules imported
at start-up are not timed, those a step imports as it goes are (`--in-process`: all in this one, as
the benchmark ran until 2026-12-07). Prints wall and CPU seconds per step, the night's share of the
full run, and the peak RSS of the largest step's process (with --in-process, of this whole process).

The machine may be shared and its speed drifts by a tenth or more within minutes: CPU seconds are
less disturbed by other work than wall seconds, and `--rounds N` repeats the full run and its night N
times, each night's ratio taken against the full run just before it, and prints the median ratio.
The legacy systems are generated once per generator version into benchmarks/.cache/ (not timed) and
copied.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "benchmarks" / ".cache"

from reconcile.config import load_config  # noqa: E402
from reconcile.extract import extract  # noqa: E402
from reconcile.match import match  # noqa: E402
from reconcile.synthetic import write_demo  # noqa: E402
from reconcile.synthetic.night import mutate  # noqa: E402


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


STEPS = {  # what each timed step runs, and what of its result is printed
    "extract": (lambda config: extract(config), lambda r: {"canonicalised": getattr(r, "canonicalised", "?")}),
    "match": (lambda config: match(config), lambda r: {"records": r.records, "mode": r.mode, "why": r.why}),
    "match --full": (lambda config: match(config, full=True), lambda r: {"records": r.records}),
}


def run_step(step: str, folder: Path) -> dict[str, object]:
    """One step on the demo in `folder`, timed from when it starts, as a process of its own would run it."""
    config = load_config(folder / "reconcile.yaml")
    action, described = STEPS[step]
    wall, cpu = time.perf_counter(), time.process_time()
    result = action(config)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, **described(result)}


def in_child(step: str, folder: Path) -> dict[str, object]:
    """`run_step` in a fresh Python process, as each night is a process of its own (cron, `reconcile run`)."""
    command = [sys.executable, __file__, "--step", step, "--out", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the step {step!r} failed (exit {done.returncode}); its output is above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_round(pristine: Path, folder: Path, args: argparse.Namespace) -> dict[str, dict[str, object]]:
    """A full run on a fresh copy of the demo, the night's changes, the night, and maybe a rebuild."""
    for leftover in folder.glob("reconcile.db*"):  # a fresh target, as on a first run
        leftover.unlink()
    shutil.copytree(pristine, folder, ignore=shutil.ignore_patterns("generated.ok"), dirs_exist_ok=True)
    step = (lambda name: run_step(name, folder)) if args.in_process else (lambda name: in_child(name, folder))
    t = {"full: extract": step("extract"), "full: match": step("match")}
    print(f"night: {mutate(folder, share=args.share, seed=args.seed)}", flush=True)
    t["night: extract"] = step("extract")
    t["night: match"] = step("match")
    if not args.no_rebuild:
        t["night: match --full"] = step("match --full")
    for label, figures in t.items():
        print(f"{label:<22} wall {figures['wall']:8.1f} s   cpu {figures['cpu']:8.1f} s", flush=True)
    canonicalised = (t["full: extract"]["canonicalised"], t["night: extract"]["canonicalised"])
    print(f"extract canonicalised {canonicalised[0]} rows on the full run, {canonicalised[1]} tonight")
    night = t["night: match"]
    print(f"full match: {t['full: match']['records']} records; night match: {night['mode']}, {night['why']}")
    for kind in ("wall", "cpu"):
        whole, nightly = _sum(t, "full", kind), _sum(t, "night", kind)
        print(
            f"{kind}: full run {whole:.1f} s, night {nightly:.1f} s, night/full {nightly / whole:.3f}; "
            f"match alone {night[kind] / t['full: match'][kind]:.3f}; "
            f"extract's share of the night {t['night: extract'][kind] / nightly:.2f}",
            flush=True,
        )
    return t


def _sum(t: dict[str, dict[str, object]], run: str, kind: str) -> float:
    return float(t[f"{run}: extract"][kind]) + float(t[f"{run}: match"][kind])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--share", type=float, default=0.01, help="share of person records changed in the night")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, help="keep the demo here (default: a temporary folder)")
    parser.add_argument("--no-rebuild", action="store_true", help="skip the full rebuild of the night's data")
    parser.add_argument("--rounds", type=int, default=1, help="full run and night this many times, alternately")
    parser.add_argument("--in-process", action="store_true", help="every step in this process, one after another")
    parser.add_argument("--step", choices=list(STEPS), help=argparse.SUPPRESS)  # one step, for `in_child`
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(run_step(args.step, args.out)))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.out or Path(scratch) / "demo"
        pristine = demo_folder(args.people, args.seed)
        ratios = {"wall": [], "cpu": []}
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {number} of {args.rounds}", flush=True)
            t = one_round(pristine, folder, args)
            for kind, values in ratios.items():
                values.append(_sum(t, "night", kind) / _sum(t, "full", kind))
        if args.rounds > 1:
            for kind, values in ratios.items():
                each = ", ".join(f"{v:.3f}" for v in values)
                print(f"{kind}: night/full median {statistics.median(values):.3f} over {args.rounds} rounds ({each})")
        peak = resource.getrusage(resource.RUSAGE_SELF if args.in_process else resource.RUSAGE_CHILDREN)
        whose = "this whole process: every round" if args.in_process else "the largest step's process"
        print(f"peak RSS {peak.ru_maxrss / 1024:.0f} MB ({whose})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

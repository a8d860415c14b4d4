"""Nightly benchmark: a full load and match, then a night where about 1% of person records changed.

    python benchmarks/nightly.py [--people 100000] [--share 0.01] [--seed 42] [--rounds 1]
                                 [--out DIR] [--no-rebuild] [--process-per-step | --in-process]
    python benchmarks/nightly.py --whole-run [--rounds 1] [--people 100000] ...

Times, on the synthetic demo's two legacy systems: the first `extract` and a full `match` (the full
run); then, after `reconcile.synthetic.night.mutate` has changed, added and deleted `share` of the
person rows and a few relationship rows, `extract` and the default incremental `match` (the night);
then, on the same data, `match --full` (a full rebuild of that night, unless --no-rebuild). Each run
(the full run, the night, the rebuild) is a fresh process whose steps run one after another, as
`reconcile run` runs them for cron; each step is timed from when it starts, so the modules imported at
start-up are not timed and those a step imports as it goes are. `--process-per-step`: a fresh process
for each step (as the benchmark ran from the evening of 2026-12-07); `--in-process`: every step of every
round in this one process (as it ran before that). Prints wall and CPU seconds per step,
the night's share of the full run, and the peak RSS of the largest process (with --in-process, of
this whole process).

`--whole-run` times the nightly job itself instead: `reconcile run` (extract, match, validate, report
and gate, published together) on a fresh target, then on the night's changes, each in a process of
its own as cron starts it: wall and CPU seconds of the whole command, start-up included, and each
step's seconds as the run's own log records them (no rebuild).

The machine may be shared and its speed drifts by a tenth or more within minutes: CPU seconds are
less disturbed by other work than wall seconds, and `--rounds N` repeats the full run and its night N
times, each night's ratio taken against the full run just before it, and prints the median ratio.
The legacy systems are generated once per version of the generator into benchmarks/.cache/ (not
timed) and copied.
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


def in_child(steps: list[str], folder: Path) -> list[dict[str, object]]:
    """`run_step` of each step in turn, in one fresh Python process: a night is a process of its own
    (`reconcile run` under cron), and its steps share it."""
    command = [sys.executable, __file__, "--steps", ",".join(steps), "--out", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"the steps {steps} failed (exit {done.returncode}); the output is above")
    return json.loads(done.stdout.strip().splitlines()[-1])


def timed_runs(folder: Path, args: argparse.Namespace) -> Callable[[list[str]], list[dict[str, object]]]:
    """How one run's steps are timed: in a fresh process per run (the default), per step, or in this one."""
    if args.in_process:
        return lambda steps: [run_step(step, folder) for step in steps]
    if args.process_per_step:
        return lambda steps: [in_child([step], folder)[0] for step in steps]
    return lambda steps: in_child(steps, folder)


def fresh_copy(pristine: Path, folder: Path) -> None:
    """The demo's legacy systems and config in `folder`, and no target: a first run."""
    for leftover in folder.glob("reconcile.db*"):
        leftover.unlink()
    shutil.copytree(pristine, folder, ignore=shutil.ignore_patterns("generated.ok"), dirs_exist_ok=True)


def one_round(pristine: Path, folder: Path, args: argparse.Namespace) -> tuple[float, float]:
    """A full run on a fresh copy of the demo, the night's changes, the night, and maybe a rebuild; (wall, CPU)
    night / full."""
    fresh_copy(pristine, folder)
    run = timed_runs(folder, args)
    t = dict(zip(["full: extract", "full: match"], run(["extract", "match"]), strict=True))
    print(f"night: {mutate(folder, share=args.share, seed=args.seed)}", flush=True)
    t |= dict(zip(["night: extract", "night: match"], run(["extract", "match"]), strict=True))
    if not args.no_rebuild:
        t["night: match --full"] = run(["match --full"])[0]
    for label, figures in t.items():
        print(f"{label:<22} wall {figures['wall']:8.1f} s   cpu {figures['cpu']:8.1f} s", flush=True)
    canonicalised = (t["full: extract"]["canonicalised"], t["night: extract"]["canonicalised"])
    print(f"extract canonicalised {canonicalised[0]} rows on the full run, {canonicalised[1]} tonight")
    night = t["night: match"]
    print(f"full match: {t['full: match']['records']} records; night match: {night['mode']}, {night['why']}")
    ratios = []
    for kind in ("wall", "cpu"):
        whole, nightly = _sum(t, "full", kind), _sum(t, "night", kind)
        ratios.append(nightly / whole)
        print(
            f"{kind}: full run {whole:.1f} s, night {nightly:.1f} s, night/full {nightly / whole:.3f}; "
            f"match alone {night[kind] / t['full: match'][kind]:.3f}; "
            f"extract's share of the night {t['night: extract'][kind] / nightly:.2f}",
            flush=True,
        )
    return ratios[0], ratios[1]


def whole_round(pristine: Path, folder: Path, args: argparse.Namespace) -> tuple[float, float]:
    """`reconcile run` on a fresh copy of the demo, then on the night's changes; (wall, CPU) night / full."""
    fresh_copy(pristine, folder)
    full = _reconcile_run(folder)
    print(f"night: {mutate(folder, share=args.share, seed=args.seed)}", flush=True)
    night = _reconcile_run(folder)
    for label, figures in (("full run", full), ("night", night)):
        steps = "  ".join(f"{step} {seconds:.1f}" for step, seconds in figures["steps"].items())
        print(f"reconcile run, {label:<8} wall {figures['wall']:6.1f} s   cpu {figures['cpu']:6.1f} s   steps: {steps}")
    ratios = tuple(night[kind] / full[kind] for kind in ("wall", "cpu"))
    print(f"reconcile run: night/full wall {ratios[0]:.3f}, cpu {ratios[1]:.3f}", flush=True)
    return ratios


def _reconcile_run(folder: Path) -> dict[str, object]:
    """One `reconcile run` in a process of its own: wall and CPU seconds, and each step's seconds from its log."""
    log = folder / "logs" / "reconcile-runs.jsonl"
    seen = len(log.read_text().splitlines()) if log.exists() else 0
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    command = [sys.executable, "-c", "from cli import cli; cli()", "run", "--config", str(folder / "reconcile.yaml")]
    done = subprocess.run([*command, "--quiet"], capture_output=True, text=True, cwd=ROOT)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    events = [json.loads(line) for line in log.read_text().splitlines()[seen:]] if log.exists() else []
    finished = [e for e in events if e["event"] == "run_finished"]
    # The exit code is the gate's (0, 1, 2) only when the run says it finished with it: Python's own exit on an
    # error before the run starts is 1 too.
    if not finished or finished[-1]["status"] != "succeeded" or finished[-1]["exit_code"] != done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"reconcile run failed (exit {done.returncode}); its output is above")
    steps = {e["step"]: e["seconds"] for e in events if e["event"] == "step_finished"}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "steps": steps}


def _sum(t: dict[str, dict[str, object]], run: str, kind: str) -> float:
    return float(t[f"{run}: extract"][kind]) + float(t[f"{run}: match"][kind])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--share", type=float, default=0.01, help="share of person records changed in the night")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--out",
        type=Path,
        help="keep the demo here; its sources, config and target are replaced (default: a temporary folder)",
    )
    parser.add_argument("--no-rebuild", action="store_true", help="skip the full rebuild of the night's data")
    parser.add_argument("--rounds", type=int, default=1, help="full run and night this many times, alternately")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--process-per-step", action="store_true", help="a fresh process for each step, not each run")
    how.add_argument("--in-process", action="store_true", help="every step in this process, one after another")
    how.add_argument("--whole-run", action="store_true", help="time `reconcile run` itself, every step included")
    parser.add_argument("--steps", help=argparse.SUPPRESS)  # one run's steps, comma-separated, for `in_child`
    args = parser.parse_args(argv)
    if args.steps:
        print(json.dumps([run_step(step, args.out) for step in args.steps.split(",")]))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        folder = (args.out or Path(scratch) / "demo").resolve()  # `reconcile run` runs from the repository
        pristine = demo_folder(args.people, args.seed)
        ratios = {"wall": [], "cpu": []}
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {number} of {args.rounds}", flush=True)
            wall, cpu = (whole_round if args.whole_run else one_round)(pristine, folder, args)
            ratios["wall"].append(wall)
            ratios["cpu"].append(cpu)
        if args.rounds > 1:
            for kind, values in ratios.items():
                each = ", ".join(f"{v:.3f}" for v in values)
                print(f"{kind}: night/full median {statistics.median(values):.3f} over {args.rounds} rounds ({each})")
        peak = resource.getrusage(resource.RUSAGE_SELF if args.in_process else resource.RUSAGE_CHILDREN)
        whose = "this whole process: every round" if args.in_process else "the largest process"
        print(f"peak RSS {peak.ru_maxrss / 1024:.0f} MB ({whose})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

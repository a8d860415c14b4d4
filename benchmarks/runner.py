"""Runs each engine on a dataset in its own child process and scores what comes back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.datasets import Dataset
from reconcile import evaluation as metrics

ROOT = Path(__file__).resolve().parents[1]
UNAVAILABLE = 3  # exit code of benchmarks.engines when the engine cannot be imported


@dataclass
class Run:
    dataset: str
    engine: str
    records: int
    true_people: int
    twin_pairs: int
    wall_s: float | None = None
    peak_rss_mb: float | None = None
    baseline_rss_mb: float | None = None
    scores: metrics.Scores | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        out = {k: v for k, v in vars(self).items() if k != "scores"}
        return {**out, **(self.scores.as_dict() if self.scores else {})}


class EngineMissing(SystemExit):
    """An engine that cannot even be imported stops the whole benchmark: its figures would all be blank."""


def _child(engine: str, workdir: Path, seed: int, timeout: float) -> str | None:
    """Run one engine in a fresh interpreter; returns an error text, or None when it succeeded."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "benchmarks.engines", engine, str(workdir), str(seed)]
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f}s"
    if done.returncode == UNAVAILABLE:
        raise EngineMissing(done.stderr.strip())
    if done.returncode != 0:
        return f"exit {done.returncode}: " + "\n".join(done.stderr.strip().splitlines()[-15:])
    return None


def run(dataset: Dataset, engines: list[str], seed: int, timeout: float) -> list[Run]:
    truth = dataset.truth
    people, twins = truth["true_id"].nunique(), metrics.twin_pairs(truth)
    runs = []
    with tempfile.TemporaryDirectory(prefix="reconcile-bench-") as tmp:
        workdir = Path(tmp)
        dataset.persons.to_pickle(workdir / "persons.pkl")
        if dataset.relationships is not None:
            dataset.relationships.to_pickle(workdir / "relationships.pkl")
        for engine in engines:
            result = Run(dataset.name, engine, len(dataset.persons), people, twins)
            result.error = _child(engine, workdir, seed, timeout)
            if result.error is None:
                stats = json.loads((workdir / f"{engine}.stats.json").read_text())
                result.wall_s, result.peak_rss_mb = stats["wall_s"], stats["peak_rss_mb"]
                result.baseline_rss_mb = stats["baseline_rss_mb"]
                try:
                    result.scores = metrics.score(pd.read_pickle(workdir / f"{engine}.clusters.pkl"), truth)
                except ValueError as exc:  # e.g. a record missing from the clusters: the engine broke its contract
                    result.error = f"invalid clusters: {exc}"
            runs.append(result)
    return runs

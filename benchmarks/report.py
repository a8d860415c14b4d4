"""The printed table, the ours/Splink ratio lines and the JSON document."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from importlib import metadata

from benchmarks.runner import Run

HEADER = (
    "dataset",
    "engine",
    "records",
    "pair P",
    "pair R",
    "pair F1",
    "clus P",
    "clus R",
    "clus F1",
    "twins",
    "time s",
    "RSS MB",
)


def _row(run: Run) -> tuple[str, ...]:
    head = (run.dataset, run.engine, f"{run.records:,}")
    if run.scores is None:
        return (*head, *("-",) * (len(HEADER) - 3))
    pair, clus = run.scores.pairwise, run.scores.cluster
    return (
        *head,
        *(f"{v:.4f}" for v in (pair.precision, pair.recall, pair.f1, clus.precision, clus.recall, clus.f1)),
        f"{run.scores.twin_merges}/{run.twin_pairs}",
        f"{run.wall_s:.1f}",
        f"{run.peak_rss_mb:.0f}",
    )


def table(runs: list[Run]) -> str:
    rows = [HEADER, *(_row(r) for r in runs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = [
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in rows
    ]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def ratios(runs: list[Run]) -> list[str]:
    """One line per dataset where both engines finished: below 1.0 means ours is faster or smaller."""
    lines = []
    by_key = {(r.dataset, r.engine): r for r in runs if r.scores is not None}
    for dataset in dict.fromkeys(r.dataset for r in runs):
        ours, peer = by_key.get((dataset, "ours")), by_key.get((dataset, "splink"))
        if ours and peer and ours.wall_s and peer.wall_s and ours.peak_rss_mb and peer.peak_rss_mb:
            lines.append(
                f"{dataset}: ours/Splink time {ours.wall_s / peer.wall_s:.2f}x, "
                f"peak RSS {ours.peak_rss_mb / peer.peak_rss_mb:.2f}x"
            )
    return lines


def errors(runs: list[Run]) -> list[str]:
    return [f"{r.dataset} / {r.engine}: {r.error}" for r in runs if r.error]


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def document(runs: list[Run], settings: dict[str, object], notes: list[str]) -> dict[str, object]:
    """Everything needed to compare two runs later: figures, versions, machine and the peer's settings."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()},
        "versions": {p: _version(p) for p in ("reconcile-csc", "splink", "duckdb", "pandas")},
        "settings": settings,
        "notes": notes,
        "runs": [r.as_dict() for r in runs],
    }

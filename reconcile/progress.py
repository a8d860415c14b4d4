"""How `reconcile run` shows its progress: a bar with an ETA on a terminal, one line per step otherwise.

The ETA comes from the last successful run: how many rows extract read then, and how long
each step took. Only counts and timings are shown, never a record's values.
"""

from __future__ import annotations

from typing import Any

import click

from reconcile.run import Silent, StepRecord


def _counts(record: StepRecord) -> str:
    return ", ".join(f"{k} {v}" for k, v in record.counts.items())


class LineProgress(Silent):
    """For cron and CI logs: one line as each step ends."""

    def step_finished(self, record: StepRecord) -> None:
        click.echo(f"{record.step}: {record.seconds:.1f} s; {_counts(record)}")


class TerminalProgress(LineProgress):
    """A progress bar for extract (rows read against last run's total) and an expected time for the rest."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.shown = 0

    def step_started(self, step: str, number: int, total: int, expected: StepRecord | None) -> None:
        hint = f" (last run: {expected.seconds:.0f} s)" if expected else ""
        click.echo(f"[{number}/{total}] {step}{hint}")
        rows = int(expected.counts.get("read", 0)) if expected and step == "extract" else 0
        if rows:
            self.bar = click.progressbar(length=rows, label="rows read", show_eta=True, show_percent=True)
            self.bar.__enter__()
            self.shown = 0

    def extract_chunk(self, rows_read: int) -> None:
        if self.bar is not None:
            self.bar.update(max(0, min(rows_read, self.bar.length) - self.shown))
            self.shown = min(rows_read, self.bar.length)

    def step_finished(self, record: StepRecord) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None
        click.echo(f"      {record.seconds:.1f} s; {_counts(record)}")

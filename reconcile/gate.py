"""The cutover gate: the project's own policy over the latest run's risk flags, as one exit code.

Great Expectations' `success` ignores severity; this does not. 0 pass (no flags at all),
1 warnings only (flags, none over a threshold), 2 fail (a threshold exceeded), 3 error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from reconcile.errors import ReconcileError
from reconcile.sql_frames import read_frame
from reconcile.store import RISK_FLAG, SOURCE_CHECK

PASS, WARN, FAIL = 0, 1, 2


@dataclass(frozen=True)
class Verdict:
    run_id: str
    exit_code: int
    by_severity: dict[str, int]
    by_rule: dict[str, int]
    thresholds: dict[str, int | None]
    exceeded: list[str] = field(default_factory=list)

    @property
    def word(self) -> str:
        return {PASS: "pass", WARN: "warnings only", FAIL: "fail"}[self.exit_code]

    def as_dict(self) -> dict[str, object]:
        return {
            "verdict": self.word, "exit_code": self.exit_code, "run_id": self.run_id,
            "flags_by_severity": self.by_severity, "flags_by_rule": self.by_rule,
            "thresholds": self.thresholds, "exceeded": self.exceeded,
        }  # fmt: skip


def judge(engine: sa.Engine, max_critical: int, max_high: int | None) -> Verdict:
    with engine.connect() as conn:
        run_id = latest_validation_run(conn)
        if run_id is None:
            raise ReconcileError("no validation run in the target. Fix: run `reconcile validate` first.")
        flags = read_frame(conn, sa.select(RISK_FLAG.c.rule, RISK_FLAG.c.severity).where(RISK_FLAG.c.run_id == run_id))
    return verdict(run_id, flags, max_critical, max_high)


def latest_validation_run(conn: sa.Connection) -> str | None:
    """Every validation run writes source_check rows; one that raises no flags writes no risk_flag rows,
    and must not leave the gate judging the run before it."""
    runs = [conn.execute(sa.select(sa.func.max(t.c.run_id))).scalar() for t in (SOURCE_CHECK, RISK_FLAG)]
    return max((r for r in runs if r is not None), default=None)


def verdict(run_id: str, flags: pd.DataFrame, max_critical: int, max_high: int | None) -> Verdict:
    by_severity = {s: int((flags["severity"] == s).sum()) for s in ("critical", "high", "medium")}
    thresholds = {"critical": max_critical, "high": max_high}
    exceeded = [s for s, limit in thresholds.items() if limit is not None and by_severity[s] > limit]
    code = FAIL if exceeded else (WARN if len(flags) else PASS)
    by_rule = flags["rule"].value_counts().sort_index().to_dict()
    return Verdict(run_id, code, by_severity, {k: int(v) for k, v in by_rule.items()}, thresholds, exceeded)

"""Casework after a referral: assessments, child protection plans and allocations.

Children held by both systems get some of their active plans and open cases mirrored into
the other system, so that both 'open in both systems' and 'on a plan in one system only'
occur and can be scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reconcile.synthetic import settings as S
from reconcile.synthetic.sampling import Stage
from reconcile.synthetic.vocab import CP_CATEGORY, TEAM, weights

KEYS = ["system", "true", "person_id"]


@dataclass(frozen=True)
class Fill:
    """How to fill the entity's own columns on a new or copied open item."""

    draw: Callable[[Stage, int], dict[str, np.ndarray]]
    fresh_start: bool  # copies start recently (a new allocation), rather than keeping the start date


def assessments(stage: Stage, referral: pd.DataFrame) -> pd.DataFrame:
    """An assessment for each referral that asked for one; open while not yet completed."""
    src = referral[(referral["outcome"] == "assessment").to_numpy()]
    n = len(src)
    start = np.minimum(src["referral_date"].to_numpy().astype("datetime64[D]") + stage.days(0, 5, n), stage.ref)
    done = start + stage.days(*S.ASSESSMENT_DAYS, n)
    done[done > stage.ref] = np.datetime64("NaT")
    return src[KEYS].reset_index(drop=True).assign(start_date=start, completed_date=done)


def cp_plans(stage: Stage, assessment: pd.DataFrame) -> pd.DataFrame:
    """Plans after some completed assessments; active while not ended."""
    done = assessment["completed_date"].to_numpy().astype("datetime64[D]")
    start = done + stage.days(5, 15, len(assessment))
    chosen = stage.pick(~np.isnat(done) & (start <= stage.ref), S.CP_PLAN_RATE)
    start = start[chosen]
    end = start + stage.days(*S.CP_PLAN_DAYS, len(start))
    end[end > stage.ref] = np.datetime64("NaT")
    return (
        assessment.loc[chosen, KEYS]
        .reset_index(drop=True)
        .assign(
            start_date=start,
            end_date=end,
            category=_categories(stage, len(start)),
            assessment=np.flatnonzero(chosen),
        )
    )


def involvements(stage: Stage, assessment: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """An allocation per assessment, lasting to the plan's end or a little past the assessment."""
    n = len(assessment)
    done = assessment["completed_date"].to_numpy().astype("datetime64[D]")
    end = done + stage.days(*S.ALLOCATION_TAIL_DAYS, n)
    end[end > stage.ref] = np.datetime64("NaT")
    at = plan["assessment"].to_numpy()
    end[at] = plan["end_date"].to_numpy().astype("datetime64[D]")
    return assessment[KEYS].assign(start_date=assessment["start_date"].to_numpy(), end_date=end, team=_teams(stage, n))


def _teams(stage: Stage, n: int) -> np.ndarray:
    codes, w = weights(TEAM)
    return stage.draw(codes, n, np.array(w))


def _categories(stage: Stage, n: int) -> np.ndarray:
    codes, w = weights(CP_CATEGORY)
    return stage.draw(codes, n, np.array(w))


PLAN_FILL = Fill(lambda stage, n: {"category": _categories(stage, n)}, fresh_start=False)
ALLOCATION_FILL = Fill(lambda stage, n: {"team": _teams(stage, n)}, fresh_start=True)


def open_in_other_system(
    stage: Stage, frame: pd.DataFrame, kids: pd.DataFrame, rate: float, fill: Fill
) -> pd.DataFrame:
    """The frame plus copies of some open items (end_date empty) in the other system holding the child.

    Candidates are open items of children held by both systems with nothing open in the other
    one; one copy per child. From EVERY_KIND_FROM_PEOPLE people on there are at least two
    candidates (topped up with fresh open items if need be) and at least one stays uncopied,
    so both outcomes occur.
    """
    want = _candidates(frame, kids)
    if stage.at_least and want["true"].nunique() < 2:
        frame = pd.concat([frame, _fresh(stage, frame, kids, 2, fill)], ignore_index=True)
        want = _candidates(frame, kids)
    chosen = stage.pick(np.ones(len(want), dtype=bool), rate)
    if stage.at_least and len(want) > 1 and chosen.all():
        chosen[-1] = False
    copies = want[chosen].reset_index(drop=True)
    if fill.fresh_start:
        copies["start_date"] = stage.ref - stage.days(1, 200, len(copies))
        for column, values in fill.draw(stage, len(copies)).items():
            copies[column] = values
    return pd.concat([frame, copies[frame.columns]], ignore_index=True)


def _is_open(frame: pd.DataFrame) -> np.ndarray:
    return np.isnat(frame["end_date"].to_numpy().astype("datetime64[D]"))


def _candidates(frame: pd.DataFrame, kids: pd.DataFrame) -> pd.DataFrame:
    """Open items re-addressed to the other system, where that system holds the child but has nothing open."""
    open_ = frame[_is_open(frame)]
    other = np.where(open_["system"].to_numpy() == S.SYSTEMS[0], S.SYSTEMS[1], S.SYSTEMS[0])
    want = open_.assign(system=other).drop_duplicates(["system", "true"])
    have = open_[["system", "true"]].drop_duplicates().assign(has=True)
    want = want.merge(have, on=["system", "true"], how="left")
    want = want[want["has"].isna()].drop(columns=["has", "person_id"])
    return want.merge(kids[["system", "true", "person_id"]], on=["system", "true"]).reset_index(drop=True)


def _fresh(stage: Stage, frame: pd.DataFrame, kids: pd.DataFrame, n: int, fill: Fill) -> pd.DataFrame:
    """New open items, each in one system, for children held by both and with nothing open."""
    held = kids.groupby("true")["system"].nunique()
    busy = set(frame.loc[_is_open(frame), "true"].tolist())
    free = [t for t in held[held == 2].index.tolist() if t not in busy]
    trues = stage.rng.permutation(np.array(free, dtype=np.int64))[:n]
    system = np.array(S.SYSTEMS, dtype=object)[stage.rng.integers(0, 2, size=len(trues))]
    rows = pd.DataFrame({"system": system, "true": trues}).merge(kids[["system", "true", "person_id"]])
    rows["start_date"] = stage.ref - stage.days(10, 120, len(rows))
    rows["end_date"] = np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[D]")
    for column, values in fill.draw(stage, len(rows)).items():
        rows[column] = values
    return rows[frame.columns]


def both_open(frame: pd.DataFrame) -> np.ndarray:
    """Open items whose child also has an open item in the other system."""
    open_ = _is_open(frame)
    systems = frame.loc[open_, ["true", "system"]].drop_duplicates().groupby("true").size()
    return open_ & (frame["true"].map(systems).fillna(0).to_numpy() >= 2)


def one_system_only(frame: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    """Open items of children whom both systems hold (any row, even an unborn placeholder) and
    whose other system has nothing open."""
    held = rows.groupby("true")["system"].nunique()
    in_both = frame["true"].map(held).fillna(0).to_numpy() >= 2
    return _is_open(frame) & in_both & ~both_open(frame)

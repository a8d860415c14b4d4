"""When a front-door decision was due: working days skip weekends and England's bank holidays."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd


@cache
def _bank_holidays(first_year: int, last_year: int) -> tuple[np.datetime64, ...]:
    import holidays

    days = holidays.country_holidays("GB", subdiv="ENG", years=range(first_year, last_year + 1))
    return tuple(np.datetime64(day, "D") for day in sorted(days))


def decision_due(received: pd.Series, working_days: int | None, hours: float | None) -> pd.Series:
    """The deadline for each contact: `hours` on the clock, or the same time `working_days` working days on.

    A contact received on a weekend or bank holiday starts its clock on the next working day.
    """
    received = pd.to_datetime(received, errors="coerce")
    if hours is not None:
        return received + pd.to_timedelta(hours, unit="h")
    present = received.notna()
    due = pd.Series(pd.NaT, index=received.index, dtype="datetime64[ns]")
    if not present.any():
        return due
    days = received[present].dt.normalize().to_numpy(dtype="datetime64[D]")
    years = pd.DatetimeIndex(received[present]).year
    holidays = list(_bank_holidays(int(years.min()), int(years.max()) + 1))
    start = np.busday_offset(days, 0, roll="forward", holidays=holidays)
    moved = start != days  # received on a non-working day: the clock starts at the next working day's start
    due_day = np.busday_offset(start, working_days or 0, roll="forward", holidays=holidays)
    time_of_day = (received[present] - received[present].dt.normalize()).to_numpy()
    due_at = due_day.astype("datetime64[ns]") + np.where(moved, np.timedelta64(0, "ns"), time_of_day)
    due[present] = due_at
    return due

"""IDs are never issued twice: the target is asked only about the candidates, exactly, on every database,
and a candidate that was issued gives way to the seed's next one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from conftest import fresh_server_target
from reconcile import match
from reconcile.match import IssuedInTarget
from reconcile.matching.master_ids import IssuedIds, _candidate, stable_ids
from reconcile.store import FAMILY_ID_HISTORY, MASTER_FAMILY, MASTER_ID_HISTORY, MASTER_PERSON, connect_target


def _history(old: str) -> dict[str, object]:
    return {"run_id": "r1", "old_master_id": old, "new_master_id": None, "reason": "removed", "records": 1}


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def target(request, tmp_path, unique) -> Iterator[sa.Engine]:
    """A target holding masters MAAA and MBBB, history of MCCC, family FAAA and history of FBBB."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'target.db'}"
        else:
            url = stack.enter_context(fresh_server_target(request.getfixturevalue(request.param), unique))
        engine = connect_target(sa.make_url(url))
        stack.callback(engine.dispose)
        master = {"records": 1, "source_systems": "lcs", "run_id": "r1"}
        with engine.begin() as conn:
            conn.execute(sa.insert(MASTER_PERSON), [master | {"master_id": m} for m in ("MAAA", "MBBB")])
            conn.execute(sa.insert(MASTER_ID_HISTORY), [_history("MCCC")])
            conn.execute(
                sa.insert(MASTER_FAMILY), [{"family_id": "FAAA", "master_id": "MAAA", "role": "child", "run_id": "r1"}]
            )
            conn.execute(sa.insert(FAMILY_ID_HISTORY), [_history("FBBB")])
        yield engine


@pytest.mark.parametrize("read_all", [False, True])
def test_the_target_says_which_candidates_it_issued_exactly(target, monkeypatch, read_all):
    """Current and historic IDs count, of the right kind only; 'maaa' is not 'MAAA' (MariaDB's IN would say it
    is), and asking about many candidates at once reads every issued ID instead, with the same answer."""
    if read_all:
        monkeypatch.setattr(match, "READ_ALL_ISSUED", 2)
    masters, families = IssuedInTarget(target, MASTER_ID_HISTORY), IssuedInTarget(target, FAMILY_ID_HISTORY)
    assert masters.among(["MAAA", "MCCC", "MDDD", "maaa", "FAAA"]) == {"MAAA", "MCCC"}
    assert families.among(["FAAA", "FBBB", "FCCC", "MAAA"]) == {"FAAA", "FBBB"}
    assert masters.among(["maaa", "mccc"]) == set()
    assert masters.among([]) == set()


def test_many_candidates_are_asked_about_a_few_hundred_at_a_time(target):
    """Each candidate is bound twice (the current IDs and the history): 250 a query keeps within 999
    parameters, SQLite's limit before 3.32."""
    statements = []
    event.listen(target, "before_cursor_execute", lambda conn, cursor, sql, params, *rest: statements.append(params))
    asked = [f"M{i:04d}" for i in range(1200)] + ["MBBB"]
    assert IssuedInTarget(target, MASTER_ID_HISTORY).among(asked) == {"MBBB"}
    assert len(statements) == 5 and max(len(params) for params in statements) == 500


class Counting(IssuedIds):
    """Issued IDs that count how often, and about how many, they were asked."""

    def __init__(self, ids: set[str]) -> None:
        super().__init__(frozenset(ids))
        object.__setattr__(self, "asked", [])

    def among(self, ids):
        self.asked.append(len(list(ids)))
        return super().among(ids)


def test_an_issued_candidate_gives_way_to_the_next_and_first_choices_are_asked_at_once():
    members = pd.Series(["lcs|1", "lcs|2", "lcs|3"])
    cluster = np.array([0, 1, 2])
    clash = {_candidate("M", "lcs|1", 0), _candidate("M", "lcs|1", 1), _candidate("M", "lcs|2", 0)}
    issued = Counting(clash)
    ids, _ = stable_ids(members, cluster, None, issued, prefix="M")
    assert ids.tolist() == [_candidate("M", "lcs|1", 2), _candidate("M", "lcs|2", 1), _candidate("M", "lcs|3", 0)]
    assert issued.asked == [3, 1, 1, 1]  # the three first choices at once, then each later choice on its own

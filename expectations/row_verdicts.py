"""The source suites' verdicts kept per row between runs, so that a night judges only rows not judged before.

A row-local check's verdict on a row depends on nothing but that row's values, so it is kept against a
64-bit hash of them, one Arrow blob per entity in `source_check_state`. The checks that look across rows
(uniqueness), at the table (a column's presence) or at the day (`today`) are run whole every time, on the
columns they read only. The counts are then summed per source exactly as Great Expectations counts them
(unexpected rows over rows with a value), which the tests check against whole-frame validation.

A verdict is reused only under the same signature: the same checks and column types, the same code that
prepares and judges the rows, the same versions of the libraries that judge and hash, and the same dtypes.
A 64-bit hash may collide: at a thousand new rows a night against half a million kept, about once in 10^10
nights, and then one row's data-quality check would be counted as another's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype
from pandas.util import hash_pandas_object

from expectations import source_suites as suites
from expectations.source_suites import Check, entity_checks
from reconcile.model import ENTITIES

OK, UNEXPECTED, MISSING = 0, 1, 2  # a row's state under one check
WHOLE_KINDS = ("ExpectColumnValuesToBeUnique", "ExpectColumnToExist")  # they look beyond one row
TEXT = ("string", "empty")  # columns of text alone (or nothing) are hashed by their text
CODE = (Path(suites.__file__), Path(__file__), Path(__file__).parents[1] / "reconcile" / "nhs_numbers.py")


@dataclass(frozen=True)
class Verdicts:
    """One entity's kept verdicts: `rows` holds row_hash (uint64) and an int8 state per row-local check."""

    signature: str
    rows: pd.DataFrame


@dataclass(frozen=True)
class Judged:
    checks: pd.DataFrame  # as `run_source_suites` returns it
    verdicts: dict[str, Verdicts]  # to keep for the next run, per entity judged row by row
    rows_judged: int  # rows with no kept verdict, judged this time (GE saw one row of each content)
    rows_known: int  # rows whose kept verdicts were used


def row_local(check: Check) -> bool:
    return check.kind not in WHOLE_KINDS and "$PARAMETER" not in repr(check.kwargs)


def judge(frames: Mapping[str, pd.DataFrame], today: date, kept: Mapping[str, Verdicts]) -> Judged:
    """The source suites' result table, judging by GE only the rows whose verdicts `kept` does not hold."""
    with suites.no_fingerprints():
        return _judge(frames, today, kept)


def _judge(frames: Mapping[str, pd.DataFrame], today: date, kept: Mapping[str, Verdicts]) -> Judged:
    whole: dict[str, tuple[pd.DataFrame, list[Check]]] = {}  # validated by source, counts as GE gives them
    fresh: dict[str, tuple[pd.DataFrame, list[Check]]] = {}  # none kept: every row and check, row states read too
    local: dict[str, tuple[pd.DataFrame, list[Check], np.ndarray, np.ndarray]] = {}  # frame, checks, hashes, states
    signatures: dict[str, str] = {}
    judged = known = 0
    context = suites.ephemeral_context()
    for name, frame in frames.items():
        if name not in ENTITIES:
            continue
        checks = entity_checks(ENTITIES[name])
        row_checks = [c for c in checks if row_local(c)]
        signature = _signature(name, frame, row_checks)
        if signature is None or not row_checks:
            whole[name] = (frame, checks)
            continue
        signatures[name] = signature
        hashes = row_hashes(frame, _columns_read(row_checks))
        previous = kept.get(name)
        if previous is None or previous.signature != signature or previous.rows.empty:
            fresh[name] = (frame, checks)
            states, new = np.zeros((len(frame), len(row_checks)), dtype=np.int8), len(frame)
        else:
            states, new = _states(context, name, frame, hashes, row_checks, previous.rows)
            whole_checks = [c for c in checks if not row_local(c)]
            whole[name] = (_for_whole_checks(frame, whole_checks), whole_checks)
        local[name] = (frame, row_checks, hashes, states)
        judged, known = judged + new, known + len(frame) - new
    sources = suites.sources_of(f for name, f in frames.items() if name in ENTITIES and "source_system" in f)
    rows = suites.validated_rows(context, *_unzipped(whole), today, sources)
    validated = suites.validations(suites.ephemeral_context(), *_unzipped(fresh), today, "COMPLETE", sources)
    for source, name, part, result in validated:
        frame, row_checks, _, states = local[name]
        counted = {c.name for c in row_checks}  # from the row states, below
        rows.extend(r for r in suites.result_rows(source, name, len(part), result) if r["expectation"] not in counted)
        states[_of_source(frame, source)] = _row_states(part, result, row_checks)
    verdicts = {}
    for name, (frame, row_checks, hashes, states) in local.items():
        rows.extend(_counted(name, frame, states, row_checks, sources))
        verdicts[name] = Verdicts(signatures[name], _kept_rows(hashes, states, row_checks))
    entities = [name for name in frames if name in whole or name in fresh]
    return Judged(suites.result_table(_in_suite_order(rows, entities, sources)), verdicts, judged, known)


def _unzipped(
    validations: dict[str, tuple[pd.DataFrame, list[Check]]],
) -> tuple[dict[str, pd.DataFrame], dict[str, list[Check]]]:
    return {n: f for n, (f, _) in validations.items()}, {n: c for n, (_, c) in validations.items()}


def _of_source(frame: pd.DataFrame, source: Hashable) -> np.ndarray:
    system = frame["source_system"]
    return (system.isna() if source is None else system == source).to_numpy()


def _in_suite_order(rows: list[dict[str, Any]], entities: list[str], sources: list[Hashable]) -> list[dict[str, Any]]:
    """As whole validation orders them: by entity as given, then source, then the entity's checks."""
    checks = {name: {c.name: i for i, c in enumerate(entity_checks(ENTITIES[name]))} for name in entities}
    entity, source = {name: i for i, name in enumerate(entities)}, {s: i for i, s in enumerate(sources)}
    return sorted(
        rows, key=lambda r: (entity[r["entity"]], source[r["source_system"]], checks[r["entity"]][r["expectation"]])
    )


def row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A row's values and, where a column holds more than text, each value's type: pandas hashes such values
    by their text, and 1 and "1" (or a date and its ISO text) may be judged differently."""
    rows = frame[columns]
    mixed = [c for c in columns if rows[c].dtype == object and infer_dtype(rows[c], skipna=True) not in TEXT]
    types = {f"{c}\0type": rows[c].map(lambda value: type(value).__name__) for c in mixed}
    return hash_pandas_object(rows.assign(**types), index=False).to_numpy()


def _signature(name: str, frame: pd.DataFrame, checks: list[Check]) -> str | None:
    """None when the rows cannot be judged one by one: there are none, or a column the checks read is missing."""
    read = _columns_read(checks)
    if len(frame) == 0 or not {"source_system", *read} <= set(frame.columns):
        return None
    import great_expectations
    import stdnum

    digest = hashlib.sha256()
    versions = (great_expectations.__version__, stdnum.__version__, pd.__version__)
    for part in (name, *versions, repr(ENTITIES[name]), repr(checks)):
        digest.update(part.encode() + b"\0")
    digest.update(repr([(column, str(frame[column].dtype)) for column in read]).encode())
    for path in CODE:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _columns_read(checks: list[Check]) -> list[str]:
    """The canonical columns the checks' verdicts depend on, a helper column standing for its source column;
    a row is known by the hash of these alone."""
    helpers = {helper: source for entity in suites.HELPERS.values() for helper, (source, _) in entity.items()}
    named = [check.kwargs[k] for check in checks for k in ("column", "column_A", "column_B") if k in check.kwargs]
    return list(dict.fromkeys(helpers.get(column, column) for column in named))


def _for_whole_checks(frame: pd.DataFrame, checks: list[Check]) -> pd.DataFrame:
    """The columns the whole checks read: the values of those judged by value (uniqueness, the day's check);
    a column only checked for presence is there, where the frame has it, with no values to prepare."""
    valued = [c for c in _columns_read([c for c in checks if c.kind != "ExpectColumnToExist"]) if c in frame]
    present = [c for c in _columns_read(checks) if c in frame and c not in valued]
    narrow = frame[["source_system", *valued]]
    return narrow.assign(**{c: pd.Series(None, index=frame.index, dtype=object) for c in present})


def _states(
    context: Any,
    name: str,
    frame: pd.DataFrame,
    hashes: np.ndarray,
    checks: list[Check],
    cached: pd.DataFrame | None,
) -> tuple[np.ndarray, int]:
    """Every row's state under every row-local check (rows x checks, int8), and how many rows had none kept."""
    states = np.zeros((len(frame), len(checks)), dtype=np.int8)
    found = np.full(len(frame), -1)
    if cached is not None and len(cached):
        found = pd.Index(cached["row_hash"].to_numpy()).get_indexer(hashes)
        hit = found >= 0
        states[hit] = cached[[c.name for c in checks]].to_numpy()[found[hit]]
    todo = np.flatnonzero(found < 0)
    if len(todo) == 0:
        return states, 0
    first = ~pd.Series(hashes[todo]).duplicated().to_numpy()  # one row of each content
    unique, rows = todo[first], frame.iloc[todo[first]]
    judged = judge_rows(context, name, rows, checks)
    by_hash = pd.Index(hashes[unique]).get_indexer(hashes[todo])
    states[todo] = judged[by_hash]
    return states, len(todo)


def judge_rows(context: Any, name: str, rows: pd.DataFrame, checks: list[Check]) -> np.ndarray:
    """Each row's state under each row-local check (rows x checks), from one GE validation of these rows."""
    prepared = suites.prepare(name, rows)
    asset = context.data_sources.add_pandas(f"rows_{name}").add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe("rows").get_batch(batch_parameters={"dataframe": prepared})
    return _row_states(prepared, batch.validate(suites.suite(name, checks), result_format="COMPLETE"), checks)


def _row_states(prepared: pd.DataFrame, result: Any, checks: list[Check]) -> np.ndarray:
    """The rows GE names as unexpected, and those it leaves unjudged (no value), under each of `checks`.

    GE counts the missing rows but does not name them: they are taken as those without a value, and its
    count is checked against them, so a change in how GE counts stops the run instead of skewing counts.
    """
    by_name = {item.expectation_config.meta["name"]: item for item in result.results}
    states = np.zeros((len(prepared), len(checks)), dtype=np.int8)
    for i, check in enumerate(checks):
        info = by_name[check.name].result or {}
        missing = _missing(prepared, check)
        if "unexpected_index_list" not in info or int(missing.sum()) != info.get("missing_count", 0):
            raise RuntimeError(
                f"source check {check.name}: Great Expectations did not name its failing rows, or counted other rows "
                "as missing than those without a value; this great-expectations version is not one the toolkit knows"
            )
        states[missing, i] = MISSING
        states[np.asarray(info["unexpected_index_list"], dtype=np.int64), i] = UNEXPECTED
    return states


def _missing(prepared: pd.DataFrame, check: Check) -> np.ndarray:
    """The rows GE leaves unjudged: a null value, or either of a pair; a not-null check judges every row."""
    if check.kind == "ExpectColumnValuesToNotBeNull":
        return np.zeros(len(prepared), dtype=bool)
    columns = [check.kwargs[k] for k in ("column", "column_A", "column_B") if k in check.kwargs]
    return prepared[columns].isna().any(axis=1).to_numpy()


def _kept_rows(hashes: np.ndarray, states: np.ndarray, checks: list[Check]) -> pd.DataFrame:
    first = ~pd.Series(hashes).duplicated().to_numpy()
    rows = pd.DataFrame(states[first], columns=[c.name for c in checks])
    rows.insert(0, "row_hash", hashes[first])
    return rows


def _counted(
    name: str, frame: pd.DataFrame, states: np.ndarray, checks: list[Check], sources: list[Hashable]
) -> list[dict[str, Any]]:
    """GE's counts from row states: unexpected rows, and their percentage of the rows that had a value."""
    rows = []
    for source in sources:
        part = states[_of_source(frame, source)]
        for i, check in enumerate(checks):
            unexpected = int((part[:, i] == UNEXPECTED).sum())
            valued = int((part[:, i] != MISSING).sum())
            rows.append(
                {
                    "source_system": source,
                    "entity": name,
                    "expectation": check.name,
                    "column": check.column,
                    "success": unexpected == 0,
                    "element_count": len(part),
                    "unexpected_count": unexpected,
                    "unexpected_percent": unexpected / valued * 100 if valued else None,
                }
            )
    return rows

"""The source suites' verdicts kept per row between runs, so that a night judges only rows not judged before.

A row-local check's verdict on a row depends on nothing but that row's values, so it is kept against a
64-bit hash of them, one Arrow blob per entity in `source_check_state`. The checks that look across rows
(uniqueness), at the table (a column's presence) or at the day (`today`) are run whole every time, on the
columns they read only. The counts are then summed per source as Great Expectations counts them
(unexpected rows over rows with a value). An entity with nothing kept is validated whole, source by
source, as without kept verdicts: its counts are GE's own, and the counts its row states give are checked
against them, so every first or `--full` validation checks the summing.

A verdict is reused only under the same signature: the same checks and column types, the same code that
prepares and judges the rows, the same versions of Python and of the libraries that judge and hash, and
the same dtypes. A 64-bit hash may collide: at a thousand new rows a night against half a million kept,
about once in 10^10 nights, and then one row's data-quality check would be counted as another's.
"""

from __future__ import annotations

import hashlib
import math
import platform
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
from expectations.source_suites import TEXT, Check, entity_checks, of_source, result_row
from reconcile.model import ENTITIES

OK, UNEXPECTED, MISSING = 0, 1, 2  # a row's state under one check
WHOLE_KINDS = ("ExpectColumnValuesToBeUnique", "ExpectColumnToExist")  # they look beyond one row
CODE = (Path(suites.__file__), Path(__file__), Path(__file__).parents[1] / "reconcile" / "nhs_numbers.py")
# GE's COMPLETE results name the failing rows; their values (which hold personal data) and a query naming them
# are left out, as is the partial list.
ROW_RESULTS = {
    "result_format": "COMPLETE",
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
    "partial_unexpected_count": 0,
}


@dataclass(frozen=True)
class Verdicts:
    """One entity's kept verdicts: `rows` holds row_hash (uint64) and an int8 state per row-local check."""

    signature: str
    rows: pd.DataFrame


@dataclass(frozen=True)
class SourceValidation:
    checks: pd.DataFrame  # as `run_source_suites` returns it
    verdicts: dict[str, Verdicts]  # to keep for the next run, per entity judged row by row
    rows_judged: int  # rows GE judged this time (of rows with no kept verdict, it saw one of each content)
    rows_known: int  # rows whose kept verdicts were used


def row_local(check: Check) -> bool:
    return check.kind not in WHOLE_KINDS and not check.parameterised


def validate_sources(frames: Mapping[str, pd.DataFrame], today: date, kept: Mapping[str, Verdicts]) -> SourceValidation:
    """The source suites' result table, judging by GE only the rows whose verdicts `kept` does not hold."""
    with suites.no_fingerprints():
        return _validate(frames, today, kept)


@dataclass
class _Entity:
    """An entity judged row by row: its rows, row-local checks, row hashes and each row's states."""

    frame: pd.DataFrame
    checks: list[Check]
    signature: str
    hashes: np.ndarray
    states: np.ndarray


def _validate(frames: Mapping[str, pd.DataFrame], today: date, kept: Mapping[str, Verdicts]) -> SourceValidation:
    entities = {name: frame for name, frame in frames.items() if name in ENTITIES}
    sources = suites.sources_of(frame for frame in entities.values() if "source_system" in frame)
    whole: dict[str, pd.DataFrame] = {}  # validated by source, GE's counts as they are
    whole_checks: dict[str, list[Check]] = {}
    fresh: set[str] = set()  # among `whole`: nothing kept, so each row's states are read from GE's results too
    local: dict[str, _Entity] = {}
    judged = known = 0
    context = suites.ephemeral_context()
    for name, frame in entities.items():
        checks = entity_checks(ENTITIES[name])
        row_checks = [c for c in checks if row_local(c)]
        signature = _signature(name, frame, row_checks)
        if signature is None:
            whole[name], whole_checks[name], judged = frame, checks, judged + len(frame)
            continue
        hashes = row_hashes(frame, _columns_read(row_checks))
        previous = kept.get(name)
        if previous is None or previous.signature != signature or previous.rows.empty:
            whole[name], whole_checks[name], judged = frame, checks, judged + len(frame)
            states = np.zeros((len(frame), len(row_checks)), dtype=np.int8)  # read from GE's results below
            fresh.add(name)
        else:
            states, new = _states(context, name, frame, hashes, row_checks, previous.rows)
            judged, known = judged + new, known + len(frame) - new
            whole_checks[name] = [c for c in checks if not row_local(c)]
            whole[name] = _for_whole_checks(frame, whole_checks[name])
        local[name] = _Entity(frame, row_checks, signature, hashes, states)
    results: list[dict[str, Any]] = []
    validated = suites.validations(context, whole, whole_checks, today, ROW_RESULTS if fresh else "SUMMARY", sources)
    for source, name, part, result in validated:
        results.extend(suites.result_rows(source, name, len(part), result))
        if name in fresh:
            entity = local[name]
            entity.states[of_source(entity.frame, source)] = _row_states(part, result, entity.checks)
    for name, entity in local.items():
        counted = _counted(name, entity, sources)
        if name in fresh:
            _check_counts(counted, results)
        else:
            results.extend(counted)
    verdicts = {name: Verdicts(e.signature, _kept_rows(e.hashes, e.states, e.checks)) for name, e in local.items()}
    table = suites.result_table(_in_suite_order(results, list(whole), sources))
    return SourceValidation(table, verdicts, judged, known)


def _in_suite_order(rows: list[dict[str, Any]], entities: list[str], sources: list[Hashable]) -> list[dict[str, Any]]:
    """As whole validation orders them: by entity as given, then source, then the entity's checks."""
    checks = {name: {c.name: i for i, c in enumerate(entity_checks(ENTITIES[name]))} for name in entities}
    entity, source = {name: i for i, name in enumerate(entities)}, {s: i for i, s in enumerate(sources)}
    return sorted(
        rows, key=lambda r: (entity[r["entity"]], source[r["source_system"]], checks[r["entity"]][r["expectation"]])
    )


def row_hashes(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """A row's values and, where a column holds more than text, each value's type.

    pandas hashes objects (and categories) by their text, so 1 and "1" (or a date and its ISO text) would
    hash alike though they may be judged differently; and it hashes the NA of a nullable column as a number
    that some integer also hashes to. Such columns are hashed as objects, with a column of their types."""
    rows = frame[columns].copy()
    typed: dict[str, pd.Series] = {}
    for column in columns:
        values = rows[column]
        if isinstance(values.dtype, np.dtype) and values.dtype != object:
            continue  # numbers, datetimes, booleans: hashed by their bits, a null's bits its own
        rows[column] = values = values.astype(object)
        if infer_dtype(values, skipna=True) not in TEXT:
            typed[f"{column}\0type"] = values.map(lambda value: type(value).__name__)
    return hash_pandas_object(rows.assign(**typed), index=False).to_numpy()


def _signature(name: str, frame: pd.DataFrame, checks: list[Check]) -> str | None:
    """None when the rows cannot be judged one by one: none are, there are no rows, or a column is missing."""
    read = _columns_read(checks)
    if not checks or len(frame) == 0 or not {"source_system", *read} <= set(frame.columns):
        return None
    import great_expectations
    import stdnum

    digest = hashlib.sha256()
    versions = (platform.python_version(), great_expectations.__version__, stdnum.__version__, pd.__version__,
                np.__version__)  # fmt: skip
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
    return list(dict.fromkeys(helpers.get(column, column) for check in checks for column in check.columns))


def _for_whole_checks(frame: pd.DataFrame, checks: list[Check]) -> pd.DataFrame:
    """The columns the whole checks read: the values of those judged by value (uniqueness, the day's check);
    a column only checked for presence is there, where the frame has it, with no values to prepare."""
    valued = [c for c in _columns_read([c for c in checks if c.kind != "ExpectColumnToExist"]) if c in frame]
    present = [c for c in _columns_read(checks) if c in frame and c not in valued]
    narrow = frame[["source_system", *valued]]
    return narrow.assign(**{c: pd.Series(None, index=frame.index, dtype=object) for c in present})


def _states(
    context: Any, name: str, frame: pd.DataFrame, hashes: np.ndarray, checks: list[Check], kept: pd.DataFrame
) -> tuple[np.ndarray, int]:
    """Every row's state under every row-local check (rows x checks, int8), and how many rows GE judged."""
    states = np.zeros((len(hashes), len(checks)), dtype=np.int8)
    found = pd.Index(kept["row_hash"].to_numpy()).get_indexer(hashes)
    hit = found >= 0
    states[hit] = kept[[c.name for c in checks]].to_numpy()[found[hit]]
    todo = np.flatnonzero(~hit)
    if len(todo) == 0:
        return states, 0
    first = ~pd.Series(hashes[todo]).duplicated().to_numpy()  # one row of each content
    unique = todo[first]
    prepared = suites.prepare(name, frame.iloc[unique])
    asset = context.data_sources.add_pandas(f"rows_{name}").add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe("rows").get_batch(batch_parameters={"dataframe": prepared})
    judged = _row_states(prepared, batch.validate(suites.suite(name, checks), result_format=ROW_RESULTS), checks)
    states[todo] = judged[pd.Index(hashes[unique]).get_indexer(hashes[todo])]
    return states, len(todo)


def _row_states(prepared: pd.DataFrame, result: Any, checks: list[Check]) -> np.ndarray:
    """The rows GE names as unexpected, and those it leaves unjudged (no value), under each of `checks`.

    GE counts the missing rows but does not name them: they are taken as those without a value, and its
    counts are checked against the rows, so a change in how GE counts stops the run instead of skewing counts.
    """
    by_name = {item.expectation_config.meta["name"]: item for item in result.results}
    states = np.zeros((len(prepared), len(checks)), dtype=np.int8)
    for i, check in enumerate(checks):
        info = by_name[check.name].result or {}
        missing = _missing(prepared, check)
        unexpected = np.asarray(info.get("unexpected_index_list", []), dtype=np.int64)
        if (
            "unexpected_index_list" not in info
            or len(unexpected) != info.get("unexpected_count")
            or int(missing.sum()) != info.get("missing_count", 0)
        ):
            raise RuntimeError(
                f"source check {check.name}: Great Expectations named other rows than it counted, or counted "
                "other rows as missing than those without a value, unlike the great-expectations 1.x releases the "
                "toolkit was tested with (1.24). Fix: install one of those."
            )
        states[missing, i] = MISSING
        states[unexpected, i] = UNEXPECTED
    return states


def _missing(prepared: pd.DataFrame, check: Check) -> np.ndarray:
    """The rows GE leaves unjudged: a null value, or either of a pair; a not-null check judges every row."""
    if check.kind == "ExpectColumnValuesToNotBeNull":
        return np.zeros(len(prepared), dtype=bool)
    return prepared[check.columns].isna().any(axis=1).to_numpy()


def _kept_rows(hashes: np.ndarray, states: np.ndarray, checks: list[Check]) -> pd.DataFrame:
    first = ~pd.Series(hashes).duplicated().to_numpy()
    rows = pd.DataFrame(states[first], columns=[c.name for c in checks])
    rows.insert(0, "row_hash", hashes[first])
    return rows


def _counted(name: str, entity: _Entity, sources: list[Hashable]) -> list[dict[str, Any]]:
    """GE's counts from row states: unexpected rows, and their percentage of the rows that had a value."""
    rows = []
    for source in sources:
        part = entity.states[of_source(entity.frame, source)]
        for i, check in enumerate(entity.checks):
            unexpected, valued = int((part[:, i] == UNEXPECTED).sum()), int((part[:, i] != MISSING).sum())
            percent = unexpected / valued * 100 if valued else None
            row = result_row(source, name, check.name, check.column, not unexpected, len(part), unexpected, percent)
            rows.append(row)
    return rows


def _check_counts(counted: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    """The counts row states give must be GE's own, where GE counted the same rows."""
    ge = {(r["source_system"], r["entity"], r["expectation"]): r for r in results}
    for row in counted:
        theirs = ge[(row["source_system"], row["entity"], row["expectation"])]
        same = [row[k] == theirs[k] for k in ("success", "element_count", "unexpected_count")]
        ours, their_percent = row["unexpected_percent"], theirs["unexpected_percent"]
        same.append(ours == their_percent or None not in (ours, their_percent) and math.isclose(ours, their_percent))
        if not all(same):
            raise RuntimeError(
                f"source check {row['expectation']}: the counts kept row by row differ from Great Expectations' own, "
                "unlike with the great-expectations 1.x releases the toolkit was tested with (1.24). "
                "Fix: install one of those."
            )

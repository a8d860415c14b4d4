"""Per-source Great Expectations suites: is each legacy system's canonical data fit to reconcile?

Every check is a named, declarative `Check` (a stable name, a GE expectation class and its
arguments), so the suites are data that can be listed and reported on. Checks no built-in
expectation can express (NHS and UPN check characters) are computed into a helper column first
and then expected to be true. The result table holds counts only, never a value from a record.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from reconcile.model import ENTITIES, Entity
from reconcile.nhs_numbers import ten_digit_verdicts

if TYPE_CHECKING:
    import great_expectations as gx

log = logging.getLogger(__name__)

RESULT_COLUMNS = [
    "source_system",
    "entity",
    "expectation",
    "column",
    "success",
    "element_count",
    "unexpected_count",
    "unexpected_percent",
]
EARLIEST_DOB = date(1900, 1, 1)
TEXT = ("string", "empty")  # what pandas infers of a column of text alone (or of nothing)
# Outward code (A9, A9A, A99, AA9, AA9A, AA99), optional space, inward code (9AA); either case.
UK_POSTCODE_REGEX = r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}$"


@dataclass(frozen=True)
class Check:
    """One named expectation: `kind` is a class in `great_expectations.expectations`."""

    name: str
    column: str  # the canonical column(s) it judges, as the result table shows them
    kind: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The frame's columns its expectation reads (a helper column by its own name)."""
        return [self.kwargs[k] for k in ("column", "column_A", "column_B") if k in self.kwargs]

    @property
    def parameterised(self) -> bool:
        """Judged against a suite parameter (`today`), supplied only when the suite is run."""
        return any(isinstance(v, dict) and "$PARAMETER" in v for v in self.kwargs.values())


def _nhs_valid(value: str) -> bool:
    from stdnum.gb import nhs

    # 0000000000 ... 9999999999 pass modulus 11; legacy systems use them for "not known".
    return bool(nhs.is_valid(value)) and len(set(nhs.compact(value))) > 1


def _upn_valid(value: str) -> bool:
    from stdnum.gb import upn

    return bool(upn.is_valid(value))


# Helper columns computed before validation: helper name -> (source column, judge of one present value).
HELPERS: dict[str, dict[str, tuple[str, Callable[[str], bool]]]] = {
    "person": {"_nhs_number_valid": ("nhs_number", _nhs_valid), "_upn_valid": ("upn", _upn_valid)},
}

EXTRA_CHECKS: dict[str, tuple[Check, ...]] = {
    "person": (
        Check(
            "person.dob_not_in_future",
            "dob",
            "ExpectColumnValuesToBeBetween",
            {"column": "dob", "max_value": {"$PARAMETER": "today"}},
        ),
        Check(
            "person.dob_not_before_1900",
            "dob",
            "ExpectColumnValuesToBeBetween",
            {"column": "dob", "min_value": EARLIEST_DOB},
        ),
        Check(
            "person.nhs_number_valid",
            "nhs_number",
            "ExpectColumnValuesToBeInSet",
            {"column": "_nhs_number_valid", "value_set": [True]},
        ),
        Check("person.upn_valid", "upn", "ExpectColumnValuesToBeInSet", {"column": "_upn_valid", "value_set": [True]}),
        Check(
            "person.postcode_format_valid",
            "postcode",
            "ExpectColumnValuesToMatchRegex",
            {"column": "postcode", "regex": UK_POSTCODE_REGEX},
        ),
    ),
    "contact": (
        Check(
            "contact.decision_not_before_contact",
            "decision_datetime,contact_datetime",
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "decision_datetime", "column_B": "contact_datetime", "or_equal": True},
        ),
    ),
    "cp_plan": (
        Check(
            "cp_plan.end_not_before_start",
            "end_date,start_date",
            "ExpectColumnPairValuesAToBeGreaterThanB",
            {"column_A": "end_date", "column_B": "start_date", "or_equal": True},
        ),
    ),
}
PAIR_DEFAULTS = {"ignore_row_if": "either_value_is_missing"}  # "where both present"


def entity_checks(ent: Entity) -> tuple[Check, ...]:
    """Checks from the model (required IDs, single-column keys, code sets) and the entity's own extras."""
    checks: list[Check] = []
    for col in ent.columns:
        if col.required:
            checks.append(
                Check(f"{ent.name}.{col.name}_present", col.name, "ExpectColumnToExist", {"column": col.name})
            )
            checks.append(
                Check(
                    f"{ent.name}.{col.name}_not_null", col.name, "ExpectColumnValuesToNotBeNull", {"column": col.name}
                )
            )
    if len(ent.key) == 1:
        key = ent.key[0]
        checks.append(Check(f"{ent.name}.{key}_unique", key, "ExpectColumnValuesToBeUnique", {"column": key}))
    for col in ent.columns:
        if col.codes:
            args = {"column": col.name, "value_set": list(col.codes)}
            checks.append(Check(f"{ent.name}.{col.name}_in_code_set", col.name, "ExpectColumnValuesToBeInSet", args))
    return (*checks, *EXTRA_CHECKS.get(ent.name, ()))


def suite(name: str, checks: Iterable[Check]) -> gx.ExpectationSuite:
    """`today` is a suite parameter, supplied when a suite is run."""
    import great_expectations as gx

    def build(check: Check) -> gx.expectations.Expectation:
        kwargs = {**PAIR_DEFAULTS, **check.kwargs} if "column_A" in check.kwargs else check.kwargs
        return getattr(gx.expectations, check.kind)(**kwargs, meta={"name": check.name, "column": check.column})

    # Expectations go in through the constructor: add_expectation needs an active data context.
    return gx.ExpectationSuite(name=f"source.{name}", expectations=[build(c) for c in checks])


def source_suites() -> dict[str, gx.ExpectationSuite]:
    """One suite per canonical entity."""
    return {name: suite(name, entity_checks(ent)) for name, ent in ENTITIES.items()}


def run_source_suites(frames: dict[str, pd.DataFrame], today: date) -> pd.DataFrame:
    """Validate every entity once per source system; one row of counts per (source, entity, expectation).

    Every source seen in any frame is validated for every entity given, so a source that supplied
    no rows of an entity shows up with element_count 0 rather than not at all.
    """
    checks = {name: entity_checks(ENTITIES[name]) for name in frames if name in ENTITIES}
    with no_fingerprints():
        return result_table(validated_rows(ephemeral_context(), frames, checks, today))


def validated_rows(
    context: Any,
    frames: Mapping[str, pd.DataFrame],
    checks: Mapping[str, Sequence[Check]],
    today: date,
    sources: list[Hashable] | None = None,
) -> list[dict[str, Any]]:
    """The result rows of `checks` (per entity) over each source's rows of each frame, in the suites' order."""
    validated = validations(context, frames, checks, today, "SUMMARY", sources)
    return [row for source, name, part, result in validated for row in result_rows(source, name, len(part), result)]


def validations(
    context: Any,
    frames: Mapping[str, pd.DataFrame],
    checks: Mapping[str, Sequence[Check]],
    today: date,
    result_format: str | dict[str, Any],
    sources: list[Hashable] | None = None,
) -> Iterator[tuple[Hashable, str, pd.DataFrame, Any]]:
    """(source, entity, that source's prepared rows, GE's result) for each validation of `checks` the frames need;
    `sources`: the source systems to validate each frame for (by default, those named in the frames)."""
    built = {name: suite(name, entity_checks_of) for name, entity_checks_of in checks.items()}
    parameters = {"today": as_day(today)}
    for source, name, part, batches in source_batches(context, frames, built, sources):
        batch = batches.get_batch(batch_parameters={"dataframe": part})
        result = batch.validate(built[name], result_format=result_format, expectation_parameters=parameters)
        yield source, name, part, result


def result_table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    return table.astype(
        {"success": bool, "element_count": "int64", "unexpected_count": "Int64", "unexpected_percent": "float64"}
    )


def as_day(today: date) -> date:
    """The suites' `today` parameter: dates compare with dates only, so a datetime is cut to its date."""
    return today.date() if isinstance(today, datetime) else today


def source_batches(
    context: Any, frames: Mapping[str, pd.DataFrame], suites: Mapping[str, Any], sources: list[Hashable] | None = None
) -> Iterator[tuple[Hashable, str, pd.DataFrame, Any]]:
    """(source, entity, that source's prepared rows, batch definition) for every validation the suites make.

    Shared by the result table and the Data Docs so both judge exactly the same rows. Every source
    seen in any frame is yielded for every entity given, even with no rows of it.
    """
    prepared = {name: prepare(name, frame) for name, frame in frames.items() if name in suites}
    sources = sources_of(prepared.values()) if sources is None else sources
    pandas_source = context.data_sources.add_pandas("sources")
    for name, frame in prepared.items():
        batches = pandas_source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("whole")
        for source in sources:
            yield source, name, frame[of_source(frame, source)].reset_index(drop=True), batches


def of_source(frame: pd.DataFrame, source: Hashable) -> np.ndarray:
    """The rows of one source system; None stands for the rows that name none."""
    system = frame["source_system"].astype(object)
    return (system.isna() if source is None else system == source).to_numpy(dtype=bool)


@contextmanager
def no_fingerprints() -> Iterator[None]:
    """GE hashes every row of a batch under 1 GB for a batch marker nothing here reads (a seventh of validate's
    time at 200k records); its threshold is set to 0 while the in-memory suites run, and put back after."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    threshold = getattr(engine, "HASH_THRESHOLD", None)
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        if threshold is None:
            del engine.HASH_THRESHOLD
        else:
            engine.HASH_THRESHOLD = threshold


def ephemeral_context() -> Any:
    """In memory only: no files, no Data Docs, no analytics, no progress bars on the console."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def sources_of(frames: Iterable[pd.DataFrame]) -> list[Hashable]:
    """Every source system named in any frame; None stands for rows that name none (or no rows at all)."""
    named: set[Hashable] = set()
    unnamed = False
    for frame in frames:
        named.update(frame["source_system"].dropna().unique())
        unnamed = unnamed or bool(frame["source_system"].isna().any())
    ordered: list[Hashable] = sorted(named, key=str)
    return [*ordered, None] if unnamed or not ordered else ordered


def prepare(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical columns only, blanks as nulls, dates as python dates, helper columns added.

    A missing optional column is added empty (its "where present" checks pass); a missing required
    column stays missing so that its `_present` check fails.
    """
    if len(frame) == 0:
        frame = frame.reindex(columns=["source_system", *ENTITIES[name].column_names])  # no records, nothing wrong
    if "source_system" not in frame.columns:
        raise ValueError(f"the {name} frame has no source_system column")
    ent = ENTITIES[name]
    out = pd.DataFrame({"source_system": frame["source_system"].astype(object)}, index=frame.index)
    for col in ent.columns:
        if col.name not in frame.columns:
            if not col.required:
                out[col.name] = pd.Series(None, index=frame.index, dtype=object)
            continue
        if col.type in ("date", "datetime") and _naive_stamps(frame[col.name]):
            out[col.name] = _python_times(frame[col.name], dates=col.type == "date")
            continue
        values = frame[col.name].astype(object)
        if col.type == "date":
            out[col.name] = _per_value(values, _as_date)
        elif col.type == "datetime":
            out[col.name] = _per_value(values, _as_datetime)
        else:
            out[col.name] = _blank_to_none(values)
    for helper, (column, judge) in HELPERS.get(name, {}).items():
        out[helper] = _judged(out[column], judge)
    return out.reset_index(drop=True)


def _per_value(values: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """Apply `fn` once per distinct present value (identifiers and dates repeat a great deal)."""
    present = values[values.notna()]
    mapping: dict[Hashable, Any] = {v: fn(v) for v in pd.unique(present)}
    return values.map(mapping).astype(object).where(values.notna(), None)


def _judged(values: pd.Series, judge: Callable[[str], bool]) -> pd.Series:
    """judge(text) once per distinct present value; NHS numbers of ten plain digits all at once, by the check.

    A column of more than text is read as text first: values equal in Python but of different types
    (9434765919.0 and Decimal("9434765919.0")) would otherwise share the verdict of whichever came first."""
    if infer_dtype(values, skipna=True) not in TEXT:
        values = values.map(_as_text, na_action="ignore")
    distinct = pd.unique(values[values.notna()])
    verdicts: dict[Hashable, bool] = {}
    if judge is _nhs_valid:
        plain, valid, _ = ten_digit_verdicts(distinct)
        verdicts = dict(zip(distinct[plain], valid.tolist(), strict=True))
        distinct = distinct[~plain]
    verdicts.update({v: judge(_as_text(v)) for v in distinct})
    return values.map(verdicts).astype(object).where(values.notna(), None)


def _blank_to_none(values: pd.Series) -> pd.Series:
    """Blank text as null, judged once per distinct value: codes, sexes and columns a source leaves empty repeat
    a great deal (a test of every value was 1.6 of the 4.1 s, under cProfile, of preparing the 100k demo's
    person rows)."""
    codes, distinct = pd.factorize(values.to_numpy())
    blank = np.fromiter((_is_blank(v) for v in distinct), bool, len(distinct))
    return values.where(~np.append(blank, False)[codes], None)  # code -1, a null, takes the last: not blank


def _naive_stamps(values: pd.Series) -> bool:
    return isinstance(values.dtype, np.dtype) and values.dtype.kind == "M"


def _python_times(values: pd.Series, dates: bool) -> pd.Series:
    """What `_per_value` with `_as_datetime` (or `_as_date`) makes of a naive datetime64 column, over the whole
    array: mapping each distinct value was a third of the source suites' time. Datetimes come back as
    Timestamps cut to the microsecond (the map turned `_as_datetime`'s datetimes back into them), dates as dates."""
    if not dates:
        return values.dt.floor("us").astype(object).where(values.notna(), None)
    present = values.notna().to_numpy()
    out = np.full(len(values), None, dtype=object)
    out[present] = [stamp.date() for stamp in values.array.to_pydatetime()[present]]
    return pd.Series(out, index=values.index, dtype=object)


def _is_blank(value: object) -> bool:
    return isinstance(value, str) and not value.strip()


def _as_text(value: object) -> str:
    """Identifiers read from spreadsheets can arrive as floats (9434765919.0)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _as_datetime(value: object) -> datetime | None:
    """A naive datetime from ISO text, a date or a Timestamp; None when it cannot be read."""
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def _as_date(value: object) -> date | None:
    parsed = _as_datetime(value)
    return parsed.date() if parsed is not None else None


def result_rows(source: Hashable, entity: str, count: int, result: Any) -> list[dict[str, Any]]:
    """Counts only: GE's partial_unexpected_list holds record values and is deliberately dropped."""
    rows = []
    for item in result.results:
        meta = item.expectation_config.meta or {}
        info = item.result or {}
        if _raised(item.exception_info):
            log.debug(
                "source check %s could not run on source %s (GE raised; usually a missing column)",
                meta.get("name"),
                source,
            )
        rows.append(
            result_row(
                source,
                entity,
                meta.get("name"),
                meta.get("column"),
                bool(item.success),
                info.get("element_count", count),
                info.get("unexpected_count"),
                info.get("unexpected_percent"),
            )
        )
    order = {check.name: i for i, check in enumerate(entity_checks(ENTITIES[entity]))}
    return sorted(rows, key=lambda r: order.get(r["expectation"], len(order)))


def result_row(
    source: Hashable,
    entity: str,
    expectation: str | None,
    column: str | None,
    success: bool,
    element_count: int,
    unexpected_count: int | None,
    unexpected_percent: float | None,
) -> dict[str, Any]:
    """One row of the result table (RESULT_COLUMNS): counts only, never a value from a record."""
    return dict(zip(RESULT_COLUMNS, (source, entity, expectation, column, success, element_count, unexpected_count,
                                     unexpected_percent), strict=True))  # fmt: skip


def _raised(info: object) -> bool:
    """GE 1.x nests exception_info by metric when a metric failed, and keeps it flat otherwise."""
    if not isinstance(info, dict):
        return False
    return info.get("raised_exception") is True or any(_raised(v) for v in info.values() if isinstance(v, dict))

"""`reconcile.yaml`: a public contract, so every mistake in it is named by file, key and fix."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from reconcile.errors import ConfigError
from reconcile.model import ENTITIES

EntityName = Literal["person", "relationship", "contact", "referral", "assessment", "cp_plan", "involvement"]
ConnectorName = Literal["sql", "files", "ssd"]
DEFAULT_TARGET = "sqlite:///reconcile.db"

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")  # it becomes source_system, and part of export file names


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: a code map such as `{Yes: Y, No: N}` must keep Yes and No as text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntitySpec(_Strict):
    """Where one canonical entity comes from in one source, and how its values arrive."""

    query: str | None = None
    table: str | None = None
    path: str | None = None
    sheet: str | None = None
    encoding: str = "utf-8"
    columns: dict[str, str] = Field(default_factory=dict)
    formats: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)

    @field_validator("values", mode="before")
    @classmethod
    def _codes_as_text(cls, values: Any) -> Any:
        """Numeric codes (`{1: M, 2: F}`) are codes, not numbers: compare them as text."""
        if not isinstance(values, dict):
            return values
        return {
            col: {str(k): str(v) for k, v in mapping.items()} if isinstance(mapping, dict) else mapping
            for col, mapping in values.items()
        }


class SourceSpec(_Strict):
    connector: ConnectorName
    url: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    timeout: float = Field(default=30.0, gt=0)
    chunk_size: int = Field(default=50_000, gt=0)
    entities: dict[EntityName, EntitySpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_connector(self) -> SourceSpec:
        if self.connector in ("sql", "ssd") and not self.url:
            raise ValueError(f"the {self.connector} connector needs `url: <SQLAlchemy URL>`")
        if self.connector != "ssd" and "person" not in self.entities:
            raise ValueError("every source needs a `person` entity under `entities:`")
        return self


class MatchingSpec(_Strict):
    rules: str | None = None  # a matching rules file, relative to the config; default matching_rules/default.yaml
    engine: Literal["local", "dask"] = "local"  # where pairs are compared and scored; the result is the same
    scheduler: str | None = None  # dask only: an existing cluster's scheduler, e.g. tcp://host:8786
    chunk_pairs: int = Field(default=250_000, gt=0)  # candidate pairs compared at once; bounds memory

    @model_validator(mode="after")
    def _scheduler_needs_dask(self) -> MatchingSpec:
        if self.scheduler and self.engine != "dask":
            raise ValueError("`scheduler` is for `engine: dask`; set engine: dask or remove scheduler")
        return self


def with_engine(config: Config, engine: str | None) -> Config:
    """The config with `matching.engine` replaced (the CLI's --engine), validated like the file's own value."""
    if engine is None:
        return config
    current = config.matching or MatchingSpec()
    try:
        matching = MatchingSpec.model_validate({**current.model_dump(), "engine": engine})
    except ValidationError as exc:
        raise ConfigError(f"{config.path}: --engine {engine}: {exc.errors()[0]['msg']}") from None
    return config.model_copy(update={"matching": matching})


class DeadlineSpec(_Strict):
    """How long the front door has to decide a contact: working days (weekends, England bank holidays
    excluded) or hours on the clock. One working day unless set."""

    working_days: int | None = Field(default=None, ge=0)
    hours: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one(self) -> DeadlineSpec:
        if self.working_days is not None and self.hours is not None:
            raise ValueError("give working_days or hours, not both")
        return self


class GateSpec(_Strict):
    max_critical: int = Field(default=0, ge=0)
    max_high: int | None = Field(default=None, ge=0)  # None: high flags alone never fail the gate


class ValidationSpec(_Strict):
    decision_deadline: DeadlineSpec = DeadlineSpec()
    gate: GateSpec = GateSpec()


class RunSpec(_Strict):
    """`reconcile run`: how often to retry a source that cannot be reached (connection errors only)."""

    retries: int = Field(default=2, ge=0)
    retry_backoff_seconds: float = Field(default=5.0, ge=0)  # doubles after each retry


class Config(_Strict):
    target: str = DEFAULT_TARGET
    sources: dict[str, SourceSpec]
    matching: MatchingSpec | None = None
    validation: ValidationSpec = ValidationSpec()
    run: RunSpec = RunSpec()
    _path: Path = PrivateAttr(default=Path("reconcile.yaml"))

    @property
    def path(self) -> Path:
        return self._path

    @property
    def base_dir(self) -> Path:
        return self._path.parent

    def target_url(self) -> URL:
        return resolve_url(self.target, self.base_dir)


def resolve_url(url: str, base_dir: Path) -> URL:
    """Relative SQLite paths mean 'beside the config file', wherever the command runs from."""
    parsed = make_url(url)
    database = parsed.database or ""
    relative = database not in ("", ":memory:") and not database.startswith("file:")
    relative = relative and not Path(database).is_absolute()
    if parsed.get_backend_name() == "sqlite" and relative:
        parsed = parsed.set(database=str((base_dir / database).resolve()))
    return parsed


def load_config(path: str | Path) -> Config:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such file. Fix: pass --config PATH, or run `reconcile demo` for an example.")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}. Fix: check indentation and quoting.") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with `target:` and `sources:`.")
    raw = _interpolate(raw, path, ())
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(path, exc)) from None
    config._path = path.resolve()
    _check_semantics(config)
    return config


def _interpolate(node: Any, path: Path, keys: tuple[str, ...]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string, so credentials stay in the environment."""
    if isinstance(node, dict):
        return {k: _interpolate(v, path, (*keys, str(k))) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, path, (*keys, str(i))) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name, default)
        if value is None:
            raise ConfigError(
                f"{path}: {'.'.join(keys)} uses ${{{name}}}, which is not set. "
                f"Fix: export {name}=... before running, or write ${{{name}:-default}}."
            )
        return value

    return _ENV.sub(substitute, node)


_FIXES = {
    "extra_forbidden": "remove it or check its spelling",
    "literal_error": "use one of the allowed values",
    "missing": "add it",
}


def _explain(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} problem(s):"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"] if p != "[key]"]
        key = ".".join(loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key. Fix: {_FIXES['extra_forbidden']}.")
        elif err["type"] == "literal_error" and err["loc"][-1] == "[key]":
            allowed = ", ".join(ENTITIES)
            lines.append(f"  {key}: unknown entity. Fix: use one of {allowed}.")
        else:
            fix = _FIXES.get(err["type"])
            message = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"  {key}: {message}." + (f" Fix: {fix}." if fix else ""))
    return "\n".join(lines)


def _check_semantics(config: Config) -> None:
    """Checks that need the canonical model, so the message can list the valid names."""
    problems: list[str] = []
    if not config.sources:
        problems.append("sources: no sources. Fix: add at least one source with a person entity.")
    try:
        config.target_url()
    except ArgumentError:
        problems.append("target: not a SQLAlchemy URL. Fix: e.g. sqlite:///reconcile.db or postgresql+psycopg://...")
    for name, source in config.sources.items():
        where = f"sources.{name}"
        if not SOURCE_NAME.fullmatch(name):
            problems.append(f"{where}: source names are lower-case letters, digits and _. Fix: rename it.")
        if source.url:
            try:
                make_url(source.url)
            except ArgumentError:
                problems.append(
                    f"{where}.url: not a SQLAlchemy URL. Fix: e.g. postgresql+psycopg://${{USER}}:${{PASSWORD}}@host/db."
                )
        for ent_name, spec in source.entities.items():
            problems.extend(_check_entity(f"{where}.entities.{ent_name}", source.connector, ent_name, spec))
    if problems:
        raise ConfigError(f"{config.path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems))


def _check_entity(where: str, connector: str, ent_name: str, spec: EntitySpec) -> list[str]:
    entity = ENTITIES[ent_name]
    known = set(entity.column_names)
    problems: list[str] = []
    if connector in ("sql", "ssd"):
        if bool(spec.query) == bool(spec.table):
            problems.append(f"{where}: give exactly one of `query` or `table`.")
        if spec.path:
            problems.append(f"{where}.path: only the files connector reads paths. Fix: use `table` or `query`.")
    elif not spec.path:
        problems.append(f"{where}: the files connector needs `path: <csv, xlsx or parquet file>`.")
    if spec.query and spec.columns:
        problems.append(f"{where}.columns: a query names its own columns with AS. Fix: drop `columns`.")
    for label, keys in (("columns", spec.columns), ("formats", spec.formats), ("values", spec.values)):
        for col in sorted(set(keys) - known):
            problems.append(
                f"{where}.{label}.{col}: not a column of {ent_name}. Fix: use one of {', '.join(entity.column_names)}."
            )
    for col in sorted(set(spec.values) & known):
        codes = entity.column(col).codes
        for source_code, code in spec.values[col].items():
            if codes and code not in codes:
                problems.append(
                    f"{where}.values.{col}: maps {source_code} to {code}, which is not one of {'/'.join(codes)}."
                )
    for col in sorted(set(spec.formats) & known):
        if entity.column(col).type not in ("date", "datetime"):
            problems.append(f"{where}.formats.{col}: formats apply to date and datetime columns only.")
    return problems

"""Matching rules as data (matching_rules/default.yaml), validated as strictly as reconcile.yaml."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reconcile.errors import ConfigError
from reconcile.matching.standardise import STANDARD_COLUMNS
from reconcile.model import SURVIVING_FIELDS

# Flags are not keys: blocking on "both NHS numbers invalid" would pair strangers.
BLOCKABLE = frozenset(STANDARD_COLUMNS) - {
    "rid",
    "source_system",
    "person_id",
    "placeholder",
    "dob_expected",
    "nhs_invalid",
    "upn_invalid",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Blocking(_Strict):
    max_block_size: int = Field(gt=1)
    rules: list[list[str]]

    @field_validator("rules")
    @classmethod
    def _known_keys(cls, rules: list[list[str]]) -> list[list[str]]:
        for rule in rules:
            unknown = sorted(set(rule) - BLOCKABLE)
            if unknown or not rule:
                raise ValueError(f"rule {rule} uses unknown keys {unknown}; use {sorted(BLOCKABLE)}")
        return rules


class NameComparison(_Strict):
    jaro_winkler: tuple[float, float]
    term_frequency: bool = False


class DobComparison(_Strict):
    near_days: int = Field(ge=0)


class AddressComparison(_Strict):
    token_similarity: tuple[float, float]


class Empty(_Strict):
    pass


class Comparisons(_Strict):
    forename: NameComparison
    middle_names: NameComparison
    surname: NameComparison
    dob: DobComparison
    nhs: Empty
    upn: Empty
    alt_id: Empty
    sex: Empty
    address: AddressComparison


class Training(_Strict):
    u_sample_pairs: int = Field(gt=0)
    em_rules: list[list[str]]
    anchor_rules: list[list[str]]
    em_max_pairs: int = Field(gt=0)
    em_iterations: int = Field(gt=0)
    em_tolerance: float = Field(gt=0)
    seed: int


class Thresholds(_Strict):
    match: float = Field(gt=0, lt=1)
    review: float = Field(gt=0, lt=1)
    keep_pairs: float = Field(ge=0, lt=1)
    cannot_link: float = Field(ge=0, lt=1)


class Constraints(_Strict):
    nhs_conflict: bool
    twin_guard: bool
    twin_dob_days: int = Field(ge=0)
    sex_conflict: bool
    placeholder_review: bool
    namesake_guard: bool
    identity_guard: bool


class Survivorship(_Strict):
    """Which system to trust, per field, when the most recently modified records tie."""

    priority: dict[str, list[str]]  # field -> systems, most trusted first
    default: list[str]  # the order for every field not in `priority`

    @field_validator("priority")
    @classmethod
    def _known_fields(cls, priority: dict[str, list[str]]) -> dict[str, list[str]]:
        for key in priority:
            if key not in SURVIVING_FIELDS:
                hint = "put the order for all other fields in survivorship.default; " if key == "default" else ""
                raise ValueError(f"unknown field {key!r}; {hint}use one of {list(SURVIVING_FIELDS)}")
        return priority


class Rules(_Strict):
    """Every value comes from matching_rules/default.yaml, the one place defaults live."""

    blocking: Blocking
    comparisons: Comparisons
    training: Training
    thresholds: Thresholds
    constraints: Constraints
    survivorship: Survivorship


def load_rules(path: str | Path | None = None) -> Rules:
    """The packaged defaults, overlaid with a rules file that need hold only the settings it changes."""
    defaults = yaml.safe_load(resources.files("matching_rules").joinpath("default.yaml").read_text(encoding="utf-8"))
    where = "matching_rules/default.yaml"
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"{path}: no such matching rules file. Fix: check matching.rules in reconcile.yaml.")
        defaults = _overlay(defaults, yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {})
        where = str(path)
    try:
        rules = Rules.model_validate(defaults)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: {details}") from None
    if not rules.thresholds.review < rules.thresholds.match:
        raise ConfigError(f"{where}: thresholds.review must be below thresholds.match")
    return rules


def _overlay(base: dict, changes: dict) -> dict:
    """Mappings merge key by key; anything else (a list of blocking rules, a number) is replaced whole."""
    merged = dict(base)
    for key, value in changes.items():
        merged[key] = (
            _overlay(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
        )
    return merged

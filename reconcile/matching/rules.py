"""Matching rules as data (matching_rules/default.yaml), validated as strictly as reconcile.yaml."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reconcile.errors import ConfigError
from reconcile.matching.standardise import STANDARD_COLUMNS

BLOCKABLE = frozenset(STANDARD_COLUMNS) - {"rid", "source_system", "person_id", "placeholder", "dob_expected"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Blocking(_Strict):
    max_block_size: int = Field(500, gt=1)
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
    jaro_winkler: tuple[float, float] = (0.92, 0.80)
    term_frequency: bool = False


class DobComparison(_Strict):
    near_days: int = Field(1, ge=0)


class AddressComparison(_Strict):
    token_similarity: tuple[float, float] = (0.9, 0.7)


class Empty(_Strict):
    pass


class Comparisons(_Strict):
    forename: NameComparison = NameComparison()
    surname: NameComparison = NameComparison(term_frequency=True)
    dob: DobComparison = DobComparison()
    nhs: Empty = Empty()
    upn: Empty = Empty()
    sex: Empty = Empty()
    address: AddressComparison = AddressComparison()


class Training(_Strict):
    u_sample_pairs: int = Field(1_000_000, gt=0)
    em_rules: list[list[str]] = [["dob"], ["forename", "surname"]]
    anchor_rules: list[list[str]] = [["nhs"], ["upn"]]
    em_max_pairs: int = Field(500_000, gt=0)
    em_iterations: int = Field(40, gt=0)
    em_tolerance: float = Field(1e-4, gt=0)
    seed: int = 42


class Thresholds(_Strict):
    match: float = Field(0.99, gt=0, lt=1)
    review: float = Field(0.5, gt=0, lt=1)
    keep_pairs: float = Field(0.01, ge=0, lt=1)
    cannot_link: float = Field(0.001, ge=0, lt=1)


class Constraints(_Strict):
    nhs_conflict: bool = True
    twin_guard: bool = True
    twin_dob_days: int = Field(1, ge=0)
    sex_conflict: bool = True


class Rules(_Strict):
    blocking: Blocking
    comparisons: Comparisons = Comparisons()
    training: Training = Training()
    thresholds: Thresholds = Thresholds()
    constraints: Constraints = Constraints()


def load_rules(path: str | Path | None = None) -> Rules:
    """The packaged defaults, or a file of the same shape."""
    if path is None:
        text = resources.files("matching_rules").joinpath("default.yaml").read_text(encoding="utf-8")
        where = "matching_rules/default.yaml"
    else:
        text = Path(path).read_text(encoding="utf-8")
        where = str(path)
    try:
        rules = Rules.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{where}: {details}") from None
    if not rules.thresholds.review < rules.thresholds.match:
        raise ConfigError(f"{where}: thresholds.review must be below thresholds.match")
    return rules

"""Data Docs for the source suites: the site is built, names every suite, holds no record value, and is owner-only."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from expectations.data_docs import build_data_docs
from expectations.source_suites import source_suites
from reconcile.model import ENTITIES

TODAY = date(2026, 11, 1)
PLANTED_SURNAME = "Zebedee-Quixotefield"
PLANTED_NHS = "9434765918"  # fails modulus 11
# Values in columns GE itself judges, which a partial unexpected list would quote.
PLANTED_POSTCODE = "QX9Z 7QUIXOTE"
PLANTED_ID = "QUIXOTE-0042"  # on two records, so not unique
PLANTED = (PLANTED_SURNAME, PLANTED_NHS, PLANTED_POSTCODE, PLANTED_ID)


def person(rows: list[dict], source: str) -> pd.DataFrame:
    return pd.DataFrame(rows).reindex(columns=list(ENTITIES["person"].column_names)).assign(source_system=source)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    people = pd.concat(
        [
            person(
                [
                    {"person_id": "A1", "surname": PLANTED_SURNAME, "dob": "2015-03-04", "nhs_number": PLANTED_NHS},
                    {"person_id": PLANTED_ID, "surname": "Ward", "dob": "2016-05-06", "nhs_number": "9434765919"},
                    {"person_id": PLANTED_ID, "dob": "2017-01-02", "postcode": PLANTED_POSTCODE},
                ],
                "alpha",
            ),
            person([{"person_id": "B1", "surname": "Smith", "dob": "2030-01-01", "postcode": "SW1A 1AA"}], "beta"),
        ]
    )
    contacts = pd.DataFrame({"source_system": ["alpha"], "contact_id": ["C1"], "person_id": [PLANTED_ID]})
    out = tmp_path_factory.mktemp("docs") / "out"
    return build_data_docs({"person": people, "contact": contacts}, TODAY, out)


def test_the_site_has_an_index(site: Path) -> None:
    assert site.name == "index.html"
    assert site.is_file()


def test_every_suite_appears_in_the_site(site: Path) -> None:
    html = "\n".join(p.read_text(encoding="utf-8") for p in site.parent.rglob("*.html"))
    for suite in source_suites().values():
        assert suite.name in html


def test_one_validation_page_per_source_and_entity(site: Path) -> None:
    pages = {p.relative_to(site.parent / "validations").parts[:3] for p in site.parent.rglob("validations/**/*.html")}
    assert pages == {(s, e, r) for s in ("source",) for e in ("person", "contact") for r in ("alpha", "beta")}


def test_no_planted_value_reaches_any_file(site: Path) -> None:
    root = site.parents[4]  # the fresh folder: the site, the GE config and the stored results
    assert root.parent.name == "out"
    for path in (p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        for value in PLANTED:
            assert value.encode() not in data, (path, value)


def test_everything_written_is_owner_only(site: Path) -> None:
    out = site.parents[5]
    for path in [out, *out.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))

"""Shared fixtures: tiny legacy databases, config files, and the real database servers.

Tests that need PostgreSQL or MariaDB skip with a reason when the server cannot be
reached, except under CI=true, where a missing server fails the run.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from reconcile.config import Config, load_config

TODAY = date(2026, 11, 1)
POSTGRES_URL = os.environ.get("RECONCILE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("RECONCILE_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")
CHROMIUM = os.environ.get("RECONCILE_TEST_CHROMIUM", "/usr/bin/chromium")  # Debian's package, as .ci/run installs
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def write_config(folder: Path, data: dict) -> Path:
    path = folder / "reconcile.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def sqlite_db(path: Path, script: str) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    return path


def config_for(folder: Path, sources: dict, target: str = "sqlite:///target.db") -> Config:
    return load_config(write_config(folder, {"target": target, "sources": sources}))


def table_rows(url: str | sa.URL, sql: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def reachable_server(url: str, label: str) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError:
        engine.dispose()
        missing(f"{label} is not reachable at {sa.make_url(url).render_as_string(hide_password=True)}")
    return engine


def missing(reason: str) -> NoReturn:
    """Skip a test whose server or browser is not here; under CI=true that is a failure instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI=true this is a failure, not a skip")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres() -> Iterator[sa.Engine]:
    engine = reachable_server(POSTGRES_URL, "PostgreSQL")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[sa.Engine]:
    engine = reachable_server(MARIADB_URL, "MariaDB")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> Iterator[Any]:
    """Headless Chromium with a fresh profile, driven over the DevTools protocol by Playwright (no browser download)."""
    if not Path(CHROMIUM).is_file():
        missing(f"Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as driver:
        browser = driver.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"), executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


class Plans(list):
    """What each `stamped_read.plan` returned (None: that entity was read whole), and in `previous` the
    state each was planned against."""

    def __init__(self) -> None:
        super().__init__()
        self.previous: list = []

    def unread_keys(self, number: int) -> list[str]:
        """The record keys the `number`th plan kept without reading them."""
        rows = self.previous[number].rows["record_key"].to_numpy(dtype=object)
        return sorted(rows[self[number].unread_rows])


@pytest.fixture
def stamped_plans(monkeypatch) -> Plans:
    """Every `stamped_read.plan` of the test (see `Plans`)."""
    from reconcile import stamped_read

    planned = Plans()
    plan = stamped_read.plan

    def recorded(connector, entity, spec, previous):
        planned.previous.append(previous)
        planned.append(plan(connector, entity, spec, previous))
        return planned[-1]

    monkeypatch.setattr(stamped_read, "plan", recorded)
    return planned


@pytest.fixture
def unique() -> str:
    """A name no other test run uses, for tables and schemas on the shared servers."""
    return "t" + uuid.uuid4().hex[:10]


LEGACY_SCRIPT = """
CREATE TABLE LCS_PERSON (PERSON_ID TEXT, FORENAME TEXT, SURNAME TEXT, DOB TEXT, GENDER TEXT, NHS_NUMBER TEXT);
INSERT INTO LCS_PERSON VALUES
  ('1', 'Amelia', 'Khan', '2015-03-01', 'F', '9434765919'),
  ('2', 'Oliver', 'Smith', '2015-02-31', 'M', NULL),
  ('3', 'Baby', 'Smith', NULL, 'U', NULL),
  (NULL, 'Nameless', 'Row', '2012-01-01', 'M', NULL),
  ('2', 'Oliver', 'Smyth', '2015-02-13', 'M', NULL),
  ('4', 'Future', 'Child', '2031-01-01', 'X', NULL);
CREATE TABLE LCS_CONTACT (CONTACT_ID TEXT, PERSON_ID TEXT, CONTACT_DTTM TEXT, DECISION_DTTM TEXT, CONSENT TEXT);
INSERT INTO LCS_CONTACT VALUES
  ('c1', '1', '2026-10-01 09:00:00', '2026-10-01 15:00:00', 'Y'),
  ('c2', '2', '2026-10-02 09:00:00', NULL, NULL),
  ('c3', NULL, '2026-10-03 10:00:00', '2026-10-03 11:00:00', 'maybe');
"""

LEGACY_ENTITIES = {
    "person": {
        "table": "LCS_PERSON",
        "columns": {
            "person_id": "PERSON_ID",
            "forename": "FORENAME",
            "surname": "SURNAME",
            "dob": "DOB",
            "sex": "GENDER",
            "nhs_number": "NHS_NUMBER",
        },
        "formats": {"dob": "%Y-%m-%d"},
    },
    "contact": {
        "query": "SELECT CONTACT_ID AS contact_id, PERSON_ID AS person_id, CONTACT_DTTM AS contact_datetime, "
        "DECISION_DTTM AS decision_datetime, CONSENT AS consent FROM LCS_CONTACT",
        "formats": {"contact_datetime": "%Y-%m-%d %H:%M:%S", "decision_datetime": "%Y-%m-%d %H:%M:%S"},
    },
}


@pytest.fixture(params=["postgres", "mariadb"])
def server_target(request, unique):
    """A fresh, empty target on a real server: its own schema (PostgreSQL) or database (MariaDB)."""
    with fresh_server_target(request.getfixturevalue(request.param), unique) as url:
        yield url


@contextmanager
def fresh_server_target(engine: sa.Engine, unique: str) -> Iterator[str]:
    """The URL of a new schema (PostgreSQL) or database (MariaDB) named `unique` on the server, dropped after."""
    if engine.dialect.name == "postgresql":
        create, drop = f"CREATE SCHEMA {unique}", f"DROP SCHEMA {unique} CASCADE"
        target = engine.url.update_query_dict({"options": f"-csearch_path={unique}"})
    else:
        create, drop = f"CREATE DATABASE {unique}", f"DROP DATABASE {unique}"
        target = engine.url.set(database=unique)
    with engine.begin() as conn:
        conn.execute(sa.text(create))
    try:
        yield target.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(drop))


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    """A small Liquidlogic-like SQLite database holding one of every common defect."""
    return sqlite_db(tmp_path / "lcs.db", LEGACY_SCRIPT)


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory):
    """Two synthetic legacy systems (2,000 people, seed 11), extracted and matched once for the session."""
    from reconcile.extract import extract
    from reconcile.match import match
    from reconcile.synthetic import write_demo

    files = write_demo(tmp_path_factory.mktemp("synthetic") / "demo", people=2000, seed=11)
    config = load_config(files.config)
    extract(config)
    summary = match(config)
    return files, config, summary


def read_frame(url: str | sa.URL, sql: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        return pd.read_sql(sql, engine)
    finally:
        engine.dispose()


def people(*rows: dict) -> pd.DataFrame:
    base = {"source_system": "a", "forename": None, "surname": None, "dob": None, "sex": None, "nhs_number": None}
    frame = pd.DataFrame([{**base, "person_id": str(i), **row} for i, row in enumerate(rows)])
    return frame


def with_crowd(frame: pd.DataFrame, size: int = 400) -> pd.DataFrame:
    """The records under test among a crowd of strangers, so the model has a population to learn from."""
    rng = np.random.default_rng(0)
    forenames = ["ava", "ben", "cara", "dan", "eve", "finn", "gus", "hana", "ivy", "jon", "kai", "lola", "max"]
    surnames = ["ali", "brown", "cole", "diaz", "egan", "fox", "gray", "hill", "ince", "jones", "king", "lowe"]
    crowd = pd.DataFrame(
        {
            "source_system": rng.choice(["a", "b"], size),
            "person_id": [f"c{i}" for i in range(size)],
            "forename": rng.choice(forenames, size),
            "surname": rng.choice(surnames, size),
            "dob": [str(date(2005, 1, 1) + pd.Timedelta(days=int(d))) for d in rng.integers(0, 6000, size)],
            "sex": rng.choice(["M", "F"], size),
            "postcode": [
                f"LS{d} {s}AB" for d, s in zip(rng.integers(1, 30, size), rng.integers(0, 9, size), strict=True)
            ],
        }
    )
    return pd.concat([frame, crowd], ignore_index=True)

"""The synthetic demo generator: determinism, scale, validity, and an exact answer key.

Most checks read the demo back through its own reconcile.yaml, so they also prove the
config matches the databases it was written with.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.gb import nhs, upn

from reconcile.config import load_config
from reconcile.model import ENTITIES
from reconcile.synthetic import PLANTED_KINDS, REFERENCE_DATE, DemoFiles, generate, write_demo

PEOPLE = 2000
SEED = 42
SOURCES = ("lcs", "mosaic")
ON_TIME = timedelta(hours=20)
LATE = timedelta(days=6)


# --- fixtures and helpers ---------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return write_demo(tmp_path_factory.mktemp("demo") / "out", people=PEOPLE, seed=SEED)


@pytest.fixture(scope="module")
def config(demo: DemoFiles) -> dict[str, Any]:
    return yaml.safe_load(demo.config.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def truth(demo: DemoFiles) -> dict[str, pd.DataFrame]:
    with sqlite3.connect(demo.truth) as con:
        return {t: pd.read_sql_query(f"SELECT * FROM {t}", con) for t in ("person_truth", "planted", "true_person")}


def _database(demo: DemoFiles, config: dict[str, Any], source: str) -> Path:
    url = config["sources"][source]["url"]
    assert url.startswith("sqlite:///")
    return demo.config.parent / url.removeprefix("sqlite:///")


def _select(spec: dict[str, Any]) -> str:
    if "query" in spec:
        return spec["query"]
    cols = ", ".join(f'"{src}" AS "{canon}"' for canon, src in spec["columns"].items())
    return f'SELECT {cols} FROM "{spec["table"]}"'


def read(demo: DemoFiles, config: dict[str, Any], source: str, entity: str) -> pd.DataFrame:
    """One entity as the config reads it: canonical column names, codes mapped, dates still text."""
    spec = config["sources"][source]["entities"][entity]
    with sqlite3.connect(_database(demo, config, source)) as con:
        frame = pd.read_sql_query(_select(spec), con)
    for column, codes in spec.get("values", {}).items():
        frame[column] = frame[column].map(lambda v, c=codes: c.get(v, v))
    return frame.astype(object).where(frame.notna(), None)


def planted_ids(truth: dict[str, pd.DataFrame], source: str, kind: str) -> set[str]:
    p = truth["planted"]
    return set(p.loc[(p["source_system"] == source) & (p["kind"] == kind), "source_id"].dropna())


def parse(value: str | None, fmt: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, fmt)
    except ValueError:
        return None


def with_truth(demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame], source: str) -> pd.DataFrame:
    """Person rows (non-null IDs, first copy of any repeated ID) joined to their true person."""
    rows = read(demo, config, source, "person").dropna(subset=["person_id"]).drop_duplicates("person_id")
    pt = truth["person_truth"]
    key = pt[pt["source_system"] == source].dropna(subset=["person_id"]).drop_duplicates("person_id")
    joined = rows.merge(key[["person_id", "true_id"]], on="person_id", validate="one_to_one")
    tp = truth["true_person"].add_prefix("true_").rename(columns={"true_true_id": "true_id"})
    return joined.merge(tp, on="true_id", validate="many_to_one")


# --- determinism and scale ----------------------------------------------------------------
def test_same_seed_gives_equal_tables_and_other_seeds_differ() -> None:
    first, again, other = generate(600, 7), generate(600, 7), generate(600, 8)
    for name, tables in first.databases().items():
        for table, frame in tables.items():
            pd.testing.assert_frame_equal(frame, again.databases()[name][table])
    assert not first.lcs["LCS_PERSON"].equals(other.lcs["LCS_PERSON"])
    assert not first.truth["planted"].equals(other.truth["planted"])


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a = write_demo(tmp_path / "a", people=500, seed=3)
    b = write_demo(tmp_path / "b", people=500, seed=3)
    for field in ("config", "lcs", "mosaic", "truth"):
        digest = [hashlib.sha256(getattr(x, field).read_bytes()).hexdigest() for x in (a, b)]
        assert digest[0] == digest[1], field


def test_rows_grow_in_proportion_to_people() -> None:
    small, large = generate(200, 1), generate(2000, 1)
    assert len(small.truth["true_person"]) == 200 and len(large.truth["true_person"]) == 2000
    for system in ("lcs", "mosaic"):
        for table, frame in getattr(small, system).items():
            big = len(getattr(large, system)[table])
            if table in ("LCS_CP_PLAN", "registrations"):  # rare events: only check they grow
                assert big > len(frame)
            else:
                assert 6 <= big / max(len(frame), 1) <= 15, table


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(people=st.integers(min_value=1, max_value=300), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_size_and_seed_gives_a_consistent_answer_key(people: int, seed: int) -> None:
    data = generate(people, seed)
    assert len(data.truth["true_person"]) == people
    pt = data.truth["person_truth"]
    for source, table, id_col in (
        ("lcs", data.lcs["LCS_PERSON"], "PERSON_ID"),
        ("mosaic", data.mosaic["people"], "person_id"),
    ):
        assert sorted(pt.loc[pt["source_system"] == source, "person_id"].fillna("")) == sorted(table[id_col].fillna(""))
    assert set(pt["true_id"]) <= set(data.truth["true_person"]["true_id"])


# --- the files ----------------------------------------------------------------------------
def test_files_are_owner_only(demo: DemoFiles) -> None:
    assert demo.config.parent.stat().st_mode & 0o777 == 0o700
    for path in (demo.config, demo.lcs, demo.mosaic, demo.truth):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_config_loads_with_the_project_loader(demo: DemoFiles) -> None:
    config = load_config(demo.config)
    assert set(config.sources) == set(SOURCES)


def test_config_has_the_public_shape(config: dict[str, Any], demo: DemoFiles) -> None:
    assert demo.config.read_text(encoding="utf-8").startswith("#")
    assert config["target"] == "sqlite:///reconcile.db"
    assert set(config["sources"]) == set(SOURCES)
    styles = set()
    for source in config["sources"].values():
        assert source["connector"] == "sql"
        assert source["url"].startswith("sqlite:///") and not source["url"].startswith("sqlite:////")
        assert set(source["entities"]) == set(ENTITIES)
        for name, spec in source["entities"].items():
            assert ("query" in spec) != ("table" in spec), name
            assert ("columns" in spec) == ("table" in spec), name
            styles.add("query" if "query" in spec else "table")
            model = ENTITIES[name]
            assert set(spec.get("columns", {})) <= set(model.column_names)
            for column, fmt in spec.get("formats", {}).items():
                assert model.column(column).type in ("date", "datetime") and "%" in fmt
            for column, codes in spec.get("values", {}).items():
                assert set(codes.values()) <= set(model.column(column).codes), (name, column)
    assert styles == {"query", "table"}


def test_every_column_and_query_runs_against_its_database(config: dict[str, Any], demo: DemoFiles) -> None:
    for source, block in config["sources"].items():
        with sqlite3.connect(_database(demo, config, source)) as con:
            for name, spec in block["entities"].items():
                cursor = con.execute(_select(spec) + " LIMIT 1")
                got = [d[0] for d in cursor.description]
                model = ENTITIES[name]
                assert set(got) <= set(model.column_names), (source, name, got)
                assert set(c.name for c in model.columns if c.required) <= set(got)
                assert con.execute(f"SELECT COUNT(*) FROM ({_select(spec)})").fetchone()[0] > 0, (source, name)


def test_dates_parse_with_the_configured_formats_unless_planted_impossible(
    config: dict[str, Any], demo: DemoFiles, truth: dict[str, pd.DataFrame]
) -> None:
    for source, block in config["sources"].items():
        impossible = planted_ids(truth, source, "impossible_dob")
        for name, spec in block["entities"].items():
            frame = read(demo, config, source, name)
            for column, fmt in spec.get("formats", {}).items():
                bad = frame[frame[column].notna() & frame[column].map(lambda v, f=fmt: parse(v, f) is None)]
                expected = impossible if (name, column) == ("person", "dob") else set()
                assert set(bad[ENTITIES[name].key[0]]) <= expected, (source, name, column)
                if expected:
                    assert set(bad[ENTITIES[name].key[0]]) == expected


# --- the answer key -----------------------------------------------------------------------
def test_truth_covers_every_person_row(demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]) -> None:
    pt = truth["person_truth"]
    assert set(pt["source_system"]) == set(SOURCES)
    for source in SOURCES:
        rows = read(demo, config, source, "person")["person_id"]
        listed = pt.loc[pt["source_system"] == source, "person_id"]
        assert sorted(rows.fillna("<null>")) == sorted(listed.fillna("<null>"))
    assert set(pt["true_id"]) == set(truth["true_person"]["true_id"])  # every true person is recorded somewhere


def test_every_planted_kind_appears(truth: dict[str, pd.DataFrame]) -> None:
    p = truth["planted"]
    for entity, kinds in PLANTED_KINDS.items():
        assert set(p.loc[p["entity"] == entity, "kind"]) == set(kinds), entity
    assert set(p["source_system"]) == set(SOURCES)


def test_nhs_numbers_valid_except_mistyped_ones(
    demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]
) -> None:
    for source in SOURCES:
        rows = read(demo, config, source, "person").dropna(subset=["person_id"])
        mistyped = planted_ids(truth, source, "nhs_mistyped")
        numbers = rows.dropna(subset=["nhs_number"])
        valid = numbers["nhs_number"].map(nhs.is_valid)
        assert set(numbers.loc[~valid, "person_id"]) == mistyped
        assert mistyped <= set(numbers["person_id"])
    true_numbers = truth["true_person"]["nhs_number"].dropna()
    assert true_numbers.map(nhs.is_valid).all() and true_numbers.is_unique


def test_upns_are_valid(demo: DemoFiles, config: dict[str, Any]) -> None:
    for source in SOURCES:
        upns = read(demo, config, source, "person")["upn"].dropna()
        assert len(upns) > 0 and upns.map(upn.is_valid).all()


def test_twins_share_dob_and_surname_but_not_forename(truth: dict[str, pd.DataFrame]) -> None:
    twins = truth["true_person"].dropna(subset=["twin_group"])
    assert len(twins) > 0
    for _, group in twins.groupby("twin_group"):
        assert len(group) >= 2
        assert group["dob"].nunique() == 1 and group["surname"].nunique() == 1 and group["family_id"].nunique() == 1
        assert group["forename"].is_unique


def test_nhs_missing_and_mistyped_are_exact(
    demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]
) -> None:
    for source in SOURCES:
        rows = with_truth(demo, config, truth, source)
        missing = (
            rows["nhs_number"].isna() & rows["true_nhs_number"].notna() & ~rows["forename"].str.match("^(Baby|Unborn)")
        )
        assert set(rows.loc[missing, "person_id"]) == planted_ids(truth, source, "nhs_missing")
        compact = rows["nhs_number"].map(lambda v: None if v is None else nhs.compact(v))
        differs = compact.notna() & (compact != rows["true_nhs_number"])
        assert set(rows.loc[differs, "person_id"]) == planted_ids(truth, source, "nhs_mistyped")


def test_dob_swaps_and_future_dobs_are_exact(
    demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]
) -> None:
    for source in SOURCES:
        rows = with_truth(demo, config, truth, source)
        fmt = config["sources"][source]["entities"]["person"]["formats"]["dob"]
        seen = rows["dob"].map(lambda v, f=fmt: parse(v, f))
        real = rows["true_dob"].map(lambda v: None if v is None else datetime.strptime(v, "%Y-%m-%d"))
        both = seen.notna() & real.notna()
        swapped = (
            both
            & (seen != real)
            & seen.combine(
                real,
                lambda s, r: s is not None and r is not None and (s.day, s.month, s.year) == (r.month, r.day, r.year),
            )
        )
        future = both & (seen > datetime.combine(REFERENCE_DATE, datetime.min.time()))
        assert set(rows.loc[swapped, "person_id"]) == planted_ids(truth, source, "dob_day_month_swap")
        assert set(rows.loc[future, "person_id"]) == planted_ids(truth, source, "future_dob")
        assert set(rows.loc[both & (seen != real), "person_id"]) == (
            planted_ids(truth, source, "dob_day_month_swap") | planted_ids(truth, source, "future_dob")
        )


def test_unknown_sex_codes_are_exact(demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]) -> None:
    for source in SOURCES:
        rows = read(demo, config, source, "person").dropna(subset=["person_id"])
        odd = ~rows["sex"].isin(["M", "F", "U"])
        assert set(rows.loc[odd, "person_id"]) == planted_ids(truth, source, "unknown_sex_code")


def test_null_and_repeated_person_ids_are_exact(
    demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]
) -> None:
    p = truth["planted"]
    for source in SOURCES:
        ids = read(demo, config, source, "person")["person_id"]
        nulls = p[(p["source_system"] == source) & (p["kind"] == "null_person_id")]
        assert ids.isna().sum() == len(nulls)
        repeated = set(ids[ids.duplicated() & ids.notna()])
        assert repeated == planted_ids(truth, source, "duplicate_source_id")


def test_within_system_duplicates_are_flagged_and_differ(
    demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]
) -> None:
    pt = truth["person_truth"]
    assert pt["is_within_system_duplicate"].isin([0, 1]).all()
    for source in SOURCES:
        mine = pt[pt["source_system"] == source]
        dups = mine[mine["is_within_system_duplicate"] == 1]
        assert set(dups["person_id"]) == planted_ids(truth, source, "within_system_duplicate")
        others = mine[(mine["is_within_system_duplicate"] == 0) & mine["person_id"].notna()]
        assert set(dups["true_id"]) <= set(others["true_id"])
        rows = read(demo, config, source, "person").dropna(subset=["person_id"]).drop_duplicates("person_id")
        rows = rows.set_index("person_id").drop(columns=["modified_at"])
        pairs = dups.merge(others, on="true_id", suffixes=("_dup", "_main"))
        for dup_id, main_id in zip(pairs["person_id_dup"], pairs["person_id_main"], strict=True):
            assert not rows.loc[dup_id].equals(rows.loc[main_id])


def test_unborn_placeholders_are_exact(demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]) -> None:
    overdue_by = REFERENCE_DATE - timedelta(days=30)
    found_overdue = set()
    for source in SOURCES:
        rows = with_truth(demo, config, truth, source)
        placeholder = rows["dob"].isna() & rows["expected_dob"].notna()
        assert set(rows.loc[placeholder, "person_id"]) == planted_ids(truth, source, "unborn_placeholder")
        held = rows[placeholder]
        assert held["forename"].str.match("^(Baby|Unborn)").all()
        fmt = config["sources"][source]["entities"]["person"]["formats"]["expected_dob"]
        due = held["expected_dob"].map(lambda v, f=fmt: datetime.strptime(v, f).date())
        never_born = held["true_unborn_state"] != "born"
        overdue = held[(due < overdue_by) & never_born]
        assert set(overdue["person_id"]) == planted_ids(truth, source, "unborn_overdue")
        found_overdue |= set(overdue["true_id"])
    pt = truth["person_truth"]
    assert (pt[pt["true_id"].isin(found_overdue)].groupby("true_id").size() == 1).all()  # no real record anywhere
    states = truth["true_person"]["unborn_state"].dropna()
    assert {"future", "overdue", "born"} <= set(states)


def test_contact_timing_and_consent_are_exact(
    demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]
) -> None:
    for source in SOURCES:
        contacts = read(demo, config, source, "contact")
        fmt = config["sources"][source]["entities"]["contact"]["formats"]
        got = contacts["contact_datetime"].map(lambda v, f=fmt["contact_datetime"]: parse(v, f))
        decided = contacts["decision_datetime"].map(lambda v, f=fmt["decision_datetime"]: parse(v, f))
        delay = decided - got
        ids = contacts["contact_id"]
        assert set(ids[decided.isna()]) == planted_ids(truth, source, "contact_decision_missing")
        assert set(ids[delay >= LATE]) == planted_ids(truth, source, "contact_decision_late")
        assert set(ids[delay < timedelta(0)]) == planted_ids(truth, source, "decision_before_contact")
        on_time = (delay > timedelta(0)) & (delay <= ON_TIME)
        assert (on_time | decided.isna() | (delay >= LATE) | (delay < timedelta(0))).all()
        assert set(ids[contacts["consent"].isna()]) == planted_ids(truth, source, "consent_missing")
        assert set(contacts["consent"].dropna()) == {"Y", "N"}


def _open_children(
    demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame], entity: str, end: str
) -> pd.DataFrame:
    pt = truth["person_truth"].dropna(subset=["person_id"]).drop_duplicates(["source_system", "person_id"])
    frames = []
    for source in SOURCES:
        frame = read(demo, config, source, entity)
        frame = frame[frame[end].isna()].assign(source_system=source)
        frames.append(frame.merge(pt, on=["source_system", "person_id"], validate="many_to_one"))
    return pd.concat(frames, ignore_index=True)


def test_cp_plans_on_one_system_only_are_exact(
    demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]
) -> None:
    active = _open_children(demo, config, truth, "cp_plan", "end_date")
    pt = truth["person_truth"]
    held = pt[pt["role"] == "child"].groupby("true_id")["source_system"].nunique()
    planned = active.groupby("true_id")["source_system"].nunique()
    lonely = active[active["true_id"].map(held).eq(2) & active["true_id"].map(planned).eq(1)]
    for source in SOURCES:
        got = set(lonely.loc[lonely["source_system"] == source, "plan_id"])
        assert got == planted_ids(truth, source, "cp_plan_one_system_only")


def test_open_in_both_systems_is_exact(demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]) -> None:
    open_ = _open_children(demo, config, truth, "involvement", "end_date")
    both = open_[open_["true_id"].map(open_.groupby("true_id")["source_system"].nunique()).eq(2)]
    for source in SOURCES:
        got = set(both.loc[both["source_system"] == source, "involvement_id"])
        assert got == planted_ids(truth, source, "open_in_both_systems")


def test_name_variations_change_the_name(
    demo: DemoFiles, config: dict[str, Any], truth: dict[str, pd.DataFrame]
) -> None:
    for source in SOURCES:
        rows = with_truth(demo, config, truth, source).set_index("person_id")
        same = (rows["forename"] == rows["true_forename"]) & (rows["surname"] == rows["true_surname"])
        for kind in ("typo", "nickname", "transliteration", "surname_change", "double_barrelled", "name_swap"):
            ids = planted_ids(truth, source, kind)
            assert not same.loc[sorted(ids)].any(), kind
        double = rows.loc[sorted(planted_ids(truth, source, "double_barrelled"))]
        assert (double["surname"] + double["forename"]).str.contains("-").all()  # name_swap may move it
        other_kinds = ("typo", "nickname", "transliteration", "surname_change", "double_barrelled")
        only_swapped = planted_ids(truth, source, "name_swap").difference(
            *(planted_ids(truth, source, k) for k in other_kinds)
        )
        swapped = rows.loc[sorted(only_swapped)]
        assert (swapped["forename"] == swapped["true_surname"]).all()
        assert (swapped["surname"] == swapped["true_forename"]).all()
        moved = rows.loc[sorted(planted_ids(truth, source, "moved_address"))]
        assert (moved["postcode"] != moved["true_postcode"]).all()
        middle = rows.loc[sorted(planted_ids(truth, source, "middle_names_missing"))]
        assert middle["middle_names"].isna().all() and middle["true_middle_names"].notna().all()


def test_systems_code_the_same_facts_differently(demo: DemoFiles) -> None:
    with sqlite3.connect(demo.lcs) as con:
        lcs_sex = {r[0] for r in con.execute("SELECT DISTINCT GENDER FROM LCS_PERSON")}
        lcs_dob = con.execute("SELECT DOB FROM LCS_PERSON WHERE DOB IS NOT NULL LIMIT 1").fetchone()[0]
    with sqlite3.connect(demo.mosaic) as con:
        mosaic_sex = {r[0] for r in con.execute("SELECT DISTINCT gender FROM people")}
        mosaic_dob = con.execute("SELECT date_of_birth FROM people WHERE date_of_birth > '' LIMIT 1").fetchone()[0]
        spaced = con.execute("SELECT COUNT(*) FROM people WHERE nhs_no LIKE '___ ___ ____'").fetchone()[0]
        steps = {r[0] for r in con.execute("SELECT DISTINCT step_type FROM workflow_steps")}
    assert lcs_sex <= {"M", "F", "U", "X"} and {"M", "F"} <= lcs_sex
    assert {"Male", "Female", "Not known"} <= mosaic_sex
    assert date.fromisoformat(lcs_dob) and datetime.strptime(mosaic_dob, "%d/%m/%Y")
    assert spaced > 0
    assert steps == {"CONTACT", "REFERRAL", "ASSESSMENT"}

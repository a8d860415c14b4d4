"""Families across systems, scored against the synthetic generator's ground truth."""

from __future__ import annotations

import sqlite3

import pandas as pd
import sqlalchemy as sa

from conftest import read_frame, table_rows
from reconcile.masters.activity import activity_view_sql, create_activity_view
from reconcile.masters.families import master_families, master_relationships
from reconcile.match import match
from reconcile.matching.master_ids import IssuedIds


def _truth(files) -> pd.DataFrame:
    with sqlite3.connect(files.truth) as conn:
        truth = pd.read_sql("SELECT * FROM person_truth WHERE person_id IS NOT NULL", conn)
    return truth.drop_duplicates(["source_system", "person_id"]).rename(columns={"family_id": "true_family"})


def _families(files, config) -> pd.DataFrame:
    xref = read_frame(config.target_url(), "SELECT source_system, source_id AS person_id, master_id FROM person_xref")
    family = read_frame(config.target_url(), "SELECT master_id, family_id, role FROM master_family")
    return _truth(files).merge(xref, on=["source_system", "person_id"]).merge(family, on="master_id", how="left")


def test_every_family_known_to_both_systems_has_one_family_id(synthetic_run):
    files, config, summary = synthetic_run
    members = _families(files, config)
    systems = members.groupby("true_family")["source_system"].nunique()
    in_both = members[members["true_family"].isin(systems[systems > 1].index)]
    assert in_both["true_family"].nunique() > 100
    per_family = in_both.groupby("true_family")["family_id"].nunique()
    assert (per_family == 1).all(), per_family[per_family != 1]
    # and no family of ours holds two real families
    assert (members.dropna(subset=["family_id"]).groupby("family_id")["true_family"].nunique() == 1).all()
    assert summary.families == members["family_id"].nunique() and summary.families_split > 0


def test_family_ids_stay_stable_across_runs(synthetic_run):
    _, config, _ = synthetic_run
    before = read_frame(config.target_url(), "SELECT master_id, family_id FROM master_family ORDER BY master_id")
    match(config)
    after = read_frame(config.target_url(), "SELECT master_id, family_id FROM master_family ORDER BY master_id")
    pd.testing.assert_frame_equal(before, after)


def test_relationships_are_remapped_deduplicated_and_siblings_derived():
    relationships = pd.DataFrame(
        {
            "source_system": ["lcs", "lcs", "mosaic", "mosaic"],
            "person_id": ["c1", "c2", "k1", "k1"],
            "related_person_id": ["m", "m", "mum", "mum"],
            "relationship": ["mother", "mother", "mother", "mother"],
        }
    )
    xref = pd.DataFrame(
        {
            "source_system": ["lcs", "lcs", "lcs", "mosaic", "mosaic"],
            "person_id": ["c1", "c2", "m", "k1", "mum"],
            "master_id": ["MC1", "MC2", "MM", "MC1", "MM"],  # the mother and the first child are in both systems
        }
    )
    links = master_relationships(relationships, xref)
    recorded = links[~links["derived"]]
    assert set(zip(recorded["master_id"], recorded["related_master_id"], recorded["relationship"], strict=True)) == {
        ("MC1", "MM", "mother"),
        ("MC2", "MM", "mother"),
    }
    assert recorded.set_index("master_id").loc["MC1", "source_systems"] == "lcs,mosaic"
    derived = links[links["derived"]]
    assert set(zip(derived["master_id"], derived["related_master_id"], strict=True)) == {("MC1", "MC2"), ("MC2", "MC1")}
    family, _ = master_families(links, pd.DataFrame(columns=["master_id", "related_master_id"]), None, IssuedIds())
    assert family["family_id"].nunique() == 1
    assert dict(zip(family["master_id"], family["role"], strict=True)) == {
        "MC1": "child",
        "MC2": "child",
        "MM": "mother",
    }


def test_master_activity_reaches_every_activity_row(synthetic_run):
    _, config, _ = synthetic_run
    url = config.target_url()
    for entity in ("contact", "referral", "assessment", "cp_plan", "involvement"):
        rows = table_rows(url, f"SELECT count(*) FROM {entity}")[0][0]
        viewed = table_rows(url, f"SELECT count(*) FROM master_activity WHERE entity = '{entity}'")[0][0]
        assert viewed == rows > 0
    orphans = table_rows(
        url,
        "SELECT count(*) FROM master_activity a JOIN contact c ON c.contact_id = a.source_id "
        "WHERE a.master_id IS NULL AND c.person_id IS NOT NULL",
    )[0][0]
    assert orphans == 0
    first = table_rows(
        url,
        "SELECT c.contact_datetime, a.start_at, c.decision_datetime, a.end_at FROM contact c "
        "JOIN master_activity a ON a.entity = 'contact' AND a.source_id = c.contact_id "
        "AND a.source_system = c.source_system WHERE c.decision_datetime IS NOT NULL LIMIT 1",
    )[0]
    assert first[0] == first[1] and first[2] == first[3]  # times come through as they are, not as numbers
    open_plans = table_rows(url, "SELECT count(*) FROM master_activity WHERE entity = 'cp_plan' AND status = 'open'")
    assert open_plans[0][0] == table_rows(url, "SELECT count(*) FROM cp_plan WHERE end_date IS NULL")[0][0]


def test_the_activity_view_is_replaced_only_when_its_definition_changed(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'target.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE VIEW master_activity AS SELECT 1 AS stale")  # as an earlier version left it
    create_activity_view(engine)
    statements = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    create_activity_view(engine)  # already as this version writes it: no schema change
    with engine.connect() as conn:
        held = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'master_activity'").scalar()
    assert held == activity_view_sql(engine.dialect)
    assert not [s for s in statements if s.startswith(("DROP", "CREATE"))]
    assert statements  # it did look

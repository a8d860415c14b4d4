"""The SSD preset: an SSD extract database loads from its URL alone."""

from __future__ import annotations

from conftest import TODAY, config_for, sqlite_db, table_rows
from reconcile.extract import extract

SSD_SCRIPT = """
CREATE TABLE ssd_person (pers_legacy_id TEXT, pers_person_id TEXT, pers_sex TEXT, pers_gender TEXT,
  pers_ethnicity TEXT, pers_dob DATETIME, pers_single_unique_id TEXT, pers_upn TEXT, pers_expected_dob DATETIME,
  pers_death_date DATETIME, pers_forename TEXT, pers_surname TEXT);
INSERT INTO ssd_person VALUES
  ('L1', '101', 'F', 'F', 'WBRI', '2016-04-03 00:00:00', NULL, 'A123456789012', NULL, NULL, 'Amelia', 'Khan'),
  ('L2', '102', 'I', 'I', 'APKN', NULL, NULL, NULL, '2026-12-01 00:00:00', NULL, 'Baby', 'Khan'),
  ('L3', '103', 'M', 'M', 'WBRI', '1990-01-01 00:00:00', NULL, NULL, NULL, NULL, 'Imran', 'Khan');
CREATE TABLE ssd_linked_identifiers (link_table_id TEXT, link_person_id TEXT, link_identifier_type TEXT,
  link_identifier_value TEXT, link_valid_from_date DATETIME, link_valid_to_date DATETIME);
INSERT INTO ssd_linked_identifiers VALUES ('1', '101', 'NHS Number', '9434765919', NULL, NULL);
CREATE TABLE ssd_address (addr_table_id TEXT, addr_person_id TEXT, addr_address_type TEXT,
  addr_address_start_date DATETIME, addr_address_end_date DATETIME, addr_address_postcode TEXT,
  addr_address_json TEXT);
INSERT INTO ssd_address VALUES
  ('a1', '101', 'HOME', '2018-01-01 00:00:00', '2022-01-01 00:00:00', 'LS1 1AA', '{"STREET": "Old Road"}'),
  ('a2', '101', 'HOME', '2022-01-01 00:00:00', NULL, 'LS6 2BB', '{"STREET": "New Road"}'),
  ('a3', '101', 'HOME', NULL, NULL, 'ZZ9 9ZZ', '{"STREET": "Undated Road"}');
CREATE TABLE ssd_mother (moth_table_id TEXT, moth_person_id TEXT, moth_childs_person_id TEXT, moth_childs_dob DATETIME);
INSERT INTO ssd_mother VALUES ('m1', '103', '101', NULL);
CREATE TABLE ssd_contacts (cont_contact_id TEXT, cont_person_id TEXT, cont_contact_date DATETIME,
  cont_contact_source_code TEXT, cont_contact_source_desc TEXT, cont_contact_outcome_json TEXT);
INSERT INTO ssd_contacts VALUES ('c1', '101', '2026-10-01 09:30:00', 'POL', 'Police', '{"NFA_FLAG": "Y"}');
CREATE TABLE ssd_cp_plans (cppl_cp_plan_id TEXT, cppl_referral_id TEXT, cppl_icpc_id TEXT, cppl_person_id TEXT,
  cppl_cp_plan_start_date DATETIME, cppl_cp_plan_end_date DATETIME, cppl_cp_plan_ola TEXT,
  cppl_cp_plan_initial_category TEXT, cppl_cp_plan_latest_category TEXT);
INSERT INTO ssd_cp_plans VALUES ('cp1', 'r1', 'i1', '101', '2026-06-01 00:00:00', NULL, 'N', 'Neglect', 'Emotional');
CREATE TABLE ssd_involvements (invo_involvements_id TEXT, invo_professional_id TEXT, invo_professional_role_id TEXT,
  invo_professional_team TEXT, invo_person_id TEXT, invo_involvement_start_date DATETIME,
  invo_involvement_end_date DATETIME, invo_worker_change_reason TEXT, invo_referral_id TEXT);
INSERT INTO ssd_involvements VALUES ('i1', 'w9', 'SW', 'T1', '101', '2026-06-01 00:00:00', NULL, NULL, 'r1');
CREATE TABLE ssd_professionals (prof_professional_id TEXT, prof_staff_id TEXT, prof_professional_name TEXT);
INSERT INTO ssd_professionals VALUES ('w9', 's9', 'Sam Worker');
"""


def test_an_ssd_database_loads_from_its_url_alone(tmp_path):
    sqlite_db(tmp_path / "ssd.db", SSD_SCRIPT)
    config = config_for(tmp_path, {"council_a": {"connector": "ssd", "url": "sqlite:///ssd.db"}})
    result = extract(config, today=TODAY)
    counts = {c.entity: (c.read, c.loaded, c.rejected) for c in result.counts}
    assert counts == {
        "person": (3, 3, 0),
        "relationship": (1, 1, 0),
        "contact": (1, 1, 0),
        "cp_plan": (1, 1, 0),
        "involvement": (1, 1, 0),
    }
    target = config.target_url()
    amelia = table_rows(
        target, "SELECT forename, dob, sex, nhs_number, upn, postcode, address FROM person WHERE person_id = '101'"
    )
    assert amelia == [("Amelia", "2016-04-03", "F", "9434765919", "A123456789012", "LS6 2BB", '{"STREET": "New Road"}')]
    assert table_rows(target, "SELECT sex, expected_dob FROM person WHERE person_id = '102'") == [("U", "2026-12-01")]
    assert table_rows(target, "SELECT person_id, related_person_id, relationship FROM relationship") == [
        ("101", "103", "mother")
    ]
    assert table_rows(target, "SELECT worker, team FROM involvement") == [("Sam Worker", "T1")]
    assert table_rows(target, "SELECT category FROM cp_plan") == [("Emotional",)]
    assert table_rows(target, "SELECT count(*) FROM field_issue") == [(0,)]


def test_entities_in_the_config_replace_the_preset(tmp_path):
    sqlite_db(tmp_path / "ssd.db", SSD_SCRIPT)
    person = {"query": "SELECT pers_person_id AS person_id, pers_legacy_id AS surname FROM ssd_person"}
    config = config_for(
        tmp_path, {"council_a": {"connector": "ssd", "url": "sqlite:///ssd.db", "entities": {"person": person}}}
    )
    extract(config, today=TODAY)
    surnames = table_rows(config.target_url(), "SELECT surname FROM person ORDER BY person_id")
    assert surnames == [("L1",), ("L2",), ("L3",)]


def test_a_database_without_ssd_tables_is_refused(tmp_path):
    sqlite_db(tmp_path / "other.db", "CREATE TABLE people (id TEXT);")
    config = config_for(tmp_path, {"council_a": {"connector": "ssd", "url": "sqlite:///other.db"}})
    import pytest

    from reconcile.errors import SourceError

    with pytest.raises(SourceError, match="no ssd_person table: this is not an SSD database"):
        extract(config, today=TODAY)


def test_the_ssd_preset_compiles_for_postgresql_and_takes_the_latest_dated_address(tmp_path, postgres, unique):
    """PostgreSQL sorts NULL first in DESC order: an undated address must still not win there."""
    import sqlalchemy as sa

    with postgres.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {unique}"))
        conn.execute(sa.text(f"SET LOCAL search_path TO {unique}"))
        for statement in SSD_SCRIPT.replace("DATETIME", "TIMESTAMP").split(";"):
            if statement.strip():
                conn.execute(sa.text(statement))
    url = postgres.url.update_query_dict({"options": f"-csearch_path={unique}"})
    try:
        config = config_for(tmp_path, {"council_a": {"connector": "ssd", "url": url.render_as_string(False)}})
        result = extract(config, today=TODAY)
        assert {c.entity: c.loaded for c in result.counts}["person"] == 3
        amelia = table_rows(config.target_url(), "SELECT postcode, nhs_number FROM person WHERE person_id = '101'")
        assert amelia == [("LS6 2BB", "9434765919")]
    finally:
        with postgres.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {unique} CASCADE"))

"""Connectors against the real PostgreSQL and MariaDB servers: typed columns, streaming, read-only, timeouts."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from conftest import TODAY, config_for, table_rows
from connectors import open_connector
from reconcile.errors import SourceError
from reconcile.extract import extract
from reconcile.match import match

SERVERS = ["postgres", "mariadb"]


@pytest.fixture(params=SERVERS)
def server(request, unique):
    """A legacy table with the server's own types, dropped afterwards."""
    engine: sa.Engine = request.getfixturevalue(request.param)
    people = sa.Table(
        f"{unique}_person",
        sa.MetaData(),
        sa.Column("PERSON_ID", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("FORENAME", sa.String(50)),
        sa.Column("SURNAME", sa.String(50)),
        sa.Column("DOB", sa.Date),
        sa.Column("NHS_NUMBER", sa.BigInteger),
        sa.Column("LAST_UPDATED", sa.DateTime),
    )
    people.create(engine)
    with engine.begin() as conn:
        conn.execute(
            people.insert(),
            [
                {
                    "PERSON_ID": 1,
                    "FORENAME": "Zoë",
                    "SURNAME": "Nowak",
                    "DOB": TODAY.replace(year=2015),
                    "NHS_NUMBER": 9434765919,
                    "LAST_UPDATED": None,
                },
                {
                    "PERSON_ID": 2,
                    "FORENAME": "Muhammad",
                    "SURNAME": "Khan",
                    "DOB": None,
                    "NHS_NUMBER": None,
                    "LAST_UPDATED": None,
                },
                {
                    "PERSON_ID": 3,
                    "FORENAME": "Evie",
                    "SURNAME": "Smith-Jones",
                    "DOB": TODAY.replace(year=2099),
                    "NHS_NUMBER": None,
                    "LAST_UPDATED": None,
                },
            ],
        )
    yield request.param, engine, str(people.name)
    people.drop(engine)


def _source(engine: sa.Engine, entities: dict, **extra) -> dict:
    url = engine.url.render_as_string(hide_password=False)
    return {"connector": "sql", "url": url, "entities": entities, **extra}


def test_typed_columns_load_as_canonical_values(tmp_path, server):
    _, engine, name = server
    entities = {
        "person": {
            "table": name,
            "columns": {
                "person_id": "PERSON_ID",
                "forename": "FORENAME",
                "surname": "SURNAME",
                "dob": "DOB",
                "nhs_number": "NHS_NUMBER",
                "modified_at": "LAST_UPDATED",
            },
        }
    }
    config = config_for(tmp_path, {"legacy": _source(engine, entities, chunk_size=2)})
    chunks = []
    result = extract(config, today=TODAY, on_chunk=lambda c: chunks.append(c.read))
    assert chunks == [2, 3]  # streamed in chunks of at most chunk_size
    assert [(c.read, c.loaded, c.rejected) for c in result.counts] == [(3, 3, 0)]
    rows = table_rows(config.target_url(), "SELECT person_id, forename, nhs_number, dob FROM person ORDER BY person_id")
    assert rows == [("1", "Zoë", "9434765919", "2015-11-01"), ("2", "Muhammad", None, None), ("3", "Evie", None, None)]
    assert table_rows(config.target_url(), "SELECT source_id, field, problem FROM field_issue") == [
        ("3", "dob", "in the future")
    ]


def test_a_query_with_a_cte_loads(tmp_path, server):
    _, engine, name = server
    q = engine.dialect.identifier_preparer.quote  # the table was created with upper-case, quoted names
    query = (
        f"WITH p AS (SELECT {q('PERSON_ID')} AS pid, {q('SURNAME')} AS sn FROM {name} "
        f"WHERE {q('SURNAME')} <> 'Khan') SELECT pid AS person_id, sn AS surname FROM p"
    )
    config = config_for(tmp_path, {"legacy": _source(engine, {"person": {"query": query}})})
    result = extract(config, today=TODAY)
    assert result.counts[0].loaded == 2


def test_the_session_itself_refuses_writes(tmp_path, server):
    """The second lock: even SQL that slipped past the SELECT check cannot write."""
    _, engine, name = server
    config = config_for(tmp_path, {"legacy": _source(engine, {"person": {"table": name}})})
    connector = open_connector("legacy", config.sources["legacy"], config.base_dir)
    try:
        with connector.engine.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="(?i)read.only"):
            conn.execute(sa.text(f"INSERT INTO {name} VALUES (99, NULL, NULL, NULL, NULL, NULL)"))
    finally:
        connector.close()
    assert table_rows(engine.url, f"SELECT count(*) FROM {name}") == [(3,)]


@pytest.mark.parametrize(
    "server_name,slow_query",
    [
        ("postgres", "SELECT pg_sleep(10) AS person_id"),
        ("mariadb", "SELECT SLEEP(10) AS person_id"),
    ],
)
def test_a_source_that_times_out_is_a_clear_error(tmp_path, request, server_name, slow_query):
    engine = request.getfixturevalue(server_name)
    config = config_for(tmp_path, {"legacy": _source(engine, {"person": {"query": slow_query}}, timeout=1)})
    started = time.monotonic()
    with pytest.raises(SourceError, match="source 'legacy', entity 'person'"):
        extract(config, today=TODAY)
    assert time.monotonic() - started < 8


def test_postgresql_as_the_target(tmp_path, postgres, legacy, unique):
    """PostgreSQL is the production target: the same load lands there, in its own schema."""
    with postgres.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {unique}"))
    target = postgres.url.update_query_dict({"options": f"-csearch_path={unique}"})
    try:
        entities = {"person": {"table": "LCS_PERSON", "columns": {"person_id": "PERSON_ID", "surname": "SURNAME"}}}
        config = config_for(
            tmp_path,
            {"lcs": {"connector": "sql", "url": "sqlite:///lcs.db", "entities": entities}},
            target=target.render_as_string(hide_password=False),
        )
        result = extract(config, today=TODAY)
        assert [(c.read, c.loaded, c.rejected) for c in result.counts] == [(6, 4, 2)]
        assert table_rows(target, "SELECT count(*) FROM person") == [(4,)]
        assert table_rows(target, "SELECT count(*) FROM rejected_record") == [(2,)]
        summary = match(config)  # the match step and the master_activity view, in PostgreSQL's own SQL
        assert table_rows(target, "SELECT count(*) FROM person_xref") == [(4,)] and summary.records == 4
        assert table_rows(target, "SELECT count(*) FROM master_activity") == [(0,)]
    finally:
        with postgres.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {unique} CASCADE"))


@pytest.mark.parametrize("ci,outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_an_unreachable_server_skips_locally_and_fails_under_ci(monkeypatch, ci, outcome):
    from conftest import reachable_server

    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="is not reachable at postgresql"):
        reachable_server("postgresql+psycopg://nobody@127.0.0.1:1/nowhere", "PostgreSQL")


MAPPINGS = {
    "table": None,
    "query": "SELECT {id} AS person_id, {surname} AS surname, {updated} AS modified_at FROM {table}",
    # PostgreSQL keeps these names' case, so the night cannot select `person_id` from the query: read whole.
    "quoted query": 'SELECT {id} AS "PERSON_ID", {surname} AS "SURNAME", {updated} AS "MODIFIED_AT" FROM {table}',
}


@pytest.mark.parametrize("mapping", MAPPINGS)
def test_a_night_reads_rows_by_integer_key_and_timestamp(tmp_path, request, unique, stamped_plans, mapping):
    """On each server, with typed columns: rows whose stamp moved are read again by their integer keys, from
    the table or from the query; a query the night cannot narrow is read whole and loads the same rows."""
    from datetime import datetime

    for server_name in SERVERS if mapping != "quoted query" else ["postgres"]:
        engine: sa.Engine = request.getfixturevalue(server_name)
        people = sa.Table(
            f"{unique}_stamped",
            sa.MetaData(),
            sa.Column("ID", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("SURNAME", sa.String(50)),
            sa.Column("UPDATED", sa.DateTime),
        )
        people.create(engine)
        try:
            before = datetime(2026, 10, 1, 9, 0)
            with engine.begin() as conn:
                conn.execute(people.insert(), [{"ID": i, "SURNAME": f"S{i}", "UPDATED": before} for i in range(1, 41)])
            columns = {"person_id": "ID", "surname": "SURNAME", "modified_at": "UPDATED"}
            quote = engine.dialect.identifier_preparer.quote
            names = {"id": quote("ID"), "surname": quote("SURNAME"), "updated": quote("UPDATED"), "table": people.name}
            entity = {"table": str(people.name), "columns": columns} if MAPPINGS[mapping] is None else {
                "query": MAPPINGS[mapping].format(**names)}  # fmt: skip
            folder = tmp_path / server_name
            folder.mkdir()
            config = config_for(folder, {"legacy": _source(engine, {"person": entity})})
            extract(config, today=TODAY)
            with engine.begin() as conn:
                later = datetime(2026, 11, 2, 2, 30)
                conn.execute(people.update().where(people.c.ID == 1).values(SURNAME="Moved", UPDATED=later))
                conn.execute(people.update().where(people.c.ID == 2).values(SURNAME="Hidden"))  # stamp not moved
                conn.execute(people.delete().where(people.c.ID == 3))
                conn.execute(people.insert().values(ID=41, SURNAME="New", UPDATED=later))
            stamped_plans.clear()
            night = extract(config, today=TODAY)
            narrowed = mapping != "quoted query"
            assert (stamped_plans[0] is not None) == narrowed
            assert [(c.read, c.loaded, c.rejected) for c in night.counts] == [(40, 40, 0)]
            assert night.canonicalised == (2 if narrowed else 3)  # a whole read sees the change the stamp hid
            query = "SELECT person_id, surname FROM person WHERE person_id IN ('1', '2', '3', '41') ORDER BY person_id"
            hidden = "S2" if narrowed else "Hidden"
            assert table_rows(config.target_url(), query) == [("1", "Moved"), ("2", hidden), ("41", "New")]
        finally:
            people.drop(engine)

"""Only a single SELECT reaches a legacy system, however the write is dressed up."""

from __future__ import annotations

import pytest

from connectors.guard import ensure_select
from reconcile.errors import ConfigError

WHERE = "sources.lcs.entities.person"


@pytest.mark.parametrize(
    "query",
    [
        "SELECT PERSON_ID AS person_id FROM LCS_PERSON",
        "with p as (select 1 as person_id) select * from p",
        "SELECT a AS person_id FROM t UNION ALL SELECT b FROM u",
        "SELECT pg_sleep(1) AS person_id",
    ],
)
def test_selects_pass(query):
    ensure_select(query, "postgresql", WHERE)


@pytest.mark.parametrize(
    "query,says",
    [
        ("DELETE FROM LCS_PERSON", "is a DELETE, not a SELECT"),
        ("UPDATE LCS_PERSON SET SURNAME = 'x'", "is a UPDATE, not a SELECT"),
        ("SELECT 1; DROP TABLE LCS_PERSON", "holds 2 statements"),
        ("SELECT * INTO copy FROM LCS_PERSON", "contains INTO, which writes or locks"),
        ("WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", "contains DELETE, which writes or locks"),
        ("SELECT * FROM LCS_PERSON FOR UPDATE", "contains LOCK, which writes or locks"),
        ("SELECT FROM WHERE (", "could not be read as a single SELECT"),
    ],
)
def test_writes_and_locks_are_refused(query, says):
    with pytest.raises(ConfigError, match=f"{WHERE}.query: {says}"):
        ensure_select(query, "postgresql", WHERE)


def test_tsql_and_mysql_dialects_are_understood():
    ensure_select("SELECT TOP 10 [PERSON_ID] AS person_id FROM [dbo].[PEOPLE]", "mssql", WHERE)
    ensure_select("SELECT `PERSON_ID` AS person_id FROM `people`", "mysql", WHERE)
    with pytest.raises(ConfigError):
        ensure_select("INSERT INTO `people` VALUES (1)", "mariadb", WHERE)

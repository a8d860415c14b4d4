"""The first of two locks against writing to a legacy system: only a single SELECT gets through.

The second lock is the read-only session (`connectors.readonly`); either alone would
stop most accidents, together they stop a query that hides a write inside a CTE.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from reconcile.errors import ConfigError

# SQLAlchemy dialect name -> sqlglot dialect name, where they differ.
_DIALECTS = {"postgresql": "postgres", "mssql": "tsql", "mariadb": "mysql"}
_WRITES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Into,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Lock,
    exp.Command,
    exp.TruncateTable,
)


def ensure_select(query: str, dialect: str, where: str) -> None:
    """Raise ConfigError unless `query` is one SELECT (or WITH ... SELECT, or a UNION of them)."""
    try:
        statements = [s for s in sqlglot.parse(query, read=_DIALECTS.get(dialect, dialect)) if s is not None]
    except ParseError:
        raise ConfigError(
            f"{where}.query: could not be read as a single SELECT. "
            "Fix: simplify it, or use `table` and `columns` instead."
        ) from None
    if len(statements) != 1:
        raise ConfigError(f"{where}.query: holds {len(statements)} statements. Fix: give exactly one SELECT.")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise ConfigError(
            f"{where}.query: is a {statement.key.upper()}, not a SELECT. Connectors only read legacy systems."
        )
    for node in statement.walk():
        if isinstance(node, _WRITES):
            raise ConfigError(
                f"{where}.query: contains {node.key.upper()}, which writes or locks. "
                "Connectors only read legacy systems."
            )

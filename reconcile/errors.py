"""Errors the CLI turns into a clear message and exit code 3, never a traceback.

Messages name files, keys, sources and steps; they never carry a record's values.
"""

from __future__ import annotations


class ReconcileError(Exception):
    """Anything the user can fix; the message says how."""


class ConfigError(ReconcileError):
    pass


class SourceError(ReconcileError):
    """A source could not be read: unreachable, timed out, or a query failed mid-stream."""

    def __init__(self, source: str, entity: str | None, step: str, detail: str) -> None:
        where = f"source '{source}'" + (f", entity '{entity}'" if entity else "")
        super().__init__(f"{where}: {step} failed: {detail}")
        self.source = source
        self.entity = entity
        self.step = step

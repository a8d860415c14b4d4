"""The extract step: every source row ends up loaded or rejected with a reason, and nothing else.

Rows read = rows loaded + rows rejected, for each source and entity. The counts are kept in
`load_summary` and checked before anything is published.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pandas as pd
import sqlalchemy as sa

from connectors import Connector, open_connector
from reconcile import changes
from reconcile.canonicalise import canonicalise
from reconcile.config import Config, EntitySpec
from reconcile.errors import ConfigError, ReconcileError
from reconcile.model import ENTITIES
from reconcile.store import (
    CANONICAL,
    RECORD_CHANGE,
    RECORD_STATE,
    RUN_TABLES,
    Stage,
    connect_target,
    discard_quietly,
)

log = logging.getLogger(__name__)


@dataclass
class LoadCount:
    source_system: str
    entity: str
    read: int = 0
    loaded: int = 0
    rejected: int = 0
    field_issues: int = 0


@dataclass(frozen=True)
class ExtractResult:
    run_id: str
    counts: list[LoadCount]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([vars(c) for c in self.counts], columns=list(vars(LoadCount("", ""))))


def new_run_id() -> str:
    """Sortable by time, so 'the latest run' is simply the greatest ID."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def extract(
    config: Config,
    *,
    today: date | None = None,
    run_id: str | None = None,
    on_chunk: Callable[[LoadCount], None] | None = None,
) -> ExtractResult:
    today = today or date.today()
    run_id = run_id or new_run_id()
    engine = connect_target(config.target_url())
    tables = [*CANONICAL.values(), *RUN_TABLES, RECORD_STATE, RECORD_CHANGE]
    stage = Stage(engine, run_id, tables, drops={RECORD_STATE.name: changes.STATE_KEY})
    counts: list[LoadCount] = []
    states: list[pd.DataFrame] = []
    try:
        for name in config.sources:
            counts.extend(_extract_source(config, name, stage, today, on_chunk, states))
        summary = pd.DataFrame([vars(c) for c in counts])
        stage.append("load_summary", summary)
        sources = list(config.sources)
        _stage_changes(engine, stage, sources, states)
        stage.publish(
            replace={name: table.c.source_system.in_(sources) for name, table in CANONICAL.items()},
            append=[table.name for table in (*RUN_TABLES, RECORD_CHANGE)],
        )
    except BaseException:
        discard_quietly(stage)
        raise
    finally:
        engine.dispose()
    log.info("extract published run %s: %d rows loaded", run_id, sum(c.loaded for c in counts))
    return ExtractResult(run_id, counts)


def _stage_changes(engine: sa.Engine, stage: Stage, sources: list[str], states: list[pd.DataFrame]) -> None:
    """Fingerprints that differ from the last load replace theirs; what changed is recorded for `match`.

    A first load records no changes: there is nothing to compare with, and the first match is a full one.
    """
    new = pd.concat(states, ignore_index=True) if states else pd.DataFrame(columns=changes.STATE_COLUMNS)
    with engine.connect() as conn:
        old = changes.read_state(conn, sources)
    found = changes.diff(old, new)
    stage.drop(RECORD_STATE.name, found.loc[found["change"] != "new", changes.STATE_KEY])
    fresh = found.loc[found["change"] != "deleted", changes.STATE_KEY]
    stage.append(RECORD_STATE.name, new.merge(fresh, on=changes.STATE_KEY) if len(old) else new)
    if len(old):
        stage.append(RECORD_CHANGE.name, found)
    log.info("extract: %d tracked rows new, changed or deleted since the last load", len(found) if len(old) else 0)


def _extract_source(
    config: Config,
    name: str,
    stage: Stage,
    today: date,
    on_chunk: Callable[[LoadCount], None] | None,
    states: list[pd.DataFrame],
) -> list[LoadCount]:
    connector = open_connector(name, config.sources[name], config.base_dir)
    try:
        return [
            _extract_entity(connector, entity_name, spec, stage, today, on_chunk, states)
            for entity_name, spec in connector.entities().items()
        ]
    except ConfigError as exc:  # found only once the source answered, e.g. a query's columns
        raise ConfigError(f"{config.path}: {exc}") from None
    finally:
        connector.close()


def _extract_entity(
    connector: Connector,
    entity_name: str,
    spec: EntitySpec,
    stage: Stage,
    today: date,
    on_chunk: Callable[[LoadCount], None] | None,
    states: list[pd.DataFrame],
) -> LoadCount:
    entity = ENTITIES[entity_name]
    count = LoadCount(connector.name, entity_name)
    seen: set[str] = set()
    for chunk in connector.read(entity_name, spec):
        result = canonicalise(chunk, entity, spec, connector.name, seen, today)
        stage.append(entity_name, result.rows)
        if entity_name in changes.TRACKED:
            states.append(changes.fingerprints(result.rows, entity_name))
        stage.append("rejected_record", result.rejected)
        stage.append("field_issue", result.issues)
        seen |= result.keys
        count.read += len(chunk)
        count.loaded += len(result.rows)
        count.rejected += len(result.rejected)
        count.field_issues += len(result.issues)
        if on_chunk:
            on_chunk(count)
    if count.read != count.loaded + count.rejected:
        raise ReconcileError(f"internal error: {connector.name}.{entity_name} lost rows; nothing was published")
    if count.read == 0:
        log.warning("source %s entity %s is empty", connector.name, entity_name)
    return count

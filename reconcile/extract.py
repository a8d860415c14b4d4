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
from reconcile import changes, raw_state, stamped_read
from reconcile.canonicalise import canonical_rows, screen
from reconcile.config import Config, EntitySpec
from reconcile.entity_load import EntityLoad, LoadCount, drop_key, incremental_possible, stage_changes
from reconcile.errors import ConfigError, ReconcileError
from reconcile.model import ENTITIES
from reconcile.store import (
    CANONICAL,
    RECORD_CHANGE,
    RECORD_STATE,
    RUN_TABLES,
    SOURCE_STATE,
    Stage,
    connect_target,
    discard_quietly,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractResult:
    run_id: str
    counts: list[LoadCount]
    canonicalised: int = 0  # rows canonicalised and written: all of them on a full load, on a night the changed

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
    full: bool = False,
) -> ExtractResult:
    """Read every source; canonicalise and write only rows new or changed since the last load (all rows when
    there is no usable state: a first load, a changed config or toolkit version, an earlier day). Rows whose
    `modified_at` has not moved are not read again (reconcile/stamped_read.py), unless `full`."""
    today = today or date.today()
    run_id = run_id or new_run_id()
    engine = connect_target(config.target_url())
    sources = list(config.sources)
    tables = [*CANONICAL.values(), *RUN_TABLES, RECORD_STATE, RECORD_CHANGE, SOURCE_STATE]
    drops = {RECORD_STATE.name: changes.STATE_KEY} | {name: drop_key(e) for name, e in ENTITIES.items()}
    stage = Stage(engine, run_id, tables, drops=drops)
    try:
        with engine.connect() as conn:
            previous = raw_state.read(conn, sources)
        loads: list[EntityLoad] = []
        for name in sources:
            loads.extend(_extract_source(config, name, stage, today, on_chunk, previous, full))
        counts = [load.count for load in loads]
        stage.append("load_summary", pd.DataFrame([vars(c) for c in counts]))
        stage_changes(engine, stage, sources, loads)
        stage.append(SOURCE_STATE.name, pd.DataFrame([load.state_row(today) for load in loads]))
        stage.publish(
            replace={**_superseded(sources, loads), SOURCE_STATE.name: SOURCE_STATE.c.source_system.in_(sources)},
            append=[table.name for table in (*RUN_TABLES, RECORD_CHANGE)],
        )
    except BaseException:
        discard_quietly(stage)
        raise
    finally:
        engine.dispose()
    canonicalised = sum(len(load.redone) for load in loads)
    log.info(
        "extract published run %s: %d rows loaded, %d canonicalised",
        run_id,
        sum(c.loaded for c in counts),
        canonicalised,
    )
    return ExtractResult(run_id, counts, canonicalised)


def _superseded(sources: list[str], loads: list[EntityLoad]) -> dict[str, sa.ColumnElement[bool]]:
    """Per canonical table, the sources whose rows are replaced whole: loaded in full, or no longer provided."""
    partial = {(load.count.source_system, load.count.entity) for load in loads if not load.full}
    replace = {}
    for name, table in CANONICAL.items():
        whole = [s for s in sources if (s, name) not in partial]
        if whole:
            replace[name] = table.c.source_system.in_(whole)
    return replace


def _extract_source(
    config: Config,
    name: str,
    stage: Stage,
    today: date,
    on_chunk: Callable[[LoadCount], None] | None,
    previous: dict[tuple[str, str], raw_state.EntityState],
    full: bool,
) -> list[EntityLoad]:
    connector = open_connector(name, config.sources[name], config.base_dir)
    kind = config.sources[name].connector
    try:
        loads = []
        for entity_name, spec in connector.entities().items():
            context = raw_state.context(kind, ENTITIES[entity_name], spec)
            state = previous.get((name, entity_name))
            usable = state is not None and incremental_possible(ENTITIES[entity_name], spec, state, context, today)
            load = EntityLoad(LoadCount(name, entity_name), context, state if usable else None)
            _extract_entity(connector, load, spec, stage, today, on_chunk, full)
            loads.append(load)
        return loads
    except ConfigError as exc:  # found only once the source answered, e.g. a query's columns
        raise ConfigError(f"{config.path}: {exc}") from None
    finally:
        connector.close()


def _extract_entity(
    connector: Connector,
    load: EntityLoad,
    spec: EntitySpec,
    stage: Stage,
    today: date,
    on_chunk: Callable[[LoadCount], None] | None,
    full: bool,
) -> None:
    entity = ENTITIES[load.count.entity]
    count = load.count
    seen: set[str] = set()  # IDs of the chunks before this one (most entities are one chunk: none to gather)
    before = pd.Series(dtype=object)
    stamped = None if full else stamped_read.plan(connector, entity, spec, load.previous)
    if stamped is not None:
        load.keep_unread(stamped.unread_rows)
    for chunk in connector.read(entity.name, spec) if stamped is None else stamped.chunks:
        seen.update(before)
        screened = screen(chunk, entity, connector.name, seen)
        kept, kept_ids = chunk[screened.keep], screened.ids[screened.keep]
        redo = load.to_canonicalise(kept_ids, kept)
        rows, issues = canonical_rows(kept[redo], kept_ids[redo], entity, spec, connector.name, today)
        load.add(kept_ids[redo], rows, issues, screened.rejected)
        stage.append(entity.name, rows)
        stage.append("rejected_record", screened.rejected)
        stage.append("field_issue", issues)
        before = kept_ids
        count.read += len(chunk)
        count.loaded += len(kept)
        count.rejected += len(screened.rejected)
        count.field_issues += len(issues)
        if on_chunk:
            on_chunk(count)
    if count.read != count.loaded + count.rejected:
        raise ReconcileError(f"internal error: {connector.name}.{entity.name} lost rows; nothing was published")
    if count.read == 0:
        log.warning("source %s entity %s is empty", connector.name, entity.name)

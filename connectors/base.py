"""What every connector promises the loader: canonical column names, raw values, bounded chunks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

import pandas as pd

from reconcile.config import EntitySpec
from reconcile.errors import ConfigError
from reconcile.model import ENTITIES


class Connector(Protocol):
    name: str

    def entities(self) -> dict[str, EntitySpec]:
        """The canonical entities this source provides, and how to read each."""
        ...

    def read(self, entity: str, spec: EntitySpec) -> Iterator[pd.DataFrame]:
        """Chunks of at most chunk_size rows, columns named as the canonical model, values as the source gave them."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class KeyedReads(Protocol):
    """A connector that can read a few columns of every row, then whole rows by key (for stamped nights)."""

    def narrow(self, entity: str, spec: EntitySpec, names: list[str]) -> Iterator[pd.DataFrame] | None: ...

    def read_where(self, entity: str, spec: EntitySpec, key: str, values: list[object]) -> Iterator[pd.DataFrame]: ...


def canonical_columns(where: str, entity: str, names: Sequence[str]) -> list[str]:
    """Lower-case the names a source returns and refuse any that the model does not know."""
    known = ENTITIES[entity].column_names
    lowered = [str(n).strip().lower() for n in names]
    unknown = [n for n in lowered if n not in known]
    if unknown:
        raise ConfigError(
            f"{where}: returns columns outside the canonical {entity} model: {', '.join(unknown)}. "
            f"Fix: alias them to one of {', '.join(known)}, or leave them out."
        )
    duplicated = sorted({n for n in lowered if lowered.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{where}: returns {', '.join(duplicated)} more than once. Fix: select each column once.")
    missing = [c.name for c in ENTITIES[entity].columns if c.required and c.name not in lowered]
    if missing:
        raise ConfigError(f"{where}: does not return {', '.join(missing)}, which {entity} requires. Fix: add it.")
    return lowered


def frame(rows: Sequence[Sequence[object]], columns: list[str]) -> pd.DataFrame:
    """Object dtype on purpose: pandas must not turn NHS numbers into floats or codes into booleans."""
    return pd.DataFrame(list(rows), columns=columns, dtype=object)

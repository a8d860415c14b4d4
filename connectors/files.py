"""CSV, Excel and Parquet exports, read in chunks and always as text, never as guessed types."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pandas as pd

from connectors.base import canonical_columns, frame
from reconcile.config import EntitySpec, SourceSpec
from reconcile.errors import ConfigError, SourceError


class FilesConnector:
    def __init__(self, name: str, spec: SourceSpec, base_dir: Path) -> None:
        self.name = name
        self.spec = spec
        self.base_dir = base_dir

    def entities(self) -> dict[str, EntitySpec]:
        return dict(self.spec.entities)

    def read(self, entity: str, spec: EntitySpec) -> Iterator[pd.DataFrame]:
        where = f"sources.{self.name}.entities.{entity}"
        path = self.base_dir / (spec.path or "")
        if not path.is_file():
            raise SourceError(
                self.name, entity, "open", f"no file at {spec.path}. Fix: check `path` (relative to the config file)."
            )
        suffix = path.suffix.lower()
        if suffix in (".csv", ".txt"):
            chunks = self._csv(path, spec, entity)
        elif suffix in (".xlsx", ".xlsm"):
            chunks = self._excel(path, spec, where)
        elif suffix == ".parquet":
            chunks = self._parquet(path)
        else:
            raise ConfigError(
                f"{where}.path: {suffix or 'no extension'} is not supported. Fix: export CSV, XLSX or Parquet."
            )
        for chunk in chunks:
            yield self._rename(where, entity, spec, chunk)

    def _rename(self, where: str, entity: str, spec: EntitySpec, chunk: pd.DataFrame) -> pd.DataFrame:
        """With `columns`, take just the mapped headers; without, every header must be canonical."""
        if not spec.columns:
            chunk.columns = canonical_columns(where, entity, list(chunk.columns))
            return chunk
        missing = sorted(set(spec.columns.values()) - set(chunk.columns))
        if missing:
            raise ConfigError(
                f"{where}.columns: the file has no column {', '.join(missing)}. Fix: match the file's header."
            )
        renamed = chunk[list(spec.columns.values())].set_axis(list(spec.columns), axis=1)
        canonical_columns(where, entity, list(renamed.columns))
        return renamed

    def _csv(self, path: Path, spec: EntitySpec, entity: str) -> Iterator[pd.DataFrame]:
        try:
            # keep_default_na=False: "NA" is a name and "" is the only empty value a CSV has.
            reader = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                na_values=[],
                chunksize=self.spec.chunk_size,
                encoding=spec.encoding,
                encoding_errors="surrogateescape",
            )
        except pd.errors.EmptyDataError:
            return  # a file with not even a header is an empty source
        with reader:
            try:
                for chunk in reader:
                    yield chunk.astype(object)
            except pd.errors.ParserError as exc:
                # pandas names the line and the field counts, never the values.
                detail = str(exc).strip().splitlines()[-1][:200]
                raise SourceError(self.name, entity, "read", f"malformed CSV: {detail}") from None

    def _excel(self, path: Path, spec: EntitySpec, where: str) -> Iterator[pd.DataFrame]:
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        try:
            if spec.sheet and spec.sheet not in workbook.sheetnames:
                raise ConfigError(
                    f"{where}.sheet: no sheet {spec.sheet!r}. Fix: use one of {', '.join(workbook.sheetnames)}."
                )
            sheet = workbook[spec.sheet] if spec.sheet else workbook.worksheets[0]
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
            if header is None:
                return
            columns = [str(h).strip() if h is not None else "" for h in header]
            while batch := list(islice(rows, self.spec.chunk_size)):
                yield frame([r for r in batch if any(v is not None for v in r)], columns)
        finally:
            workbook.close()

    def _parquet(self, path: Path) -> Iterator[pd.DataFrame]:
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=self.spec.chunk_size):
            # to_pylist keeps Python types: an integer column with gaps must not become float.
            yield frame([tuple(row.values()) for row in batch.to_pylist()], batch.schema.names)

    def close(self) -> None:
        return None

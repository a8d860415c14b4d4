"""`reconcile export`: the load files the new case system reads, checked against the target they came from."""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner, Result

import reconcile.export
from cli import cli
from conftest import table_rows, write_config
from reconcile.config import Config, load_config
from reconcile.export import PUBLISHED, export
from reconcile.extract import extract
from reconcile.loadfile import write_file
from reconcile.match import match
from reconcile.synthetic import write_demo

FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class Target:
    config_path: Path
    config: Config
    extracted_only: Path  # a copy of the target taken after extract, before match
    exports: dict[str, Path]  # format -> folder, written by the CLI in small chunks


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("export")
    files = write_demo(root / "demo", people=300, seed=5)
    config = load_config(files.config)
    extract(config)
    extracted_only = shutil.copy(config.target_url().database, root / "extracted.db")
    match(config)
    exports = {fmt: root / f"out-{fmt}" for fmt in FORMATS}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reconcile.export, "CHUNK_ROWS", 50)  # several chunks per file
        for fmt, out in exports.items():
            result = _export(files.config, fmt, out)
            assert result.exit_code == 0, result.output
    yield Target(files.config, config, Path(extracted_only), exports)


def _export(config_path: Path, fmt: str, out: Path) -> Result:
    return CliRunner().invoke(cli, ["export", "--format", fmt, "--out", str(out), "--config", str(config_path)])


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def _xref(target: Target) -> pd.DataFrame:
    rows = table_rows(target.config.target_url(), "SELECT source_system, source_id, master_id, run_id FROM person_xref")
    return pd.DataFrame(rows, columns=["source_system", "source_id", "master_id", "run_id"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_published_table_and_a_crosswalk_per_system_is_written(target, fmt):
    engine = sa.create_engine(target.config.target_url())
    present = [name for name in PUBLISHED if sa.inspect(engine).has_table(name)]
    engine.dispose()
    systems = sorted(_xref(target).source_system.unique())
    expected = {f"{name}.{fmt}" for name in [*present, *(f"crosswalk_{s}" for s in systems)]}
    assert {"master_person", "person_xref", "review_queue", "master_id_history"} <= set(present)
    assert systems == ["lcs", "mosaic"]
    assert {p.name for p in target.exports[fmt].iterdir()} == expected | {"manifest.json"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_crosswalk_maps_every_legacy_id_of_its_system_to_its_master(target, fmt):
    xref = _xref(target)
    for system, rows in xref.groupby("source_system"):
        crosswalk = _read(target.exports[fmt] / f"crosswalk_{system}.{fmt}")
        assert list(crosswalk.columns) == ["legacy_id", "master_id"]
        assert len(crosswalk) == len(rows)
        assert crosswalk.legacy_id.is_unique
        expected = rows.set_index("source_id").master_id.to_dict()
        assert crosswalk.set_index("legacy_id").master_id.to_dict() == expected


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_manifest_counts_every_file_and_names_the_match_run(target, fmt):
    out = target.exports[fmt]
    manifest = _manifest(out)
    assert manifest["format"] == fmt
    assert manifest["exported_at"].endswith("Z")
    assert manifest["run_ids"] == sorted(_xref(target).run_id.unique())
    assert {e["file"] for e in manifest["files"]} == {p.name for p in out.iterdir()} - {"manifest.json"}
    for entry in manifest["files"]:
        assert entry["rows"] == len(_read(out / entry["file"])), entry["file"]
    xref_rows = len(_xref(target))
    assert sum(e["rows"] for e in manifest["files"] if e["file"].startswith("crosswalk_")) == xref_rows


def test_ids_stay_text_and_dates_are_iso(target):
    schema = pq.read_schema(target.exports["parquet"] / "crosswalk_lcs.parquet")
    assert str(schema.field("legacy_id").type) == "string"
    assert str(pq.read_schema(target.exports["parquet"] / "master_person.parquet").field("dob").type) == "date32[day]"
    dobs = _read(target.exports["csv"] / "master_person.csv").dob
    assert dobs.str.fullmatch(r"(\d{4}-\d{2}-\d{2})?").all() and (dobs != "").any()


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_cli_prints_each_file_with_its_rows_and_the_folder(target, fmt, tmp_path):
    out = tmp_path / "load"
    result = _export(target.config_path, fmt, out)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:-1] == [f"{e['file']}: {e['rows']} rows" for e in _manifest(out)["files"]]
    assert str(out) in lines[-1]


def test_files_are_owner_only_whatever_the_umask(target, tmp_path):
    out = tmp_path / "new" / "load"
    previous = os.umask(0)
    try:
        export(target.config, out, "csv")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in out.iterdir())
    for fmt in FORMATS:
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in target.exports[fmt].iterdir())
        assert stat.S_IMODE(target.exports[fmt].stat().st_mode) == 0o700


def test_exporting_twice_overwrites_cleanly(target, tmp_path):
    out = tmp_path / "load"
    out.mkdir(mode=0o700)
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    assert _export(target.config_path, "parquet", out).exit_code == 0
    first = {e["file"]: e["rows"] for e in _manifest(out)["files"]}
    for _ in range(2):
        result = _export(target.config_path, "csv", out)
        assert result.exit_code == 0, result.output
    again = {e["file"]: e["rows"] for e in _manifest(out)["files"]}
    assert again == {name.replace(".parquet", ".csv"): rows for name, rows in first.items()}
    # The parquet files the first export listed are gone; the user's own file and nothing else stays.
    assert {p.name for p in out.iterdir()} == set(again) | {"manifest.json", "notes.txt"}
    assert (out / "crosswalk_lcs.csv").read_text(encoding="utf-8").count("legacy_id") == 1


def test_a_failed_export_leaves_the_folder_as_it_was(target, tmp_path, monkeypatch):
    out = tmp_path / "load"
    export(target.config, out, "csv")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []

    def fail_on_third(*args: object) -> None:
        calls.append(args)
        if len(calls) == 3:
            raise OSError("disk full")
        write_file(*args)

    monkeypatch.setattr(reconcile.export, "write_file", fail_on_third)
    with pytest.raises(OSError):
        export(target.config, out, "parquet")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.parametrize("target_db", ["extracted", "missing"])
def test_export_before_match_is_a_clear_error(target, tmp_path, target_db):
    database = target.extracted_only if target_db == "extracted" else tmp_path / "nothing.db"
    sources = yaml.safe_load(target.config_path.read_text(encoding="utf-8"))["sources"]
    path = write_config(tmp_path, {"target": f"sqlite:///{database}", "sources": sources})
    result = _export(path, "csv", tmp_path / "load")
    assert result.exit_code == 3
    assert "no master records in the target. Fix: run `reconcile match` first." in result.output
    assert not (tmp_path / "load").exists() or not any((tmp_path / "load").iterdir())


def test_out_that_is_a_file_is_a_clear_error(target, tmp_path):
    out = tmp_path / "load.csv"
    out.write_text("", encoding="utf-8")
    result = _export(target.config_path, "csv", out)
    assert result.exit_code == 3
    assert "is a file. Fix: give a folder" in result.output


def test_an_unknown_format_is_refused(target, tmp_path):
    result = _export(target.config_path, "xlsx", tmp_path / "load")
    assert result.exit_code == 3
    assert "'xlsx' is not one of 'csv', 'parquet'" in result.output
    assert not (tmp_path / "load").exists()

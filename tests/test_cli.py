"""The `reconcile` command as the data team and CI meet it: output, files and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import cli
from conftest import LEGACY_ENTITIES, write_config


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _config(tmp_path, url="sqlite:///lcs.db"):
    return write_config(
        tmp_path,
        {
            "target": "sqlite:///target.db",
            "sources": {"lcs": {"connector": "sql", "url": url, "entities": LEGACY_ENTITIES}},
        },
    )


def test_extract_prints_read_loaded_rejected_per_source_and_entity(runner, tmp_path, legacy):
    result = runner.invoke(cli, ["extract", "--config", str(_config(tmp_path))])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.output.splitlines()]
    assert ["source", "entity", "read", "loaded", "rejected", "field", "issues"] in lines
    assert ["lcs", "person", "6", "4", "2", "3"] in lines
    assert ["lcs", "contact", "3", "3", "0", "1"] in lines
    assert ["total", "9", "7", "2", "4"] in lines
    assert "published to sqlite:///" in result.output


def test_extract_quiet_prints_only_the_run_id(runner, tmp_path, legacy):
    result = runner.invoke(cli, ["extract", "-q", "--config", str(_config(tmp_path))])
    assert result.exit_code == 0
    assert len(result.output.split()) == 1 and result.output.strip().endswith("Z")


def test_a_config_error_exits_3_with_the_fix_and_no_traceback(runner, tmp_path):
    path = write_config(tmp_path, {"sources": {"lcs": {"connector": "sql", "url": "sqlite:///x.db"}}})
    result = runner.invoke(cli, ["extract", "--config", str(path)])
    assert result.exit_code == 3
    assert "every source needs a `person` entity" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_source_exits_3_and_hides_the_password(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("LCS_PASSWORD", "s3cret-pw")
    path = _config(tmp_path, url="postgresql+psycopg://reader:${LCS_PASSWORD}@127.0.0.1:1/lcs")
    result = runner.invoke(cli, ["extract", "--config", str(path)])
    assert result.exit_code == 3
    assert "source 'lcs', entity 'person': connect failed" in result.output
    assert "s3cret-pw" not in result.output


def test_bad_usage_exits_3_not_2_which_means_a_failed_gate(runner):
    result = runner.invoke(cli, ["extract", "--no-such-option"])
    assert result.exit_code == 3
    assert "No such option" in result.output


@pytest.mark.parametrize("command", [[], ["extract"], ["demo"], ["model"], ["report"]])
def test_every_command_has_a_manual(runner, command):
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage: reconcile" in result.output and len(result.output.splitlines()) > 5


def test_model_describes_every_entity(runner):
    result = runner.invoke(cli, ["model"])
    assert result.exit_code == 0
    for entity in ("person (required)", "relationship", "contact", "referral", "assessment", "cp_plan", "involvement"):
        assert entity in result.output


def test_demo_builds_two_legacy_systems_and_loads_them(runner, tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(cli, ["demo", "--out", str(out), "--people", "400", "--seed", "7"])
    assert result.exit_code == 0, result.output
    for name in ("lcs.db", "mosaic.db", "truth.db", "reconcile.yaml", "reconcile.db"):
        assert (out / name).stat().st_mode & 0o777 == 0o600, name
    rows = [line.split() for line in result.output.splitlines()]
    by_entity = {(r[0], r[1]): [int(x) for x in r[2:6]] for r in rows if len(r) == 6 and r[2].isdigit()}
    assert {("lcs", "person"), ("mosaic", "person"), ("lcs", "contact"), ("mosaic", "cp_plan")} <= set(by_entity)
    for read, loaded, rejected, _issues in by_entity.values():
        assert read == loaded + rejected
    total = next(r for r in rows if r and r[0] == "total")
    assert int(total[1]) == sum(v[0] for v in by_entity.values()) > 0
    last = result.output.splitlines()[-1]
    assert last.startswith("report: ")  # the demo ends by writing the report and printing its path
    page = Path(last.removeprefix("report: "))
    assert page.parent == out / "reports" and page.suffix == ".html"
    assert page.stat().st_mode & 0o777 == 0o600

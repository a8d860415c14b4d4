"""`reconcile run`: killed at any moment it leaves the last published results intact; one run at a time.

Runs are real subprocesses, killed with SIGKILL, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from cli import cli
from conftest import POSTGRES_URL, write_config
from reconcile.config import load_config
from reconcile.run_lock import RunLocked, run_lock
from reconcile.synthetic import write_demo
from reconcile.workspace import work_schema_prefix

PUBLISHED = ["master_person", "person_xref", "match_pair", "review_queue", "risk_flag", "person", "load_summary"]
# Kill a run as soon as its JSON log says it has reached each point: started, then each step finished
# (so the kill lands inside the next step, the last one inside gate or publish).
KILL_POINTS = ("run_started", "extract", "match", "validate", "report")


def _reconcile(*args: str) -> list[str]:
    return [sys.executable, "-c", "from cli import cli; cli()", *args]


def _spawn(config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.Popen(
        _reconcile("run", "--config", str(config), "--quiet"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _fingerprint(url: str | sa.URL) -> dict[str, str]:
    """A digest of every published table that matters, in a fixed order."""
    engine = sa.create_engine(url)
    try:
        names = set(sa.inspect(engine).get_table_names())
        out = {}
        with engine.connect() as conn:
            for name in PUBLISHED:
                if name not in names:
                    out[name] = "absent"
                    continue
                rows = sorted(repr(tuple(r)) for r in conn.execute(sa.text(f'SELECT * FROM "{name}"')))
                out[name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
        return out
    finally:
        engine.dispose()


def _change_sources(folder: Path) -> None:
    """A night's changes in one legacy system, so a completed run would publish something different."""
    with sqlite3.connect(folder / "lcs.db") as conn:
        conn.execute("UPDATE LCS_PERSON SET SURNAME = SURNAME || 'x' WHERE rowid % 7 = 0")
        conn.execute("DELETE FROM LCS_PERSON WHERE rowid % 11 = 0")
    conn.close()


def _target(folder: Path, url: str) -> Path:
    config = folder / "reconcile.yaml"
    text = config.read_text()
    config.write_text(text.replace("target: sqlite:///reconcile.db", f"target: {url}"))
    return config


def _wait_for_log(log: Path, offset: int, point: str, proc: subprocess.Popen) -> bool:
    """Wait until the run's log, past `offset`, records `point`; False if the run ended first."""
    while proc.poll() is None:
        text = log.read_text()[offset:] if log.exists() else ""
        for line in text.split("\n")[:-1]:  # the last piece is a line still being written, or empty
            event = json.loads(line)
            if point in (event.get("event"), event.get("step")):
                return True
        time.sleep(0.01)
    return False


def _kill_runs_at_several_points(config: Path, url: sa.URL) -> int:
    """SIGKILL runs part-way through: the published tables stay as they were, or (if the kill came after
    the publish) are wholly the killed run's. Returns how many kills left the old state in place."""
    before, reports = _fingerprint(url), _reports(config)
    log = config.parent / "logs" / "reconcile-runs.jsonl"
    unpublished = 0
    for point in KILL_POINTS:
        offset = len(log.read_text()) if log.exists() else 0
        proc = _spawn(config)
        if _wait_for_log(log, offset, point, proc):
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=120)
        now = _fingerprint(url)
        if now == before:
            assert _reports(config) == reports, "a killed run published no report"
            unpublished += 1
            continue
        _assert_consistent(url, point)
        before, reports = now, _reports(config)
    return unpublished


def _reports(config: Path) -> set[str]:
    """The published reports: the pages and their CSV folders, not a run's staging folder."""
    folder = config.parent / "reports"
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")} if folder.exists() else set()


def _assert_consistent(url: sa.URL, point: str) -> None:
    """A target a run has published whole: that run's own rows, a crosswalk entry per record, and every
    master both in the crosswalk and in master_person. (A night rewrites only what changed, so run IDs
    in the master tables may be older.)"""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            one = conn.execute(sa.text("SELECT run_id, status FROM run_log ORDER BY run_id DESC LIMIT 1")).one()
            assert one[1] == "succeeded", f"a run killed after {point} left a run_log row {one[1]}"
            for table in ("load_summary", "source_check"):
                latest = conn.execute(sa.text(f"SELECT max(run_id) FROM {table}")).scalar_one()
                assert latest == one[0], f"{table} is not the published run's"
            people = conn.execute(sa.text("SELECT count(*) FROM person")).scalar_one()
            assert conn.execute(sa.text("SELECT count(*) FROM person_xref")).scalar_one() == people
            in_xref = set(conn.execute(sa.text("SELECT DISTINCT master_id FROM person_xref")).scalars())
            assert in_xref == set(conn.execute(sa.text("SELECT master_id FROM master_person")).scalars())
            finished = set(conn.execute(sa.text("SELECT run_id FROM run_log WHERE status = 'succeeded'")).scalars())
            for table in ("master_person", "person_xref", "match_pair"):  # no row of a run that did not finish
                written = set(conn.execute(sa.text(f"SELECT DISTINCT run_id FROM {table}")).scalars())
                assert written <= finished, f"{table} holds rows of a run killed after {point}"
    finally:
        engine.dispose()


def _kill_test(folder: Path, target: str) -> None:
    config = _target(folder, target)
    url = load_config(config).target_url()
    first = _spawn(config)
    _, err = first.communicate(timeout=300)
    assert first.returncode in (0, 1, 2), err
    published = _fingerprint(url)

    _change_sources(folder)
    killed = _kill_runs_at_several_points(config, url)
    assert killed >= 4, "kills inside extract, match, validate and report publish nothing"

    final = _spawn(config)
    _, err = final.communicate(timeout=300)
    assert final.returncode in (0, 1, 2), err
    assert _fingerprint(url)["person"] != published["person"], "the completed run publishes the night's changes"
    assert not list((config.parent / "reports").glob(".run-*")), "killed runs' staged reports are cleared"

    listed = CliRunner().invoke(cli, ["runs", "--config", str(config), "--json"])
    statuses = [row["status"] for row in json.loads(listed.output)]
    assert statuses[0] == "succeeded" and statuses[-1] == "succeeded"
    assert "running" not in statuses, "a killed run's row is marked abandoned by the next run"
    assert 1 <= statuses.count("abandoned") <= len(KILL_POINTS)  # a run killed while starting up leaves no row


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory) -> Path:
    return write_demo(tmp_path_factory.mktemp("run") / "demo", people=250, seed=5).config.parent


def _fresh_copy(demo_folder: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    folder.mkdir()
    for name in ("lcs.db", "mosaic.db", "reconcile.yaml"):
        (folder / name).write_bytes((demo_folder / name).read_bytes())
    return folder


def test_a_killed_run_leaves_sqlite_as_last_published(demo_folder, tmp_path):
    folder = _fresh_copy(demo_folder, tmp_path)
    _kill_test(folder, "sqlite:///reconcile.db")
    url = f"sqlite:///{folder / 'reconcile.db'}"
    assert sqlite3.connect(folder / "reconcile.db").execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert not list(folder.glob("reconcile.db.run-*")), "the next run clears killed runs' working copies"
    assert _fingerprint(url)["master_person"] != "absent"


@pytest.fixture
def postgres_target(postgres, unique):
    """A schema of its own on the shared server, as the target's search path."""
    with postgres.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{unique}"'))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={unique}"})
    yield url.render_as_string(hide_password=False)
    with postgres.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{unique}" CASCADE'))


def test_a_killed_run_leaves_postgres_as_last_published(demo_folder, tmp_path, postgres_target, postgres, unique):
    folder = _fresh_copy(demo_folder, tmp_path)
    _kill_test(folder, postgres_target)
    prefix = work_schema_prefix(unique)  # this target's working schemas; other tests run beside it
    with postgres.connect() as conn:
        query = sa.text("SELECT count(*) FROM pg_namespace WHERE left(nspname, :n) = :p")
        left = conn.execute(query, {"n": len(prefix), "p": prefix})
        assert left.scalar_one() == 0, "the next run drops killed runs' working schemas"


def _second_run_refused(config: Path, url: str) -> None:
    with run_lock(load_config(config).target_url(), "HOLDER-RUN"):
        result = CliRunner().invoke(cli, ["run", "--config", str(config)])
    assert result.exit_code == 3
    assert "another run holds this target" in result.output
    assert f"pid {os.getpid()}" in result.output and "HOLDER-RUN" in result.output


def test_a_second_run_refuses_at_once_naming_the_holder_sqlite(demo_folder, tmp_path):
    folder = _fresh_copy(demo_folder, tmp_path)
    _second_run_refused(folder / "reconcile.yaml", "sqlite:///reconcile.db")


def test_a_second_run_refuses_at_once_naming_the_holder_postgres(demo_folder, tmp_path, postgres_target):
    folder = _fresh_copy(demo_folder, tmp_path)
    _second_run_refused(_target(folder, postgres_target), postgres_target)


HOLD_LOCK = """
import sys, time
from reconcile.config import load_config
from reconcile.run_lock import RunLocked, run_lock
with run_lock(load_config(sys.argv[1]).target_url(), "DOOMED"):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("server", ["sqlite", "postgres"])
def test_a_killed_holder_never_leaves_a_stale_lock(demo_folder, tmp_path, server, request):
    folder = _fresh_copy(demo_folder, tmp_path)
    config = folder / "reconcile.yaml"
    if server == "postgres":
        config = _target(folder, request.getfixturevalue("postgres_target"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(config)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunLocked, match="DOOMED"), run_lock(load_config(config).target_url(), "SECOND"):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with run_lock(load_config(config).target_url(), "THIRD") as me:
        assert me.run_id == "THIRD"


def test_an_unreachable_source_is_retried_then_fails_naming_it(tmp_path):
    config = write_config(
        tmp_path,
        {
            "target": "sqlite:///target.db",
            "run": {"retries": 2, "retry_backoff_seconds": 0.01},
            "sources": {
                "lcs": {
                    "connector": "sql",
                    "url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
                    "timeout": 2,
                    "entities": {"person": {"table": "PERSON", "columns": {"person_id": "ID"}}},
                }
            },
        },
    )
    result = CliRunner().invoke(cli, ["run", "--config", str(config)])
    assert result.exit_code == 3
    assert "source 'lcs'" in result.output and "connect failed" in result.output
    log = [json.loads(line) for line in (tmp_path / "logs" / "reconcile-runs.jsonl").read_text().splitlines()]
    assert log[-1]["event"] == "run_failed" and log[-1]["step"] == "extract"
    listed = json.loads(CliRunner().invoke(cli, ["runs", "--config", str(config), "--json"]).output)
    assert [(r["status"], r["error"]) for r in listed] == [("failed", "extract: SourceError")]


def test_a_query_failing_mid_stream_aborts_before_publishing(demo_folder, tmp_path, postgres, unique):
    """Rows 1..4,999 stream, then the server fails: the run stops at extract and publishes nothing."""
    folder = _fresh_copy(demo_folder, tmp_path)
    config = folder / "reconcile.yaml"
    assert CliRunner().invoke(cli, ["run", "--config", str(config), "--quiet"]).exit_code in (0, 1, 2)
    url = f"sqlite:///{folder / 'reconcile.db'}"
    published = _fingerprint(url)
    failing = (
        "SELECT n::text AS person_id, 'X' || (1 / (n - 5000))::text AS forename FROM generate_series(1, 6000) AS n"
    )
    settings = load_config(config).model_dump(by_alias=True, exclude_none=True)
    settings["sources"]["broken"] = {
        "connector": "sql",
        "url": POSTGRES_URL,
        "chunk_size": 500,
        "entities": {"person": {"query": failing}},
    }
    config.write_text(json.dumps(settings, default=str))
    result = CliRunner().invoke(cli, ["run", "--config", str(config)])
    assert result.exit_code == 3
    assert "source 'broken'" in result.output and "read failed" in result.output
    assert _fingerprint(url) == published


@pytest.mark.parametrize("command", ["extract", "match", "validate"])
def test_steps_that_write_refuse_while_a_run_holds_the_target(demo_folder, tmp_path, command):
    """A run's atomic publish would silently replace what they wrote, so they refuse instead."""
    folder = _fresh_copy(demo_folder, tmp_path)
    config = folder / "reconcile.yaml"
    with run_lock(load_config(config).target_url(), "NIGHTLY"):
        result = CliRunner().invoke(cli, [command, "--config", str(config)])
    assert result.exit_code == 3 and "NIGHTLY" in result.output
    assert not (folder / "reconcile.db").exists(), "nothing was written"


def test_a_run_publishes_safely_into_a_wal_target_a_reader_holds_open(demo_folder, tmp_path):
    """Renaming a new file over a WAL database would leave the old WAL beside it and corrupt it."""
    folder = _fresh_copy(demo_folder, tmp_path)
    config = folder / "reconcile.yaml"
    assert CliRunner().invoke(cli, ["run", "--config", str(config), "--quiet"]).exit_code in (0, 1, 2)
    target = folder / "reconcile.db"
    reader = sqlite3.connect(target)
    reader.execute("PRAGMA journal_mode=WAL")
    assert reader.execute("SELECT count(*) FROM person_xref").fetchone()[0] > 0
    _change_sources(folder)
    result = CliRunner().invoke(cli, ["run", "--config", str(config), "--quiet"])
    assert result.exit_code in (0, 1, 2), result.output
    assert reader.execute("SELECT count(*) FROM person_xref").fetchone()[0] > 0
    reader.close()
    check = sqlite3.connect(target)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    latest = check.execute("SELECT status FROM run_log ORDER BY run_id DESC LIMIT 1").fetchone()
    check.close()
    assert latest == ("succeeded",)


def test_publishing_on_postgres_keeps_grants_comments_views_and_other_targets_runs(
    demo_folder, tmp_path, postgres_target, postgres, unique
):
    folder = _fresh_copy(demo_folder, tmp_path)
    config = _target(folder, postgres_target)
    assert CliRunner().invoke(cli, ["run", "--config", str(config), "--quiet"]).exit_code in (0, 1, 2)
    other = f"reconcile_run_00000000_{unique}"  # another target's run, working in the same database
    with postgres.begin() as conn:
        conn.execute(sa.text(f'GRANT SELECT ON "{unique}".master_person TO PUBLIC'))
        conn.execute(sa.text(f"COMMENT ON TABLE \"{unique}\".master_person IS 'documented'"))
        view = f'CREATE VIEW "{unique}".bi_masters AS SELECT count(*) AS n FROM "{unique}".master_person'
        conn.execute(sa.text(view))
        conn.execute(sa.text(f'CREATE SCHEMA "{other}"'))
    try:
        assert CliRunner().invoke(cli, ["run", "--config", str(config), "--quiet"]).exit_code in (0, 1, 2)
        with postgres.connect() as conn:
            table = f'"{unique}".master_person'
            acl = conn.execute(sa.text(f"SELECT relacl::text FROM pg_class WHERE oid = '{table}'::regclass"))
            assert "=r/" in acl.scalar_one(), "PUBLIC keeps its SELECT grant"
            comment = conn.execute(sa.text(f"SELECT obj_description('{table}'::regclass)"))
            assert comment.scalar_one() == "documented"
            assert conn.execute(sa.text(f'SELECT n FROM "{unique}".bi_masters')).scalar_one() > 0
            kept = conn.execute(sa.text("SELECT count(*) FROM pg_namespace WHERE nspname = :n"), {"n": other})
            assert kept.scalar_one() == 1, "another target's working schema is not ours to clear"
            assert conn.execute(sa.text(f'SELECT count(*) FROM "{unique}".master_activity')).scalar_one() > 0
    finally:
        with postgres.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{other}" CASCADE'))


def test_a_failure_after_publishing_does_not_turn_the_run_into_an_error(demo_folder, tmp_path, monkeypatch):
    """Exit 3 promises nothing was published; once the target is published the run has succeeded."""
    import reconcile.run as run_module

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(run_module, "publish_report", broken)
    folder = _fresh_copy(demo_folder, tmp_path)
    result = CliRunner().invoke(cli, ["run", "--config", str(folder / "reconcile.yaml"), "--quiet"])
    assert result.exit_code in (0, 1, 2), result.output
    status = sqlite3.connect(folder / "reconcile.db").execute("SELECT status, exit_code FROM run_log").fetchall()
    assert status == [("succeeded", result.exit_code)]


def test_a_night_with_no_changes_is_incremental_and_keeps_the_last_runs_report(demo_folder, tmp_path):
    folder = _fresh_copy(demo_folder, tmp_path)
    config = str(folder / "reconcile.yaml")
    for _ in range(2):
        assert CliRunner().invoke(cli, ["run", "--config", config, "--quiet"]).exit_code in (0, 1, 2)
    runs = json.loads(CliRunner().invoke(cli, ["runs", "--config", config, "--json"]).output)
    assert [r["mode"] for r in runs] == ["incremental", "full"]
    pages = sorted(p.name for p in (folder / "reports").glob("*.html"))
    assert pages == sorted(f"reconcile-report-{r['run_id']}.html" for r in runs)

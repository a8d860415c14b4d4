"""`reconcile`: the command line over the toolkit.

Exit codes, the same for every command: 0 success (the gate: pass), 1 warnings only,
2 the gate failed, 3 an error (bad config, unreachable source, bad usage). Nothing is
published by a command that exits 3.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from reconcile import __version__
from reconcile.errors import ReconcileError

EXIT_ERROR = 3


class ReconcileGroup(click.Group):
    """Maps every failure to exit 3, so that CI can tell an error from a failed gate (2)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_ERROR)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(EXIT_ERROR)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ReconcileError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except (click.ClickException, click.Abort, click.exceptions.Exit):
            raise
        except BrokenPipeError:
            # `reconcile ... | head`: the reader left; say nothing more.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_ERROR)
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            # The exception text may quote a record; only its type is shown unless --debug.
            click.echo(f"error: unexpected {type(exc).__name__}. Run again with --debug for the traceback.", err=True)
            sys.exit(EXIT_ERROR)


@click.group("reconcile", cls=ReconcileGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconcile")
@click.option("-v", "--verbose", is_flag=True, help="Log progress (counts and timings only, never personal data).")
@click.option("--debug", is_flag=True, help="Show tracebacks. They may contain personal data: do not share them.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, debug: bool) -> None:
    """Reconcile children's social care records held in several legacy case systems.

    \b
    Start with `reconcile demo`, which builds two synthetic legacy systems and
    reconciles them, then point `reconcile extract --config reconcile.yaml` at
    your own. Every file written holds personal data and is readable by its
    owner only.
    """
    os.umask(0o077)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = {"debug": debug}


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("reconcile.yaml"),
    show_default=True,
    help="The reconcile.yaml that names the target and the sources.",
)


engine_option = click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default=None,
    help="Where pairs are compared and scored: this process, or Dask (matching.scheduler, else a LocalCluster). "
    "Overrides matching.engine; the result is the same.",
)
mask_option = click.option(
    "--mask-pii",
    is_flag=True,
    help="Initials, year of birth and postcode district only, for wider circulation (NHS numbers, UPNs, "
    "addresses hidden).",
)


@cli.command()
@config_option
@click.option(
    "--full",
    is_flag=True,
    help="Read every row whole, even those whose modified_at has not moved since the last load.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the run ID.")
def extract(config_path: Path, full: bool, quiet: bool) -> None:
    """Read every source into the target's canonical tables.

    Each source row is either loaded or kept in `rejected_record` with a reason;
    a bad field is set aside into `field_issue` and the row is kept. Prints
    read/loaded/rejected per source and entity. If any source fails, nothing
    is published and the previous load stays as it was.

    Only rows that are new or changed since the last load are canonicalised
    again. Where a table's config maps `modified_at`, rows whose stamp has not
    moved are not even read again; `--full` reads them all, for a source that
    may change a row without moving its stamp.
    """
    from reconcile.config import load_config

    config = load_config(config_path)
    with _target_lock(config):
        _run_extract(config, quiet, full)


@cli.command()
@config_option
@click.option("--full", is_flag=True, help="Rebuild everything and refit the model, instead of an incremental run.")
@engine_option
def match(config_path: Path, full: bool, engine: str | None) -> None:
    """Match every loaded person record into master records.

    Reads the canonical person and relationship tables that `extract` published,
    links records of the same person within and across systems, and publishes
    master_person, person_xref, match_pair and review_queue in one transaction.
    Master IDs stay stable from run to run; every change is written to
    master_id_history. By default only records new, changed or deleted since the
    last run (and those linked to them) are re-matched, with the last full run's
    model; the first run, changed matching rules and --full rebuild everything.
    """
    from reconcile.config import load_config, with_engine

    config = with_engine(load_config(config_path), engine)
    with _target_lock(config):
        _run_match(config, full=full)


@cli.command()
@config_option
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), required=True, help="File format.")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for the files; created owner-only if missing.",
)
def export(config_path: Path, fmt: str, out: Path) -> None:
    """Write the migration load files for the new case system.

    One file per published master table (master_person, person_xref, review_queue,
    master_id_history and the other master_* tables the target holds), one
    crosswalk_<source_system> file per legacy system (legacy_id, master_id), and
    manifest.json with each file's row count and the match run IDs. Every file is
    owner-only; files appear only when all of them have been written.
    """
    from reconcile.config import load_config
    from reconcile.export import export as write_load_files
    from reconcile.export import load_manifest

    write_load_files(load_config(config_path), out, fmt)
    for entry in load_manifest(out)["files"]:
        click.echo(f"{entry['file']}: {entry['rows']} rows")
    click.echo(f"wrote these files and manifest.json to {out}/")


@cli.group()
def review() -> None:
    """Clerical review: send the review queue to reviewers and record their decisions.

    \b
    The round trip:
      1. reconcile review export            writes review_queue.xlsx beside the config
      2. reviewers fill decision (MATCH, NOT_MATCH or UNSURE), reviewer and note
      3. reconcile review import FILE       checks every row, stores the decisions
      4. reconcile match                    honours them: MATCH links the pair,
                                            NOT_MATCH keeps it apart, UNSURE waits
    Decisions are kept in review_decision; the latest per pair wins.
    """


@review.command("export")
@config_option
@click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "csv"]), default="xlsx", show_default=True, help="File format."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The file to write  [default: review_queue.<format> beside the config].",
)
@mask_option
def review_export(config_path: Path, fmt: str, out: Path | None, mask_pii: bool) -> None:
    """Write the review queue for reviewers to decide, one pair per row.

    Each row holds the pair's review_id, three empty columns to fill in
    (decision: MATCH, NOT_MATCH or UNSURE; reviewer; note), the match
    probability, the comparisons that moved the score most, and both records
    field by field. In Excel the decision column has a drop-down. The file
    holds personal data and is readable by its owner only; --mask-pii cuts
    each record down for wider circulation, and still imports.
    """
    from reconcile.config import load_config
    from reports.review_file import export_review

    config = load_config(config_path)
    path = out or config.base_dir / f"review_queue.{fmt}"
    engine = _matched_target(config)
    try:
        pairs = export_review(engine, path, fmt, mask=mask_pii)
    finally:
        engine.dispose()
    click.echo(f"wrote {pairs} pairs for review to {path} (readable by its owner only)")
    click.echo(f"fill in decision, reviewer and note, then run: reconcile review import {path}")


@review.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@config_option
@click.option("--reviewer", default=None, help="Reviewer recorded for rows whose reviewer cell is empty.")
@click.option(
    "--replace",
    is_flag=True,
    help="Let this file lift NOT_MATCH decisions in force (refused without it).",
)
def review_import(file: Path, config_path: Path, reviewer: str | None, replace: bool) -> None:
    """Check a filled-in review file and store its decisions.

    FILE is the .xlsx or .csv that `reconcile review export` wrote, partly or
    wholly filled in. Rows without a decision are skipped. decision is MATCH,
    NOT_MATCH or UNSURE, in any case. Every row is checked against the review
    queue; if any row is wrong (an unknown pair, edited record keys, a bad
    decision code, no reviewer) all problems are listed by row number and
    nothing is stored. Valid decisions are appended to review_decision with the
    reviewer, the time and the file name; run `reconcile match` to apply them.

    A NOT_MATCH in force is only lifted (by MATCH or UNSURE) with --replace,
    so re-importing an older file never undoes it, whatever the files are
    called.
    """
    from reconcile.config import load_config
    from reports.review_import import import_review

    config = load_config(config_path)
    with _target_lock(config):  # before connecting: a run publishing meanwhile replaces the target
        engine = _matched_target(config)
        try:
            summary = import_review(engine, file, reviewer, replace=replace)
        finally:
            engine.dispose()
    counts = ", ".join(f"{n} {code}" for code, n in sorted(summary.stored.items())) or "none"
    click.echo(f"stored {sum(summary.stored.values())} decisions from {file.name}: {counts}")
    click.echo(f"skipped {summary.skipped} rows without a decision, {summary.unchanged} already stored as they are")
    if summary.stored:
        click.echo("run `reconcile match` to apply them")


def _matched_target(config: Any) -> Any:
    """The target engine, once a match run has published a review queue to work on."""
    import sqlalchemy as sa

    from reconcile.store import PERSON_XREF, connect_target

    engine = connect_target(config.target_url())
    with engine.connect() as conn:
        matched = conn.execute(sa.select(PERSON_XREF.c.run_id).limit(1)).first() is not None
    if not matched:
        engine.dispose()
        raise ReconcileError("the target holds no match run, so no review queue. Fix: run `reconcile match` first.")
    return engine


@cli.command()
@config_option
@click.option(
    "--data-docs",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also build Great Expectations Data Docs for the source suites in a new folder under DIR.",
    metavar="DIR",
)
@click.option(
    "--full",
    is_flag=True,
    help="Judge every canonical row with the source suites again, ignoring the verdicts the last validation kept.",
)
def validate(config_path: Path, data_docs: Path | None, full: bool) -> None:
    """Flag every record that could compromise a risk decision.

    Runs the risk suite over what `match` published (CP plans not visible across
    systems, open cases in both, siblings split, conflicting identities, overdue
    contacts, missing consent, missing NHS numbers, stale unborn placeholders)
    and appends every flag, uncapped, to `risk_flag` under a new run ID.

    The source suites check each system's canonical rows and append their counts
    to `source_check`. Each row's verdicts are kept (`source_check_state`), so the
    next validation judges only rows that are new or changed; --full judges all.
    """
    from reconcile.config import load_config

    config = load_config(config_path)
    with _target_lock(config):
        _run_validate(config, data_docs, full)


@cli.command()
@config_option
def metrics(config_path: Path) -> None:
    """Front-door performance per system and combined, on the reconciled data.

    Share of contacts decided within the deadline, share with consent recorded,
    contacts followed by a referral within 30 days (combined: in any system, via
    the master record), and children with case activity in both systems.
    """
    from reconcile.config import load_config
    from reconcile.metrics import front_door
    from reconcile.store import connect_target
    from reconcile.validate import reconciled

    config = load_config(config_path)
    engine = connect_target(config.target_url())
    try:
        table = front_door(reconciled(engine, config, masters=False))
    finally:
        engine.dispose()
    click.echo(table.to_string(index=False, na_rep=""))


@cli.command()
@config_option
@click.option(
    "--max-critical",
    type=click.IntRange(min=0),
    default=None,
    help="Most critical flags allowed  [default: validation.gate.max_critical, else 0].",
)
@click.option(
    "--max-high",
    type=click.IntRange(min=0),
    default=None,
    help="Most high flags allowed  [default: validation.gate.max_high, else no limit].",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary for CI.")
def gate(config_path: Path, max_critical: int | None, max_high: int | None, as_json: bool) -> int:
    """Go or no-go for the cutover, from the latest validation run.

    \b
    Exit codes: 0 pass (no flags), 1 warnings only (flags, none over a
    threshold), 2 fail (a threshold exceeded), 3 error. Thresholds come from
    the options, else from validation.gate in reconcile.yaml.
    """
    import json

    from reconcile.config import load_config
    from reconcile.gate import judge
    from reconcile.store import connect_target

    config = load_config(config_path)
    limits = config.validation.gate
    engine = connect_target(config.target_url())
    try:
        result = judge(
            engine,
            limits.max_critical if max_critical is None else max_critical,
            limits.max_high if max_high is None else max_high,
        )
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        _echo_verdict(result)
    return result.exit_code


@cli.command("run")
@config_option
@click.option("--full", is_flag=True, help="Rebuild everything instead of only what changed since the last run.")
@click.option("-q", "--quiet", is_flag=True, help="Print only the gate's verdict.")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON-lines log of counts and timings  [default: logs/reconcile-runs.jsonl beside the config].",
)
@engine_option
def run_command(config_path: Path, full: bool, quiet: bool, log_file: Path | None, engine: str | None) -> int:
    """The nightly job: extract, match, validate, report and gate, published at once.

    \b
    Steps publish into a private copy of the target, which replaces the
    target in one atomic step only when every step has succeeded: a run
    that fails or is killed (even by SIGKILL or a power cut) leaves the
    last published results exactly as they were. A second run against the
    same target refuses at once and names the one running. Every run,
    failed or not, is recorded in run_log (`reconcile runs`).

    \b
    Exit codes: the gate's (0 pass, 1 warnings only, 2 fail), or 3 on any
    error, in which case nothing was published.
    """
    from reconcile.config import load_config, with_engine

    config = with_engine(load_config(config_path), engine)
    return _run_all(config, full=full, quiet=quiet, log_file=log_file).exit_code


@cli.command()
@config_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many runs to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON, steps included.")
def runs(config_path: Path, limit: int, as_json: bool) -> None:
    """List recent runs from run_log, newest first: status, mode, gate and time taken."""
    import json

    from reconcile.config import load_config
    from reconcile.run import recent_runs
    from reconcile.store import connect_target

    engine = connect_target(load_config(config_path).target_url())
    try:
        rows = recent_runs(engine, limit)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo("no runs recorded yet. Run `reconcile run` to make one.")
        return
    for row in rows:
        took = (row["finished_at"] - row["started_at"]).total_seconds() if row["finished_at"] else None
        click.echo(
            f"{row['run_id']}  {row['status']:<10} {row['mode']:<11} gate {row['gate_verdict'] or '-':<13} "
            f"{'' if took is None else f'{took:.1f} s':<9} {row['error'] or ''}".rstrip()
        )


@cli.command()
@config_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the report  [default: reports/ beside the config]; created owner-only if missing.",
)
@mask_option
@click.option(
    "--max-rows",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Rows of each long table held in the page; every row is in the CSV files beside it.",
)
def report(config_path: Path, out: Path | None, mask_pii: bool, max_rows: int) -> None:
    """Write the run's report: one self-contained HTML file, opened with no network.

    Summary (loads, masters, links across systems, duplicates, split families,
    review queue, risk flags, the gate's verdict, the trend over earlier runs),
    charts, and searchable, sortable tables of risk flags, the review queue,
    conflicts and rejected rows. Long tables show their first --max-rows rows
    and link to CSV files, all rows, in <report>_files/ beside the page. Every
    file is owner-only. Prints the report's path.
    """
    from reconcile.config import load_config

    _run_report(load_config(config_path), out, mask_pii, max_rows)


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reconcile-demo"),
    show_default=True,
    help="Folder for the two legacy databases, the ground truth and reconcile.yaml.",
)
@click.option(
    "--people",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="How many real people (children and parents) to generate.",
)
@click.option("--seed", type=int, default=42, show_default=True, help="The same seed gives the same data.")
def demo(out: Path, people: int, seed: int) -> None:
    """Generate two synthetic legacy systems and reconcile them.

    Writes lcs.db (laid out like Liquidlogic), mosaic.db (laid out like Mosaic),
    truth.db (who is really who) and a reconcile.yaml for them into --out, then
    does what the nightly job does (`reconcile run`) and scores the matching
    against the truth. The demo exits 0 whatever the gate says: its data is
    made to hold the problems the gate exists to catch.
    """
    from reconcile.config import load_config
    from reconcile.synthetic import write_demo

    files = write_demo(out, people=people, seed=seed)
    click.echo(f"wrote two legacy systems for {people} people to {out}/ (lcs.db, mosaic.db, truth.db)")
    click.echo(f"config: {files.config}\n")
    config = load_config(files.config)
    outcome = _run_all(config, full=False, quiet=False, report_line=False)
    _check_against_truth(config, files.truth)
    click.echo(f"report: {outcome.report}")


@cli.command()
@click.option("--markdown", is_flag=True, help="Print the Markdown table the README embeds.")
def model(markdown: bool) -> None:
    """Describe the canonical model that every connector produces."""
    from reconcile.model import ENTITIES, markdown_table

    if markdown:
        click.echo(markdown_table())
        return
    for ent in ENTITIES.values():
        click.echo(f"{ent.name}{' (required)' if ent.required else ''}: {ent.meaning}")
        for col in ent.columns:
            codes = f" [{'/'.join(col.codes)}]" if col.codes else ""
            click.echo(
                f"  {col.name:<18} {col.type:<9}{'required ' if col.required else '         '}{col.meaning}{codes}"
            )


@contextmanager
def _target_lock(config: Any) -> Iterator[None]:
    """Commands that write to the target wait for no one: while a run holds it they refuse, naming it,
    because the run's atomic publish would silently replace whatever they wrote."""
    from reconcile.extract import new_run_id
    from reconcile.run_lock import run_lock

    with run_lock(config.target_url(), new_run_id()):
        yield


def _run_all(config: Any, *, full: bool, quiet: bool, log_file: Path | None = None, report_line: bool = True) -> Any:
    from reconcile.progress import LineProgress, TerminalProgress
    from reconcile.run import Silent, run

    progress = Silent() if quiet else TerminalProgress() if sys.stdout.isatty() else LineProgress()
    outcome = run(config, full=full, progress=progress, log_file=log_file)
    if not quiet:
        from reports.load_summary import format_counts

        click.echo("\n" + format_counts(outcome.loads) + "\n")
        click.echo("risk flags:\n" + outcome.flags.to_string(index=False) + "\n")
        click.echo(f"run {outcome.run_id} published to {config.target_url().render_as_string(hide_password=True)}")
    _echo_verdict(outcome.verdict)
    if report_line:
        click.echo(f"report: {outcome.report}")
    return outcome


def _run_extract(config: Any, quiet: bool, full: bool = False) -> None:
    from reconcile.extract import extract
    from reports.load_summary import format_counts

    result = extract(config, full=full)
    if quiet:
        click.echo(result.run_id)
        return
    click.echo(format_counts(result.table()))
    target = config.target_url().render_as_string(hide_password=True)
    click.echo(f"\nrun {result.run_id} published to {target}")
    click.echo("canonical tables: " + ", ".join(_entity_names()) + "; problems: rejected_record, field_issue")


def _run_match(config: Any, full: bool = False) -> None:
    from reconcile.match import match

    summary = match(config, full=full)
    click.echo(f"{summary.mode}: {summary.why}")
    click.echo(
        f"matched {summary.records} person records into {summary.masters} master records: "
        f"{summary.linked_across_systems} known to more than one system, "
        f"{summary.duplicates_within_system} duplicates within a system, "
        f"{summary.review_queue} pairs for review"
    )
    click.echo(f"families: {summary.families}, of which {summary.families_split} no single system sees whole")
    disagreements = ", ".join(f"{field} {n}" for field, n in summary.conflicts_by_field.items()) or "none"
    click.echo(f"masters whose records disagree, by field: {disagreements}")
    click.echo(
        "tables: master_person (+ _provenance), master_conflict, person_xref, match_pair, review_queue, "
        "master_id_history, master_relationship, master_family, master_activity (view)"
    )


def _run_validate(config: Any, data_docs: Path | None = None, full: bool = False) -> None:
    from reconcile.validate import validate

    summary = validate(config, data_docs=data_docs, full=full)
    failed = summary.failed_checks
    click.echo(f"source checks failed (run {summary.run_id}): {len(failed)}" + (":" if len(failed) else ""))
    if len(failed):
        click.echo(failed.to_string(index=False))
    click.echo("risk flags:")
    click.echo(summary.flags.to_string(index=False))
    if summary.data_docs_index is not None:
        click.echo(f"data docs: {summary.data_docs_index}")


def _run_report(config: Any, out: Path | None = None, mask: bool = False, max_rows: int | None = None) -> None:
    from reports.html_report import write_report

    rows = {} if max_rows is None else {"max_rows": max_rows}
    click.echo(f"report: {write_report(config, out, mask=mask, **rows)}")


def _echo_verdict(result: Any) -> None:
    limits = ", ".join(f"{s} at most {n}" for s, n in result.thresholds.items() if n is not None)
    counts = ", ".join(f"{n} {s}" for s, n in result.by_severity.items())
    exceeded = f"; exceeded: {', '.join(result.exceeded)}" if result.exceeded else ""
    click.echo(f"gate: {result.word} (exit {result.exit_code}): {counts}; allowed {limits}{exceeded}")


def _check_against_truth(config: Any, truth_path: Path) -> None:
    """The demo knows who is really who; say how the matching did, so nobody has to take it on trust."""
    import sqlite3

    import pandas as pd
    import sqlalchemy as sa

    from reconcile.evaluation import score

    engine = sa.create_engine(config.target_url())
    try:
        xref = pd.read_sql(
            "SELECT source_system, source_id AS person_id, master_id AS master_key FROM person_xref", engine
        )
    finally:
        engine.dispose()
    with sqlite3.connect(truth_path) as conn:
        columns = "source_system, person_id, true_id, twin_group"
        truth = pd.read_sql(f"SELECT DISTINCT {columns} FROM person_truth WHERE person_id IS NOT NULL", conn)
    scores = score(xref, truth.drop_duplicates(["source_system", "person_id"]))
    pairwise, clusters = scores.pairwise, scores.cluster
    click.echo(
        f"against the ground truth: pairwise precision {pairwise.precision:.4f}, recall {pairwise.recall:.4f}; "
        f"master records exactly right {clusters.f1:.4f} (F1); twins merged: {scores.twin_merges}"
    )


def _entity_names() -> list[str]:
    from reconcile.model import ENTITIES

    return list(ENTITIES)


if __name__ == "__main__":
    cli()

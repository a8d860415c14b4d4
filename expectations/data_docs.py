"""Great Expectations Data Docs for the source suites: the same validations, kept on disk as an HTML site.

The run table (`source_check`) stays the record; the site is for people used to GE's own view. It holds
counts only: the result format keeps no unexpected values, so no child's data reaches the HTML.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

from expectations.source_suites import as_day, source_batches, source_suites
from reconcile.privacy import DIR_MODE, FILE_MODE, private_dir

# SUMMARY for the counts; no partial list, so no record value is kept in a result or rendered.
RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
SITE = "local_site"


def build_data_docs(frames: dict[str, pd.DataFrame], today: date, out_dir: Path) -> Path:
    """Validate every source against the source suites in a fresh file context and build its local site.

    Returns the site's index.html. Everything under `out_dir` that GE writes is made owner-only.
    """
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    private_dir(out_dir)
    root = out_dir / f"data-docs-{datetime.now(timezone.utc):%Y%m%dT%H%M%S%fZ}"
    if root.exists():
        raise FileExistsError(f"{root} already exists; Data Docs are built in a fresh folder")
    private_dir(root)  # owner-only before GE writes into it, so nothing is readable meanwhile
    try:
        context = _file_context(root)
        suites = {name: context.suites.add(suite) for name, suite in source_suites().items()}
        parameters = {"today": as_day(today)}
        run_time = datetime.now(timezone.utc)
        for source, name, part, batches in source_batches(context, frames, suites):
            definition = gx.ValidationDefinition(name=f"{suites[name].name}.{source}", data=batches, suite=suites[name])
            context.validation_definitions.add(definition).run(
                batch_parameters={"dataframe": part},
                expectation_parameters=parameters,
                result_format=RESULT_FORMAT,
                run_id=RunIdentifier(run_name=str(source), run_time=run_time),  # the site lists runs by source
            )
        urls = context.build_data_docs(site_names=[SITE])
    finally:
        _owner_only(root)
    return Path(unquote(urlparse(urls[SITE]).path))


def _file_context(root: Path) -> Any:
    """A file context scaffolded in `root`: analytics and console progress bars off, as in the in-memory one."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=root)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.enable_analytics(False)  # saves the variables
    return context


def _owner_only(root: Path) -> None:
    """GE writes with the process umask; the site and its stores hold results, so tighten every entry."""
    for folder, dirs, files in os.walk(root):
        Path(folder).chmod(DIR_MODE)
        for name in dirs:
            (Path(folder) / name).chmod(DIR_MODE)
        for name in files:
            (Path(folder) / name).chmod(FILE_MODE)

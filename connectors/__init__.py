"""Connectors read legacy systems and never write to them. `open_connector` picks one by config."""

from __future__ import annotations

from pathlib import Path

from connectors.base import Connector
from connectors.files import FilesConnector
from connectors.sql import SqlConnector
from connectors.ssd import SsdConnector
from reconcile.config import SourceSpec, resolve_url

__all__ = ["Connector", "FilesConnector", "SqlConnector", "SsdConnector", "open_connector"]


def open_connector(name: str, spec: SourceSpec, base_dir: Path) -> Connector:
    if spec.connector == "files":
        return FilesConnector(name, spec, base_dir)
    url = resolve_url(spec.url or "", base_dir)
    if spec.connector == "ssd":
        return SsdConnector(name, spec, url)
    return SqlConnector(name, spec, url)

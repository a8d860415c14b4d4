"""The read/loaded/rejected table that every extract prints: the proof that nothing was lost."""

from __future__ import annotations

import pandas as pd

COUNTS = ["read", "loaded", "rejected", "field issues"]


def format_counts(table: pd.DataFrame) -> str:
    """One line per source and entity, then a total line; read = loaded + rejected on every line."""
    if table.empty:
        return "no sources read"
    shown = table.rename(columns={"source_system": "source", "field_issues": "field issues"})
    total = pd.DataFrame([{"source": "total", "entity": "", **shown[COUNTS].sum().to_dict()}])
    shown = pd.concat([shown, total], ignore_index=True)
    for col in ("source", "entity"):  # names read left to right; pad them, and their header, to one width
        width = max(len(col), shown[col].astype(str).str.len().max())
        shown[col] = shown[col].astype(str).str.ljust(width)
        shown = shown.rename(columns={col: col.ljust(width)})
    return shown.to_string(index=False)

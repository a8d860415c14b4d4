"""Master records from matched person rows: the value each master keeps per field, and where its records disagree.

`survive` picks each surviving value and names the record and rule that chose it; `conflicts`
lists the fields on which one master's records disagree in substance.
"""

from reconcile.masters.conflicts import conflicts, record_conflicts
from reconcile.masters.survivorship import master_records, survive, survive_records

__all__ = ["conflicts", "master_records", "record_conflicts", "survive", "survive_records"]

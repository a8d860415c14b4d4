"""Great Expectations suites: per-source checks and the master (risk) suites.

Filled by the validation work; nothing here is used yet.
"""

"""Matching rules as data (blocking rules, comparison levels, safeguarding constraints).

Filled by the probabilistic-matching work; nothing here is used yet.
"""

"""Probabilistic matching of person records into master records.

The steps, in the order data flows: `standardise` -> `blocking` -> `comparisons` ->
`training` (Fellegi-Sunter m, u and prior) -> `inference` (match weights) ->
`constraints` (safeguarding rules) -> `clustering`. `match_people` chains them.
"""

from reconcile.matching.pipeline import MatchResult, match_people
from reconcile.matching.rules import Rules, load_rules

__all__ = ["MatchResult", "Rules", "load_rules", "match_people"]

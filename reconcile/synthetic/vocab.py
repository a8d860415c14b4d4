"""Each legacy system's own wording for the same facts, keyed by a neutral internal code.

The two systems deliberately disagree (REFERRAL vs 'Progress to referral'), as real ones do;
free-text columns such as outcome or source are left in the system's wording, while the
closed code columns (sex, consent, relationship) are mapped back in reconcile.yaml.
"""

from __future__ import annotations

# internal code: (weight, LCS wording, Mosaic wording)
Vocabulary = dict[str, tuple[float, str, str]]

ETHNICITY: Vocabulary = {
    "WBRI": (0, "WBRI", "White British"),
    "WIRI": (0, "WIRI", "White Irish"),
    "WOTH": (0, "WOTH", "Any other White background"),
    "MWBC": (0, "MWBC", "White and Black Caribbean"),
    "MWBA": (0, "MWBA", "White and Black African"),
    "BCRB": (0, "BCRB", "Black Caribbean"),
    "BAFR": (0, "BAFR", "Black African"),
    "APKN": (0, "APKN", "Pakistani"),
    "AIND": (0, "AIND", "Indian"),
    "ABAN": (0, "ABAN", "Bangladeshi"),
    "OOTH": (0, "OOTH", "Any other ethnic group"),
    "NOBT": (0, "NOBT", "Information not yet obtained"),
}
ETHNICITY_BY_ORIGIN: dict[str, dict[str, float]] = {
    "british": {"WBRI": 0.85, "WIRI": 0.03, "WOTH": 0.03, "MWBC": 0.05, "BCRB": 0.04},
    "south_asian": {"APKN": 0.5, "AIND": 0.3, "ABAN": 0.2},
    "polish": {"WOTH": 1.0},
    "somali": {"BAFR": 1.0},
    "arabic": {"OOTH": 1.0},
    "nigerian": {"BAFR": 0.9, "MWBA": 0.1},
}
CONTACT_OUTCOME: Vocabulary = {
    "referral": (0, "REFERRAL", "Progress to referral"),
    "nfa": (0, "NFA", "No further action"),
    "early_help": (0, "EARLY_HELP", "Early help"),
    "advice": (0, "INFO_ADVICE", "Information and advice"),
}
CONTACT_SOURCE: Vocabulary = {
    "police": (0.30, "POLICE", "Police"),
    "school": (0.20, "SCHOOL", "Education"),
    "health": (0.15, "HEALTH", "Health services"),
    "la": (0.10, "LA_SERVICES", "Local authority services"),
    "self": (0.08, "SELF", "Self"),
    "family": (0.07, "FAMILY", "Family member"),
    "other": (0.10, "OTHER", "Other"),
}
REFERRAL_OUTCOME: Vocabulary = {
    "assessment": (0, "ASSESSMENT", "Single assessment"),
    "nfa": (0, "NFA", "No further action"),
}
CP_CATEGORY: Vocabulary = {
    "neglect": (0.50, "NEGLECT", "Neglect"),
    "emotional": (0.35, "EMOTIONAL", "Emotional abuse"),
    "physical": (0.08, "PHYSICAL", "Physical abuse"),
    "sexual": (0.04, "SEXUAL", "Sexual abuse"),
    "multiple": (0.03, "MULTIPLE", "Multiple"),
}
TEAM: Vocabulary = {
    "assess_1": (0.25, "ASSESS_NORTH", "Assessment Team East"),
    "assess_2": (0.20, "ASSESS_SOUTH", "Assessment Team West"),
    "cin_1": (0.20, "CIN_1", "Child in Need Team 1"),
    "cin_2": (0.15, "CIN_2", "Child in Need Team 2"),
    "cp": (0.15, "CP_TEAM", "Safeguarding and Child Protection"),
    "cwd": (0.05, "CWD", "Children with Disabilities"),
}
WORKERS_PER_SYSTEM = 60


def wording(vocab: Vocabulary, system: str) -> dict[str, str]:
    """Internal code to one system's wording."""
    column = 1 if system == "lcs" else 2
    return {code: entry[column] for code, entry in vocab.items()}


def weights(vocab: Vocabulary) -> tuple[list[str], list[float]]:
    """Internal codes and their weights, for drawing."""
    return list(vocab), [entry[0] for entry in vocab.values()]


def worker_name(system: str, forename: str, surname: str) -> str:
    """LCS keeps 'SURNAME, Forename'; Mosaic keeps 'Forename Surname'."""
    return f"{surname.upper()}, {forename}" if system == "lcs" else f"{forename} {surname}"

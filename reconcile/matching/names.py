"""Names as matching needs them: one ASCII spelling, tokens, placeholders, and which names are the same name."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml
from anyascii import anyascii

_NOT_LETTERS = re.compile(r"[^a-z ]+")
_NOT_ALNUM = re.compile(r"[^a-z0-9 ]+")
_SPACES = re.compile(r"\s+")
# Forenames given to a child before it has one. "Baby of Sarah" is a placeholder, so is "Unborn"; so are the
# words systems are given when a name is not known ("Unknown", "TBC", "Girl", "Babygirl").
PLACEHOLDER_WORDS = frozenset(
    {"baby", "unborn", "infant", "newborn", "unnamed", "babyof", "bb", "child", "twin", "babygirl", "babyboy",
     "girl", "boy", "male", "female", "unknown", "unk", "nk", "tbc", "tba", "tbd", "xxx"}
)  # fmt: skip
_PLACEHOLDER_PHRASES = frozenset({"not known", "no name", "not named", "not stated", "b b", "b g"})
_PLACEHOLDER_TAIL = frozenset({"of", "boy", "girl", "baby", "child", "one", "two", "a", "b", "i", "ii", "1", "2"})
# Titles and particles that are not part of a name; "bin", "van" etc. are kept, they are part of it.
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mstr", "master", "dr"})


def normalise(text: object, *, digits: bool = False) -> str | None:
    """Lower-case ASCII letters and single spaces: 'Zoë  O'Brien-Smith' -> 'zoe obrien smith'.

    Apostrophes join (O'Brien is one token); hyphens split (Smith-Jones is two). Addresses keep digits.
    """
    if text is None or not isinstance(text, str):
        return None
    ascii_text = anyascii(text).lower().replace("'", "").replace("`", "")
    cleaned = _SPACES.sub(" ", (_NOT_ALNUM if digits else _NOT_LETTERS).sub(" ", ascii_text)).strip()
    tokens = [t for t in cleaned.split(" ") if t and t not in _TITLES]
    return " ".join(tokens) or None


def is_placeholder(forename: str | None) -> bool:
    """'Baby', 'Unborn', 'Baby of Sarah', 'Baby Boy': a name for a child who has none yet."""
    if not forename:
        return False
    if forename in _PLACEHOLDER_PHRASES:
        return True
    tokens = forename.split(" ")
    if tokens[0] not in PLACEHOLDER_WORDS:
        return False
    # "Baby Smith" in the forename field, or "Baby of Sarah": nothing after the word names the child
    return len(tokens) == 1 or tokens[1] in _PLACEHOLDER_TAIL or tokens[0] in ("baby", "unborn")


@dataclass(frozen=True)
class NameVariants:
    """Which pairs of names are the same name: nickname of, or another spelling of."""

    pairs: frozenset[tuple[str, str]]
    spellings: frozenset[tuple[str, str]] = frozenset()  # the transliteration pairs among `pairs`

    def same_name(self, a: str | None, b: str | None) -> bool:
        if not a or not b:
            return False
        return a == b or (a, b) in self.pairs or _nicknames_related(a, b)

    def equivalences(self, names: Iterable[str]) -> list[tuple[str, str]]:
        """Every (name, equivalent) pair, both ways round, for the names given."""
        namer = _nicknamer()
        found = set()
        wanted = set(names)
        for name in wanted:
            for other in namer.nicknames_of(name):
                found |= {(name, other), (other, name)}
        found |= {pair for pair in self.pairs if pair[0] in wanted}
        return sorted(found)


@cache
def name_variants() -> NameVariants:
    """The `nicknames` package plus matching_rules/names.yaml (UK diminutives, transliterations)."""
    text = resources.files("matching_rules").joinpath("names.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    pairs: set[tuple[str, str]] = set()
    for short, *full_forms in data.get("nicknames", []):
        for full in full_forms:
            pairs |= {(short, full), (full, short)}
    spellings = {(a, b) for group in data.get("transliterations", []) for a in group for b in group if a != b}
    return NameVariants(frozenset(pairs | spellings), frozenset(spellings))


@cache
def _nicknamer():  # noqa: ANN202 - the package has no type hints
    from nicknames import NickNamer

    return NickNamer()


@cache
def _nicknames_related(a: str, b: str) -> bool:
    """Direct links only: Bill~William, not William~Robert because both relate to Bill."""
    namer = _nicknamer()
    return b in namer.nicknames_of(a) or a in namer.nicknames_of(b)

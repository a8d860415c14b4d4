"""Other ways the same name gets written: nicknames, transliterations and typing slips.

Nicknames come from the `nicknames` package where it knows the name, plus a UK supplement
for the diminutives it lacks (Alfie, Evie, Lexi...). Every lookup returns a sorted tuple
so that choices made from it are the same on every run.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from nicknames import NickNamer

from reconcile.synthetic.pools import forename_sexes

# (sex the group applies to, or "" for both; names that stand for one another)
UK_NICKNAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("M", ("Alfie", "Alfred", "Alf")),
    ("M", ("Ollie", "Oliver", "Olly")),
    ("M", ("Archie", "Archibald")),
    ("M", ("Freddie", "Frederick", "Fred", "Freddy")),
    ("F", ("Evie", "Evelyn", "Eve")),
    ("F", ("Millie", "Amelia", "Millicent", "Milly")),
    ("F", ("Charlie", "Charlotte", "Lottie")),
    ("M", ("Charlie", "Charles")),
    ("F", ("Lexi", "Alexandra", "Lexie", "Alex")),
    ("M", ("Alex", "Alexander", "Xander")),
    ("M", ("Harry", "Henry", "Harold")),
    ("M", ("Teddy", "Edward", "Ted", "Eddie")),
    ("M", ("Theo", "Theodore")),
    ("M", ("Albie", "Albert", "Bertie")),
    ("M", ("Reggie", "Reginald")),
    ("M", ("Ronnie", "Ronald")),
    ("M", ("Tommy", "Thomas", "Tom")),
    ("M", ("Billy", "William", "Will", "Liam")),
    ("M", ("Bobby", "Robert", "Rob", "Bob")),
    ("M", ("Frankie", "Francis", "Frank")),
    ("F", ("Frankie", "Frances")),
    ("M", ("Jack", "John", "Johnny")),
    ("M", ("Jake", "Jacob")),
    ("M", ("Sam", "Samuel", "Sammy")),
    ("F", ("Sam", "Samantha", "Sammie")),
    ("M", ("Ben", "Benjamin", "Benji")),
    ("M", ("Joe", "Joseph", "Joey")),
    ("M", ("Danny", "Daniel", "Dan")),
    ("M", ("Matt", "Matthew")),
    ("M", ("Josh", "Joshua")),
    ("F", ("Ellie", "Eleanor", "Elle")),
    ("F", ("Gracie", "Grace")),
    ("F", ("Rosie", "Rose")),
    ("F", ("Becky", "Rebecca", "Becca")),
    ("F", ("Jess", "Jessica", "Jessie")),
    ("F", ("Katie", "Kate", "Katherine", "Catherine", "Cathy")),
    ("F", ("Izzy", "Isabella", "Bella")),
    ("F", ("Sophie", "Sophia")),
    ("F", ("Abbie", "Abigail", "Abby")),
    ("F", ("Lizzie", "Elizabeth", "Beth", "Liz")),
    ("F", ("Vicky", "Victoria", "Tori")),
    ("F", ("Steph", "Stephanie")),
    ("F", ("Nicky", "Nicola")),
    ("F", ("Jenny", "Jennifer", "Jen")),
    ("F", ("Maisie", "Margaret")),
    ("F", ("Molly", "Mary")),
    ("M", ("Mike", "Michael", "Mikey")),
    ("M", ("Chris", "Christopher")),
    ("M", ("Andy", "Andrew")),
    ("M", ("Steve", "Steven", "Stephen")),
    ("M", ("Tony", "Anthony")),
    ("M", ("Rich", "Richard", "Richie")),
    ("M", ("Nick", "Nicholas")),
    ("M", ("Jon", "Jonathan")),
    ("M", ("Zach", "Zachary")),
    ("M", ("Gabe", "Gabriel")),
    ("M", ("Wojtek", "Wojciech")),
    ("M", ("Kuba", "Jakub")),
    ("F", ("Kasia", "Katarzyna")),
    ("F", ("Gosia", "Małgorzata")),
    ("F", ("Ola", "Aleksandra")),
    ("F", ("Zosia", "Zofia")),
    ("F", ("Madzia", "Magdalena")),
    ("M", ("Seun", "Oluwaseun")),
    ("M", ("Emeka", "Chukwuemeka")),
    ("M", ("Tunde", "Babatunde")),
    ("M", ("Tobi", "Oluwatobi")),
    ("M", ("Femi", "Oluwafemi")),
    ("F", ("Temi", "Temitope")),
    ("F", ("Funmi", "Funmilayo")),
    ("F", ("Toyin", "Oluwatoyin")),
)

# Spellings of one name across scripts and conventions, forenames and surnames alike.
TRANSLITERATIONS: tuple[tuple[str, ...], ...] = (
    ("Mohammed", "Muhammad", "Mohamed", "Mohammad", "Muhammed", "Mohamad"),
    ("Aisha", "Ayesha", "Aysha", "Aishah"),
    ("Yusuf", "Yousef", "Yousuf", "Youssef", "Yusef"),
    ("Hussain", "Hussein", "Husain"),
    ("Hassan", "Hasan"),
    ("Ahmed", "Ahmad"),
    ("Fatima", "Fatimah", "Fatma"),
    ("Zainab", "Zaynab"),
    ("Maryam", "Mariam", "Maryum"),
    ("Ibrahim", "Ebrahim"),
    ("Omar", "Umar"),
    ("Abdirahman", "Abdulrahman", "Abdurahman"),
    ("Abdullahi", "Abdullah"),
    ("Khadija", "Khadijah", "Khadeeja"),
    ("Hamza", "Hamzah"),
    ("Layla", "Leila", "Laila"),
    ("Noor", "Nour", "Nur"),
    ("Yasmin", "Yasmine", "Jasmine"),
    ("Amira", "Ameera"),
    ("Idris", "Idrees"),
    ("Usman", "Uthman", "Osman"),
    ("Bilal", "Belal"),
    ("Zahra", "Zehra"),
    ("Mustafa", "Mustapha", "Mostafa"),
    ("Khalid", "Khaled"),
    ("Fadumo", "Faduma"),
    ("Nimco", "Nimo"),
    ("Sagal", "Sagaal"),
    ("Mohamud", "Mahmoud", "Mahmood"),
    ("Chaudhry", "Choudhury", "Chowdhury"),
    ("Michał", "Michal"),
    ("Łukasz", "Lukasz"),
    ("Paweł", "Pawel"),
    ("Małgorzata", "Malgorzata"),
    ("Wójcik", "Wojcik"),
    ("Wróbel", "Wrobel"),
    ("Zając", "Zajac"),
    ("Król", "Krol"),
    ("Stępień", "Stepien"),
)

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _clean(names: set[str], name: str) -> tuple[str, ...]:
    return tuple(sorted(n for n in names if n != name and len(n) > 1 and n.replace("-", "").isalpha()))


@cache
def transliterations(name: str) -> tuple[str, ...]:
    """Other spellings of `name`, empty if it has none."""
    found: set[str] = set()
    for group in TRANSLITERATIONS:
        if name in group:
            found.update(group)
    return _clean(found, name)


@cache
def nicknames(name: str, sex: str) -> tuple[str, ...]:
    """Nicknames and full forms of a forename, kept to the person's sex.

    From the package, diminutives are kept unless only the other sex uses them in our pools,
    and full forms only if our pools give them to this sex (it maps Jack to Jacqueline too).
    """
    lookup = _namer()
    low = name.lower()
    sexes = forename_sexes()
    found = {n for n in (m.title() for m in lookup.nicknames_of(low)) if sex in sexes.get(n, sex)}
    found |= {n for n in (m.title() for m in lookup.canonicals_of(low)) if sex in sexes.get(n, "")}
    for group_sex, group in UK_NICKNAMES:
        if name in group and group_sex in ("", sex):
            found.update(group)
    return _clean(found, name)


@cache
def _namer() -> NickNamer:
    return NickNamer()


def pick_each(options: list[tuple[str, ...]], rng: np.random.Generator) -> list[str]:
    """One option from each non-empty tuple, chosen by the generator."""
    draws = rng.integers(0, 1 << 30, size=len(options)).tolist()
    return [opts[d % len(opts)] for opts, d in zip(options, draws, strict=True)]


def typo(name: str, op: int, at: float, letter: int) -> str:
    """One slip of the keyboard: insert, delete, substitute or transpose one character.

    The first letter is left alone (people rarely mistype it) and the result always differs.
    """
    if len(name) < 2:
        return name + LETTERS[letter % 26]
    pos = 1 + int(at * (len(name) - 1))  # 1..len-1
    new = LETTERS[letter % 26]
    if op == 0:
        out = name[:pos] + new + name[pos:]
    elif op == 1 and len(name) > 2:
        out = name[:pos] + name[pos + 1 :]
    elif op == 3 and pos < len(name) - 1:
        out = name[:pos] + name[pos + 1] + name[pos] + name[pos + 2 :]
    else:
        out = name[:pos] + new + name[pos + 1 :]
    if out == name:  # swapped two equal letters or substituted a letter by itself
        out = name[:pos] + LETTERS[(LETTERS.find(name[pos].lower()) + 1) % 26] + name[pos + 1 :]
    return out

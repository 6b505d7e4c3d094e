"""Seeded fake data for emulators, derived record by record from (seed, row number).

Faker runs once per process to make small vocabularies (company names, people's names, job titles);
every record is then a pure function of the emulator's seed and its row number, so seeding a million
accounts costs nothing until a record is read, and the same seed always gives the same records.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache

_M64 = (1 << 64) - 1

#: The seed of the Faker vocabularies themselves (the emulator seed only picks from them).
VOCABULARY_SEED = 20240131


def mix(value: int) -> int:
    """A 64-bit hash of an integer (splitmix64's finalizer): cheap, well spread, deterministic."""
    value = (value + 0x9E3779B97F4A7C15) & _M64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _M64
    return value ^ (value >> 31)


def slug(text: str) -> str:
    """Lower-case letters and digits of ``text``, for domains and e-mail local parts."""
    return re.sub(r"[^a-z0-9]+", "", text.lower())


# Curated, real city/country pairs (a Faker city with a random country reads wrong).
CITIES: tuple[tuple[str, str], ...] = (
    ("New York", "United States"),
    ("San Francisco", "United States"),
    ("Chicago", "United States"),
    ("Austin", "United States"),
    ("Boston", "United States"),
    ("Seattle", "United States"),
    ("Atlanta", "United States"),
    ("Denver", "United States"),
    ("Toronto", "Canada"),
    ("Vancouver", "Canada"),
    ("Montreal", "Canada"),
    ("London", "United Kingdom"),
    ("Manchester", "United Kingdom"),
    ("Edinburgh", "United Kingdom"),
    ("Dublin", "Ireland"),
    ("Paris", "France"),
    ("Lyon", "France"),
    ("Berlin", "Germany"),
    ("Munich", "Germany"),
    ("Hamburg", "Germany"),
    ("Amsterdam", "Netherlands"),
    ("Rotterdam", "Netherlands"),
    ("Brussels", "Belgium"),
    ("Zurich", "Switzerland"),
    ("Vienna", "Austria"),
    ("Madrid", "Spain"),
    ("Barcelona", "Spain"),
    ("Lisbon", "Portugal"),
    ("Milan", "Italy"),
    ("Rome", "Italy"),
    ("Stockholm", "Sweden"),
    ("Copenhagen", "Denmark"),
    ("Oslo", "Norway"),
    ("Helsinki", "Finland"),
    ("Warsaw", "Poland"),
    ("Prague", "Czech Republic"),
    ("Sydney", "Australia"),
    ("Melbourne", "Australia"),
    ("Auckland", "New Zealand"),
    ("Singapore", "Singapore"),
    ("Tokyo", "Japan"),
    ("Bangalore", "India"),
    ("Mumbai", "India"),
    ("Sao Paulo", "Brazil"),
    ("Mexico City", "Mexico"),
    ("Cape Town", "South Africa"),
    ("Tel Aviv", "Israel"),
    ("Dubai", "United Arab Emirates"),
)

# Words that make a second, third … company from one Faker name ("Haynes Group Europe").
QUALIFIERS: tuple[str, ...] = (
    "Europe",
    "Holdings",
    "International",
    "Labs",
    "Digital",
    "Partners",
    "Ventures",
    "Solutions",
    "Systems",
    "Analytics",
    "Consulting",
    "Capital",
    "Logistics",
    "Health",
    "Energy",
    "Media",
    "Software",
    "Networks",
    "Robotics",
    "Foods",
    "Retail",
    "Security",
    "Cloud",
    "Studios",
    "Manufacturing",
    "Pharma",
    "Finance",
    "Mobility",
    "Education",
    "Travel",
    "Design",
    "Data",
    "Americas",
    "Asia Pacific",
    "Nordic",
    "Iberia",
    "Benelux",
    "DACH",
    "UK",
    "France",
    "Canada",
    "Australia",
    "India",
    "Japan",
    "Brazil",
    "Mexico",
    "Africa",
    "Middle East",
)

TLDS: tuple[str, ...] = ("com", "com", "com", "io", "net", "co", "org", "ai", "de", "co.uk", "fr", "nl")


@dataclass(frozen=True)
class Vocabulary:
    """Word lists drawn once from Faker with :data:`VOCABULARY_SEED`."""

    companies: tuple[str, ...]
    company_slugs: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    job_titles: tuple[str, ...]
    qualifier_slugs: tuple[str, ...]


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """The shared vocabularies (made on first use, about a second)."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(VOCABULARY_SEED)
    seen: set[str] = set()
    companies: list[str] = []
    slugs: list[str] = []
    while len(companies) < 4096:
        name = fake.company()
        key = slug(name)
        if key and key not in seen:
            seen.add(key)
            companies.append(name)
            slugs.append(key)
    first = sorted({fake.first_name() for _ in range(1500)})
    last = sorted({fake.last_name() for _ in range(1500)})
    jobs = sorted({fake.job() for _ in range(700)})
    return Vocabulary(
        companies=tuple(companies),
        company_slugs=tuple(slugs),
        first_names=tuple(first),
        last_names=tuple(last),
        job_titles=tuple(jobs),
        qualifier_slugs=tuple(slug(q) for q in QUALIFIERS),
    )


class CompanyNamer:
    """Unique company names and domains by row number, shuffled per seed.

    Row ``r`` takes base name ``r mod V`` (V Faker names in a seed-dependent order); later rounds add a
    qualifier ("… Europe") and, past every qualifier, a round number, so names and domains stay unique.
    """

    def __init__(self, seed: int) -> None:
        vocab = vocabulary()
        order = list(range(len(vocab.companies)))
        random.Random(seed).shuffle(order)
        self._names = tuple(vocab.companies[i] for i in order)
        self._slugs = tuple(vocab.company_slugs[i] for i in order)
        self._qualifier_slugs = vocab.qualifier_slugs
        self._seed_hash = mix(seed ^ 0xC0FFEE)

    def name(self, row: int) -> str:
        """The company name of row ``row``."""
        size = len(self._names)
        base = self._names[row % size]
        round_ = row // size
        if round_ == 0:
            return base
        q = (round_ - 1) % len(QUALIFIERS)
        lap = (round_ - 1) // len(QUALIFIERS)
        return f"{base} {QUALIFIERS[q]}" + (f" {lap + 1}" if lap else "")

    def domain(self, row: int) -> str:
        """The web domain of row ``row`` (unique per row)."""
        size = len(self._names)
        base = self._slugs[row % size]
        round_ = row // size
        tld = TLDS[mix(self._seed_hash + row) % len(TLDS)]
        if round_ == 0:
            return f"{base}.{tld}"
        q = (round_ - 1) % len(QUALIFIERS)
        lap = (round_ - 1) // len(QUALIFIERS)
        return f"{base}-{self._qualifier_slugs[q]}" + (str(lap + 1) if lap else "") + f".{tld}"


def pick(options: tuple[str, ...], value: int) -> str:
    """``options[value mod len]``."""
    return options[value % len(options)]


def multi_pick(options: tuple[str, ...], value: int) -> str | None:
    """A ``;``-joined subset of ``options`` chosen by the bits of ``value`` (None when empty)."""
    chosen = [opt for bit, opt in enumerate(options) if value >> bit & 1]
    return ";".join(chosen) if chosen else None

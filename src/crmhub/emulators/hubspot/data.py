"""Seeded HubSpot records: each company, contact and owner is a pure function of (seed, row)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from crmhub.emulators._common.fakedata import CITIES, CompanyNamer, mix, slug, vocabulary
from crmhub.emulators.hubspot.schema import COMPANY_TYPES, INDUSTRIES, LIFECYCLE, PARTNER_STATUSES, PRODUCTS

Record = dict[str, Any]
DAY_MS = 86_400_000
OWNER_ID_BASE = 50_000_000
USER_ID_BASE = 7_000_000


def hub_id(row: int) -> str:
    """The ``hub_id`` a seeded record has (when it has one)."""
    return f"HUB-{row + 1:07d}"


def hub_id_row(value: str) -> int | None:
    """The seeded row of a (case-folded) ``hub_id``."""
    if len(value) == 11 and value[:4] == "hub-" and value[4:].isdigit():
        return int(value[4:]) - 1
    return None


def owner_id(row: int) -> str:
    """The owner id of owner row ``row``."""
    return str(OWNER_ID_BASE + row + 1)


def owner_deriver(seed: int, *, stamp: Callable[[int], int]) -> Callable[[int], Record]:
    """Owners (HubSpot users who own records)."""
    vocab = vocabulary()
    salt = mix(seed * 7919 + 11)

    def derive(row: int) -> Record:
        h = mix(salt + row)
        first = vocab.first_names[h % len(vocab.first_names)]
        last = vocab.last_names[(h >> 16) % len(vocab.last_names)]
        return {
            "_row": row,
            "_created": stamp(row) - 30 * DAY_MS,
            "_updated": stamp(row),
            "id": owner_id(row),
            "email": f"{slug(first)}.{slug(last)}@crmhub-emulator.example",
            "firstName": first,
            "lastName": last,
            "userId": USER_ID_BASE + row + 1,
        }

    return derive


def company_deriver(
    seed: int, *, owners: int, namer: CompanyNamer, stamp: Callable[[int], int]
) -> Callable[[int], Record]:
    """Companies: unique names and domains, some without industry, half with a partner status."""
    salt = mix(seed * 1_000_003 + 101)
    owner_ids = [owner_id(o) for o in range(max(owners, 1))]

    def derive(row: int) -> Record:
        h = mix(salt + row)
        h2 = mix(h ^ 0xA5A5)
        updated = stamp(row)
        created = updated - (h2 % (180 * DAY_MS))
        city, country = CITIES[h % len(CITIES)]
        status_pick = (h >> 20) % 10
        employees = int(10 ** (1 + ((h >> 36) % 400) / 100))
        products = (
            [o.value for bit, o in enumerate(PRODUCTS) if (h >> 24) >> bit & 1] if (h >> 30) % 3 else []
        )
        company_type = COMPANY_TYPES[(h >> 44) % len(COMPANY_TYPES)].value
        domain = namer.domain(row)
        lifecycle = LIFECYCLE[(h >> 48) % len(LIFECYCLE)].value
        return {
            "_row": row,
            "_created": created,
            "_updated": updated,
            "name": namer.name(row),
            "domain": domain,
            "website": f"https://www.{domain}",
            "industry": INDUSTRIES[(h >> 6) % len(INDUSTRIES)].value if (h >> 11) % 10 else None,
            "numberofemployees": str(employees),
            "annualrevenue": str(employees * (40_000 + (h2 >> 8) % 160_000) // 1000 * 1000),
            "city": city,
            "country": country,
            "phone": f"+1 {(h2 >> 20) % 900 + 100}-{(h2 >> 30) % 900 + 100}-{(h2 >> 40) % 9000 + 1000}",
            "type": company_type,
            "lifecyclestage": lifecycle,
            "hubspot_owner_id": owner_ids[(h >> 14) % len(owner_ids)],
            "description": None,
            "partner_status": PARTNER_STATUSES[status_pick].value if status_pick < 3 else None,
            "products": ";".join(products) or None,
            "hub_id": hub_id(row) if (h >> 32) % 5 else None,
            "customer_since": (
                dt.datetime.fromtimestamp(created / 1000, dt.UTC).date().isoformat()
                if lifecycle == "customer"
                else None
            ),
        }

    return derive


def contact_company_row(seed: int, row: int, companies: int) -> int | None:
    """The company a seeded contact is associated with (every twentieth has none)."""
    if companies <= 0 or mix(mix(seed * 31337 + 103) + row) % 20 == 0:
        return None
    return row % companies


def contact_deriver(
    seed: int, *, companies: int, owners: int, namer: CompanyNamer, stamp: Callable[[int], int]
) -> Callable[[int], Record]:
    """Contacts: associated with company ``row mod companies``, e-mail at its domain (unique)."""
    vocab = vocabulary()
    salt = mix(seed * 2_000_029 + 102)
    link_salt = mix(seed * 31337 + 103)
    company_salt = mix(seed * 1_000_003 + 101)
    first_slugs = [slug(n) for n in vocab.first_names]
    last_slugs = [slug(n) for n in vocab.last_names]
    owner_ids = [owner_id(o) for o in range(max(owners, 1))]

    def derive(row: int) -> Record:
        h = mix(salt + row)
        h2 = mix(h ^ 0x5A5A)
        updated = stamp(row)
        fi = h % len(vocab.first_names)
        li = (h >> 16) % len(vocab.last_names)
        company_row = None if companies <= 0 or mix(link_salt + row) % 20 == 0 else row % companies
        local = f"{first_slugs[fi]}.{last_slugs[li]}"
        if company_row is None:
            email = f"{local}{row}@example.net"
            company_name = None
            country = CITIES[(h >> 8) % len(CITIES)][1]
        else:
            email = f"{local}{row // companies if row >= companies else ''}@{namer.domain(company_row)}"
            company_name = namer.name(company_row)
            country = CITIES[mix(company_salt + company_row) % len(CITIES)][1]
        return {
            "_row": row,
            "_created": updated - (h2 % (90 * DAY_MS)),
            "_updated": updated,
            "email": email,
            "firstname": vocab.first_names[fi],
            "lastname": vocab.last_names[li],
            "jobtitle": vocab.job_titles[(h >> 32) % len(vocab.job_titles)] if (h >> 28) % 8 else None,
            "phone": f"+1 {(h2 >> 20) % 900 + 100}-{(h2 >> 30) % 900 + 100}-{(h2 >> 40) % 9000 + 1000}",
            "company": company_name,
            "country": country,
            "lifecyclestage": LIFECYCLE[(h >> 48) % len(LIFECYCLE)].value,
            "hubspot_owner_id": owner_ids[(h >> 40) % len(owner_ids)],
            "hub_id": hub_id(row) if (h >> 24) % 4 == 0 else None,
        }

    return derive

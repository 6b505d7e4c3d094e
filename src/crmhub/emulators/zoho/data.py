"""Seeded Zoho CRM records: each account, contact, lead and user is a pure function of (seed, row).

Records are stored in an internal form: lookups hold the *row* of the record they point to
(``Owner`` a user row, a contact's ``Account_Name`` an account row), multi-select picklists a list;
the emulator renders them as the API shows them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from crmhub.emulators._common.fakedata import CITIES, CompanyNamer, mix, slug, vocabulary
from crmhub.emulators.zoho.schema import (
    ACCOUNT_TYPES,
    INDUSTRIES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    PARTNER_STATUSES,
    PRODUCTS,
    RATINGS,
)

Record = dict[str, Any]
DAY_MS = 86_400_000
#: Id bases per module: 19-digit ids like Zoho's, so text order is numeric order.
ID_BASES = {
    "Users": 5_725_767_000_000_100_000,
    "Accounts": 5_725_767_000_100_000_000,
    "Contacts": 5_725_767_000_200_000_000,
    "Leads": 5_725_767_000_300_000_000,
}
ROW_SPAN = 99_999_999


def record_id(module: str, row: int) -> str:
    return str(ID_BASES[module] + row + 1)


def row_of(module: str, text: str) -> int | None:
    if not text.isdigit():
        return None
    row = int(text) - ID_BASES[module] - 1
    return row if 0 <= row < ROW_SPAN else None


def hub_id(row: int) -> str:
    """The ``Hub_ID`` a seeded record has (when it has one)."""
    return f"HUB-{row + 1:07d}"


def user_deriver(seed: int, *, stamp: Callable[[int], int]) -> Callable[[int], Record]:
    vocab = vocabulary()
    salt = mix(seed * 7919 + 17)

    def derive(row: int) -> Record:
        h = mix(salt + row)
        first = vocab.first_names[h % len(vocab.first_names)]
        last = vocab.last_names[(h >> 16) % len(vocab.last_names)]
        return {
            "_row": row,
            "_created": stamp(row) - 30 * DAY_MS,
            "_updated": stamp(row),
            "first_name": first,
            "last_name": last,
            "full_name": f"{first} {last}",
            "email": f"{slug(first)}.{slug(last)}{row}@crmhub-emulator.example",
            "status": "active",
        }

    return derive


def account_deriver(
    seed: int, *, users: int, namer: CompanyNamer, stamp: Callable[[int], int]
) -> Callable[[int], Record]:
    """Accounts: unique names and websites, a third partners (status + partner id), some keyed by Hub_ID."""
    salt = mix(seed * 1_000_003 + 211)

    def derive(row: int) -> Record:
        h = mix(salt + row)
        h2 = mix(h ^ 0xA5A5)
        updated = stamp(row)
        created = updated - (h2 % (180 * DAY_MS)) // 1000 * 1000
        city, country = CITIES[h % len(CITIES)]
        employees = int(10 ** (1 + ((h >> 36) % 400) / 100))
        products = [p for bit, p in enumerate(PRODUCTS) if (h >> 24) >> bit & 1] if (h >> 30) % 3 else []
        account_type = ACCOUNT_TYPES[(h >> 44) % len(ACCOUNT_TYPES)]
        status_pick = (h >> 20) % 9
        return {
            "_row": row,
            "_created": created,
            "_updated": updated,
            "Account_Name": namer.name(row),
            "Website": f"https://www.{namer.domain(row)}",
            "Phone": f"+1 {(h2 >> 20) % 900 + 100}-{(h2 >> 30) % 900 + 100}-{(h2 >> 40) % 9000 + 1000}",
            "Industry": INDUSTRIES[(h >> 6) % len(INDUSTRIES)] if (h >> 11) % 10 else None,
            "Account_Type": account_type,
            "Rating": RATINGS[(h >> 50) % len(RATINGS)] if (h >> 52) % 2 else None,
            "Employees": employees,
            "Annual_Revenue": float(employees * (40_000 + (h2 >> 8) % 160_000) // 1000 * 1000),
            "Billing_City": city,
            "Billing_Country": country,
            "Description": None,
            "Products": products,
            "Customer_Since": (
                dt.datetime.fromtimestamp(created / 1000, dt.UTC).date().isoformat()
                if account_type == "Customer"
                else None
            ),
            "Partner_Status": PARTNER_STATUSES[status_pick] if status_pick < 3 else None,
            "Partner_ID": f"P-{row + 1:06d}" if status_pick < 3 and status_pick != 2 else None,
            "Hub_ID": hub_id(row) if (h >> 32) % 5 else None,
            "Owner": (h >> 14) % max(users, 1),
        }

    return derive


def contact_account_row(seed: int, row: int, accounts: int) -> int | None:
    """The account a seeded contact belongs to (every twentieth has none)."""
    if accounts <= 0 or mix(mix(seed * 31337 + 213) + row) % 20 == 0:
        return None
    return row % accounts


def contact_deriver(
    seed: int, *, accounts: int, users: int, namer: CompanyNamer, stamp: Callable[[int], int]
) -> Callable[[int], Record]:
    """Contacts: under account ``row mod accounts`` (e-mail at its domain, unique), some with a Hub_ID."""
    vocab = vocabulary()
    salt = mix(seed * 2_000_029 + 212)
    first_slugs = [slug(n) for n in vocab.first_names]
    last_slugs = [slug(n) for n in vocab.last_names]

    def derive(row: int) -> Record:
        h = mix(salt + row)
        h2 = mix(h ^ 0x5A5A)
        updated = stamp(row)
        fi = h % len(vocab.first_names)
        li = (h >> 16) % len(vocab.last_names)
        account = contact_account_row(seed, row, accounts)
        local = f"{first_slugs[fi]}.{last_slugs[li]}"
        if account is None:
            email = f"{local}{row}@example.net"
            country = CITIES[(h >> 8) % len(CITIES)][1]
        else:
            email = f"{local}{row // accounts if row >= accounts else ''}@{namer.domain(account)}"
            country = CITIES[mix(mix(seed * 1_000_003 + 211) + account) % len(CITIES)][1]
        return {
            "_row": row,
            "_created": updated - (h2 % (90 * DAY_MS)) // 1000 * 1000,
            "_updated": updated,
            "First_Name": vocab.first_names[fi],
            "Last_Name": vocab.last_names[li],
            "Email": email,
            "Phone": f"+1 {(h2 >> 20) % 900 + 100}-{(h2 >> 30) % 900 + 100}-{(h2 >> 40) % 9000 + 1000}",
            "Title": vocab.job_titles[(h >> 32) % len(vocab.job_titles)] if (h >> 28) % 8 else None,
            "Mailing_Country": country,
            "Account_Name": account,
            "Hub_ID": hub_id(row) if (h >> 24) % 4 == 0 else None,
            "Description": None,
            "Owner": (h >> 40) % max(users, 1),
        }

    return derive


def lead_deriver(
    seed: int, *, users: int, namer: CompanyNamer, stamp: Callable[[int], int]
) -> Callable[[int], Record]:
    vocab = vocabulary()
    salt = mix(seed * 3_000_017 + 214)

    def derive(row: int) -> Record:
        h = mix(salt + row)
        updated = stamp(row)
        first = vocab.first_names[h % len(vocab.first_names)]
        last = vocab.last_names[(h >> 16) % len(vocab.last_names)]
        company = namer.name(row + 50_000)
        return {
            "_row": row,
            "_created": updated - (h % (60 * DAY_MS)) // 1000 * 1000,
            "_updated": updated,
            "First_Name": first,
            "Last_Name": last,
            "Company": company,
            "Email": f"{slug(first)}.{slug(last)}@{namer.domain(row + 50_000)}",
            "Lead_Status": LEAD_STATUSES[(h >> 24) % len(LEAD_STATUSES)],
            "Lead_Source": LEAD_SOURCES[(h >> 28) % len(LEAD_SOURCES)] if (h >> 31) % 4 else None,
            "Annual_Revenue": float((h >> 34) % 5_000 * 1000),
            "Owner": (h >> 40) % max(users, 1),
        }

    return derive

"""Seeded Salesforce records: each Account, Contact and User is a pure function of (seed, row)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmhub.emulators._common.fakedata import CITIES, CompanyNamer, mix, multi_pick, slug, vocabulary
from crmhub.emulators._common.responses import iso_day
from crmhub.emulators.salesforce.ids import make_id
from crmhub.emulators.salesforce.schema import ACCOUNT_TYPES, INDUSTRIES, PARTNER_STATUSES, PRODUCTS

Record = dict[str, Any]
DAY_MS = 86_400_000
ORG_DOMAIN = "crmhub-emulator.example"


def hub_id(row: int) -> str:
    """The external id a seeded record has (when it has one)."""
    return f"HUB-{row + 1:07d}"


def hub_id_row(value: str) -> int | None:
    """The seeded row an external id like ``HUB-0000042`` belongs to (any case)."""
    if len(value) == 11 and value[:4] == "hub-" and value[4:].isdigit():
        return int(value[4:]) - 1
    return None


def _iso_date(ms: int) -> str:
    return iso_day(ms // DAY_MS)


def user_deriver(seed: int, *, admin_username: str, stamp: Callable[[int], int]) -> Callable[[int], Record]:
    """Users: row 0 is the admin the emulator's credentials log in as."""
    vocab = vocabulary()
    salt = mix(seed * 7919 + 5)

    def derive(row: int) -> Record:
        h = mix(salt + row)
        first = vocab.first_names[h % len(vocab.first_names)]
        last = vocab.last_names[(h >> 16) % len(vocab.last_names)]
        modstamp = stamp(row)
        uid = make_id("005", row)
        username = admin_username if row == 0 else f"{slug(first)}.{slug(last)}{row}@{ORG_DOMAIN}"
        return {
            "_row": row,
            "Id": uid,
            "Username": username,
            "FirstName": first,
            "LastName": last,
            "Name": f"{first} {last}",
            "Email": username if row == 0 else f"{slug(first)}.{slug(last)}@{ORG_DOMAIN}",
            "Alias": (slug(first)[:1] + slug(last))[:8],
            "Title": "System Administrator"
            if row == 0
            else vocab.job_titles[(h >> 32) % len(vocab.job_titles)],
            "IsActive": row == 0 or (h >> 40) % 10 != 0,
            "CreatedDate": modstamp - 30 * DAY_MS,
            "LastModifiedDate": modstamp,
            "SystemModstamp": modstamp,
        }

    return derive


def account_deriver(
    seed: int, *, users: int, namer: CompanyNamer, stamp: Callable[[int], int]
) -> Callable[[int], Record]:
    """Accounts: unique names and websites, ~10 % without Industry, half with a partner status."""
    salt = mix(seed * 1_000_003 + 1)
    user_ids = [make_id("005", u) for u in range(max(users, 1))]
    n_users = len(user_ids)
    products = [multi_pick(PRODUCTS, bits) for bits in range(64)]

    def derive(row: int) -> Record:
        h = mix(salt + row)
        h2 = mix(h ^ 0xA5A5)
        modstamp = stamp(row)
        created = modstamp - (h2 % (180 * DAY_MS))
        owner = user_ids[(h >> 14) % n_users]
        city, country = CITIES[h % len(CITIES)]
        status_pick = (h >> 20) % 10
        account_type = ACCOUNT_TYPES[(h >> 44) % len(ACCOUNT_TYPES)]
        employees = int(10 ** (1 + ((h >> 36) % 400) / 100))
        return {
            "_row": row,
            "Id": make_id("001", row),
            "IsDeleted": False,
            "Name": namer.name(row),
            "Type": account_type,
            "Industry": INDUSTRIES[(h >> 6) % len(INDUSTRIES)] if (h >> 11) % 10 else None,
            "Website": f"https://www.{namer.domain(row)}",
            "Phone": f"+1 {(h2 >> 20) % 900 + 100}-{(h2 >> 30) % 900 + 100}-{(h2 >> 40) % 9000 + 1000}",
            "BillingCity": city,
            "BillingCountry": country,
            "NumberOfEmployees": employees,
            "AnnualRevenue": float(employees * (40_000 + (h2 >> 8) % 160_000) // 1000 * 1000),
            "Description": None,
            "OwnerId": owner,
            "Partner_Status__c": PARTNER_STATUSES[status_pick] if status_pick < 3 else None,
            "Products__c": products[(h >> 24) & 63] if (h >> 30) % 3 else None,
            "Hub_ID__c": hub_id(row) if (h >> 32) % 5 else None,
            "Customer_Since__c": _iso_date(created) if account_type.startswith("Customer") else None,
            "CreatedDate": created,
            "CreatedById": owner,
            "LastModifiedDate": modstamp,
            "LastModifiedById": owner,
            "SystemModstamp": modstamp,
        }

    return derive


def contact_account_row(seed: int, row: int, accounts: int) -> int | None:
    """The seeded account row a seeded contact belongs to (every twentieth contact has none)."""
    if accounts <= 0 or mix(mix(seed * 31337 + 3) + row) % 20 == 0:
        return None
    return row % accounts


def contact_deriver(
    seed: int, *, accounts: int, users: int, namer: CompanyNamer, stamp: Callable[[int], int]
) -> Callable[[int], Record]:
    """Contacts: linked to account ``row mod accounts`` with an e-mail at that account's domain."""
    vocab = vocabulary()
    salt = mix(seed * 2_000_029 + 2)
    link_salt = mix(seed * 31337 + 3)
    first_names, last_names = vocab.first_names, vocab.last_names
    first_slugs = [slug(n) for n in first_names]
    last_slugs = [slug(n) for n in last_names]
    user_ids = [make_id("005", u) for u in range(max(users, 1))]
    n_users = len(user_ids)

    def derive(row: int) -> Record:
        h = mix(salt + row)
        h2 = mix(h ^ 0x5A5A)
        modstamp = stamp(row)
        fi = h % len(first_names)
        li = (h >> 16) % len(last_names)
        account_row = None if accounts <= 0 or mix(link_salt + row) % 20 == 0 else row % accounts
        local = f"{first_slugs[fi]}.{last_slugs[li]}"
        if account_row is None:
            email = f"{local}{row}@example.net"
            country = CITIES[(h >> 8) % len(CITIES)][1]
        else:
            suffix = str(row // accounts) if row >= accounts else ""
            email = f"{local}{suffix}@{namer.domain(account_row)}"
            country = CITIES[mix(mix(seed * 1_000_003 + 1) + account_row) % len(CITIES)][1]
        owner = user_ids[(h >> 40) % n_users]
        return {
            "_row": row,
            "Id": make_id("003", row),
            "IsDeleted": False,
            "AccountId": make_id("001", account_row) if account_row is not None else None,
            "FirstName": first_names[fi],
            "LastName": last_names[li],
            "Name": f"{first_names[fi]} {last_names[li]}",
            "Email": email,
            "Title": vocab.job_titles[(h >> 32) % len(vocab.job_titles)] if (h >> 28) % 8 else None,
            "Phone": f"+1 {(h2 >> 20) % 900 + 100}-{(h2 >> 30) % 900 + 100}-{(h2 >> 40) % 9000 + 1000}",
            "MailingCountry": country,
            "HasOptedOutOfEmail": (h2 >> 50) % 10 == 0,
            "OwnerId": owner,
            "Hub_ID__c": hub_id(row) if (h >> 24) % 4 == 0 else None,
            "CreatedDate": modstamp - (h2 % (90 * DAY_MS)),
            "CreatedById": owner,
            "LastModifiedDate": modstamp,
            "LastModifiedById": owner,
            "SystemModstamp": modstamp,
        }

    return derive

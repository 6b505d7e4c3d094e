"""The emulators crmhub ships, described once: ``crmhub emulate KIND`` is generated from this list.

Each :class:`EmulatorEntry` says how to seed its emulator (the count flags), how to build it, and
what to print once it listens (credentials, a curl line, the ``crmhub connections add`` line). A new
CRM adds one entry here; the command line follows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crmhub.emulators._common.base import EmulatorBase
from crmhub.emulators._common.faults import FaultConfig

__all__ = ["EMULATORS", "EmulatorEntry", "Seed", "get"]


@dataclass(frozen=True)
class Seed:
    """One ``--flag N`` of seeded records; ``noun`` names them in the seeding line."""

    flag: str
    name: str
    default: int
    help: str
    noun: str
    minimum: int = 0


@dataclass(frozen=True)
class EmulatorEntry:
    kind: str
    label: str
    summary: str
    port: int
    seeds: tuple[Seed, ...]
    build: Callable[[Mapping[str, int], int, FaultConfig], EmulatorBase]
    #: Lines printed once the emulator listens: (emulator, url, tls) → lines.
    describe: Callable[[Any, str, bool], list[str]]

    def seeding_line(self, counts: Mapping[str, int]) -> str:
        parts = ", ".join(f"{counts[s.name]} {s.noun}" for s in self.seeds)
        return f"seeding the {self.label} emulator: {parts} …"


def _salesforce(counts: Mapping[str, int], seed: int, fault: FaultConfig) -> EmulatorBase:
    from crmhub.emulators.salesforce import SalesforceEmulator

    return SalesforceEmulator(
        accounts=counts["accounts"],
        contacts=counts["contacts"],
        users=counts["users"],
        seed=seed,
        fault=fault,
    )


def _salesforce_lines(e: Any, url: str, tls: bool) -> list[str]:
    v, k = e.api_version, " -k" if tls else ""
    return [
        f"crmhub Salesforce emulator on {url} (API v{v}; {e.count('Account')} accounts, {e.count('Contact')} "
        f"contacts, {e.count('User')} users; seed {e.seed})",
        f"  username       {e.username}",
        f"  password       {e.password}  (send password + security token: {e.password}{e.security_token})",
        f"  security token {e.security_token}",
        f"  client id      {e.client_id}",
        f"  client secret  {e.client_secret}",
        "Get a token:",
        f"  curl{k} -s -X POST {url}/services/oauth2/token -d grant_type=password "
        f"-d client_id={e.client_id} -d client_secret={e.client_secret} "
        f"-d username={e.username} -d password={e.password}{e.security_token}",
        "Run a SOQL query with it:",
        f'  curl{k} -s -H "Authorization: Bearer $TOKEN" '
        f'"{url}/services/data/v{v}/query?q=SELECT+Id,Name,Industry+FROM+Account+LIMIT+5"',
        f"Control endpoints: {url}/__emulator/state (see crmhub.emulators docs)",
        "Connect crmhub to it:",
        f"  crmhub connections add sf-emulator --kind salesforce --set login_url={url} "
        f"--set username={e.username} --secret client_id={e.client_id} "
        f"--secret client_secret={e.client_secret} --secret password={e.password} "
        f"--secret security_token={e.security_token}" + (" --set verify_tls=false" if tls else ""),
        "Press Ctrl-C to stop.",
    ]


def _hubspot(counts: Mapping[str, int], seed: int, fault: FaultConfig) -> EmulatorBase:
    from crmhub.emulators.hubspot import HubSpotEmulator

    return HubSpotEmulator(
        companies=counts["accounts"],
        contacts=counts["contacts"],
        owners=counts["owners"],
        seed=seed,
        fault=fault,
    )


def _hubspot_lines(e: Any, url: str, tls: bool) -> list[str]:
    k = " -k" if tls else ""
    return [
        f"crmhub HubSpot emulator on {url} ({e.n_companies} companies, {e.n_contacts} contacts, {e.n_owners} owners; "
        f"seed {e.seed})",
        f"  private app token  {e.private_app_token}",
        f"  client id          {e.client_id}",
        f"  client secret      {e.client_secret}",
        f"  auth code          {e.auth_code}",
        f"  refresh token      {e.default_refresh_token}",
        "Get an OAuth token (or use the private app token directly):",
        f"  curl{k} -s -X POST {url}/oauth/v1/token -d grant_type=refresh_token "
        f"-d client_id={e.client_id} -d client_secret={e.client_secret} -d refresh_token={e.default_refresh_token}",
        "List companies:",
        f'  curl{k} -s -H "Authorization: Bearer {e.private_app_token}" '
        f'"{url}/crm/v3/objects/companies?limit=5&properties=name,domain,industry"',
        f"Control endpoints: {url}/__emulator/state",
        "Connect crmhub to it:",
        f"  crmhub connections add hs-emulator --kind hubspot --set base_url={url} "
        f"--secret access_token={e.private_app_token}" + (" --set verify_tls=false" if tls else ""),
        "Press Ctrl-C to stop.",
    ]


_COQL_EXAMPLE = (
    '{"select_query": "select Account_Name, Industry from Accounts where Employees > 100 limit 5"}'
)


def _zoho(counts: Mapping[str, int], seed: int, fault: FaultConfig) -> EmulatorBase:
    from crmhub.emulators.zoho import ZohoEmulator

    return ZohoEmulator(
        accounts=counts["accounts"],
        contacts=counts["contacts"],
        leads=counts["leads"],
        users=counts["users"],
        seed=seed,
        fault=fault,
    )


def _zoho_lines(e: Any, url: str, tls: bool) -> list[str]:
    k = " -k" if tls else ""
    counts = e.counts
    return [
        f"crmhub Zoho CRM emulator on {url} (REST v8; {counts['Accounts']} accounts, {counts['Contacts']} contacts, "
        f"{counts['Leads']} leads, {counts['Users']} users; seed {e.seed})",
        f"  client id      {e.client_id}",
        f"  client secret  {e.client_secret}",
        f"  refresh token  {e.default_refresh_token}",
        f"  grant token    {e.grant_token}",
        "Get a token (accounts server and API share this host):",
        f"  curl{k} -s -X POST {url}/oauth/v2/token -d grant_type=refresh_token "
        f"-d client_id={e.client_id} -d client_secret={e.client_secret} -d refresh_token={e.default_refresh_token}",
        "Run a COQL query with it:",
        f"  curl{k} -s -H \"Authorization: Zoho-oauthtoken $TOKEN\" -d '{_COQL_EXAMPLE}' {url}/crm/v8/coql",
        f"Control endpoints: {url}/__emulator/state",
        "Connect crmhub to it:",
        f"  crmhub connections add zoho-emulator --kind zoho --set accounts_url={url} "
        f"--secret client_id={e.client_id} --secret client_secret={e.client_secret} "
        f"--secret refresh_token={e.default_refresh_token}" + (" --set verify_tls=false" if tls else ""),
        "Press Ctrl-C to stop.",
    ]


EMULATORS: tuple[EmulatorEntry, ...] = (
    EmulatorEntry(
        "salesforce",
        "Salesforce",
        "Serve the Salesforce REST API emulator (OAuth, SOQL, sObjects, composite).",
        8701,
        (
            Seed("--accounts", "accounts", 1000, "Seeded Account records.", "accounts"),
            Seed("--contacts", "contacts", 2000, "Seeded Contact records.", "contacts"),
            Seed("--users", "users", 10, "Seeded User records (at least 1).", "users", minimum=1),
        ),
        _salesforce,
        _salesforce_lines,
    ),
    EmulatorEntry(
        "hubspot",
        "HubSpot",
        "Serve the HubSpot CRM API emulator (v3 objects, search, batch, properties, associations).",
        8702,
        (
            Seed("--accounts", "accounts", 1000, "Seeded companies.", "companies"),
            Seed("--contacts", "contacts", 2000, "Seeded contacts.", "contacts"),
            Seed("--owners", "owners", 10, "Seeded owners (at least 1).", "owners", minimum=1),
        ),
        _hubspot,
        _hubspot_lines,
    ),
    EmulatorEntry(
        "zoho",
        "Zoho CRM",
        "Serve the Zoho CRM REST v8 emulator (OAuth, metadata, records, COQL, deleted, upsert).",
        8703,
        (
            Seed("--accounts", "accounts", 1000, "Seeded Accounts.", "accounts"),
            Seed("--contacts", "contacts", 2000, "Seeded Contacts.", "contacts"),
            Seed("--leads", "leads", 500, "Seeded Leads.", "leads"),
            Seed("--users", "users", 10, "Seeded Users (at least 1).", "users", minimum=1),
        ),
        _zoho,
        _zoho_lines,
    ),
)


def get(kind: str) -> EmulatorEntry:
    for entry in EMULATORS:
        if entry.kind == kind:
            return entry
    raise KeyError(f"no emulator {kind!r}; available: {', '.join(e.kind for e in EMULATORS)}")

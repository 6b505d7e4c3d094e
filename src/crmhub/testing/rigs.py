"""Rigs for the connector contract suite: one per (connector, emulator) pair.

A rig knows the CRM's names for the fields the contract talks about (:class:`Names`), builds records
in those names (:meth:`Rig.record`), and opens a :class:`Session`: an emulator served over loopback
HTTP (a folder of files for CSV) plus a connector pointed at it, with a retry policy whose sleeps are
recorded instead of slept.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crmhub.connectors.base import Capability, Connector, Page, RemoteRecord
from crmhub.connectors.http import RetryPolicy
from crmhub.emulators._common.clock import from_ms
from crmhub.emulators._common.faults import FaultConfig
from crmhub.emulators.serve import serve_in_thread


@dataclass(frozen=True)
class Names:
    """The CRM's names for what the contract reads and writes."""

    object: str
    name: str  # text
    number: str
    picklist: str
    multi: str  # multi-select
    key: str  # unique / external id used to upsert
    date: str | None
    picklist_values: tuple[str, ...]  # allowed picklist values to filter on
    multi_values: tuple[str, str]  # two allowed multi-select values
    # A dot path: child object, its reference field, the path, parent object, parent field.
    child: str | None = None
    reference: str | None = None
    path: str | None = None
    parent: str | None = None
    parent_field: str | None = None


@dataclass
class Session:
    """One connector talking to one fresh emulator (or folder)."""

    rig: Rig
    connector: Connector
    emulator: Any = None
    folder: Path | None = None
    sleeps: list[float] = field(default_factory=list)

    # -- the source's own view ----------------------------------------------------------------

    def count(self, object_name: str | None = None) -> int:
        return self.rig.count(self, object_name or self.rig.names.object)

    def ids(self, object_name: str | None = None) -> list[str]:
        return self.rig.ids(self, object_name or self.rig.names.object)

    def value(self, record_id: str, field_name: str) -> Any:
        return self.rig.value(self, record_id, field_name)

    def now(self) -> datetime:
        return from_ms(self.emulator.clock.now_ms())

    # -- control -------------------------------------------------------------------------------

    def delete(self, record_id: str) -> None:
        self.emulator.delete(self.rig.names.object, record_id)

    def set_modstamp(self, when: datetime, count: int) -> list[str]:
        return list(self.emulator.set_modstamp(self.rig.names.object, when, count=count))

    def touch(self, count: int) -> list[str]:
        return list(self.emulator.touch(self.rig.names.object, count=count))

    def faults(self, config: FaultConfig) -> None:
        self.emulator.set_faults(config)

    def injected(self, kind: str) -> int:
        return int(self.emulator.fault_injector.injected[kind])

    def expire_tokens(self) -> int:
        return int(self.emulator.expire_tokens())

    def allow_calls(self, more: int) -> None:
        """Let the emulator answer ``more`` further API calls today, then refuse with its daily limit."""
        self._daily_limit = self.emulator.usage.limit
        self.emulator.set_daily_limit(self.emulator.usage.used + more)

    def new_day(self) -> None:
        """The next API day: nothing used, the usual limit."""
        self.emulator.reset_daily_usage()
        self.emulator.set_daily_limit(getattr(self, "_daily_limit", self.emulator.usage.limit))


class Rig:
    """How the contract drives one connector kind; subclasses fill in the CRM's specifics."""

    kind: str
    names: Names
    #: Whether the CRM rejects a value of the wrong type (CSV takes any text).
    typed: bool = True
    #: Describe types the contract expects for Names.multi and Names.picklist.
    multi_type: str = "multi_text"
    has_picklists: bool = True
    #: Smallest page size the connector honours.
    min_page: int = 1
    #: An id order matching the CRM's (HubSpot ids are numbers).
    id_order: Any = str
    #: How the rig reads in test ids.
    label: str = ""

    @property
    def capabilities(self) -> frozenset[Capability]:
        capabilities: frozenset[Capability] = self.connector_class().capabilities
        return capabilities

    def connector_class(self) -> Any:
        raise NotImplementedError

    def open(
        self, *, size: int = 300, children: int = 60, **options: Any
    ) -> contextlib.AbstractContextManager[Session]:
        raise NotImplementedError

    def record(self, **logical: Any) -> dict[str, Any]:
        """A record in the CRM's field names from logical names (``name=``, ``number=``, ``multi=`` …)."""
        out: dict[str, Any] = {}
        for key, value in logical.items():
            out[getattr(self.names, key) if hasattr(self.names, key) else key] = value
        return out

    def filter_with_residual(self) -> str:
        """A filter whose first part the CRM evaluates and whose second part (a function) it cannot."""
        n = self.names
        values = ", ".join(f'"{v}"' for v in n.picklist_values)
        return f"{n.picklist} IN ({values}) AND LEN({n.name}) > 12"

    def compile(self, expr: Any, schema: dict[str, Any]) -> Any:
        """The connector's push-down of ``expr`` (None for connectors that filter locally)."""
        return None

    def stamp(self, when: datetime) -> datetime:
        """``when`` at the CRM's modstamp precision (Zoho keeps whole seconds)."""
        return when

    # The source's own view (emulator control API) ---------------------------------------------

    def count(self, session: Session, object_name: str) -> int:
        return int(session.emulator.count(object_name))

    def ids(self, session: Session, object_name: str) -> list[str]:
        return list(session.emulator.ids(object_name))

    def value(self, session: Session, record_id: str, field_name: str) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def recording_retry(sleeps: list[float]) -> RetryPolicy:
    """Tiny backoff; every wait is recorded in ``sleeps`` rather than slept."""
    return RetryPolicy(
        max_retries=10, base_delay=0.001, max_delay=0.01, sleep=sleeps.append, jitter=lambda: 0.5
    )


# -- Salesforce -------------------------------------------------------------------------------------


class SalesforceRig(Rig):
    kind = "salesforce"
    label = "salesforce against its emulator"
    names = Names(
        object="Account",
        name="Name",
        number="NumberOfEmployees",
        picklist="Industry",
        multi="Products__c",
        key="Hub_ID__c",
        date="Customer_Since__c",
        picklist_values=("Banking", "Insurance", "Retail"),
        multi_values=("Analytics", "CRM"),
        child="Account",
        reference="OwnerId",
        path="Owner.Name",
        parent="User",
        parent_field="Name",
    )
    min_page = 200

    def connector_class(self) -> Any:
        from crmhub.connectors.salesforce import SalesforceConnector

        return SalesforceConnector

    @contextlib.contextmanager
    def open(self, *, size: int = 300, children: int = 60, **options: Any) -> Iterator[Session]:
        from crmhub.connectors.salesforce import (
            SalesforceConnector,
            SalesforceCredentials,
            SalesforceSettings,
        )
        from crmhub.emulators.salesforce import (
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_PASSWORD,
            DEFAULT_SECURITY_TOKEN,
            DEFAULT_USERNAME,
            SalesforceEmulator,
        )

        options.pop("oauth", None)  # Salesforce always logs in with OAuth and can refresh
        emulator = SalesforceEmulator(accounts=size, contacts=children, users=5, seed=7, **options)
        sleeps: list[float] = []
        with serve_in_thread(emulator.app) as url:
            connector = SalesforceConnector(
                SalesforceSettings(login_url=url, username=DEFAULT_USERNAME),
                SalesforceCredentials(
                    client_id=DEFAULT_CLIENT_ID,
                    client_secret=DEFAULT_CLIENT_SECRET,
                    password=DEFAULT_PASSWORD,
                    security_token=DEFAULT_SECURITY_TOKEN,
                ),
                retry=recording_retry(sleeps),
            )
            try:
                yield Session(self, connector, emulator=emulator, sleeps=sleeps)
            finally:
                connector.close()

    def compile(self, expr: Any, schema: dict[str, Any]) -> Any:
        from crmhub.expr import to_soql

        return to_soql(expr, schema=schema)

    def value(self, session: Session, record_id: str, field_name: str) -> Any:
        record = session.emulator.get(self.names.object, record_id)
        return None if record is None else record.get(field_name)


# -- HubSpot ----------------------------------------------------------------------------------------


class HubSpotRig(Rig):
    kind = "hubspot"
    label = "hubspot against its emulator"
    names = Names(
        object="companies",
        name="name",
        number="numberofemployees",
        picklist="industry",
        multi="products",
        key="hub_id",
        date="customer_since",
        picklist_values=("BANKING", "INSURANCE", "RETAIL"),
        multi_values=("crm", "payments"),
        child="contacts",
        reference="associatedcompanyid",
        path="associatedcompany.name",
        parent="companies",
        parent_field="name",
    )
    id_order = int

    def connector_class(self) -> Any:
        from crmhub.connectors.hubspot import HubSpotConnector

        return HubSpotConnector

    @contextlib.contextmanager
    def open(self, *, size: int = 300, children: int = 60, **options: Any) -> Iterator[Session]:
        from crmhub.connectors.hubspot import HubSpotConnector, HubSpotCredentials, HubSpotSettings
        from crmhub.emulators.hubspot import (
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_PRIVATE_APP_TOKEN,
            DEFAULT_REFRESH_TOKEN,
            HubSpotEmulator,
        )

        oauth = options.pop("oauth", False)
        emulator = HubSpotEmulator(companies=size, contacts=children, owners=5, seed=7, **options)
        sleeps: list[float] = []
        if oauth:
            settings_auth = {"auth_method": "oauth"}
            credentials = HubSpotCredentials(
                client_id=DEFAULT_CLIENT_ID,
                client_secret=DEFAULT_CLIENT_SECRET,
                refresh_token=DEFAULT_REFRESH_TOKEN,
            )
        else:
            settings_auth = {"auth_method": "private_app"}
            credentials = HubSpotCredentials(access_token=DEFAULT_PRIVATE_APP_TOKEN)
        with serve_in_thread(emulator.app) as url:
            connector = HubSpotConnector(
                HubSpotSettings(base_url=url, **settings_auth), credentials, retry=recording_retry(sleeps)
            )
            try:
                yield Session(self, connector, emulator=emulator, sleeps=sleeps)
            finally:
                connector.close()

    def compile(self, expr: Any, schema: dict[str, Any]) -> Any:
        from crmhub.expr import to_hubspot

        return to_hubspot(expr, schema=schema)

    def value(self, session: Session, record_id: str, field_name: str) -> Any:
        record = session.emulator.get(self.names.object, record_id)
        return None if record is None else record["properties"].get(field_name)


# -- CSV --------------------------------------------------------------------------------------------

_INDUSTRIES = ("Banking", "Insurance", "Retail", "Utilities", "Internet", "Construction")
_PRODUCTS = ("crm", "payments", "analytics")


def csv_rows(count: int) -> list[dict[str, str]]:
    """Deterministic account rows for the CSV rig."""
    rows = []
    for i in range(1, count + 1):
        rows.append(
            {
                "id": str(i),
                "name": f"Account {i:04d}" + (" Holdings Group" if i % 3 == 0 else ""),
                "industry": _INDUSTRIES[i % len(_INDUSTRIES)],
                "employees": str(i * 7 % 900),
                "products": ";".join(_PRODUCTS[: 1 + i % len(_PRODUCTS)]),
            }
        )
    return rows


class CsvRig(Rig):
    kind = "csv"
    label = "csv on a folder of files"
    names = Names(
        object="accounts",
        name="name",
        number="employees",
        picklist="industry",
        multi="products",
        key="id",
        date=None,
        picklist_values=("Banking", "Insurance", "Retail"),
        multi_values=("crm", "payments"),
    )
    typed = False
    multi_type = "text"  # a file says nothing about multi-values; ';' text stays text
    has_picklists = False

    def connector_class(self) -> Any:
        from crmhub.connectors.csv import CsvConnector

        return CsvConnector

    @contextlib.contextmanager
    def open(self, *, size: int = 300, children: int = 60, **options: Any) -> Iterator[Session]:
        import tempfile

        from crmhub.connectors.csv import CsvConnector, CsvSettings

        with tempfile.TemporaryDirectory(prefix="crmhub-contract-") as tmp:
            folder = Path(tmp)
            rows = csv_rows(size)
            with (folder / f"{self.names.object}.csv").open("w", encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            connector = CsvConnector(CsvSettings(path=str(folder)))
            yield Session(self, connector, folder=folder)

    def _rows(self, session: Session, object_name: str) -> list[dict[str, str]]:
        assert session.folder is not None
        with (session.folder / f"{object_name}.csv").open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))

    def count(self, session: Session, object_name: str) -> int:
        return len(self._rows(session, object_name))

    def ids(self, session: Session, object_name: str) -> list[str]:
        return [r["id"] for r in self._rows(session, object_name)]

    def value(self, session: Session, record_id: str, field_name: str) -> Any:
        row = next((r for r in self._rows(session, self.names.object) if r["id"] == record_id), None)
        return None if row is None else row.get(field_name)


# -- Zoho CRM ---------------------------------------------------------------------------------------


class ZohoRig(Rig):
    kind = "zoho"
    label = "zoho against its emulator"
    names = Names(
        object="Accounts",
        name="Account_Name",
        number="Employees",
        picklist="Industry",
        multi="Products",
        key="Hub_ID",
        date="Customer_Since",
        picklist_values=("Banking", "Insurance", "Retail"),
        multi_values=("CRM", "Analytics"),
        child="Contacts",
        reference="Account_Name",
        path="Account_Name.Account_Name",
        parent="Accounts",
        parent_field="Account_Name",
    )
    min_page = 200

    def connector_class(self) -> Any:
        from crmhub.connectors.zoho import ZohoConnector

        return ZohoConnector

    @contextlib.contextmanager
    def open(self, *, size: int = 300, children: int = 60, **options: Any) -> Iterator[Session]:
        from crmhub.connectors.zoho import ZohoConnector, ZohoCredentials, ZohoSettings
        from crmhub.emulators.zoho import (
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_REFRESH_TOKEN,
            ZohoEmulator,
        )

        options.pop("oauth", None)  # Zoho connections always use OAuth refresh tokens
        emulator = ZohoEmulator(accounts=size, contacts=children, leads=5, users=5, seed=7, **options)
        sleeps: list[float] = []
        with serve_in_thread(emulator.app) as url:
            connector = ZohoConnector(
                # The emulator compares text case-insensitively, so text criteria may be pushed.
                ZohoSettings(accounts_url=url, text_case_insensitive=True),
                ZohoCredentials(
                    client_id=DEFAULT_CLIENT_ID,
                    client_secret=DEFAULT_CLIENT_SECRET,
                    refresh_token=DEFAULT_REFRESH_TOKEN,
                ),
                retry=recording_retry(sleeps),
            )
            try:
                yield Session(self, connector, emulator=emulator, sleeps=sleeps)
            finally:
                connector.close()

    def compile(self, expr: Any, schema: dict[str, Any]) -> Any:
        from crmhub.expr import to_zoho_coql

        return to_zoho_coql(expr, schema=schema, text_case_insensitive=True)

    def stamp(self, when: datetime) -> datetime:
        return when.replace(microsecond=0)

    def value(self, session: Session, record_id: str, field_name: str) -> Any:
        record = session.emulator.get(self.names.object, record_id)
        if record is None:
            return None
        value = record.get(field_name)
        if isinstance(value, list):
            return ";".join(value)
        if isinstance(value, dict):
            return value.get("id")
        return value


BUILTIN_RIGS: list[Rig] = [SalesforceRig(), HubSpotRig(), CsvRig(), ZohoRig()]


# -- small helpers the cases share -----------------------------------------------------------------


def read_all(pages: Iterator[Page] | Sequence[Page]) -> tuple[list[RemoteRecord], list[Page]]:
    """All records of a read, and its pages."""
    kept = list(pages)
    return [r for p in kept for r in p.records], kept


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)

"""The HubSpot CRM API emulator (v3 objects, search, batch, properties, owners, v4 associations, OAuth v1).

Wire facts it follows, with where they come from:

* Records: ``{id, properties, createdAt, updatedAt, archived}`` with string property values;
  ``archivedAt`` on archived records; contacts carry ``lastmodifieddate``, companies
  ``hs_lastmodifieddate`` (HubSpot CRM docs, crm-protocols notes). Reads always include
  ``createdate``, the modified-date property and ``hs_object_id``; a requested property without a value
  comes back as ``null``.
* Default properties: contacts ``createdate, email, firstname, hs_object_id, lastmodifieddate, lastname``
  (HubSpot search guide); companies ``createdate, domain, hs_lastmodifieddate, hs_object_id, name``.
* 401 bodies: an unknown or missing token gives ``{"status": "error", "message": "Authentication
  credentials not found. …", "correlationId", "category": "INVALID_AUTHENTICATION"}`` (HubSpot
  developer community post on v3 authentication errors; hubspot-api-php issue #363); an expired
  OAuth token gives ``"The OAuth token used to make this call expired N second(s) ago."`` with
  ``"category": "EXPIRED_AUTHENTICATION"`` and ``context: {"expire time": [...]}`` (airbyte issue #74726,
  ToolJet issue #17192).
* 429 bodies ``{"status": "error", "message": "You have reached your daily limit.", "errorType":
  "RATE_LIMIT", "correlationId", "policyName": "DAILY"}`` (HubSpot usage-details docs as quoted on the
  HubSpot community); the burst limit uses policy ``TEN_SECONDLY_ROLLING`` (**unconfirmed** name) and the
  search limit ``SECONDLY``. Headers ``X-HubSpot-RateLimit-Daily``, ``-Daily-Remaining`` (not for OAuth
  tokens), ``-Interval-Milliseconds``, ``-Max``, ``-Remaining``, ``-Secondly``, ``-Secondly-Remaining``.
* Validation errors: 400 ``{"status": "error", "message": "Property values were not valid: [...]",
  "correlationId", "category": "VALIDATION_ERROR"}`` with HubSpot's per-property entries
  (``PROPERTY_DOESNT_EXIST``, ``READ_ONLY_VALUE``, ``INVALID_OPTION`` …; entry codes **unconfirmed**).
* Batch endpoints take at most 100 inputs (**unconfirmed**) and answer 207 with ``numErrors`` and
  ``errors: [{status, category, message, context, links, errors}]`` when some inputs fail (the shape of
  hubspot-api-client's ``StandardError`` model); archive answers 204.
* Lists page with ``limit`` (default 10, capped at 100 without error — **unconfirmed**) and ``after`` (the
  next record's id); search pages with an offset ``after`` (see :mod:`.search`).
* OAuth v1: ``POST /oauth/v1/token`` answers ``{token_type, refresh_token, access_token, expires_in}``;
  access tokens live 30 minutes (airbyte issue #74726). Error bodies ``{"status": "BAD_REFRESH_TOKEN" …}``
  are **unconfirmed**.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.emulators._common.base import EmulatorBase, InvalidRecordError, UnknownObjectError
from crmhub.emulators._common.clock import EmulatorClock
from crmhub.emulators._common.fakedata import CompanyNamer
from crmhub.emulators._common.faults import FaultConfig
from crmhub.emulators._common.responses import (
    JSON_TYPE,
    JSONBodyError,
    correlation_id,
    iso_ms,
    json_response,
    parse_json,
)
from crmhub.emulators._common.table import LookupSpec, Record, RecordTable, Ref
from crmhub.emulators.hubspot import data
from crmhub.emulators.hubspot.schema import (
    COMPANIES,
    COMPANY_TO_CONTACT,
    COMPANY_TO_CONTACT_PRIMARY,
    CONTACT_TO_COMPANY,
    CONTACT_TO_COMPANY_PRIMARY,
    CONTACTS,
    OBJECT_TYPES,
    ObjectType,
    Prop,
    object_type,
)
from crmhub.emulators.hubspot.search import MAX_RESULTS, SearchError, plan_search

DEFAULT_PRIVATE_APP_TOKEN = "pat-na1-00000000-0000-4000-8000-c0ffee000001"
DEFAULT_CLIENT_ID = "crmhub-emulator-client-id"
DEFAULT_CLIENT_SECRET = "crmhub-emulator-client-secret"
DEFAULT_AUTH_CODE = "crmhub-emulator-auth-code"
DEFAULT_REFRESH_TOKEN = "crmhub-emulator-refresh-token"
DEFAULT_PORTAL_ID = 24_000_001

_DAY_MS = 86_400_000
_SEED_SPAN_MS = 400 * _DAY_MS
_MAX_BATCH = 100
_MAX_LIST_LIMIT = 100
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
    "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) and value else None


class _HubSpotError(Exception):
    """Ends a request with a HubSpot error body."""

    def __init__(self, status: int, message: str, category: str = "VALIDATION_ERROR", **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {
            "status": "error",
            "message": message,
            "correlationId": correlation_id(),
            "category": category,
            **extra,
        }
        self.headers: dict[str, str] = {}


class _PropertyErrors(Exception):
    """Invalid property values of one input (HubSpot's ``Property values were not valid`` entries)."""

    def __init__(self, entries: list[dict[str, Any]]) -> None:
        super().__init__(entries[0]["message"])
        self.entries = entries

    @property
    def message(self) -> str:
        return "Property values were not valid: " + orjson.dumps(self.entries).decode()


class _Conflict(Exception):
    """A unique property value already in use."""

    def __init__(self, message: str, existing: str) -> None:
        super().__init__(message)
        self.existing = existing


class HubSpotEmulator(EmulatorBase):
    """A local HubSpot portal speaking the CRM v3 API (and v4 associations, OAuth v1) with seeded data.

    Args:
        companies: seeded companies.
        contacts: seeded contacts (contact ``i`` is associated with company ``i mod companies``; every
            twentieth has none).
        owners: seeded owners.
        seed: the data seed; the same seed gives the same records.
        private_app_token: the static bearer token accepted (like a private app's access token).
        client_id, client_secret: the OAuth app's credentials.
        auth_code: an authorization code ``POST /oauth/v1/token`` always accepts.
        refresh_token: a refresh token ``POST /oauth/v1/token`` always accepts.
        token_lifetime: seconds an OAuth access token lives (HubSpot: 1800).
        daily_limit: requests per day before 429 with ``policyName: DAILY``.
        burst_limit: requests per rolling 10 s before 429 ``TEN_SECONDLY_ROLLING`` (``None``: not enforced,
            headers still report 190).
        search_rate_limit: search requests per second before 429 ``SECONDLY`` (``None``: not enforced;
            HubSpot documents 5).
        fault: injected faults.
        clock: the emulator's clock.
        portal_id: the portal (hub) id.

    :meth:`expire_tokens` (and the ``expired_token`` fault) expire OAuth access tokens only: a private-app
    token cannot be refreshed by a client, so it stays valid.
    """

    object_names = ("companies", "contacts")

    def __init__(
        self,
        *,
        companies: int = 1000,
        contacts: int = 2000,
        owners: int = 10,
        seed: int = 0,
        private_app_token: str = DEFAULT_PRIVATE_APP_TOKEN,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        auth_code: str = DEFAULT_AUTH_CODE,
        refresh_token: str = DEFAULT_REFRESH_TOKEN,
        token_lifetime: float = 1800,
        daily_limit: int = 250_000,
        burst_limit: int | None = None,
        search_rate_limit: int | None = None,
        fault: FaultConfig | None = None,
        clock: EmulatorClock | None = None,
        portal_id: int = DEFAULT_PORTAL_ID,
    ) -> None:
        if min(companies, contacts) < 0 or owners < 1:
            raise ValueError("companies and contacts must not be negative and owners must be at least 1")
        super().__init__(
            seed=seed,
            clock=clock,
            fault=fault,
            daily_limit=daily_limit,
            token_lifetime=token_lifetime,
            token_prefix="CJ",
        )
        self.private_app_token = private_app_token
        self.tokens.add_static(private_app_token)
        self.client_id = client_id
        self.client_secret = client_secret
        self.auth_code = auth_code
        self.default_refresh_token = refresh_token
        self.tokens.issue_refresh("oauth", value=refresh_token)
        self.burst_limit = burst_limit
        self.search_rate_limit = search_rate_limit
        self.portal_id = portal_id
        self.n_companies, self.n_contacts, self.n_owners = companies, contacts, owners
        self._burst: deque[float] = deque()
        self._search_times: deque[float] = deque()

        end = self.clock.start_ms - 3_600_000
        namer = CompanyNamer(seed)

        def make(
            n: int,
            build: Callable[[Callable[[int], int]], Callable[[int], Record]],
            lookups: tuple[LookupSpec, ...],
        ) -> RecordTable:
            step = max(1, _SEED_SPAN_MS // max(n, 1))
            base = end - step * n
            derive = build(lambda row: base + row * step)
            return RecordTable(
                seeded=n,
                derive=derive,
                stamp_base=base,
                stamp_step=step,
                stamp_key="_updated",
                lookups=lookups,
            )

        def hub_inverse(limit: int) -> Callable[[Any], int | None]:
            def inverse(key: Any) -> int | None:
                row = data.hub_id_row(key)
                return row if row is not None and row < limit else None

            return inverse

        self._owners = make(owners, lambda stamp: data.owner_deriver(seed, stamp=stamp), ())
        self._tables: dict[str, RecordTable] = {
            "companies": make(
                companies,
                lambda stamp: data.company_deriver(seed, owners=owners, namer=namer, stamp=stamp),
                (LookupSpec("hub_id", _casefold, hub_inverse(companies)),),
            ),
            "contacts": make(
                contacts,
                lambda stamp: data.contact_deriver(
                    seed, companies=companies, owners=owners, namer=namer, stamp=stamp
                ),
                (LookupSpec("hub_id", _casefold, hub_inverse(contacts)), LookupSpec("email", _casefold)),
            ),
        }
        # Contact row -> {company row: association type ids (contact side)} for contacts whose
        # associations were changed; other seeded contacts follow contact_company_row().
        self._assoc: dict[int, dict[int, set[int]]] = {}
        self._search_cache: OrderedDict[tuple[str, str, int], list[Ref]] = OrderedDict()

    # -- ids ------------------------------------------------------------------------------------------

    def _otype(self, name: str) -> ObjectType:
        otype = object_type(name)
        if otype is None:
            raise UnknownObjectError(
                f"the HubSpot emulator has no object type {name!r}; use companies or contacts", object=name
            )
        return otype

    def table(self, object_name: str) -> tuple[str, RecordTable]:
        otype = self._otype(object_name)
        return otype.name, self._tables[otype.name]

    def row_of(self, object_name: str, record_id: str) -> int | None:
        otype = self._otype(object_name)
        text = str(record_id)
        if not text.isdigit():
            return None
        row = int(text) - otype.id_base - 1
        return row if row >= 0 else None

    def id_of(self, object_name: str, row: int) -> str:
        return str(self._otype(object_name).id_base + row + 1)

    # -- associations ----------------------------------------------------------------------------------

    def _contact_companies(self, contact_row: int) -> dict[int, set[int]]:
        explicit = self._assoc.get(contact_row)
        if explicit is not None:
            links = explicit
        elif contact_row < self.n_contacts:
            company = data.contact_company_row(self.seed, contact_row, self.n_companies)
            links = {company: {CONTACT_TO_COMPANY_PRIMARY, CONTACT_TO_COMPANY}} if company is not None else {}
        else:
            links = {}
        companies = self._tables["companies"]
        return {c: t for c, t in links.items() if companies.get(c) is not None}

    def _company_contacts(self, company_row: int) -> dict[int, set[int]]:
        contacts = self._tables["contacts"]
        out: dict[int, set[int]] = {}
        if self.n_companies and company_row < self.n_companies:
            for row in range(company_row, self.n_contacts, self.n_companies):
                if (
                    row not in self._assoc
                    and data.contact_company_row(self.seed, row, self.n_companies) == company_row
                ):
                    out[row] = {COMPANY_TO_CONTACT_PRIMARY, COMPANY_TO_CONTACT}
        for row, links in self._assoc.items():
            if company_row in links:
                out[row] = {_flip(t) for t in links[company_row]}
        return {r: t for r, t in sorted(out.items()) if contacts.get(r) is not None}

    def _associate(self, contact_row: int, company_row: int, types: set[int]) -> None:
        current = {c: set(t) for c, t in self._contact_companies(contact_row).items()}
        if CONTACT_TO_COMPANY_PRIMARY in types:
            for t in current.values():
                t.discard(CONTACT_TO_COMPANY_PRIMARY)
        current.setdefault(company_row, set()).update(types | {CONTACT_TO_COMPANY})
        self._assoc[contact_row] = current
        self._search_cache.clear()

    def _dissociate(self, contact_row: int, company_row: int) -> None:
        current = {c: set(t) for c, t in self._contact_companies(contact_row).items()}
        current.pop(company_row, None)
        self._assoc[contact_row] = current
        self._search_cache.clear()

    def _associated_ids(self, otype: ObjectType, row: int, target: ObjectType) -> dict[str, set[int]]:
        """Ids of ``target`` records associated with a record, with the association type ids."""
        if otype is target:
            return {}
        if otype is CONTACTS:
            return {self.id_of("companies", c): t for c, t in self._contact_companies(row).items()}
        return {self.id_of("contacts", c): t for c, t in self._company_contacts(row).items()}

    # -- property values ---------------------------------------------------------------------------------

    def _value(self, otype: ObjectType, rec: Record, name: str) -> str | None:
        """A property value as the API shows it (a string, or None)."""
        if name == "createdate":
            return iso_ms(rec["_created"])
        if name == otype.modified_prop:
            return iso_ms(rec["_updated"])
        if name == "hs_object_id":
            return self.id_of(otype.name, rec["_row"])
        if name == "associatedcompanyid" and otype is CONTACTS:
            for company, types in self._contact_companies(rec["_row"]).items():
                if CONTACT_TO_COMPANY_PRIMARY in types:
                    return self.id_of("companies", company)
            return None
        value = rec.get(name)
        return None if value is None else str(value)

    def _typed(self, otype: ObjectType) -> Callable[[Record, Prop], Any]:
        modified = otype.modified_prop

        def typed(rec: Record, prop: Prop) -> Any:
            name = prop.name
            if name == "createdate":
                return rec["_created"]
            if name == modified:
                return rec["_updated"]
            if name == "hs_object_id":
                return float(otype.id_base + rec["_row"] + 1)
            value = self._value(otype, rec, name) if name == "associatedcompanyid" else rec.get(name)
            if value is None or value == "":
                return None
            if prop.type == "number":
                try:
                    return float(value)
                except ValueError:
                    return None
            if prop.type == "bool":
                return str(value).lower() == "true"
            return value

        return typed

    def _render(
        self,
        otype: ObjectType,
        rec: Record,
        props: list[str] | None = None,
        *,
        associations: list[ObjectType] | None = None,
        archived: bool = False,
    ) -> dict[str, Any]:
        names = props if props is not None else list(otype.default_props)
        out: dict[str, Any] = {
            "id": self.id_of(otype.name, rec["_row"]),
            "properties": {name: self._value(otype, rec, name) for name in names},
            "createdAt": iso_ms(rec["_created"]),
            "updatedAt": iso_ms(rec["_updated"]),
            "archived": archived,
        }
        if archived:
            out["archivedAt"] = iso_ms(int(rec.get("_archived") or rec["_updated"]))
        if associations:
            assoc: dict[str, Any] = {}
            for target in associations:
                linked = self._associated_ids(otype, rec["_row"], target)
                if not linked:
                    continue
                label = f"{otype.singular}_to_{target.singular}"
                results = []
                for target_id, types in linked.items():
                    primary = CONTACT_TO_COMPANY_PRIMARY in types or COMPANY_TO_CONTACT_PRIMARY in types
                    if primary:
                        results.append({"id": target_id, "type": label})
                    results.append({"id": target_id, "type": f"{label}_unlabeled"})
                assoc[target.name] = {"results": results}
            if assoc:
                out["associations"] = assoc
        return out

    def _property_names(self, otype: ObjectType, requested: list[str] | None) -> list[str]:
        if not requested:
            return list(otype.default_props)
        known = [p for p in requested if otype.prop(p) is not None]
        return list(dict.fromkeys([*known, "createdate", otype.modified_prop, "hs_object_id"]))

    # -- validating writes ---------------------------------------------------------------------------

    def _convert(self, otype: ObjectType, values: Any, *, strict: bool = True) -> dict[str, Any]:
        """API property values to stored ones; raises :class:`_PropertyErrors`."""
        if not isinstance(values, dict):
            raise _HubSpotError(400, "properties must be an object of property names to values")
        out: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []

        def fail(name: str, code: str, message: str) -> None:
            errors.append(
                {
                    "isValid": False,
                    "message": message,
                    "error": code,
                    "name": name,
                    "localizedErrorMessage": message,
                }
            )

        for name, value in values.items():
            prop = otype.prop(name)
            if prop is None:
                fail(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
                continue
            if prop.read_only:
                if strict:
                    fail(
                        name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.'
                    )
                continue
            if value is None or value == "":
                out[name] = None
                continue
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if prop.type == "number":
                try:
                    number = float(text)
                except ValueError:
                    fail(name, "INVALID_DECIMAL", f"{text} was not a valid number.")
                    continue
                text = str(int(number)) if number.is_integer() else repr(number)
            elif prop.type == "date":
                try:
                    text = (
                        dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC).date().isoformat()
                        if text.isdigit()
                        else dt.date.fromisoformat(text[:10]).isoformat()
                    )
                except ValueError:
                    fail(name, "INVALID_DATE", f"{text} is not a valid date.")
                    continue
            elif prop.type == "bool":
                if text.lower() not in ("true", "false"):
                    fail(name, "INVALID_BOOLEAN", f"{text} is not a valid boolean.")
                    continue
                text = text.lower()
            elif prop.type == "enumeration":
                if prop.name == "hubspot_owner_id":
                    row = int(text) - data.OWNER_ID_BASE - 1 if text.isdigit() else -1
                    if self._owners.get(row) is None:
                        fail(name, "INVALID_OWNER_ID", f"{text} is not a valid owner id")
                        continue
                else:
                    allowed = [o.value for o in prop.options]
                    parts = (
                        [p.strip() for p in text.split(";") if p.strip()]
                        if prop.field_type == "checkbox"
                        else [text]
                    )
                    bad = [p for p in parts if p not in allowed]
                    if bad:
                        fail(
                            name,
                            "INVALID_OPTION",
                            f"{bad[0]} was not one of the allowed options: [{', '.join(allowed)}]",
                        )
                        continue
                    text = ";".join(parts)
            elif name == "email":
                if not _EMAIL_RE.match(text):
                    fail(name, "INVALID_EMAIL", f"Email address {text} is invalid")
                    continue
                text = text.lower()
            out[name] = text
        if errors:
            raise _PropertyErrors(errors)
        return out

    def _check_unique(self, otype: ObjectType, values: dict[str, Any], row: int | None) -> None:
        table = self._tables[otype.name]
        for name in ("email", "hub_id"):
            if name not in values or values[name] is None or (otype is COMPANIES and name == "email"):
                continue
            holders = [r for r in table.lookup(name, values[name]) if r != row]
            if holders:
                existing = self.id_of(otype.name, holders[0])
                if name == "email":
                    raise _Conflict(f"Contact already exists. Existing ID: {existing}", existing)
                raise _Conflict(
                    f"A {otype.singular} with {name} {values[name]} already exists. Existing ID: {existing}",
                    existing,
                )

    def _create_record(self, otype: ObjectType, values: dict[str, Any], stamp: int) -> int:
        self._check_unique(otype, values, None)
        table = self._tables[otype.name]
        row = table.new_row()
        rec: Record = {p.name: None for p in otype.props if not p.read_only}
        rec.update({"_row": row, "_created": stamp, "_updated": stamp})
        rec.update(values)
        table.put(row, rec)
        return row

    def _update_record(
        self, otype: ObjectType, row: int, rec: Record, values: dict[str, Any], stamp: int
    ) -> Record:
        self._check_unique(otype, values, row)
        new = {**rec, **values, "_updated": stamp}
        self._tables[otype.name].put(row, new)
        return new

    def _archive_record(self, otype: ObjectType, row: int, rec: Record, stamp: int) -> None:
        self._tables[otype.name].kill(row, {**rec, "_archived": stamp, "_updated": stamp})
        self._search_cache.clear()

    # -- EmulatorBase hooks ------------------------------------------------------------------------------

    def _create(self, object_name: str, values: dict[str, Any], stamp: int) -> str:
        otype = self._otype(object_name)
        associations = values.pop("associations", None)
        try:
            converted = self._convert(otype, values, strict=False)
            row = self._create_record(otype, converted, stamp)
        except _PropertyErrors as exc:
            raise InvalidRecordError(exc.message, object=otype.name) from exc
        except _Conflict as exc:
            raise InvalidRecordError(str(exc), object=otype.name) from exc
        if associations:
            self._apply_associations(otype, row, associations)
        return self.id_of(otype.name, row)

    def _modify(self, object_name: str, row: int, rec: Record, values: dict[str, Any], stamp: int) -> None:
        otype = self._otype(object_name)
        try:
            self._update_record(otype, row, rec, self._convert(otype, values, strict=False), stamp)
        except _PropertyErrors as exc:
            raise InvalidRecordError(exc.message, object=otype.name) from exc
        except _Conflict as exc:
            raise InvalidRecordError(str(exc), object=otype.name) from exc

    def _remove(self, object_name: str, row: int, rec: Record, stamp: int) -> None:
        self._archive_record(self._otype(object_name), row, rec, stamp)

    def _restamp(self, object_name: str, row: int, rec: Record, stamp: int) -> None:
        self._tables[self._otype(object_name).name].put(row, {**rec, "_updated": stamp})

    def _touch_values(self, object_name: str, rec: Record, serial: int) -> dict[str, Any]:
        if self._otype(object_name) is COMPANIES:
            return {"numberofemployees": str(int(rec.get("numberofemployees") or 0) + 1)}
        return {"phone": f"+1 555-{serial % 1000:03d}-{(rec['_row'] * 7 + serial) % 10000:04d}"}

    def _public(self, object_name: str, rec: Record) -> dict[str, Any]:
        otype = self._otype(object_name)
        names = [p.name for p in otype.props]
        return self._render(otype, rec, names, archived="_archived" in rec)

    def _fault_applies(self, method: str, path: str) -> bool:
        return path.startswith("/crm/")

    def _fault_error(self, status: int, config: FaultConfig) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        if status == 429:
            body = {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": correlation_id(),
                "policyName": "TEN_SECONDLY_ROLLING",
            }
        else:
            body = {
                "status": "error",
                "message": "The service is temporarily unavailable. Please try again later.",
                "correlationId": correlation_id(),
                "category": "SERVICE_UNAVAILABLE",
            }
        return orjson.dumps(body), [(b"retry-after", str(config.retry_after_seconds).encode())]

    def _api_routes(self) -> list[Route]:
        objects = "/crm/v3/objects/{otype}"
        typed = self._path_type

        def ep(handler: Callable[..., Response]) -> Callable[[Request], Any]:
            return self._endpoint(handler)

        return [
            Route("/oauth/v1/token", self._token_endpoint, methods=["POST"]),
            Route(objects, ep(lambda r, otype: self._list(r, typed(otype))), methods=["GET"]),
            Route(objects, ep(lambda r, otype: self._create_one(r, typed(otype))), methods=["POST"]),
            Route(f"{objects}/search", ep(lambda r, otype: self._search(r, typed(otype))), methods=["POST"]),
            Route(
                f"{objects}/batch/{{action}}",
                ep(lambda r, otype, action: self._batch(r, typed(otype), action)),
                methods=["POST"],
            ),
            Route(
                f"{objects}/{{rid}}",
                ep(lambda r, otype, rid: self._get_one(r, typed(otype), rid)),
                methods=["GET"],
            ),
            Route(
                f"{objects}/{{rid}}",
                ep(lambda r, otype, rid: self._update_one(r, typed(otype), rid)),
                methods=["PATCH"],
            ),
            Route(
                f"{objects}/{{rid}}",
                ep(lambda r, otype, rid: self._archive_one(typed(otype), rid)),
                methods=["DELETE"],
            ),
            Route(
                f"{objects}/{{rid}}/associations/{{target}}",
                ep(lambda r, otype, rid, target: self._v3_associations(typed(otype), rid, typed(target))),
                methods=["GET"],
            ),
            Route(
                "/crm/v3/properties/{otype}",
                ep(lambda r, otype: self._properties(typed(otype), None)),
                methods=["GET"],
            ),
            Route(
                "/crm/v3/properties/{otype}/{name}",
                ep(lambda r, otype, name: self._properties(typed(otype), name)),
                methods=["GET"],
            ),
            Route("/crm/v3/owners", ep(lambda r: self._owners_endpoint(r, [])), methods=["GET"]),
            Route(
                "/crm/v3/owners/{rest:path}",
                ep(lambda r, rest: self._owners_endpoint(r, [p for p in rest.split("/") if p])),
                methods=["GET"],
            ),
            Route(
                "/crm/v4/objects/{rest:path}",
                ep(lambda r, rest: self._v4_object_associations(r, [p for p in rest.split("/") if p])),
                methods=["GET", "PUT", "DELETE"],
            ),
            Route(
                "/crm/v4/associations/{source}/{target}/batch/read",
                ep(lambda r, source, target: self._v4_batch_read(r, typed(source), typed(target))),
                methods=["POST"],
            ),
        ]

    def _exception_handlers(self) -> dict[Any, Callable[[Request, Exception], Any]]:
        async def no_route(request: Request, exc: Exception) -> Response:
            # HubSpot answers an unknown path, or a known one with another method, 404 (not 405).
            error = _HubSpotError(
                404, f"No route found for {request.method} {request.url.path}", "OBJECT_NOT_FOUND"
            )
            return json_response(error.body, 404)

        return {HTTPException: no_route}

    def _properties(self, otype: ObjectType, name: str | None) -> Response:
        if name is None:
            return json_response(
                {"results": [p.definition(self.clock.start_ms, i) for i, p in enumerate(otype.props)]}
            )
        prop = otype.prop(name)
        if prop is None:
            raise _HubSpotError(404, f"Unable to find property {name}", "OBJECT_NOT_FOUND")
        return json_response(prop.definition(self.clock.start_ms, otype.props.index(prop)))

    # -- OAuth ---------------------------------------------------------------------------------------------

    async def _token_endpoint(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}

        def bad(status: str, message: str) -> Response:
            return json_response(
                {"status": status, "message": message, "correlationId": correlation_id()}, 400
            )

        grant = form.get("grant_type")
        if grant not in ("authorization_code", "refresh_token"):
            return bad("UNSUPPORTED_GRANT_TYPE", "grant_type must be authorization_code or refresh_token")
        if form.get("client_id") != self.client_id:
            return bad("BAD_CLIENT_ID", "missing or invalid client_id")
        if form.get("client_secret") != self.client_secret:
            return bad("BAD_CLIENT_SECRET", "missing or invalid client_secret")
        if grant == "authorization_code":
            if form.get("code") != self.auth_code:
                return bad("BAD_AUTH_CODE", "missing or unknown auth code")
            refresh = self.tokens.issue_refresh("oauth")
        else:
            refresh = form.get("refresh_token", "")
            if self.tokens.refresh_subject(refresh) is None:
                return bad("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
        issued = self.tokens.issue_access("oauth")
        return json_response(
            {
                "token_type": "bearer",
                "refresh_token": refresh,
                "access_token": issued.value,
                "expires_in": int(self.tokens.lifetime_seconds),
            }
        )

    def issue_token(self) -> str:
        """A fresh OAuth access token without the token round trip (for tests)."""
        return self.tokens.issue_access("oauth").value

    # -- request pipeline -------------------------------------------------------------------------------------

    def _authorize(self, request: Request) -> bool:
        """Check the bearer token; returns whether it is the private-app token."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        state = self.tokens.check(token) if scheme.lower() == "bearer" and token else "unknown"
        if state == "valid":
            return token == self.private_app_token
        if state == "expired":
            issued = self.tokens.get(token)
            expired_ms = (
                issued.expires_ms if issued and issued.expires_ms is not None else self.clock.now_ms()
            )
            ago = max(0, (self.clock.now_ms() - expired_ms) // 1000)
            amount, unit = (ago, "second") if ago < 3600 else (ago // 3600, "hour")
            raise _HubSpotError(
                401,
                f"The OAuth token used to make this call expired {amount} {unit}(s) ago.",
                "EXPIRED_AUTHENTICATION",
                context={"expire time": [iso_ms(expired_ms)]},
            )
        raise _HubSpotError(401, _AUTH_MESSAGE, "INVALID_AUTHENTICATION")

    def _rate_headers(self, private_app: bool) -> dict[str, str]:
        usage = self.usage_meter
        burst_max = self.burst_limit or 190
        now = time.monotonic()
        while self._burst and self._burst[0] <= now - 10:
            self._burst.popleft()
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(burst_max),
            "X-HubSpot-RateLimit-Remaining": str(max(burst_max - len(self._burst), 0)),
            "X-HubSpot-RateLimit-Secondly": str(burst_max // 10),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(max(burst_max // 10 - self._recent(1.0), 0)),
        }
        if private_app:
            headers["X-HubSpot-RateLimit-Daily"] = str(usage.limit)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(usage.limit - usage.used, 0))
        return headers

    def _recent(self, seconds: float) -> int:
        cutoff = time.monotonic() - seconds
        return sum(1 for t in self._burst if t > cutoff)

    def _rate_limited(self, policy: str, message: str) -> _HubSpotError:
        exc = _HubSpotError(429, message)
        exc.body = {
            "status": "error",
            "message": message,
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(),
            "policyName": policy,
            "requestId": correlation_id(),
        }
        exc.headers = {"Retry-After": "1" if policy != "DAILY" else "86400"}
        return exc

    def _endpoint(self, handler: Callable[..., Response]) -> Callable[[Request], Any]:
        """One CRM endpoint: auth, the daily and burst limits, HubSpot's error bodies and rate headers.

        The body is read first; the handler then runs under the lock without awaiting anything.
        """

        async def endpoint(request: Request) -> Response:
            private_app = False
            request.state.body = await request.body()
            try:
                private_app = self._authorize(request)
                if not self.usage_meter.consume():
                    raise self._rate_limited("DAILY", "You have reached your daily limit.")
                now = time.monotonic()
                if self.burst_limit is not None and self._recent(10.0) >= self.burst_limit:
                    raise self._rate_limited(
                        "TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit."
                    )
                self._burst.append(now)
                with self.lock:
                    response = handler(request, **request.path_params)
            except _HubSpotError as exc:
                response = json_response(exc.body, exc.status, exc.headers)
            except JSONBodyError as exc:
                response = json_response(_HubSpotError(400, f"Invalid input JSON: {exc}").body, 400)
            except (ValueError, TypeError) as exc:  # odd query parameters or input shapes
                response = json_response(_HubSpotError(400, f"Invalid input: {exc}").body, 400)
            response.headers.update(self._rate_headers(private_app))
            return response

        return endpoint

    def _path_type(self, name: str) -> ObjectType:
        otype = object_type(name)
        if otype is None:
            raise _HubSpotError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")
        return otype

    # -- reads ------------------------------------------------------------------------------------------------

    @staticmethod
    def _list_param(request: Request, name: str) -> list[str] | None:
        values = request.query_params.getlist(name)
        if not values:
            return None
        return [v for item in values for v in item.split(",") if v]

    def _list(self, request: Request, otype: ObjectType) -> Response:
        try:
            limit = int(request.query_params.get("limit", "10"))
        except ValueError as exc:
            raise _HubSpotError(400, "limit must be a number") from exc
        limit = max(1, min(limit, _MAX_LIST_LIMIT))
        after = request.query_params.get("after")
        start = 0
        if after:
            row = self.row_of(otype.name, after)
            if row is None:
                raise _HubSpotError(400, f"Invalid after token: {after}")
            start = row
        archived = request.query_params.get("archived", "false").lower() == "true"
        props = self._property_names(otype, self._list_param(request, "properties"))
        assoc_names = self._list_param(request, "associations") or []
        associations = [t for t in (object_type(n) for n in assoc_names) if t is not None]
        table = self._tables[otype.name]
        results: list[dict[str, Any]] = []
        next_row: int | None = None
        for row, ref in table.rows_from(start, dead=archived):
            if len(results) == limit:
                next_row = row
                break
            results.append(
                self._render(otype, table.resolve(ref), props, associations=associations, archived=archived)
            )
        body: dict[str, Any] = {"results": results}
        if next_row is not None:
            token = self.id_of(otype.name, next_row)
            params = [(k, v) for k, v in request.query_params.multi_items() if k != "after"] + [
                ("after", token)
            ]
            body["paging"] = {
                "next": {
                    "after": token,
                    "link": f"{str(request.base_url).rstrip('/')}{request.url.path}?{urlencode(params)}",
                }
            }
        return Response(orjson.dumps(body), media_type=JSON_TYPE)

    def _find_row(
        self, otype: ObjectType, record_id: str, id_property: str | None, *, archived: bool = False
    ) -> int | None:
        table = self._tables[otype.name]
        if id_property and id_property != "hs_object_id":
            prop = otype.prop(id_property)
            if prop is None or not (prop.unique or id_property == "email"):
                raise _HubSpotError(400, f"{id_property} is not a unique property of {otype.name}")
            rows = table.lookup(id_property, record_id)
            return rows[0] if rows else None
        row = self.row_of(otype.name, record_id)
        if row is None:
            return None
        if archived:
            return row if table.get_dead(row) is not None else None
        return row if table.get(row) is not None else None

    def _not_found(self) -> _HubSpotError:
        return _HubSpotError(404, "resource not found", "OBJECT_NOT_FOUND")

    def _get_one(self, request: Request, otype: ObjectType, record_id: str) -> Response:
        archived = request.query_params.get("archived", "false").lower() == "true"
        row = self._find_row(otype, record_id, request.query_params.get("idProperty"), archived=archived)
        if row is None:
            raise self._not_found()
        table = self._tables[otype.name]
        rec = table.get_dead(row) if archived else table.get(row)
        assert rec is not None
        props = self._property_names(otype, self._list_param(request, "properties"))
        assoc = [t for t in (object_type(n) for n in self._list_param(request, "associations") or []) if t]
        return json_response(self._render(otype, rec, props, associations=assoc, archived=archived))

    def _v3_associations(self, otype: ObjectType, record_id: str, target: ObjectType) -> Response:
        row = self._find_row(otype, record_id, None)
        if row is None:
            raise self._not_found()
        label = f"{otype.singular}_to_{target.singular}"
        results = []
        for target_id, types in self._associated_ids(otype, row, target).items():
            if CONTACT_TO_COMPANY_PRIMARY in types or COMPANY_TO_CONTACT_PRIMARY in types:
                results.append({"id": target_id, "type": label})
            results.append({"id": target_id, "type": f"{label}_unlabeled"})
        return json_response({"results": results})

    # -- single writes ---------------------------------------------------------------------------------------

    def _body(self, request: Request) -> dict[str, Any]:
        body = parse_json(request.state.body)
        if not isinstance(body, dict):
            raise _HubSpotError(400, "Invalid input JSON: the body must be an object")
        return body

    def _validation(self, exc: _PropertyErrors) -> _HubSpotError:
        return _HubSpotError(400, exc.message, "VALIDATION_ERROR")

    def _conflict(self, exc: _Conflict) -> _HubSpotError:
        return _HubSpotError(409, str(exc), "CONFLICT")

    def _create_one(self, request: Request, otype: ObjectType) -> Response:
        body = self._body(request)
        try:
            values = self._convert(otype, body.get("properties") or {})
            row = self._create_record(otype, values, self.clock.next_stamp())
        except _PropertyErrors as exc:
            raise self._validation(exc) from exc
        except _Conflict as exc:
            raise self._conflict(exc) from exc
        if body.get("associations"):
            self._apply_associations(otype, row, body["associations"])
        rec = self._tables[otype.name].get(row)
        assert rec is not None
        return json_response(
            self._render(otype, rec, self._property_names(otype, [*otype.default_props, *values])), 201
        )

    def _update_one(self, request: Request, otype: ObjectType, record_id: str) -> Response:
        body = self._body(request)
        row = self._find_row(otype, record_id, request.query_params.get("idProperty"))
        if row is None:
            raise self._not_found()
        table = self._tables[otype.name]
        rec = table.get(row)
        assert rec is not None
        try:
            values = self._convert(otype, body.get("properties") or {})
            new = self._update_record(otype, row, rec, values, self.clock.next_stamp())
        except _PropertyErrors as exc:
            raise self._validation(exc) from exc
        except _Conflict as exc:
            raise self._conflict(exc) from exc
        return json_response(
            self._render(otype, new, self._property_names(otype, [*otype.default_props, *values]))
        )

    def _archive_one(self, otype: ObjectType, record_id: str) -> Response:
        table = self._tables[otype.name]
        row = self.row_of(otype.name, record_id)
        if row is None or (table.get(row) is None and table.get_dead(row) is None):
            raise self._not_found()
        rec = table.get(row)
        if rec is not None:
            self._archive_record(otype, row, rec, self.clock.next_stamp())
        return Response(status_code=204)

    def _apply_associations(self, otype: ObjectType, row: int, specs: Any) -> None:
        if not isinstance(specs, list):
            raise _HubSpotError(400, "associations must be a list")
        for spec in specs:
            to_id = str((spec.get("to") or {}).get("id", "")) if isinstance(spec, dict) else ""
            types = {
                int(t.get("associationTypeId", 0)) for t in (spec.get("types") or []) if isinstance(t, dict)
            }
            target = CONTACTS if otype is COMPANIES else COMPANIES
            target_row = self.row_of(target.name, to_id)
            if target_row is None or self._tables[target.name].get(target_row) is None:
                raise _HubSpotError(400, f"Association target {to_id} does not exist or is archived")
            contact_row, company_row = (row, target_row) if otype is CONTACTS else (target_row, row)
            contact_types = {_flip(t) if otype is COMPANIES else t for t in types} or {CONTACT_TO_COMPANY}
            self._associate(contact_row, company_row, contact_types)

    # -- search ------------------------------------------------------------------------------------------------

    def _search(self, request: Request, otype: ObjectType) -> Response:
        if self.search_rate_limit is not None:
            now = time.monotonic()
            while self._search_times and self._search_times[0] <= now - 1:
                self._search_times.popleft()
            if len(self._search_times) >= self.search_rate_limit:
                raise self._rate_limited("SECONDLY", "You have reached your secondly limit.")
            self._search_times.append(now)
        body = self._body(request)
        typed = self._typed(otype)
        try:
            plan = plan_search(body, otype, typed, self._assoc_ids_of(otype))
        except SearchError as exc:
            raise _HubSpotError(400, str(exc), "VALIDATION_ERROR") from exc
        table = self._tables[otype.name]
        key = (otype.name, plan.cache_key, table.version)
        matches = self._search_cache.get(key)
        if matches is None:
            if plan.stamp_lo is not None or plan.stamp_hi is not None:
                # Only the slice of the (modstamp, id)-ordered table the filters allow.
                refs = table.natural_refs(lo=plan.stamp_lo, hi=plan.stamp_hi)
            else:
                refs = [ref for _, ref in table.rows_from(0)]
            if plan.predicate is not None:
                resolve, predicate = table.resolve, plan.predicate
                refs = [ref for ref in refs if predicate(resolve(ref))]
            if plan.sort:
                resolve = table.resolve
                for sort_key, desc in reversed(plan.sort):
                    refs.sort(key=partial(_sort_value, sort_key, resolve), reverse=desc)
            matches = refs
            self._search_cache[key] = matches
            while len(self._search_cache) > 16:
                self._search_cache.popitem(last=False)
        # No page runs past the 10,000th result: HubSpot stops there and answers 400 beyond.
        end = min(plan.after + plan.limit, len(matches), MAX_RESULTS)
        page = matches[plan.after : end]
        results = [self._render(otype, table.resolve(ref), plan.properties) for ref in page]
        out: dict[str, Any] = {"total": len(matches), "results": results}
        if end < len(matches) and plan.limit:
            out["paging"] = {"next": {"after": str(end)}}
        return Response(orjson.dumps(out), media_type=JSON_TYPE)

    def _assoc_ids_of(self, otype: ObjectType) -> Callable[[Record, str], set[str]]:
        def ids(rec: Record, target_name: str) -> set[str]:
            target = object_type(target_name)
            if target is None:
                return set()
            return set(self._associated_ids(otype, rec["_row"], target))

        return ids

    # -- batch --------------------------------------------------------------------------------------------------

    def _batch_error(
        self,
        category: str,
        message: str,
        context: dict[str, list[str]] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        return {
            "status": "error",
            "category": category,
            "message": message,
            "context": context or {},
            "links": {},
            "errors": errors or [],
        }

    def _batch_response(
        self, results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str, ok_status: int = 200
    ) -> Response:
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body["numErrors"] = len(errors)
            body["errors"] = errors
        body["startedAt"] = started
        body["completedAt"] = iso_ms(self.clock.now_ms())
        return json_response(body, 207 if errors else ok_status)

    def _batch(self, request: Request, otype: ObjectType, action: str) -> Response:
        if action not in ("read", "create", "update", "upsert", "archive"):
            raise _HubSpotError(404, f"No route found for batch/{action}", "OBJECT_NOT_FOUND")
        body = self._body(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise _HubSpotError(400, "Invalid input JSON: inputs must be a list of objects")
        if len(inputs) > _MAX_BATCH:
            raise _HubSpotError(
                400, f"Batch input limit exceeded: {len(inputs)} inputs given, at most {_MAX_BATCH} allowed."
            )
        started = iso_ms(self.clock.now_ms())
        table = self._tables[otype.name]
        stamp = self.clock.next_stamp()
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        label = otype.singular.upper()

        def property_error(exc: _PropertyErrors) -> dict[str, Any]:
            return self._batch_error(
                "VALIDATION_ERROR",
                exc.message,
                {"propertyName": [e["name"] for e in exc.entries]},
                [
                    {"message": e["message"], "code": e["error"], "context": {"propertyName": [e["name"]]}}
                    for e in exc.entries
                ],
            )

        if action == "read":
            props = self._property_names(otype, body.get("properties"))
            missing = []
            for item in inputs:
                row = self._find_row(otype, str(item.get("id", "")), body.get("idProperty"))
                if row is None:
                    missing.append(str(item.get("id", "")))
                    continue
                rec = table.get(row)
                assert rec is not None
                results.append(self._render(otype, rec, props))
            if missing:
                errors.append(
                    self._batch_error(
                        "OBJECT_NOT_FOUND",
                        f"Could not get some {label} objects, they may be deleted or not exist. Check that ids are valid.",
                        {"ids": missing},
                    )
                )
            return self._batch_response(results, errors, started)
        if action == "archive":
            for item in inputs:
                row = self.row_of(otype.name, str(item.get("id", "")))
                rec = table.get(row) if row is not None else None
                if row is not None and rec is not None:
                    self._archive_record(otype, row, rec, stamp)
            return Response(status_code=204)
        for item in inputs:
            try:
                if action == "create":
                    values = self._convert(otype, item.get("properties") or {})
                    row = self._create_record(otype, values, stamp)
                    if item.get("associations"):
                        self._apply_associations(otype, row, item["associations"])
                    rec = table.get(row)
                    assert rec is not None
                    results.append(
                        self._render(otype, rec, self._property_names(otype, [*otype.default_props, *values]))
                    )
                elif action == "update":
                    row_or_none = self._find_row(otype, str(item.get("id", "")), item.get("idProperty"))
                    if row_or_none is None:
                        errors.append(
                            self._batch_error(
                                "OBJECT_NOT_FOUND",
                                f"Could not get some {label} objects, they may be deleted or not exist. Check that ids are valid.",
                                {"ids": [str(item.get("id", ""))]},
                            )
                        )
                        continue
                    rec = table.get(row_or_none)
                    assert rec is not None
                    values = self._convert(otype, item.get("properties") or {})
                    new = self._update_record(otype, row_or_none, rec, values, stamp)
                    results.append(
                        self._render(otype, new, self._property_names(otype, [*otype.default_props, *values]))
                    )
                else:
                    results.append(self._upsert_item(otype, item, stamp))
            except _PropertyErrors as exc:
                errors.append(property_error(exc))
            except _Conflict as exc:
                errors.append(self._batch_error("CONFLICT", str(exc), {"existingId": [exc.existing]}))
            except _HubSpotError as exc:
                errors.append(self._batch_error(exc.body["category"], exc.body["message"]))
        return self._batch_response(results, errors, started, 201 if action == "create" else 200)

    def _upsert_item(self, otype: ObjectType, item: dict[str, Any], stamp: int) -> dict[str, Any]:
        id_property = item.get("idProperty")
        key = item.get("id")
        if not id_property:
            raise _HubSpotError(400, "idProperty is required for upsert")
        prop = otype.prop(id_property)
        if prop is None or not (prop.unique or id_property == "email"):
            raise _HubSpotError(
                400, f"{id_property} is not a unique property of {otype.name}; upsert needs one"
            )
        if key in (None, ""):
            raise _HubSpotError(400, f"id (the {id_property} value) is required for upsert")
        table = self._tables[otype.name]
        rows = table.lookup(id_property, str(key))
        properties = dict(item.get("properties") or {})
        properties.pop(id_property, None)
        values = self._convert(otype, properties)
        names = self._property_names(otype, [*otype.default_props, *values, id_property])
        if rows:
            rec = table.get(rows[0])
            assert rec is not None
            new = self._update_record(otype, rows[0], rec, values, stamp)
            return {**self._render(otype, new, names), "new": False}
        values.update(self._convert(otype, {id_property: key}))
        row = self._create_record(otype, values, stamp)
        rec = table.get(row)
        assert rec is not None
        return {**self._render(otype, rec, names), "new": True}

    # -- owners -------------------------------------------------------------------------------------------------

    def _owner_json(self, rec: Record) -> dict[str, Any]:
        return {
            "id": rec["id"],
            "email": rec["email"],
            "type": "PERSON",
            "firstName": rec["firstName"],
            "lastName": rec["lastName"],
            "userId": rec["userId"],
            "userIdIncludingInactive": rec["userId"],
            "createdAt": iso_ms(rec["_created"]),
            "updatedAt": iso_ms(rec["_updated"]),
            "archived": False,
            "teams": [],
        }

    def _owners_endpoint(self, request: Request, rest: list[str]) -> Response:
        if rest:
            row = int(rest[0]) - data.OWNER_ID_BASE - 1 if rest[0].isdigit() else -1
            rec = self._owners.get(row) if row >= 0 else None
            if rec is None:
                raise self._not_found()
            return json_response(self._owner_json(rec))
        email = request.query_params.get("email")
        limit = max(1, min(int(request.query_params.get("limit", "100")), 500))
        after = int(request.query_params.get("after", "0") or 0)
        owners = [self._owners.resolve(ref) for _, ref in self._owners.rows_from(0)]
        if email:
            owners = [o for o in owners if o["email"].casefold() == email.casefold()]
        page = owners[after : after + limit]
        body: dict[str, Any] = {"results": [self._owner_json(o) for o in page]}
        if after + limit < len(owners):
            body["paging"] = {
                "next": {
                    "after": str(after + limit),
                    "link": f"{str(request.base_url).rstrip('/')}/crm/v3/owners?after={after + limit}",
                }
            }
        return json_response(body)

    # -- v4 associations -------------------------------------------------------------------------------------

    def _assoc_types_json(self, types: set[int]) -> list[dict[str, Any]]:
        out = []
        for t in sorted(types):
            label = "Primary" if t in (CONTACT_TO_COMPANY_PRIMARY, COMPANY_TO_CONTACT_PRIMARY) else None
            out.append({"category": "HUBSPOT_DEFINED", "typeId": t, "label": label})
        return out

    def _v4_object_associations(self, request: Request, parts: list[str]) -> Response:
        # parts: {from}/{id}/associations/{to}[/{toId}] or {from}/{id}/associations/default/{to}/{toId}
        otype = self._path_type(parts[0])
        record_id = parts[1]
        if len(parts) < 4 or parts[2] != "associations":
            raise _HubSpotError(404, "No route found", "OBJECT_NOT_FOUND")
        row = self._find_row(otype, record_id, None)
        if row is None:
            raise self._not_found()
        method = request.method
        if parts[3] == "default" and len(parts) == 6 and method == "PUT":
            target = self._path_type(parts[4])
            return self._v4_put(otype, row, target, parts[5], None)
        target = self._path_type(parts[3])
        if len(parts) == 4 and method == "GET":
            limit = max(1, min(int(request.query_params.get("limit", "500")), 500))
            after = int(request.query_params.get("after", "0") or 0)
            linked = list(self._associated_ids(otype, row, target).items())
            page = linked[after : after + limit]
            body: dict[str, Any] = {
                "results": [
                    {"toObjectId": int(i), "associationTypes": self._assoc_types_json(t)} for i, t in page
                ]
            }
            if after + limit < len(linked):
                body["paging"] = {"next": {"after": str(after + limit)}}
            return json_response(body)
        if len(parts) == 5 and method == "PUT":
            specs = parse_json(request.state.body)
            if not isinstance(specs, list):
                raise _HubSpotError(400, "Invalid input JSON: the body must be a list of association types")
            types = {int(s.get("associationTypeId", 0)) for s in specs if isinstance(s, dict)}
            return self._v4_put(otype, row, target, parts[4], types)
        if len(parts) == 5 and method == "DELETE":
            target_row = self.row_of(target.name, parts[4])
            if target_row is not None and otype is not target:
                contact_row, company_row = (row, target_row) if otype is CONTACTS else (target_row, row)
                self._dissociate(contact_row, company_row)
            return Response(status_code=204)
        raise _HubSpotError(404, "No route found", "OBJECT_NOT_FOUND")

    def _v4_put(
        self, otype: ObjectType, row: int, target: ObjectType, to_id: str, types: set[int] | None
    ) -> Response:
        if otype is target:
            raise _HubSpotError(400, f"Associations between {otype.name} and {target.name} are not supported")
        target_row = self.row_of(target.name, to_id)
        if target_row is None or self._tables[target.name].get(target_row) is None:
            raise self._not_found()
        contact_row, company_row = (row, target_row) if otype is CONTACTS else (target_row, row)
        if types is None:
            contact_types = {CONTACT_TO_COMPANY}
        else:
            valid = (
                {CONTACT_TO_COMPANY, CONTACT_TO_COMPANY_PRIMARY}
                if otype is CONTACTS
                else {COMPANY_TO_CONTACT, COMPANY_TO_CONTACT_PRIMARY}
            )
            if not types or not types <= valid:
                raise _HubSpotError(
                    400,
                    f"Invalid association type ids {sorted(types)} for {otype.singular} to {target.singular}",
                )
            contact_types = types if otype is CONTACTS else {_flip(t) for t in types}
        started = iso_ms(self.clock.now_ms())
        self._associate(contact_row, company_row, contact_types)
        from_id, target_id = self.id_of(otype.name, row), self.id_of(target.name, target_row)
        side_types = contact_types if otype is CONTACTS else {_flip(t) for t in contact_types}
        results = [
            {
                "from": {"id": from_id},
                "to": {"id": target_id},
                "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t},
            }
            for t in sorted(side_types)
        ]
        if types is None:
            return json_response(
                {
                    "status": "COMPLETE",
                    "results": results,
                    "startedAt": started,
                    "completedAt": iso_ms(self.clock.now_ms()),
                }
            )
        return json_response(
            {
                "fromObjectTypeId": otype.type_id,
                "fromObjectId": int(from_id),
                "toObjectTypeId": target.type_id,
                "toObjectId": int(target_id),
                "labels": ["Primary"] if (CONTACT_TO_COMPANY_PRIMARY in contact_types) else [],
            }
        )

    def _v4_batch_read(self, request: Request, otype: ObjectType, target: ObjectType) -> Response:
        body = self._body(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise _HubSpotError(400, "Invalid input JSON: inputs must be a list")
        if len(inputs) > 1000:
            raise _HubSpotError(400, "Batch input limit exceeded: at most 1000 inputs")
        started = iso_ms(self.clock.now_ms())
        results, missing = [], []
        for item in inputs:
            record_id = str(item.get("id", "")) if isinstance(item, dict) else ""
            row = self._find_row(otype, record_id, None)
            if row is None:
                missing.append(record_id)
                continue
            linked = self._associated_ids(otype, row, target)
            if linked:
                results.append(
                    {
                        "from": {"id": record_id},
                        "to": [
                            {"toObjectId": int(i), "associationTypes": self._assoc_types_json(t)}
                            for i, t in linked.items()
                        ],
                    }
                )
        errors = []
        if missing:
            errors.append(
                self._batch_error(
                    "OBJECT_NOT_FOUND",
                    f"Could not get some {otype.singular.upper()} objects, they may be deleted or not exist.",
                    {"ids": missing},
                )
            )
        return self._batch_response(results, errors, started)

    def __repr__(self) -> str:
        return (
            f"HubSpotEmulator(companies={self.n_companies}, contacts={self.n_contacts}, owners={self.n_owners}, "
            f"seed={self.seed})"
        )


def _flip(type_id: int) -> int:
    """The same association seen from the other side (contact→company 279 ↔ company→contact 280)."""
    return {
        CONTACT_TO_COMPANY_PRIMARY: COMPANY_TO_CONTACT_PRIMARY,
        COMPANY_TO_CONTACT_PRIMARY: CONTACT_TO_COMPANY_PRIMARY,
        CONTACT_TO_COMPANY: COMPANY_TO_CONTACT,
        COMPANY_TO_CONTACT: CONTACT_TO_COMPANY,
    }.get(type_id, type_id)


__all__ = ["MAX_RESULTS", "OBJECT_TYPES", "HubSpotEmulator"]


def _sort_value(key: Callable[[Any], Any], resolve: Callable[[Any], Any], ref: Any) -> Any:
    return key(resolve(ref))

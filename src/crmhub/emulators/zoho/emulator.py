"""The Zoho CRM REST API emulator (v8, v7 compatible): OAuth, metadata, records, COQL, deleted, upsert.

One Starlette route per endpoint; errors are exceptions rendered by one handler. Wire facts it
follows (sources in ``CRM-PROTOCOLS.md`` Zoho and ``CRM-PROTOCOLS-2.md`` §1; **unconfirmed** marks what
no primary source settles):

* Accounts server ``POST /oauth/v2/token`` (``grant_type`` ``refresh_token`` | ``authorization_code``)
  answers ``{access_token, api_domain, token_type: "Bearer", expires_in: 3600}`` (plus
  ``refresh_token`` for a code); a refused grant answers 200 ``{"error": "invalid_code"}``.
  ``api_domain`` is the emulator's own URL, so clients that follow it stay on loopback.
* Calls carry ``Authorization: Zoho-oauthtoken <token>``; a bad or expired token gets 401
  ``{code: "INVALID_TOKEN", details: {}, message: "invalid oauth token", status: "error"}``, no
  header 401 ``AUTHENTICATION_FAILURE``.
* ``GET /crm/v8/settings/modules``, ``settings/fields?module=``, ``users?type=CurrentUser``, ``org``.
* ``GET /crm/v8/{Module}`` needs ``fields`` (≤ 50), ``per_page`` ≤ 200; ``page`` reaches record 2,000,
  beyond that only ``page_token`` (from ``info.next_page_token``; never both); 204 with an empty body
  when nothing matches; 304 after ``If-Modified-Since`` when nothing changed. Past record 2,000
  without a token: 400 ``DISCRETE_PAGINATION_LIMIT_EXCEEDED`` (**unconfirmed** code).
* Records: ``id`` numeric text, ``Owner {name, id, email}``, lookups ``{name, id}``, multi-select
  picklists as JSON arrays, datetimes in the org's time zone (``+05:30``), whole seconds.
* COQL ``POST /crm/v8/coql {"select_query"}`` (see :mod:`.coql`): ``{data, info{count, more_records}}``;
  a lookup selected plainly comes as ``{"id"}``, a dot path as its own key; 204 when empty.
* ``GET /{Module}/deleted?type=all|recycle|permanent`` + ``If-Modified-Since``: ``{data: [{id,
  display_name, type, deleted_by, deleted_time, created_by}], info}``.
* Writes ≤ 100 records: ``POST`` insert, ``PUT`` update, ``POST …/upsert`` with
  ``duplicate_check_fields``; per record ``{code, details, message, status}`` (+ ``action``,
  ``duplicate_field`` on upsert); 201/200 when all succeed, 207 mixed, 400 when all fail (mixed
  statuses **unconfirmed**). ``DELETE /{Module}?ids=``. ``X-EXTERNAL: {Module}.{field}`` routes
  ``GET|PUT|DELETE /{Module}/{external value}`` and ``PUT /{Module}`` by the external field.
* Unknown fields in a write are ignored (**unconfirmed**); read-only fields are ignored.
* API credits per rolling day: COQL 1/2/3 by LIMIT (1–200/201–1000/1001–2000), every other call 1
  (**unconfirmed** for writes). Over the limit: 429 ``LIMIT_REACHED``; an injected 429 is
  ``TOO_MANY_REQUESTS`` with ``Retry-After`` (**unconfirmed** header).
"""

from __future__ import annotations

import base64
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.emulators._common.base import EmulatorBase, InvalidRecordError, UnknownObjectError, parse_when
from crmhub.emulators._common.clock import EmulatorClock
from crmhub.emulators._common.fakedata import CompanyNamer
from crmhub.emulators._common.faults import FaultConfig
from crmhub.emulators._common.responses import JSON_TYPE, iso_day
from crmhub.emulators._common.table import LookupSpec, Record, RecordTable, Ref
from crmhub.emulators.zoho import coql, data
from crmhub.emulators.zoho.schema import (
    DISPLAY_FIELD,
    MODULE_IDS,
    MODULES,
    RECORD_MODULES,
    ZField,
    fields_of,
    module_metadata,
)

DEFAULT_CLIENT_ID = "1000.CRMHUBEMULATOR0000000000000000"
DEFAULT_CLIENT_SECRET = "crmhub-zoho-emulator-client-secret"
DEFAULT_REFRESH_TOKEN = "1000.crmhub-zoho-emulator-refresh-token"
DEFAULT_GRANT_TOKEN = "1000.crmhub-zoho-emulator-grant-token"
DEFAULT_ORG_ID = "60000000001"
#: The org's time zone offset: Zoho shows datetimes in it (Asia/Kolkata).
DEFAULT_OFFSET_MINUTES = 330

MAX_WRITE = 100
MAX_PER_PAGE = 200
PAGE_CEILING = 2000
MAX_LIST_FIELDS = 50
PAGE_TOKEN_LIFE_MS = 24 * 3_600_000
_DAY_MS = 86_400_000
_SEED_SPAN_MS = 400 * _DAY_MS
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MODULE_BY_LOWER = {m.lower(): m for m in MODULES}


class ZohoError(Exception):
    """Ends a request with Zoho's error body ``{code, details, message, status: "error"}``."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None, **headers: str
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"code": code, "details": details or {}, "message": message, "status": "error"}
        self.headers = headers


def _error_response(exc: ZohoError) -> Response:
    return Response(orjson.dumps(exc.body), status_code=exc.status, headers=exc.headers, media_type=JSON_TYPE)


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type=JSON_TYPE)


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) and value else None


_CLOCK_TEXT: list[str] = []


def _clock_text(seconds: int) -> str:
    if not _CLOCK_TEXT:
        _CLOCK_TEXT.extend(
            f"T{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)
        )
    return _CLOCK_TEXT[seconds]


class ZohoEmulator(EmulatorBase):
    """A local Zoho CRM org speaking REST v8 (and v7) with seeded Accounts, Contacts, Leads and Users.

    Args:
        accounts, contacts, leads, users: seeded records (contact ``i`` belongs to account
            ``i mod accounts``; every twentieth to none).
        seed: the data seed; the same seed gives the same records.
        client_id, client_secret, refresh_token, grant_token: the OAuth client and tokens accepted.
        token_lifetime: seconds an access token lives (Zoho: 3600).
        daily_credits: API credits per day before ``LIMIT_REACHED``.
        offset_minutes: the org's time zone offset datetimes are shown in.
        fault, clock: injected faults and the emulator's clock.
    """

    object_names = RECORD_MODULES

    def __init__(
        self,
        *,
        accounts: int = 1000,
        contacts: int = 2000,
        leads: int = 500,
        users: int = 10,
        seed: int = 0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        refresh_token: str = DEFAULT_REFRESH_TOKEN,
        grant_token: str = DEFAULT_GRANT_TOKEN,
        token_lifetime: float = 3600,
        daily_credits: int = 1_000_000,
        offset_minutes: int = DEFAULT_OFFSET_MINUTES,
        fault: FaultConfig | None = None,
        clock: EmulatorClock | None = None,
    ) -> None:
        if min(accounts, contacts, leads) < 0 or users < 1:
            raise ValueError("accounts, contacts and leads must not be negative and users must be at least 1")
        super().__init__(
            seed=seed,
            clock=clock,
            fault=fault,
            daily_limit=daily_credits,
            token_lifetime=token_lifetime,
            token_prefix="1000.",
        )
        self.client_id, self.client_secret = client_id, client_secret
        self.default_refresh_token, self.grant_token = refresh_token, grant_token
        self.tokens.issue_refresh("crm", value=refresh_token)
        self.offset_ms = offset_minutes * 60_000
        sign = "+" if offset_minutes >= 0 else "-"
        self._offset_text = f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
        self.counts = {"Accounts": accounts, "Contacts": contacts, "Leads": leads, "Users": users}
        end = (self.clock.start_ms - 3_600_000) // 1000 * 1000
        namer = CompanyNamer(seed)

        def make(
            n: int,
            build: Callable[[Callable[[int], int]], Callable[[int], Record]],
            lookups: tuple[LookupSpec, ...],
        ) -> RecordTable:
            step = max(1000, _SEED_SPAN_MS // max(n, 1) // 1000 * 1000)
            base = end - step * n
            return RecordTable(
                seeded=n,
                derive=build(lambda row: base + row * step),
                stamp_base=base,
                stamp_step=step,
                stamp_key="_updated",
                lookups=lookups,
            )

        def hub_inverse(limit: int) -> Callable[[Any], int | None]:
            def inverse(key: Any) -> int | None:
                text = str(key)
                if len(text) == 11 and text[:4] == "hub-" and text[4:].isdigit():
                    row = int(text[4:]) - 1
                    return row if row < limit else None
                return None

            return inverse

        self._tables: dict[str, RecordTable] = {
            "Users": make(
                users, lambda stamp: data.user_deriver(seed, stamp=stamp), (LookupSpec("email", _casefold),)
            ),
            "Accounts": make(
                accounts,
                lambda stamp: data.account_deriver(seed, users=users, namer=namer, stamp=stamp),
                (
                    LookupSpec("Hub_ID", _casefold, hub_inverse(accounts)),
                    LookupSpec("Partner_ID", _casefold),
                    LookupSpec("Account_Name", _casefold),
                ),
            ),
            "Contacts": make(
                contacts,
                lambda stamp: data.contact_deriver(
                    seed, accounts=accounts, users=users, namer=namer, stamp=stamp
                ),
                (LookupSpec("Hub_ID", _casefold, hub_inverse(contacts)), LookupSpec("Email", _casefold)),
            ),
            "Leads": make(
                leads,
                lambda stamp: data.lead_deriver(seed, users=users, namer=namer, stamp=stamp),
                (LookupSpec("Email", _casefold),),
            ),
        }
        self._coql_cache: OrderedDict[tuple[Any, ...], list[Ref]] = OrderedDict()
        self._page_tokens: dict[str, tuple[int, int]] = {}  # token -> (offset, expiry ms)

    # -- ids and tables ---------------------------------------------------------------------------

    def module(self, name: str) -> str:
        found = _MODULE_BY_LOWER.get(str(name).lower())
        if found is None:
            raise UnknownObjectError(
                f"the Zoho emulator has no module {name!r}; use Accounts, Contacts, Leads or Users",
                object=name,
            )
        return found

    def table(self, object_name: str) -> tuple[str, RecordTable]:
        name = self.module(object_name)
        return name, self._tables[name]

    def row_of(self, object_name: str, record_id: str) -> int | None:
        return data.row_of(self.module(object_name), str(record_id))

    def id_of(self, object_name: str, row: int) -> str:
        return data.record_id(self.module(object_name), row)

    # -- values -----------------------------------------------------------------------------------

    def zoho_datetime(self, ms: int) -> str:
        """Epoch ms as Zoho shows it: the org's local time with its offset, whole seconds."""
        local = ms // 1000 + self.offset_ms // 1000
        day, seconds = divmod(local, 86_400)
        return iso_day(day) + _clock_text(seconds) + self._offset_text

    def _display(self, module: str, rec: Record) -> str | None:
        if module in ("Contacts", "Leads"):
            return " ".join(p for p in (rec.get("First_Name"), rec.get("Last_Name")) if p) or None
        value = rec.get(DISPLAY_FIELD[module])
        return str(value) if value is not None else None

    def _user(self, row: int | None) -> Record | None:
        return self._tables["Users"].get(row) if row is not None else None

    def _target(self, zfield: ZField, value: Any) -> tuple[str, Record | None]:
        target = zfield.lookup or "Users"
        return target, (self._tables[target].get(value) if isinstance(value, int) else None)

    def _api_value(self, module: str, rec: Record, zfield: ZField, *, minimal: bool) -> Any:
        """One field of ``rec`` as the API shows it (``minimal``: lookups as ``{id}``, as COQL does)."""
        name = zfield.api_name
        if name == "id":
            return data.record_id(module, rec["_row"])
        if name == "Created_Time":
            return self.zoho_datetime(rec["_created"])
        if name == "Modified_Time":
            return self.zoho_datetime(rec["_updated"])
        value = rec.get(name)
        if zfield.data_type in ("lookup", "ownerlookup"):
            target, linked = self._target(zfield, value)
            if linked is None:
                return None
            out: dict[str, Any] = {"id": data.record_id(target, linked["_row"])}
            if not minimal:
                out["name"] = self._display(target, linked)
                if target == "Users":
                    out["email"] = linked.get("email")
            return out
        if zfield.data_type == "multiselectpicklist":
            return list(value or [])
        return value

    def _getter(self, module: str, zfield: ZField, *, minimal: bool) -> Callable[[Record], Any]:
        """A function giving one field as the API shows it (compiled once per query: pages are hot)."""
        name = zfield.api_name
        if name in ("Created_Time", "Modified_Time"):
            key, show = ("_created" if name == "Created_Time" else "_updated"), self.zoho_datetime
            return lambda rec: show(rec[key])
        if zfield.data_type == "multiselectpicklist":
            return lambda rec: list(rec.get(name) or ())
        if zfield.data_type in ("lookup", "ownerlookup") or name == "id":
            return lambda rec: self._api_value(module, rec, zfield, minimal=minimal)
        return lambda rec: rec.get(name)

    def _path_value(self, module: str, rec: Record, path: str, *, minimal: bool = True) -> Any:
        head, _, rest = path.partition(".")
        zfield = fields_of(module).get(head)
        if zfield is None:
            return None
        if not rest:
            return self._api_value(module, rec, zfield, minimal=minimal)
        target, linked = self._target(zfield, rec.get(head))
        if linked is None:
            return None
        return self._path_value(target, linked, rest, minimal=minimal)

    def _compare_value(self, module: str, rec: Record, path: str) -> Any:
        """A field's value for criteria: datetimes as epoch ms, ids and lookups as numbers."""
        head, _, rest = path.partition(".")
        zfield = fields_of(module).get(head)
        if zfield is None:
            return None
        if rest:
            target, linked = self._target(zfield, rec.get(head))
            return self._compare_value(target, linked, rest) if linked is not None else None
        if head == "id":
            return int(data.record_id(module, rec["_row"]))
        if head == "Created_Time":
            return rec["_created"]
        if head == "Modified_Time":
            return rec["_updated"]
        value = rec.get(head)
        if zfield.data_type in ("lookup", "ownerlookup"):
            target, linked = self._target(zfield, value)
            return int(data.record_id(target, linked["_row"])) if linked is not None else None
        return value

    def _public(self, object_name: str, rec: Record) -> dict[str, Any]:
        module = self.module(object_name)
        out = {f.api_name: self._api_value(module, rec, f, minimal=False) for f in MODULES[module]}
        if "_deleted" in rec:
            out["$deleted_time"] = self.zoho_datetime(rec["_deleted"])
        return out

    # -- writes (API form in, internal form stored) -----------------------------------------------

    def _stamp(self) -> int:
        return self.clock.next_stamp() // 1000 * 1000

    def _convert(self, module: str, values: dict[str, Any], *, index: int, creating: bool) -> dict[str, Any]:
        """API values → stored values; raises ZohoError (status 0: per record) for a bad one."""
        fields = fields_of(module)
        out: dict[str, Any] = {}

        def bad(code: str, message: str, api_name: str, **details: Any) -> ZohoError:
            return ZohoError(
                0,
                code,
                message,
                {"api_name": api_name, "json_path": f"$.data[{index}].{api_name}", **details},
            )

        for name, value in values.items():
            zfield = fields.get(name)
            if zfield is None or zfield.read_only:
                continue  # unknown and read-only fields are ignored
            kind = zfield.data_type
            if value is None or (value == "" and kind not in ("text", "textarea")):
                out[name] = [] if kind == "multiselectpicklist" else None
                continue
            if kind in ("lookup", "ownerlookup"):
                ref = value.get("id") if isinstance(value, dict) else value
                target = zfield.lookup or "Users"
                row = data.row_of(target, str(ref)) if ref is not None else None
                if row is None or self._tables[target].get(row) is None:
                    raise bad("INVALID_DATA", "the related id given seems to be invalid", name)
                out[name] = row
            elif kind == "integer":
                if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
                    raise bad("INVALID_DATA", "invalid data", name, expected_data_type="integer")
                out[name] = int(value)
            elif kind in ("double", "currency"):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise bad("INVALID_DATA", "invalid data", name, expected_data_type=kind)
                out[name] = float(value)
            elif kind == "boolean":
                if not isinstance(value, bool):
                    raise bad("INVALID_DATA", "invalid data", name, expected_data_type="boolean")
                out[name] = value
            elif kind == "date":
                if not isinstance(value, str) or not _DATE.match(value):
                    raise bad("INVALID_DATA", "invalid data", name, expected_data_type="date")
                out[name] = value
            elif kind == "multiselectpicklist":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise bad("INVALID_DATA", "invalid data", name, expected_data_type="jsonarray")
                out[name] = list(value)
            else:
                if not isinstance(value, str | int | float) or isinstance(value, bool):
                    raise bad("INVALID_DATA", "invalid data", name, expected_data_type="text")
                text = str(value)
                if len(text) > zfield.length:
                    raise bad("INVALID_DATA", "invalid data", name, maximum_length=zfield.length)
                if kind == "email" and not _EMAIL.match(text):
                    raise bad("INVALID_DATA", "invalid data", name, expected_data_type="email")
                out[name] = text
        if creating:
            for zfield in fields.values():
                if zfield.mandatory and out.get(zfield.api_name) in (None, ""):
                    raise bad("MANDATORY_NOT_FOUND", "required field not found", zfield.api_name)
        return out

    def _check_unique(self, module: str, values: dict[str, Any], row: int | None, index: int) -> None:
        table = self._tables[module]
        for zfield in MODULES[module]:
            if not zfield.unique or values.get(zfield.api_name) in (None, ""):
                continue
            clash = [r for r in table.lookup(zfield.api_name, values[zfield.api_name]) if r != row]
            if clash:
                raise ZohoError(
                    0,
                    "DUPLICATE_DATA",
                    "duplicate data",
                    {
                        "api_name": zfield.api_name,
                        "json_path": f"$.data[{index}].{zfield.api_name}",
                        "duplicate_record": {
                            "id": data.record_id(module, clash[0]),
                            "module": {"api_name": module, "id": str(MODULE_IDS[module])},
                        },
                    },
                )

    def _new_record(self, module: str, values: dict[str, Any], stamp: int) -> int:
        table = self._tables[module]
        row = table.new_row()
        rec: Record = {"_row": row, "_created": stamp, "_updated": stamp, "Owner": 0}
        for zfield in MODULES[module]:
            if zfield.api_name not in ("id", "Created_Time", "Modified_Time", "Owner"):
                rec[zfield.api_name] = [] if zfield.data_type == "multiselectpicklist" else None
        rec.update(values)
        table.put(row, rec)
        return row

    def _create(self, object_name: str, values: dict[str, Any], stamp: int) -> str:
        module = self.module(object_name)
        try:
            converted = self._convert(module, values, index=0, creating=True)
            self._check_unique(module, converted, None, 0)
        except ZohoError as exc:
            raise InvalidRecordError(f"{exc.body['code']}: {exc.body['details']}") from None
        return data.record_id(module, self._new_record(module, converted, stamp // 1000 * 1000))

    def _modify(self, object_name: str, row: int, rec: Record, values: dict[str, Any], stamp: int) -> None:
        module = self.module(object_name)
        try:
            converted = self._convert(module, values, index=0, creating=False)
            self._check_unique(module, converted, row, 0)
        except ZohoError as exc:
            raise InvalidRecordError(f"{exc.body['code']}: {exc.body['details']}") from None
        self._tables[module].put(row, {**rec, **converted, "_updated": stamp // 1000 * 1000})

    def _remove(self, object_name: str, row: int, rec: Record, stamp: int) -> None:
        module = self.module(object_name)
        stamp = stamp // 1000 * 1000
        self._tables[module].kill(row, {**rec, "_updated": stamp, "_deleted": stamp})

    def _restamp(self, object_name: str, row: int, rec: Record, stamp: int) -> None:
        self._tables[self.module(object_name)].put(row, {**rec, "_updated": stamp // 1000 * 1000})

    def _touch_values(self, object_name: str, rec: Record, serial: int) -> dict[str, Any]:
        return {"Description": f"touched {serial} at {self.clock.now_ms()}"}

    # -- faults, errors ---------------------------------------------------------------------------

    def _fault_applies(self, method: str, path: str) -> bool:
        return path.startswith("/crm/")

    def _fault_error(self, status: int, config: FaultConfig) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        if status == 429:
            body = {
                "code": "TOO_MANY_REQUESTS",
                "details": {},
                "message": "The number of concurrent requests has exceeded the limit",
                "status": "error",
            }
            return orjson.dumps(body), [(b"retry-after", str(config.retry_after_seconds).encode())]
        body = {
            "code": "INTERNAL_ERROR",
            "details": {},
            "message": "Internal Server Error",
            "status": "error",
        }
        return orjson.dumps(body), []

    def _exception_handlers(self) -> dict[Any, Callable[[Request, Exception], Any]]:
        async def zoho(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, ZohoError)
            return _error_response(exc)

        async def http(request: Request, exc: Exception) -> Response:
            assert isinstance(exc, HTTPException)
            if exc.status_code == 405:
                return _error_response(
                    ZohoError(
                        405, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
                    )
                )
            return _error_response(
                ZohoError(
                    404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
                )
            )

        return {ZohoError: zoho, HTTPException: http}

    # -- auth and credits -------------------------------------------------------------------------

    def _authorize(self, request: Request, credits: int = 1) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if not header:
            raise ZohoError(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        if scheme != "Zoho-oauthtoken" or self.tokens.check(token) != "valid":
            raise ZohoError(401, "INVALID_TOKEN", "invalid oauth token")
        version = request.path_params.get("version")
        if version not in ("v7", "v8"):
            raise ZohoError(
                404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
            )
        if not self.usage_meter.consume(credits):
            raise ZohoError(429, "LIMIT_REACHED", "API credits for the day are exhausted")

    def issue_token(self) -> str:
        """A valid access token (for tests and clients that skip OAuth)."""
        return self.tokens.issue_access("crm").value

    async def _token(self, request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace")
        # Zoho takes the grant as a form body or as query parameters.
        form = {**dict(request.query_params), **{k: v[-1] for k, v in parse_qs(body).items()}}
        grant = form.get("grant_type")
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _json({"error": "invalid_client"})
        api_domain = f"{request.url.scheme}://{request.url.netloc}"
        if grant == "refresh_token":
            if self.tokens.refresh_subject(str(form.get("refresh_token"))) is None:
                return _json({"error": "invalid_code"})
            issued = self.tokens.issue_access("crm")
            return _json(
                {
                    "access_token": issued.value,
                    "scope": "ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.users.READ ZohoCRM.coql.READ",
                    "api_domain": api_domain,
                    "token_type": "Bearer",
                    "expires_in": int(self.tokens.lifetime_seconds),
                }
            )
        if grant == "authorization_code":
            if form.get("code") != self.grant_token:
                return _json({"error": "invalid_code"})
            issued = self.tokens.issue_access("crm")
            return _json(
                {
                    "access_token": issued.value,
                    "refresh_token": self.tokens.issue_refresh("crm"),
                    "api_domain": api_domain,
                    "token_type": "Bearer",
                    "expires_in": int(self.tokens.lifetime_seconds),
                }
            )
        return _json({"error": "unsupported_grant_type"})

    # -- metadata ---------------------------------------------------------------------------------

    def _api_routes(self) -> list[Route]:
        v = "/crm/{version}"
        return [
            Route("/oauth/v2/token", self._token, methods=["POST"]),
            Route(f"{v}/settings/modules", self._modules, methods=["GET"]),
            Route(f"{v}/settings/fields", self._fields, methods=["GET"]),
            Route(f"{v}/users", self._users, methods=["GET"]),
            Route(f"{v}/org", self._org, methods=["GET"]),
            Route(f"{v}/coql", self._coql, methods=["POST"]),
            Route(f"{v}/{{module}}/deleted", self._deleted, methods=["GET"]),
            Route(f"{v}/{{module}}/upsert", self._upsert, methods=["POST"]),
            Route(f"{v}/{{module}}", self._list, methods=["GET"]),
            Route(f"{v}/{{module}}", self._insert, methods=["POST"]),
            Route(f"{v}/{{module}}", self._update_many, methods=["PUT"]),
            Route(f"{v}/{{module}}", self._delete_many, methods=["DELETE"]),
            Route(f"{v}/{{module}}/{{record}}", self._get_one, methods=["GET"]),
            Route(f"{v}/{{module}}/{{record}}", self._update_one, methods=["PUT"]),
            Route(f"{v}/{{module}}/{{record}}", self._delete_one, methods=["DELETE"]),
        ]

    def _record_module(self, request: Request) -> str:
        name = _MODULE_BY_LOWER.get(str(request.path_params.get("module", "")).lower())
        if name is None or name not in RECORD_MODULES:
            raise ZohoError(400, "INVALID_MODULE", "the module name given seems to be invalid", {})
        return name

    async def _modules(self, request: Request) -> Response:
        self._authorize(request)
        return _json({"modules": [module_metadata(m, i) for i, m in enumerate(MODULES, start=1)]})

    async def _fields(self, request: Request) -> Response:
        self._authorize(request)
        name = request.query_params.get("module")
        if not name:
            raise ZohoError(
                400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": "module"}
            )
        module = _MODULE_BY_LOWER.get(name.lower())
        if module is None:
            raise ZohoError(
                400, "INVALID_MODULE", "the module name given seems to be invalid", {"param": "module"}
            )
        base = MODULE_IDS[module] + 1000
        return _json({"fields": [f.metadata(base + i * 10) for i, f in enumerate(MODULES[module])]})

    def _user_json(self, rec: Record) -> dict[str, Any]:
        return {
            "id": data.record_id("Users", rec["_row"]),
            "first_name": rec["first_name"],
            "last_name": rec["last_name"],
            "full_name": rec["full_name"],
            "email": rec["email"],
            "status": rec["status"],
            "role": {"name": "CEO" if rec["_row"] == 0 else "Manager", "id": "5725767000000015969"},
            "profile": {"name": "Administrator", "id": "5725767000000015972"},
            "time_zone": "Asia/Kolkata",
            "Modified_Time": self.zoho_datetime(rec["_updated"]),
        }

    async def _users(self, request: Request) -> Response:
        self._authorize(request)
        kind = request.query_params.get("type", "AllUsers")
        with self.lock:
            table = self._tables["Users"]
            if kind == "CurrentUser":
                users = [table.get(0)]
            elif kind in ("AllUsers", "ActiveUsers"):
                users = [table.get(r) for r in range(table.next_row)]
            else:
                raise ZohoError(400, "INVALID_DATA", "invalid data", {"param": "type"})
            body = [self._user_json(u) for u in users if u is not None]
        return _json(
            {"users": body, "info": {"per_page": 200, "count": len(body), "page": 1, "more_records": False}}
        )

    async def _org(self, request: Request) -> Response:
        self._authorize(request)
        return _json(
            {
                "org": [
                    {
                        "id": "5725767000000015001",
                        "zgid": DEFAULT_ORG_ID,
                        "company_name": "crmhub emulator",
                        "time_zone": "Asia/Kolkata",
                        "currency": "US Dollar - USD",
                        "primary_email": self._tables["Users"].get(0)["email"],  # type: ignore[index]
                    }
                ]
            }
        )

    # -- reads ------------------------------------------------------------------------------------

    def _check_path(self, module: str, path: str, *, criteria: bool = False) -> None:
        head, _, rest = path.partition(".")
        zfield = fields_of(module).get(head)
        if zfield is None or (rest and zfield.data_type not in ("lookup", "ownerlookup")):
            raise ZohoError(
                400,
                "INVALID_QUERY",
                "invalid query formed",
                {"column_name": path, "reason": "column given seems to be invalid"},
            )
        if rest:
            self._check_path(zfield.lookup or "Users", rest, criteria=criteria)
        elif criteria and zfield.data_type == "textarea":
            raise ZohoError(
                400,
                "INVALID_QUERY",
                "invalid query formed",
                {"column_name": path, "reason": "multi-line fields are not supported in criteria"},
            )

    def _literal(self, module: str, path: str, value: Any) -> Any:
        head = path.partition(".")[0]
        leaf = path.rsplit(".", 1)[-1]
        if leaf in ("Created_Time", "Modified_Time") and isinstance(value, str):
            try:
                return parse_when(value)
            except ValueError:
                raise ZohoError(
                    400,
                    "INVALID_QUERY",
                    "invalid query formed",
                    {"column_name": path, "reason": "invalid datetime"},
                ) from None
        zfield = fields_of(module).get(head)
        if leaf == "id" or (
            zfield is not None and zfield.data_type in ("lookup", "ownerlookup") and "." not in path
        ):
            try:
                return int(value)
            except (TypeError, ValueError):
                raise ZohoError(
                    400,
                    "INVALID_QUERY",
                    "invalid query formed",
                    {"column_name": path, "reason": "invalid id"},
                ) from None
        return value

    def _predicate(self, module: str, cond: coql.Cond) -> Callable[[Record], bool]:
        kind = cond[0]
        if kind in ("and", "or"):
            left, right = self._predicate(module, cond[1]), self._predicate(module, cond[2])
            if kind == "and":
                return lambda rec: left(rec) and right(rec)
            return lambda rec: left(rec) or right(rec)
        path = cond[1]
        get = self._compare_value

        def norm(v: Any) -> Any:
            return v.casefold() if isinstance(v, str) else v

        if kind == "null":
            negated = cond[2]

            def is_null(rec: Record) -> bool:
                v = get(module, rec, path)
                empty = v is None or v == "" or v == []
                return not empty if negated else empty

            return is_null
        if kind == "cmp":
            op, lit = cond[2], norm(self._literal(module, path, cond[3]))
            ops: dict[str, Callable[[Any, Any], bool]] = {
                "=": lambda a, b: a == b,
                "!=": lambda a, b: a != b,
                "<": lambda a, b: a < b,
                "<=": lambda a, b: a <= b,
                ">": lambda a, b: a > b,
                ">=": lambda a, b: a >= b,
            }
            fn = ops[op]

            def compare(rec: Record) -> bool:
                v = get(module, rec, path)
                if v is None:
                    return False
                if isinstance(v, list):
                    return op == "=" and lit in [norm(x) for x in v]
                try:
                    return fn(norm(v), lit)
                except TypeError:
                    return False

            return compare
        if kind == "in":
            values = {norm(self._literal(module, path, x)) for x in cond[2]}
            negated = cond[3]

            def within(rec: Record) -> bool:
                v = get(module, rec, path)
                if v is None:
                    return False
                hit = any(norm(x) in values for x in v) if isinstance(v, list) else norm(v) in values
                return not hit if negated else hit

            return within
        if kind == "between":
            lo, hi = self._literal(module, path, cond[2]), self._literal(module, path, cond[3])

            def between(rec: Record) -> bool:
                v = get(module, rec, path)
                try:
                    return v is not None and lo <= v <= hi
                except TypeError:
                    return False

            return between
        pattern, negated = str(cond[2]).casefold(), cond[3]
        lead, trail = pattern.startswith("%"), pattern.endswith("%") and len(pattern) > 1
        core = pattern.strip("%")

        def like(rec: Record) -> bool:
            v = get(module, rec, path)
            if not isinstance(v, str):
                return False
            text = v.casefold()
            hit = (
                (core in text)
                if lead and trail
                else text.endswith(core)
                if lead
                else text.startswith(core)
                if trail
                else text == core
            )
            return not hit if negated else hit

        return like

    def _refs(self, module: str, where: coql.Cond | None, order: list[tuple[str, bool]]) -> list[Ref]:
        """Matching records in the query's order (cached per table version)."""
        table = self._tables[module]
        key = (module, repr(where), repr(order), table.version)
        cached = self._coql_cache.get(key)
        if cached is not None:
            self._coql_cache.move_to_end(key)
            return cached
        lo: int | None = None
        hi: int | None = None
        rest: list[coql.Cond] = []
        for term in coql.conjuncts(where):
            if term[0] == "cmp" and term[1] == "Modified_Time" and isinstance(term[3], str):
                ms = self._literal(module, "Modified_Time", term[3])
                op = term[2]
                if op in (">=", ">", "="):
                    bound = ms + 1 if op == ">" else ms
                    lo = bound if lo is None else max(lo, bound)
                if op in ("<", "<=", "="):
                    bound = ms + 1 if op in ("<=", "=") else ms
                    hi = bound if hi is None else min(hi, bound)
                if op != "!=":
                    continue
            rest.append(term)
        refs = table.natural_refs(lo=lo, hi=hi)
        if rest:
            predicates = [self._predicate(module, t) for t in rest]
            resolve = table.resolve
            refs = [r for r in refs if all(p(resolve(r)) for p in predicates)]
        natural = [("Modified_Time", True), ("id", True)]
        if order not in (natural, natural[:1]):
            resolve = table.resolve
            for name, ascending in reversed(order or [("id", True)]):
                if name == "id":
                    refs = sorted(refs, key=lambda r: resolve(r)["_row"], reverse=not ascending)
                    continue

                def sort_key(ref: Ref, name: str = name) -> tuple[bool, Any]:
                    v = self._compare_value(module, resolve(ref), name)
                    return (v is None, v.casefold() if isinstance(v, str) else v)

                refs = sorted(refs, key=sort_key, reverse=not ascending)
        self._coql_cache[key] = refs
        while len(self._coql_cache) > 16:
            self._coql_cache.popitem(last=False)
        return refs

    async def _coql(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            self._authorize(request)
            raise ZohoError(400, "INVALID_DATA", "body is not a valid JSON object", {})
        try:
            query = coql.parse(payload.get("select_query"))  # type: ignore[arg-type]
        except coql.CoqlError as exc:
            self._authorize(request)
            raise ZohoError(400, exc.code, exc.message, exc.details) from None
        self._authorize(request, credits=query.credits)
        module = _MODULE_BY_LOWER.get(query.module.lower())
        if module is None or module not in RECORD_MODULES and module != "Users":
            raise ZohoError(
                400,
                "INVALID_QUERY",
                "invalid query formed",
                {"reason": "invalid module name", "column_name": query.module},
            )
        for path in query.fields:
            self._check_path(module, path)
        for path in coql.fields_in(query.where):
            self._check_path(module, path, criteria=True)
        for path, _ in query.order:
            self._check_path(module, path)
        with self.lock:
            refs = self._refs(module, query.where, query.order)
            chosen = refs[query.offset : query.offset + query.limit]
            resolve = self._tables[module].resolve
            fields = fields_of(module)
            wanted = [p for p in dict.fromkeys(query.fields) if p != "id"]
            plain = [(p, self._getter(module, fields[p], minimal=True)) for p in wanted if "." not in p]
            dotted = [p for p in wanted if "." in p]
            rows = []
            for ref in chosen:
                rec = resolve(ref)
                out: dict[str, Any] = {p: get(rec) for p, get in plain}
                for p in dotted:
                    out[p] = self._path_value(module, rec, p)
                out["id"] = data.record_id(module, rec["_row"])
                rows.append(out)
            more = query.offset + len(chosen) < len(refs)
        if not rows:
            return Response(status_code=204)
        return _json({"data": rows, "info": {"count": len(rows), "more_records": more}})

    def _if_modified_since(self, request: Request) -> int | None:
        header = request.headers.get("if-modified-since")
        if not header:
            return None
        try:
            return parse_when(header)
        except ValueError:
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"header": "If-Modified-Since"}) from None

    def _page_token(self, offset: int) -> str:
        token = base64.urlsafe_b64encode(f"{offset}:{time.time_ns()}".encode()).decode().rstrip("=")
        self._page_tokens[token] = (offset, self.clock.now_ms() + PAGE_TOKEN_LIFE_MS)
        return token

    async def _list(self, request: Request) -> Response:
        self._authorize(request)
        module = self._record_module(request)
        q = request.query_params
        if not q.get("fields"):
            raise ZohoError(
                400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": "fields"}
            )
        wanted = [f.strip() for f in q["fields"].split(",") if f.strip()]
        if len(wanted) > MAX_LIST_FIELDS:
            raise ZohoError(
                400, "LIMIT_EXCEEDED", "fields limit exceeded", {"param": "fields", "limit": MAX_LIST_FIELDS}
            )
        known = fields_of(module)
        unknown = [f for f in wanted if f not in known]
        if unknown:
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"api_name": unknown[0], "param": "fields"})
        try:
            per_page = int(q.get("per_page", MAX_PER_PAGE))
            page = int(q.get("page", 1))
        except ValueError:
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"param": "page"}) from None
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ZohoError(
                400, "INVALID_DATA", "invalid data", {"param": "per_page", "maximum": MAX_PER_PAGE}
            )
        token = q.get("page_token")
        if token and "page" in q:
            raise ZohoError(
                400,
                "INVALID_REQUEST",
                "page and page_token cannot be given together",
                {"param": "page_token"},
            )
        if token:
            found = self._page_tokens.get(token)
            if found is None or found[1] <= self.clock.now_ms():
                raise ZohoError(
                    400,
                    "INVALID_DATA",
                    "invalid data",
                    {"param": "page_token", "reason": "invalid or expired"},
                )
            offset = found[0]
        else:
            offset = (page - 1) * per_page
            if page < 1 or offset + per_page > PAGE_CEILING:
                raise ZohoError(
                    400,
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    "you can only get the first 2000 records without using page_token",
                    {"param": "page"},
                )
        sort_by = q.get("sort_by", "id")
        if sort_by not in ("id", "Created_Time", "Modified_Time"):
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"param": "sort_by"})
        ascending = q.get("sort_order", "asc") != "desc"
        since = self._if_modified_since(request)
        where: coql.Cond | None = (
            ("cmp", "Modified_Time", ">", self.zoho_datetime(since)) if since is not None else None
        )
        ids = [i for i in q.get("ids", "").split(",") if i]
        with self.lock:
            refs = self._refs(module, where, [(sort_by, ascending)])
            if ids:
                resolve = self._tables[module].resolve
                id_set = set(ids)
                refs = [r for r in refs if data.record_id(module, resolve(r)["_row"]) in id_set]
            chosen = refs[offset : offset + per_page]
            resolve = self._tables[module].resolve
            rows = []
            for ref in chosen:
                rec = resolve(ref)
                out = {f: self._api_value(module, rec, known[f], minimal=False) for f in wanted}
                out["id"] = data.record_id(module, rec["_row"])
                rows.append(out)
            more = offset + len(chosen) < len(refs)
            next_token = self._page_token(offset + per_page) if more else None
        if not rows:
            return Response(status_code=304 if since is not None else 204)
        info: dict[str, Any] = {
            "per_page": per_page,
            "count": len(rows),
            "page": offset // per_page + 1,
            "sort_by": sort_by,
            "sort_order": "asc" if ascending else "desc",
            "more_records": more,
            "next_page_token": next_token,
            "previous_page_token": None,
            "page_token_expiry": (
                datetime.fromtimestamp((self.clock.now_ms() + PAGE_TOKEN_LIFE_MS) / 1000, UTC).isoformat()
                if next_token
                else None
            ),
        }
        return _json({"data": rows, "info": info})

    def _external(self, request: Request, module: str) -> str | None:
        header = request.headers.get("x-external")
        if not header:
            return None
        head, _, field_name = header.partition(".")
        zfield = fields_of(module).get(field_name)
        if head != module or zfield is None or not zfield.unique:
            raise ZohoError(
                400, "INVALID_DATA", "invalid data", {"header": "X-EXTERNAL", "api_name": field_name}
            )
        return field_name

    def _find(self, module: str, key: str, external: str | None) -> int | None:
        table = self._tables[module]
        if external is not None:
            rows = table.lookup(external, key)
            return rows[0] if rows else None
        row = data.row_of(module, key)
        return row if row is not None and table.get(row) is not None else None

    async def _get_one(self, request: Request) -> Response:
        self._authorize(request)
        module = self._record_module(request)
        external = self._external(request, module)
        with self.lock:
            row = self._find(module, request.path_params["record"], external)
            if row is None:
                return Response(status_code=204)
            rec = self._tables[module].get(row)
            assert rec is not None
            body = {"data": [self._public(module, rec)]}
        return _json(body)

    async def _deleted(self, request: Request) -> Response:
        self._authorize(request)
        module = self._record_module(request)
        kind = request.query_params.get("type", "all")
        if kind not in ("all", "recycle", "permanent"):
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"param": "type"})
        try:
            page = int(request.query_params.get("page", 1))
            per_page = min(int(request.query_params.get("per_page", MAX_PER_PAGE)), MAX_PER_PAGE)
        except ValueError:
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"param": "page"}) from None
        since = self._if_modified_since(request)
        with self.lock:
            table = self._tables[module]
            dead: list[Record] = (
                []
                if kind == "permanent"
                else [rec for _, rec in table.rows_from(0, dead=True) if isinstance(rec, dict)]
            )
            dead = [rec for rec in dead if since is None or rec["_deleted"] > since]
            dead.sort(key=lambda rec: (-rec["_deleted"], -rec["_row"]))  # the latest first
            chosen = dead[(page - 1) * per_page : page * per_page]
            user = self._user_json(self._tables["Users"].get(0))  # type: ignore[arg-type]
            rows = [
                {
                    "id": data.record_id(module, rec["_row"]),
                    "display_name": self._display(module, rec),
                    "type": "recycle",
                    "deleted_by": {"name": user["full_name"], "id": user["id"]},
                    "created_by": {"name": user["full_name"], "id": user["id"]},
                    "deleted_time": self.zoho_datetime(rec["_deleted"]),
                }
                for rec in chosen
            ]
            more = page * per_page < len(dead)
        if not rows:
            return Response(status_code=304 if since is not None else 204)
        return _json(
            {
                "data": rows,
                "info": {"per_page": per_page, "count": len(rows), "page": page, "more_records": more},
            }
        )

    # -- writes -----------------------------------------------------------------------------------

    async def _records(self, request: Request) -> tuple[list[Any], dict[str, Any]]:
        """The ``data`` list of a write body (read before the lock; the call is authorized here)."""
        body = await request.body()
        self._authorize(request)
        try:
            payload = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"expected": '{"data": [...]}'})
        records = payload["data"]
        if not records:
            raise ZohoError(
                400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": "data"}
            )
        if len(records) > MAX_WRITE:
            raise ZohoError(
                400, "LIMIT_EXCEEDED", "the number of records exceeds the limit", {"limit": MAX_WRITE}
            )
        return records, payload

    def _success(self, module: str, row: int, message: str, **extra: Any) -> dict[str, Any]:
        rec = self._tables[module].get(row)
        assert rec is not None
        user = {"name": self._tables["Users"].get(0)["full_name"], "id": data.record_id("Users", 0)}  # type: ignore[index]
        return {
            "code": "SUCCESS",
            "details": {
                "Modified_Time": self.zoho_datetime(rec["_updated"]),
                "Modified_By": user,
                "Created_Time": self.zoho_datetime(rec["_created"]),
                "id": data.record_id(module, row),
                "Created_By": user,
            },
            "message": message,
            "status": "success",
            **extra,
        }

    @staticmethod
    def _failure(exc: ZohoError) -> dict[str, Any]:
        return dict(exc.body)

    @staticmethod
    def _batch(results: list[dict[str, Any]], ok_status: int) -> Response:
        good = sum(1 for r in results if r["status"] == "success")
        status = ok_status if good == len(results) else 400 if good == 0 else 207
        return _json({"data": results}, status)

    def _write_one(self, module: str, item: Any, index: int, row: int | None) -> tuple[dict[str, Any], int]:
        """Create (``row`` None) or update one record; returns the result and the row."""
        if not isinstance(item, dict):
            raise ZohoError(0, "INVALID_DATA", "invalid data", {"json_path": f"$.data[{index}]"})
        values = {k: v for k, v in item.items() if k != "id"}
        converted = self._convert(module, values, index=index, creating=row is None)
        self._check_unique(module, converted, row, index)
        stamp = self._stamp()
        table = self._tables[module]
        if row is None:
            row = self._new_record(module, converted, stamp)
            return self._success(module, row, "record added"), row
        rec = table.get(row)
        assert rec is not None
        table.put(row, {**rec, **converted, "_updated": stamp})
        return self._success(module, row, "record updated"), row

    async def _insert(self, request: Request) -> Response:
        records, _ = await self._records(request)
        module = self._record_module(request)
        results = []
        with self.lock:
            for index, item in enumerate(records):
                try:
                    results.append(self._write_one(module, item, index, None)[0])
                except ZohoError as exc:
                    results.append(self._failure(exc))
        return self._batch(results, 201)

    def _update_item(
        self, module: str, item: Any, index: int, key: str | None, external: str | None
    ) -> dict[str, Any]:
        if key is None:
            ident = (
                item.get(external)
                if external and isinstance(item, dict)
                else item.get("id")
                if isinstance(item, dict)
                else None
            )
            if ident in (None, ""):
                name = external or "id"
                return self._failure(
                    ZohoError(
                        0,
                        "MANDATORY_NOT_FOUND",
                        "required field not found",
                        {"api_name": name, "json_path": f"$.data[{index}].{name}"},
                    )
                )
            key = str(ident)
        row = self._find(module, key, external)
        if row is None:
            name = external or "id"
            return self._failure(
                ZohoError(
                    0,
                    "INVALID_DATA",
                    "the id given seems to be invalid",
                    {"api_name": name, "id": key, "json_path": f"$.data[{index}].{name}"},
                )
            )
        try:
            return self._write_one(module, item, index, row)[0]
        except ZohoError as exc:
            return self._failure(exc)

    async def _update_many(self, request: Request) -> Response:
        records, _ = await self._records(request)
        module = self._record_module(request)
        external = self._external(request, module)
        with self.lock:
            results = [self._update_item(module, item, i, None, external) for i, item in enumerate(records)]
        return self._batch(results, 200)

    async def _update_one(self, request: Request) -> Response:
        records, _ = await self._records(request)
        module = self._record_module(request)
        external = self._external(request, module)
        with self.lock:
            results = [self._update_item(module, records[0], 0, request.path_params["record"], external)]
        return self._batch(results, 200)

    async def _upsert(self, request: Request) -> Response:
        records, payload = await self._records(request)
        module = self._record_module(request)
        checks = payload.get("duplicate_check_fields")
        fields = fields_of(module)
        system = {"Accounts": ["Account_Name"], "Contacts": ["Email"], "Leads": ["Email"]}[module]
        if checks is None:
            checks = system + [f.api_name for f in MODULES[module] if f.unique and f.api_name not in system]
        if not isinstance(checks, list) or not all(isinstance(c, str) for c in checks):
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"param": "duplicate_check_fields"})
        for name in checks:
            if name not in fields or not (fields[name].unique or name in system):
                raise ZohoError(
                    400,
                    "INVALID_DATA",
                    "the field is not a unique or system duplicate check field",
                    {"api_name": name, "param": "duplicate_check_fields"},
                )
        results = []
        with self.lock:
            table = self._tables[module]
            for index, item in enumerate(records):
                match: tuple[str, int] | None = None
                if isinstance(item, dict):
                    for name in checks:
                        if item.get(name) not in (None, ""):
                            rows = table.lookup(name, item[name])
                            if rows:
                                match = (name, rows[0])
                                break
                try:
                    if match is None:
                        result, _ = self._write_one(module, item, index, None)
                        results.append({**result, "action": "insert", "duplicate_field": None})
                    else:
                        result, _ = self._write_one(module, item, index, match[1])
                        results.append({**result, "action": "update", "duplicate_field": match[0]})
                except ZohoError as exc:
                    results.append(self._failure(exc))
        return self._batch(results, 200)

    def _delete_rows(self, module: str, keys: list[str], external: str | None) -> list[dict[str, Any]]:
        results = []
        for key in keys:
            row = self._find(module, key, external)
            rec = self._tables[module].get(row) if row is not None else None
            if row is None or rec is None:
                results.append(
                    {
                        "code": "INVALID_DATA",
                        "details": {"id": key},
                        "message": "the id given seems to be invalid",
                        "status": "error",
                    }
                )
                continue
            stamp = self._stamp()
            self._tables[module].kill(row, {**rec, "_updated": stamp, "_deleted": stamp})
            results.append(
                {
                    "code": "SUCCESS",
                    "details": {"id": data.record_id(module, row)},
                    "message": "record deleted",
                    "status": "success",
                }
            )
        return results

    async def _delete_many(self, request: Request) -> Response:
        self._authorize(request)
        module = self._record_module(request)
        keys = [i for i in request.query_params.get("ids", "").split(",") if i]
        if not keys:
            raise ZohoError(
                400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": "ids"}
            )
        if len(keys) > MAX_WRITE:
            raise ZohoError(
                400, "LIMIT_EXCEEDED", "the number of records exceeds the limit", {"limit": MAX_WRITE}
            )
        with self.lock:
            results = self._delete_rows(module, keys, None)
        return self._batch(results, 200)

    async def _delete_one(self, request: Request) -> Response:
        self._authorize(request)
        module = self._record_module(request)
        external = self._external(request, module)
        with self.lock:
            results = self._delete_rows(module, [request.path_params["record"]], external)
        return self._batch(results, 200)

    def __repr__(self) -> str:
        counts = ", ".join(f"{self.count(m)} {m}" for m in RECORD_MODULES)
        return f"ZohoEmulator({counts}, seed={self.seed})"

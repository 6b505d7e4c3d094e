"""The Salesforce REST API emulator (OAuth, SOAP login, sObjects, SOQL, composite collections, limits).

Wire facts it follows, with where they come from:

* OAuth token response ``{access_token, instance_url, id, token_type, issued_at, signature}`` and the
  error ``{"error": "invalid_grant", "error_description": "authentication failure"}`` (Salesforce OAuth
  docs). Real Salesforce gives no refresh token to the username-password flow; this emulator gives one
  by default (``password_flow_refresh_token=True``) so clients can exercise refreshing; turn it off to
  be strict. The client-credentials flow never gets one.
* Error bodies are arrays ``[{"message", "errorCode", "fields"?}]``; composite results use
  ``{"statusCode", "message", "fields"}`` (REST API developer guide).
* ``Sforce-Limit-Info: api-usage=N/LIMIT`` on every ``/services/data/vXX.X`` response; over the daily limit
  403 ``REQUEST_LIMIT_EXCEEDED`` "TotalRequests Limit exceeded.".
* Query pages of 2000 by default, ``Sforce-Query-Options: batchSize`` between 200 and 2000, and
  ``nextRecordsUrl`` of the form ``/services/data/v62.0/query/01g…-2000``.
* Upsert by external id: 201 ``created: true`` for new records; an existing record gives 200 with
  ``created: false`` from API v46.0 on and 204 before (the v46+ status code is not confirmed by a primary
  source); 300 with the matching records' URLs when several match. Upsert (and GET/DELETE by field)
  accepts fields marked ``externalId`` or ``idLookup``.
* A 429 is not documented for Salesforce REST; injected 429s answer
  ``[{"errorCode": "TOO_MANY_REQUESTS", …}]`` with ``Retry-After`` (a synthetic code, chosen so it is not
  confused with the daily-limit ``REQUEST_LIMIT_EXCEEDED``); injected 503s answer ``SERVER_UNAVAILABLE``.
* Deleting an Account deletes its Contacts too (Salesforce's cascade); tombstones are kept for
  ``queryAll`` and ``/deleted`` without the 15-day purge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crmhub.emulators._common.base import EmulatorBase, InvalidRecordError, UnknownObjectError, parse_when
from crmhub.emulators._common.clock import EmulatorClock
from crmhub.emulators._common.fakedata import CompanyNamer
from crmhub.emulators._common.faults import FaultConfig
from crmhub.emulators._common.responses import JSON_TYPE, JSONBodyError, json_response, read_json, sf_datetime
from crmhub.emulators._common.table import LookupSpec, Record, RecordTable, Ref
from crmhub.emulators.salesforce import data
from crmhub.emulators.salesforce.ids import b62, looks_like_id, make_id, parse_id, to_18
from crmhub.emulators.salesforce.schema import BY_PREFIX, SOBJECTS, SField, SObject, child_relationships
from crmhub.emulators.salesforce.soql import CompiledQuery, Getter, SoqlError, compile_query, projector_for

DEFAULT_VERSION = "62.0"
DEFAULT_USERNAME = "admin@example.com"
DEFAULT_PASSWORD = "emulator-password"
DEFAULT_SECURITY_TOKEN = "EMULATORTOKEN"


def default_credentials() -> dict[str, str]:
    """The credentials a connection to a default-seeded emulator takes (a fresh dict each time)."""
    return {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "password": DEFAULT_PASSWORD,
        "security_token": DEFAULT_SECURITY_TOKEN,
    }


DEFAULT_CLIENT_ID = "crmhub-emulator-client-id"
DEFAULT_CLIENT_SECRET = "crmhub-emulator-client-secret"

_DAY_MS = 86_400_000
_SEED_SPAN_MS = 400 * _DAY_MS
_MAX_COMPOSITE = 200
_VERSION_RE = re.compile(r"^v(\d{2,3})\.(\d)$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) and value else None


@dataclass
class _Cursor:
    refs: list[Ref]
    table: RecordTable
    project: Callable[[Record], dict[str, Any]]
    batch: int
    endpoint: str


@dataclass
class _FieldError:
    status_code: str
    message: str
    fields: list[str]

    def composite(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}

    def rest(self) -> dict[str, Any]:
        return {"message": self.message, "errorCode": self.status_code, "fields": self.fields}


class _ApiError(Exception):
    """Ends a request with a Salesforce error array."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: Any = [
            {"message": message, "errorCode": code, **({"fields": fields} if fields is not None else {})}
        ]


class SalesforceEmulator(EmulatorBase):
    """A local Salesforce org speaking the REST API (plus SOAP ``login``) with seeded data.

    Args:
        accounts: seeded Account records.
        contacts: seeded Contact records (contact ``i`` belongs to account ``i mod accounts``; every
            twentieth has no account).
        users: seeded User records (at least one: the admin the credentials log in as).
        seed: the data seed; the same seed gives the same records.
        api_version: the newest version ``GET /services/data/`` lists (any ``vNN.N`` is served).
        username, password, security_token: what the password and SOAP logins accept (the password
            is sent as ``password + security_token``).
        client_id, client_secret: the connected app's consumer key and secret.
        token_lifetime: seconds an access token lives (Salesforce's default session timeout is 2 h).
        daily_limit: API requests per day before 403 ``REQUEST_LIMIT_EXCEEDED``.
        fault: injected faults (none by default).
        clock: the emulator's clock (default: real time).
        instance_url: the ``instance_url`` handed out by logins (default: the URL the request came to).
        password_flow_refresh_token: hand a refresh token to the username-password flow.
    """

    object_names = ("Account", "Contact", "User")

    def __init__(
        self,
        *,
        accounts: int = 1000,
        contacts: int = 2000,
        users: int = 10,
        seed: int = 0,
        api_version: str = DEFAULT_VERSION,
        username: str = DEFAULT_USERNAME,
        password: str = DEFAULT_PASSWORD,
        security_token: str = DEFAULT_SECURITY_TOKEN,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        token_lifetime: float = 7200,
        daily_limit: int = 100_000,
        fault: FaultConfig | None = None,
        clock: EmulatorClock | None = None,
        instance_url: str | None = None,
        password_flow_refresh_token: bool = True,
    ) -> None:
        if min(accounts, contacts) < 0 or users < 1:
            raise ValueError("accounts and contacts must not be negative and users must be at least 1")
        if not re.fullmatch(r"\d{2,3}\.\d", api_version):
            raise ValueError(f"api_version must look like '62.0', got {api_version!r}")
        self.org_id = to_18(f"00D{'5g0'}{b62(seed % (62**9) + 1, 9)}")
        super().__init__(
            seed=seed,
            clock=clock,
            fault=fault,
            daily_limit=daily_limit,
            token_lifetime=token_lifetime,
            token_prefix=self.org_id[:15] + "!",
        )
        self.api_version = api_version
        self.username = username
        self.password = password
        self.security_token = security_token
        self.client_id = client_id
        self.client_secret = client_secret
        self.instance_url = instance_url.rstrip("/") if instance_url else None
        self.password_flow_refresh_token = password_flow_refresh_token
        self.n_accounts, self.n_contacts, self.n_users = accounts, contacts, users

        end = self.clock.start_ms - 3_600_000
        namer = CompanyNamer(seed)

        def spread(n: int) -> tuple[int, int]:
            step = max(1, _SEED_SPAN_MS // max(n, 1))
            return end - step * n, step

        def make(
            n: int,
            key: str,
            build: Callable[[Callable[[int], int]], Callable[[int], Record]],
            lookups: tuple[LookupSpec, ...],
        ) -> RecordTable:
            base, step = spread(n)
            derive = build(lambda row: base + row * step)
            return RecordTable(
                seeded=n, derive=derive, stamp_base=base, stamp_step=step, stamp_key=key, lookups=lookups
            )

        def hub_inverse(limit: int) -> Callable[[Any], int | None]:
            def inverse(key: Any) -> int | None:
                row = data.hub_id_row(key)
                return row if row is not None and row < limit else None

            return inverse

        self._tables: dict[str, RecordTable] = {
            "User": make(
                users,
                "SystemModstamp",
                lambda stamp: data.user_deriver(seed, admin_username=username, stamp=stamp),
                (LookupSpec("Username", _casefold),),
            ),
            "Account": make(
                accounts,
                "SystemModstamp",
                lambda stamp: data.account_deriver(seed, users=users, namer=namer, stamp=stamp),
                (LookupSpec("Hub_ID__c", _casefold, hub_inverse(accounts)), LookupSpec("Name", _casefold)),
            ),
            "Contact": make(
                contacts,
                "SystemModstamp",
                lambda stamp: data.contact_deriver(
                    seed, accounts=accounts, users=users, namer=namer, stamp=stamp
                ),
                (LookupSpec("Hub_ID__c", _casefold, hub_inverse(contacts)), LookupSpec("Email", _casefold)),
            ),
        }
        self.admin_id = make_id("005", 0)
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._cursor_serial = 0
        self._parsed_ids: dict[str, tuple[str, int]] = {}
        self._full_projectors: dict[tuple[str, str], Callable[[Record], dict[str, Any]]] = {}

    # -- resolver for the SOQL compiler ------------------------------------------------------------

    def sobject(self, name: str) -> SObject | None:
        """The emulated sObject called ``name`` (any case)."""
        return SOBJECTS.get(name.lower())

    def getter(self, sobject: SObject, field_name: str) -> Getter:
        """Reads ``field_name`` from a row reference of ``sobject``."""
        derive = self._tables[sobject.name].derive

        def get(ref: Ref) -> Any:
            if ref.__class__ is int:
                return derive(ref).get(field_name)
            return ref.get(field_name)  # type: ignore[union-attr]

        return get

    def by_id(self, record_id: str) -> Record | None:
        """The live record with that id (any object type), or ``None``."""
        # Relationship fields (Owner.Name) look the same few ids up once per record of a page.
        if not isinstance(record_id, str):
            return None
        parsed = self._parsed_ids.get(record_id)
        if parsed is None:
            parsed = parse_id(record_id)
            if parsed is not None:
                if len(self._parsed_ids) >= 4096:
                    self._parsed_ids.clear()
                self._parsed_ids[record_id] = parsed
        if parsed is None:
            return None
        obj = BY_PREFIX.get(parsed[0])
        return self._tables[obj.name].get(parsed[1]) if obj else None

    # -- EmulatorBase hooks -----------------------------------------------------------------------

    def table(self, object_name: str) -> tuple[str, RecordTable]:
        obj = self.sobject(object_name)
        if obj is None:
            raise UnknownObjectError(
                f"the Salesforce emulator has no object {object_name!r}; use Account, Contact or User",
                object=object_name,
            )
        return obj.name, self._tables[obj.name]

    def row_of(self, object_name: str, record_id: str) -> int | None:
        parsed = parse_id(record_id) if isinstance(record_id, str) else None
        obj = SOBJECTS[object_name.lower()]
        if parsed is None or parsed[0] != obj.key_prefix:
            return None
        return parsed[1]

    def id_of(self, object_name: str, row: int) -> str:
        return make_id(SOBJECTS[object_name.lower()].key_prefix, row)

    def _create(self, object_name: str, values: dict[str, Any], stamp: int) -> str:
        obj = SOBJECTS[object_name.lower()]
        converted, errors = self._convert(obj, values, creating=True, strict=False)
        if errors:
            raise InvalidRecordError("; ".join(e.message for e in errors), object=obj.name)
        rows, row_errors = self._insert_many(obj, [converted], stamp)
        if row_errors[0]:
            raise InvalidRecordError("; ".join(e.message for e in row_errors[0]), object=obj.name)
        return make_id(obj.key_prefix, rows[0])

    def _modify(self, object_name: str, row: int, rec: Record, values: dict[str, Any], stamp: int) -> None:
        obj = SOBJECTS[object_name.lower()]
        converted, errors = self._convert(obj, values, creating=False, strict=False)
        errors += self._check_unique(obj, converted, row)
        if errors:
            raise InvalidRecordError("; ".join(e.message for e in errors), object=obj.name)
        self._store_update(obj, row, rec, converted, stamp)

    def _remove(self, object_name: str, row: int, rec: Record, stamp: int) -> None:
        self._delete_row(SOBJECTS[object_name.lower()], row, rec, stamp)

    def _restamp(self, object_name: str, row: int, rec: Record, stamp: int) -> None:
        _, table = self.table(object_name)
        table.put(row, {**rec, "SystemModstamp": stamp, "LastModifiedDate": stamp})

    def _touch_values(self, object_name: str, rec: Record, serial: int) -> dict[str, Any]:
        if object_name == "Account":
            return {"NumberOfEmployees": (rec.get("NumberOfEmployees") or 0) + 1}
        if object_name == "Contact":
            return {"Phone": f"+1 555-{serial % 1000:03d}-{(rec['_row'] * 7 + serial) % 10000:04d}"}
        return {"Title": "Updated " + str(serial)}

    def _public(self, object_name: str, rec: Record) -> dict[str, Any]:
        return self._full_projector(SOBJECTS[object_name.lower()], self.api_version)(rec)

    def _fault_applies(self, method: str, path: str) -> bool:
        return path.startswith("/services/data/v")

    def _fault_error(self, status: int, config: FaultConfig) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        if status == 429:
            body = [
                {
                    "message": f"Too many requests; retry after {config.retry_after_seconds} second(s).",
                    "errorCode": "TOO_MANY_REQUESTS",
                }
            ]
        else:
            body = [
                {
                    "message": "Service temporarily unavailable; try again later.",
                    "errorCode": "SERVER_UNAVAILABLE",
                }
            ]
        return orjson.dumps(body), [
            (b"retry-after", str(config.retry_after_seconds).encode()),
            (b"sforce-limit-info", self._limit_info().encode()),
        ]

    def _api_routes(self) -> list[Route]:
        methods = ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD"]
        return [
            Route("/services/oauth2/token", self._token_endpoint, methods=["POST"]),
            Route("/services/Soap/u/{version}", self._soap_login, methods=["POST"]),
            Route("/services/data", self._versions, methods=["GET"]),
            Route("/services/data/", self._versions, methods=["GET"]),
            Route("/services/data/{rest:path}", self._data_endpoint, methods=methods),
        ]

    # -- projections -------------------------------------------------------------------------------

    def _full_projector(self, obj: SObject, version: str) -> Callable[[Record], dict[str, Any]]:
        key = (obj.name, version)
        projector = self._full_projectors.get(key)
        if projector is None:
            projector = projector_for(obj, [f.name for f in obj.fields], self, version=version)
            self._full_projectors[key] = projector
        return projector

    # -- auth ------------------------------------------------------------------------------------------

    def _base_url(self, request: Request) -> str:
        return self.instance_url or str(request.base_url).rstrip("/")

    def _identity_url(self, request: Request) -> str:
        return f"{self._base_url(request)}/id/{self.org_id}/{self.admin_id}"

    async def _token_endpoint(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")

        def oauth_error(error: str, description: str, status: int = 400) -> Response:
            return json_response({"error": error, "error_description": description}, status)

        if grant not in ("password", "refresh_token", "client_credentials"):
            return oauth_error("unsupported_grant_type", "grant type not supported")
        if form.get("client_id") != self.client_id:
            return oauth_error("invalid_client_id", "client identifier invalid")
        give_refresh = False
        if grant == "password":
            if form.get("client_secret") != self.client_secret:
                return oauth_error("invalid_client", "invalid client credentials")
            if not self._password_ok(form.get("username", ""), form.get("password", "")):
                return oauth_error("invalid_grant", "authentication failure")
            give_refresh = self.password_flow_refresh_token
        elif grant == "refresh_token":
            if "client_secret" in form and form["client_secret"] != self.client_secret:
                return oauth_error("invalid_client", "invalid client credentials")
            if self.tokens.refresh_subject(form.get("refresh_token", "")) is None:
                return oauth_error("invalid_grant", "expired access/refresh token")
        elif form.get("client_secret") != self.client_secret:
            return oauth_error("invalid_client", "invalid client credentials")
        issued = self.tokens.issue_access(self.admin_id)
        issued_at = str(self.clock.now_ms())
        identity = self._identity_url(request)
        signature = base64.b64encode(
            hmac.new(self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        ).decode()
        body: dict[str, Any] = {
            "access_token": issued.value,
            "instance_url": self._base_url(request),
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": signature,
            "scope": "api refresh_token" if give_refresh else "api",
        }
        if give_refresh:
            body["refresh_token"] = self.tokens.issue_refresh(self.admin_id)
        return json_response(body)

    def _password_ok(self, username: str, password: str) -> bool:
        return username.casefold() == self.username.casefold() and password in (
            self.password + self.security_token,
            *((self.password,) if not self.security_token else ()),
        )

    async def _soap_login(self, request: Request) -> Response:
        text = (await request.body()).decode("utf-8", "replace")
        user = re.search(r"<(?:\w+:)?username>(.*?)</(?:\w+:)?username>", text, re.S)
        pwd = re.search(r"<(?:\w+:)?password>(.*?)</(?:\w+:)?password>", text, re.S)
        version = request.path_params["version"]
        if (
            not user
            or not pwd
            or not self._password_ok(html.unescape(user.group(1)), html.unescape(pwd.group(1)))
        ):
            fault = (
                '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" '
                'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
                "<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid username, password, "
                'security token; or user locked out.</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault">'
                "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode><sf:exceptionMessage>Invalid username, password, "
                "security token; or user locked out.</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
                "</soapenv:Body></soapenv:Envelope>"
            )
            return Response(fault, status_code=500, media_type="text/xml;charset=UTF-8")
        issued = self.tokens.issue_access(self.admin_id)
        base = self._base_url(request)
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>'
            f"<metadataServerUrl>{base}/services/Soap/m/{version}/{self.org_id[:15]}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{version}/{self.org_id[:15]}</serverUrl>"
            f"<sessionId>{html.escape(issued.value)}</sessionId><userId>{self.admin_id}</userId>"
            f"<userInfo><organizationId>{self.org_id}</organizationId><userEmail>{html.escape(self.username)}"
            f"</userEmail><userName>{html.escape(self.username)}</userName></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(xml, media_type="text/xml;charset=UTF-8")

    def _authorize(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or self.tokens.check(token.strip()) != "valid":
            raise _ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")

    def _limit_info(self) -> str:
        usage = self.usage_meter
        return f"api-usage={usage.used}/{usage.limit}"

    # -- the data API --------------------------------------------------------------------------------

    async def _versions(self, request: Request) -> Response:
        major = int(self.api_version.split(".")[0])
        out = []
        for v in range(20, major + 1):
            k = v - 62
            season = ("Winter", "Spring", "Summer")[k % 3]
            year = 25 + (k - k % 3) // 3
            out.append(
                {"label": f"{season} '{year:02d}", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
            )
        return json_response(out)

    async def _data_endpoint(self, request: Request) -> Response:
        rest = request.path_params["rest"].strip("/")
        parts = [p for p in rest.split("/") if p]
        if not parts or not _VERSION_RE.match(parts[0]):
            return json_response(_NOT_FOUND, 404)
        version = parts[0][1:]
        try:
            self._authorize(request)
            if not self.usage_meter.consume():
                raise _ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            # The body is read before the lock: Starlette keeps it, so the handlers' reads of it
            # inside return at once and nothing awaits the network while the lock is held.
            await request.body()
            with self.lock:
                response = await self._route(request, version, parts[1:])
        except _ApiError as exc:
            response = json_response(exc.body, exc.status)
        except SoqlError as exc:
            response = json_response([{"message": exc.message, "errorCode": exc.code}], 400)
        except JSONBodyError as exc:
            response = json_response([{"message": str(exc), "errorCode": "JSON_PARSER_ERROR"}], 400)
        except (ValueError, TypeError) as exc:  # odd query parameters or input shapes
            response = json_response([{"message": str(exc), "errorCode": "MALFORMED_REQUEST"}], 400)
        response.headers["Sforce-Limit-Info"] = self._limit_info()
        return response

    async def _route(self, request: Request, version: str, parts: list[str]) -> Response:
        method = request.method
        if not parts:
            self._allow(method, "GET")
            base = f"/services/data/v{version}"
            names = ("sobjects", "query", "queryAll", "limits", "composite", "search", "recent", "tooling")
            return json_response({name: f"{base}/{name}" for name in names})
        head = parts[0]
        if head == "sobjects":
            return await self._sobjects(request, version, parts[1:])
        if head in ("query", "queryAll"):
            self._allow(method, "GET")
            if len(parts) == 1:
                return self._query(request, version, all_rows=head == "queryAll")
            if len(parts) == 2:
                return self._query_more(version, parts[1])
        if head == "limits" and len(parts) == 1:
            self._allow(method, "GET")
            return self._limits()
        if head == "composite" and len(parts) >= 2 and parts[1] == "sobjects":
            return await self._composite(request, version, parts[2:])
        raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    @staticmethod
    def _allow(method: str, *allowed: str) -> None:
        if method not in allowed and not (method == "HEAD" and "GET" in allowed):
            raise _ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{method}' not allowed. Allowed are {','.join(allowed)}",
            )

    def _object(self, name: str) -> SObject:
        obj = self.sobject(name)
        if obj is None:
            raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    async def _sobjects(self, request: Request, version: str, parts: list[str]) -> Response:
        method = request.method
        if not parts:
            self._allow(method, "GET")
            return json_response(
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": 200,
                    "sobjects": [o.summary(version) for o in SOBJECTS.values()],
                }
            )
        obj = self._object(parts[0])
        if len(parts) == 1:
            self._allow(method, "GET", "POST")
            if method == "POST":
                return await self._create_one(request, obj, version)
            return json_response({"objectDescribe": obj.summary(version), "recentItems": []})
        second = parts[1]
        if len(parts) == 2 and second == "describe":
            self._allow(method, "GET")
            return json_response(obj.describe(version, child_relationships(obj.name)))
        if len(parts) == 2 and second in ("deleted", "updated"):
            self._allow(method, "GET")
            return self._replication(request, obj, second)
        if len(parts) == 2:
            if second.lower() == "id" and method == "POST":
                return await self._create_one(request, obj, version)
            self._allow(method, "GET", "PATCH", "DELETE")
            row = self.row_of(obj.name, second) if looks_like_id(second) else None
            if row is None:
                raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            return await self._by_row(request, obj, version, row)
        if len(parts) == 3:
            self._allow(method, "GET", "PATCH", "DELETE", "POST")
            return await self._by_field(request, obj, version, parts[1], parts[2])
        raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")

    # single records
    def _record_json(self, request: Request, obj: SObject, version: str, rec: Record) -> Response:
        fields = request.query_params.get("fields")
        if fields:
            names = [name.strip() for name in fields.split(",") if name.strip()]
            if "id" not in {name.lower() for name in names}:
                names.insert(0, "Id")
            try:
                projector = projector_for(obj, names, self, version=version)
            except SoqlError as exc:
                raise _ApiError(400, "INVALID_FIELD", exc.message.rsplit("\n", 1)[-1]) from exc
        else:
            projector = self._full_projector(obj, version)
        return json_response(projector(rec))

    async def _by_row(self, request: Request, obj: SObject, version: str, row: int) -> Response:
        table = self._tables[obj.name]
        rec = table.get(row)
        if rec is None:
            if table.get_dead(row) is not None:
                raise _ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
            raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if request.method == "GET":
            return self._record_json(request, obj, version, rec)
        if request.method == "DELETE":
            self._delete_row(obj, row, rec, self.clock.next_stamp())
            return Response(status_code=204)
        values = await self._body_object(request)
        converted, errors = self._convert(obj, values, creating=False)
        errors += self._check_unique(obj, converted, row)
        self._raise_rest(errors)
        self._store_update(obj, row, rec, converted, self.clock.next_stamp())
        return Response(status_code=204)

    async def _by_field(
        self, request: Request, obj: SObject, version: str, field_name: str, value: str
    ) -> Response:
        f = obj.field(field_name)
        if f is None or not (f.external_id or f.id_lookup):
            raise _ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
            )
        method = request.method
        if f.name == "Id":
            if method == "POST" and not value:
                return await self._create_one(request, obj, version)
            row = self.row_of(obj.name, value)
            if row is None:
                raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            return await self._by_row(request, obj, version, row)
        rows = self._find(obj, f, value)
        if len(rows) > 1:
            prefix = f"/services/data/v{version}/sobjects/{obj.name}/"
            return json_response([prefix + make_id(obj.key_prefix, r) for r in rows], 300)
        if method == "GET":
            if not rows:
                raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            rec = self._tables[obj.name].get(rows[0])
            assert rec is not None
            return self._record_json(request, obj, version, rec)
        if method == "DELETE":
            if not rows:
                raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            return await self._by_row(request, obj, version, rows[0])
        values = await self._body_object(request)
        if any(k.lower() == "id" for k in values):
            raise _ApiError(
                400,
                "INVALID_FIELD",
                "Unable to create/update fields: Id. Please check the security "
                "settings of this field and verify that it is read/write for your profile or permission set.",
                ["Id"],
            )
        values = {k: v for k, v in values.items() if k.lower() != f.name.lower()}
        converted, errors = self._convert(obj, values, creating=not rows)
        stamp = self.clock.next_stamp()
        new_version = float(version) >= 46.0
        if rows:
            errors += self._check_unique(obj, converted, rows[0])
            self._raise_rest(errors)
            rec = self._tables[obj.name].get(rows[0])
            assert rec is not None
            self._store_update(obj, rows[0], rec, converted, stamp)
            if not new_version:
                return Response(status_code=204)
            return json_response(
                {"id": make_id(obj.key_prefix, rows[0]), "success": True, "errors": [], "created": False}
            )
        if request.query_params.get("updateOnly") == "true":
            raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        self._raise_rest(errors)
        converted[f.name] = self._convert_value(obj, f, value, strict=True)[0]
        new_rows, row_errors = self._insert_many(obj, [converted], stamp)
        self._raise_rest(row_errors[0])
        body: dict[str, Any] = {"id": make_id(obj.key_prefix, new_rows[0]), "success": True, "errors": []}
        if new_version:
            body["created"] = True
        return json_response(body, 201)

    async def _create_one(self, request: Request, obj: SObject, version: str) -> Response:
        if not obj.createable:
            raise _ApiError(
                400, "INVALID_TYPE", f"entity type {obj.name} does not support insert via this emulator"
            )
        values = await self._body_object(request)
        values.pop("attributes", None)
        converted, errors = self._convert(obj, values, creating=True)
        self._raise_rest(errors)
        rows, row_errors = self._insert_many(obj, [converted], self.clock.next_stamp())
        self._raise_rest(row_errors[0])
        return json_response({"id": make_id(obj.key_prefix, rows[0]), "success": True, "errors": []}, 201)

    @staticmethod
    async def _body_object(request: Request) -> dict[str, Any]:
        try:
            body = await read_json(request)
        except JSONBodyError as exc:
            raise _ApiError(400, "JSON_PARSER_ERROR", str(exc)) from exc
        if not isinstance(body, dict):
            raise _ApiError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize instance of SObject from START_ARRAY"
            )
        return body

    @staticmethod
    def _raise_rest(errors: list[_FieldError]) -> None:
        if errors:
            exc = _ApiError(400, errors[0].status_code, errors[0].message)
            exc.body = [e.rest() for e in errors]
            raise exc

    # -- validation and storing ---------------------------------------------------------------------

    def _convert_value(
        self, obj: SObject, f: SField, value: Any, *, strict: bool
    ) -> tuple[Any, _FieldError | None]:
        """(internal value, error) for one API value of field ``f``."""

        def type_error() -> _FieldError:
            code = "JSON_PARSER_ERROR" if strict else "INVALID_TYPE_ON_FIELD_IN_RECORD"
            if strict:
                message = (
                    f"Cannot deserialize instance of {f.describe()['soapType'].split(':')[1]} from VALUE_STRING "
                    f"value {value} or request may be missing a required field"
                )
            else:
                message = f"{f.label}: value not of required type: {value}"
            return _FieldError(code, message, [f.name])

        if value is None or value == "":
            return None, None
        t = f.type
        if t in ("string", "textarea", "picklist", "multipicklist", "email", "phone", "url"):
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                return None, type_error()
            text = str(value)
            if t == "multipicklist":
                text = ";".join(part.strip() for part in text.split(";") if part.strip())
            if f.length and len(text) > f.length:
                return None, _FieldError(
                    "STRING_TOO_LONG",
                    f"{f.label}: data value too large: {text[:80]} (max length={f.length})",
                    [f.name],
                )
            if t == "email" and not _EMAIL_RE.match(text):
                return None, _FieldError(
                    "INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {text}", [f.name]
                )
            if t == "picklist" and f.restricted and text not in f.picklist:
                return None, _FieldError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.label}: bad value for restricted picklist field: {text}",
                    [f.name],
                )
            return text, None
        if t == "int":
            if isinstance(value, bool):
                return None, type_error()
            try:
                number = float(value)
            except (TypeError, ValueError):
                return None, type_error()
            if not number.is_integer():
                return None, type_error()
            return int(number), None
        if t in ("double", "currency"):
            if isinstance(value, bool):
                return None, type_error()
            try:
                return float(value), None
            except (TypeError, ValueError):
                return None, type_error()
        if t == "boolean":
            if isinstance(value, bool):
                return value, None
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true", None
            return None, type_error()
        if t == "date":
            try:
                return date.fromisoformat(str(value)[:10]).isoformat(), None
            except ValueError:
                return None, type_error()
        if t == "datetime":
            try:
                return parse_when(str(value)), None
            except ValueError:
                return None, type_error()
        if t in ("reference", "id"):
            if not isinstance(value, str) or not looks_like_id(value):
                return None, _FieldError(
                    "MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name]
                )
            target = SOBJECTS[f.reference_to.lower()] if f.reference_to else obj
            parsed = parse_id(value)
            if parsed is None or parsed[0] != target.key_prefix:
                return None, _FieldError(
                    "MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name]
                )
            if self._tables[target.name].get(parsed[1]) is None:
                return None, _FieldError(
                    "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {value}", [f.name]
                )
            return make_id(target.key_prefix, parsed[1]), None
        return None, type_error()

    def _convert(
        self, obj: SObject, values: dict[str, Any], *, creating: bool, strict: bool = True
    ) -> tuple[dict[str, Any], list[_FieldError]]:
        """API values to internal ones with Salesforce's checks; ``strict=False`` is the control API
        (system fields may be set, type errors are per-record)."""
        out: dict[str, Any] = {}
        errors: list[_FieldError] = []
        locked: list[str] = []
        for key, value in values.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                errors.append(
                    _FieldError(
                        "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key]
                    )
                )
                continue
            writable = f.createable if creating else f.updateable
            if not writable and (strict or f.name in ("Id", "IsDeleted") or f.calculated):
                locked.append(f.name)
                continue
            converted, error = self._convert_value(obj, f, value, strict=strict)
            if error is not None:
                if strict and error.status_code == "JSON_PARSER_ERROR":
                    raise _ApiError(400, "JSON_PARSER_ERROR", error.message)
                errors.append(error)
                continue
            out[f.name] = converted
        if locked:
            errors.append(
                _FieldError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(locked)}. Please check the security settings of "
                    "this field and verify that it is read/write for your profile or permission set.",
                    locked,
                )
            )
        missing = [
            f.name
            for f in obj.fields
            if f.required_on_create
            and f.name not in ("OwnerId",)
            and (
                (creating and out.get(f.name) is None)
                or (not creating and f.name in out and out[f.name] is None)
            )
        ]
        if missing:
            errors.append(
                _FieldError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
                )
            )
        return out, errors

    def _check_unique(
        self,
        obj: SObject,
        values: dict[str, Any],
        row: int | None,
        pending: dict[tuple[str, Any], int] | None = None,
    ) -> list[_FieldError]:
        errors = []
        for f in obj.fields:
            if not f.unique or f.name not in values or values[f.name] is None:
                continue
            holders = [r for r in self._tables[obj.name].lookup(f.name, values[f.name]) if r != row]
            key = (f.name, _casefold(values[f.name]))
            if not holders and pending is not None and key in pending:
                holders = [pending[key]]
            if holders:
                errors.append(
                    _FieldError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with id: "
                        f"{make_id(obj.key_prefix, holders[0])}",
                        [f.name],
                    )
                )
        return errors

    def _insert_many(
        self, obj: SObject, items: list[dict[str, Any]], stamp: int, *, all_or_none: bool = False
    ) -> tuple[list[int], list[list[_FieldError]]]:
        """Create records from converted values; per item its row (or -1) and errors."""
        table = self._tables[obj.name]
        pending: dict[tuple[str, Any], int] = {}
        errors_per: list[list[_FieldError]] = []
        for values in items:
            errors = self._check_unique(obj, values, None, pending)
            errors_per.append(errors)
            if not errors:
                for f in obj.fields:
                    if f.unique and values.get(f.name) is not None:
                        pending[(f.name, _casefold(values[f.name]))] = -1
        if all_or_none and any(errors_per):
            return [-1] * len(items), errors_per
        rows = []
        for values, errors in zip(items, errors_per, strict=True):
            if errors:
                rows.append(-1)
                continue
            row = table.new_row()
            rec: Record = {f.name: None for f in obj.fields}
            rec.update(
                {
                    "_row": row,
                    "Id": make_id(obj.key_prefix, row),
                    "CreatedDate": stamp,
                    "LastModifiedDate": stamp,
                    "SystemModstamp": stamp,
                }
            )
            if obj.field("IsDeleted"):
                rec["IsDeleted"] = False
            if obj.field("OwnerId"):
                rec["OwnerId"] = self.admin_id
            if obj.field("CreatedById"):
                rec["CreatedById"] = rec["LastModifiedById"] = self.admin_id
            if obj.field("HasOptedOutOfEmail"):
                rec["HasOptedOutOfEmail"] = False
            if obj.field("IsActive"):
                rec["IsActive"] = True
            rec.update(values)
            self._fill_calculated(obj, rec)
            table.put(row, rec)
            rows.append(row)
        return rows, errors_per

    @staticmethod
    def _fill_calculated(obj: SObject, rec: Record) -> None:
        if obj.name in ("Contact", "User"):
            rec["Name"] = " ".join(p for p in (rec.get("FirstName"), rec.get("LastName")) if p)

    def _store_update(self, obj: SObject, row: int, rec: Record, values: dict[str, Any], stamp: int) -> None:
        new = {**rec, **values, "LastModifiedDate": stamp, "SystemModstamp": stamp}
        if obj.field("LastModifiedById"):
            new["LastModifiedById"] = self.admin_id
        self._fill_calculated(obj, new)
        self._tables[obj.name].put(row, new)

    def _delete_row(self, obj: SObject, row: int, rec: Record, stamp: int) -> None:
        if obj.name == "User":
            raise _ApiError(400, "DELETE_FAILED", "Users cannot be deleted; deactivate them instead")
        table = self._tables[obj.name]
        table.kill(row, {**rec, "IsDeleted": True, "LastModifiedDate": stamp, "SystemModstamp": stamp})
        if obj.name == "Account":
            for contact_row in self._contacts_of(make_id("001", row), row):
                contact = self._tables["Contact"].get(contact_row)
                if contact is not None:
                    self._tables["Contact"].kill(
                        contact_row,
                        {**contact, "IsDeleted": True, "LastModifiedDate": stamp, "SystemModstamp": stamp},
                    )

    def _contacts_of(self, account_id: str, account_row: int) -> list[int]:
        contacts = self._tables["Contact"]
        rows = [r for r, rec in contacts.live.items() if rec.get("AccountId") == account_id]
        if self.n_accounts and account_row < self.n_accounts:
            for r in range(account_row, self.n_contacts, self.n_accounts):
                if (
                    contacts.untouched(r)
                    and data.contact_account_row(self.seed, r, self.n_accounts) == account_row
                ):
                    rows.append(r)
        return rows

    def _find(self, obj: SObject, f: SField, value: str) -> list[int]:
        table = self._tables[obj.name]
        try:
            return table.lookup(f.name, value)
        except KeyError:
            key = value.casefold()
            return [
                (r if isinstance(r, int) else r["_row"])
                for r in table.natural_refs()
                if _casefold(table.resolve(r).get(f.name)) == key
            ]

    # -- queries ---------------------------------------------------------------------------------------

    def _batch_size(self, request: Request) -> int:
        options = request.headers.get("sforce-query-options", "")
        match = re.search(r"batchSize\s*=\s*(\d+)", options, re.I)
        if not match:
            return 2000
        return min(max(int(match.group(1)), 200), 2000)

    def _query(self, request: Request, version: str, *, all_rows: bool) -> Response:
        text = request.query_params.get("q")
        if text is None:
            raise _ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        compiled = compile_query(text, self, now_ms=self.clock.now_ms(), version=version)
        refs = self.run_compiled(compiled, include_deleted=all_rows)
        if compiled.count_only:
            return json_response({"totalSize": len(refs), "done": True, "records": []})
        table = self._tables[compiled.sobject.name]
        cursor = _Cursor(refs, table, compiled.project, self._batch_size(request), "query")
        return self._page(cursor, version, 0, None)

    def run_compiled(self, compiled: CompiledQuery, *, include_deleted: bool = False) -> list[Ref]:
        """Row references a compiled query selects, in result order (used by the query endpoints)."""
        table = self._tables[compiled.sobject.name]
        lo, hi = compiled.stamp_range
        refs = table.natural_refs(lo=lo, hi=hi, live=True, dead=include_deleted)
        predicate = compiled.predicate
        if predicate is not None:
            refs = [r for r in refs if predicate(r)]
        if compiled.sort:
            for key, desc in reversed(compiled.sort):
                refs.sort(key=key, reverse=desc)
        if compiled.offset:
            refs = refs[compiled.offset :]
        if compiled.limit is not None:
            refs = refs[: compiled.limit]
        return refs

    def _page(self, cursor: _Cursor, version: str, start: int, locator: str | None) -> Response:
        refs = cursor.refs
        end = start + cursor.batch
        resolve, project = cursor.table.resolve, cursor.project
        records = [project(resolve(ref)) for ref in refs[start:end]]
        body: dict[str, Any] = {"totalSize": len(refs), "done": end >= len(refs)}
        if end < len(refs):
            if locator is None:
                self._cursor_serial += 1
                locator = to_18(f"01g5g0{b62(self._cursor_serial, 9)}")
                self._cursors[locator] = cursor
                while len(self._cursors) > 32:
                    self._cursors.popitem(last=False)
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        body["records"] = records
        return Response(orjson.dumps(body), media_type=JSON_TYPE)

    def _query_more(self, version: str, token: str) -> Response:
        locator, _, position = token.partition("-")
        cursor = self._cursors.get(locator)
        if cursor is None or not position.isdigit():
            raise _ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        self._cursors.move_to_end(locator)
        return self._page(cursor, version, int(position), locator)

    def _limits(self) -> Response:
        usage = self.usage
        return json_response(
            {
                "DailyApiRequests": {"Max": usage.limit, "Remaining": usage.remaining},
                "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                "DataStorageMB": {"Max": 5, "Remaining": 5},
                "FileStorageMB": {"Max": 20, "Remaining": 20},
            }
        )

    def _replication(self, request: Request, obj: SObject, kind: str) -> Response:
        try:
            start = parse_when(request.query_params["start"])
            end = parse_when(request.query_params["end"])
        except KeyError as exc:
            raise _ApiError(400, "MISSING_ARGUMENT", f"Missing argument: {exc.args[0]}") from exc
        except ValueError as exc:
            raise _ApiError(400, "INVALID_DATE_FORMAT", f"Invalid date format: {exc}") from exc
        if end < start:
            raise _ApiError(
                400,
                "INVALID_REPLICATION_DATE",
                "startDate must chronologically precede endDate by more than one minute",
            )
        now = self.clock.now_ms()
        covered = min(end, now) // 60_000 * 60_000
        table = self._tables[obj.name]
        if kind == "deleted":
            deleted = [
                {"id": rec["Id"], "deletedDate": sf_datetime(rec["SystemModstamp"])}
                for rec in sorted(table.dead.values(), key=lambda r: (r["SystemModstamp"], r["_row"]))
                if start <= rec["SystemModstamp"] <= end
            ]
            earliest = min(
                (rec["SystemModstamp"] for rec in table.dead.values()), default=self.clock.start_ms
            )
            return json_response(
                {
                    "deletedRecords": deleted,
                    "earliestDateAvailable": sf_datetime(earliest // 60_000 * 60_000),
                    "latestDateCovered": sf_datetime(covered),
                }
            )
        refs = table.natural_refs(lo=start, hi=end + 1)
        ids = [table.resolve(r)["Id"] for r in refs]
        return json_response({"ids": ids, "latestDateCovered": sf_datetime(covered)})

    # -- composite collections -----------------------------------------------------------------------

    async def _composite(self, request: Request, version: str, parts: list[str]) -> Response:
        method = request.method
        if method == "DELETE" and not parts:
            ids = [i for i in request.query_params.get("ids", "").split(",") if i]
            if len(ids) > _MAX_COMPOSITE:
                raise _ApiError(
                    400,
                    "EXCEEDED_ID_LIMIT",
                    f"record limit reached. cannot submit more than {_MAX_COMPOSITE} records into this call",
                )
            return self._composite_delete(ids, request.query_params.get("allOrNone") == "true")
        if method not in ("POST", "PATCH") or len(parts) not in (0, 2) or (parts and method != "PATCH"):
            self._allow(method, "POST", "PATCH", "DELETE")
            raise _ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise _ApiError(
                400, "JSON_PARSER_ERROR", 'the body must be {"allOrNone": bool, "records": [...]}'
            )
        records = body["records"]
        all_or_none = bool(body.get("allOrNone", False))
        if len(records) > _MAX_COMPOSITE:
            raise _ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {_MAX_COMPOSITE} records into this call",
            )
        if parts:
            obj = self._object(parts[0])
            f = obj.field(parts[1])
            if f is None or not (f.external_id or f.id_lookup):
                raise _ApiError(
                    400,
                    "INVALID_FIELD",
                    f"Field name provided, {parts[1]} is not an External ID or indexed field for {obj.name}",
                )
            return json_response(self._composite_upsert(obj, f, records, all_or_none))
        if method == "POST":
            return json_response(self._composite_create(records, all_or_none))
        return json_response(self._composite_update(records, all_or_none))

    def _record_type(self, values: Any) -> SObject | _FieldError:
        if not isinstance(values, dict):
            return _FieldError("JSON_PARSER_ERROR", "each record must be a JSON object", [])
        attrs = values.get("attributes")
        name = attrs.get("type") if isinstance(attrs, dict) else None
        obj = self.sobject(name) if isinstance(name, str) else None
        if obj is None:
            return _FieldError("INVALID_TYPE", f"sObject type '{name}' is not supported.", [])
        return obj

    @staticmethod
    def _rolled_back(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for result in results:
            if result["success"]:
                result = {
                    **result,
                    "id": None,
                    "success": False,
                    "errors": [
                        {
                            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                            "message": "Record rolled back because not all records were valid and the request was using "
                            "AllOrNone header",
                            "fields": [],
                        }
                    ],
                }
            out.append(result)
        return out

    def _composite_create(self, records: list[Any], all_or_none: bool) -> list[dict[str, Any]]:
        stamp = self.clock.next_stamp()
        prepared: list[tuple[SObject | None, dict[str, Any], list[_FieldError]]] = []
        for values in records:
            obj = self._record_type(values)
            if isinstance(obj, _FieldError):
                prepared.append((None, {}, [obj]))
                continue
            if not obj.createable:
                prepared.append(
                    (
                        obj,
                        {},
                        [_FieldError("INVALID_TYPE", f"entity type {obj.name} does not support insert", [])],
                    )
                )
                continue
            values = {k: v for k, v in values.items() if k != "attributes"}
            if any(k.lower() == "id" for k in values):
                prepared.append(
                    (
                        obj,
                        {},
                        [
                            _FieldError(
                                "INVALID_FIELD_FOR_INSERT_UPDATE",
                                "cannot specify Id in an insert call",
                                ["Id"],
                            )
                        ],
                    )
                )
                continue
            converted, errors = self._convert(obj, values, creating=True, strict=False)
            prepared.append((obj, converted, errors))
        return self._apply_creates(prepared, stamp, all_or_none, with_created=False)

    def _apply_creates(
        self,
        prepared: list[tuple[SObject | None, dict[str, Any], list[_FieldError]]],
        stamp: int,
        all_or_none: bool,
        *,
        with_created: bool,
    ) -> list[dict[str, Any]]:
        # Unique checks across the batch, then (unless rolled back) the writes.
        pending: dict[tuple[str, Any], int] = {}
        for obj, values, errors in prepared:
            if obj is None or errors:
                continue
            errors += self._check_unique(obj, values, None, pending)
            if not errors:
                for f in obj.fields:
                    if f.unique and values.get(f.name) is not None:
                        pending[(f.name, _casefold(values[f.name]))] = -1
        failed = any(errors for _, _, errors in prepared)
        results: list[dict[str, Any]] = []
        for obj, values, errors in prepared:
            result: dict[str, Any]
            if errors:
                result = {"id": None, "success": False, "errors": [e.composite() for e in errors]}
            elif all_or_none and failed:
                result = {"id": None, "success": True, "errors": []}
            else:
                assert obj is not None
                rows, _ = self._insert_many(obj, [values], stamp)
                result = {"id": make_id(obj.key_prefix, rows[0]), "success": True, "errors": []}
            if with_created:
                result["created"] = bool(result["success"] and result["id"])
            results.append(result)
        if all_or_none and failed:
            return self._rolled_back(results)
        return results

    def _composite_update(self, records: list[Any], all_or_none: bool) -> list[dict[str, Any]]:
        stamp = self.clock.next_stamp()
        plan: list[tuple[SObject | None, int, dict[str, Any], list[_FieldError], str | None]] = []
        for values in records:
            obj = self._record_type(values)
            if isinstance(obj, _FieldError):
                plan.append((None, -1, {}, [obj], None))
                continue
            values = {k: v for k, v in values.items() if k != "attributes"}
            record_id = values.pop("id", None) or values.pop("Id", None)
            if not record_id:
                plan.append(
                    (
                        obj,
                        -1,
                        {},
                        [_FieldError("MISSING_ARGUMENT", "Id not specified in an update call", [])],
                        None,
                    )
                )
                continue
            plan.append(self._plan_update(obj, str(record_id), values))
        return self._apply_updates(plan, stamp, all_or_none)

    def _plan_update(
        self, obj: SObject, record_id: str, values: dict[str, Any]
    ) -> tuple[SObject | None, int, dict[str, Any], list[_FieldError], str | None]:
        table = self._tables[obj.name]
        row = self.row_of(obj.name, record_id) if looks_like_id(record_id) else None
        if row is None:
            return (
                obj,
                -1,
                {},
                [_FieldError("MALFORMED_ID", f"Record ID: id value of incorrect type: {record_id}", ["Id"])],
                record_id,
            )
        if table.get(row) is None:
            code = "ENTITY_IS_DELETED" if table.get_dead(row) is not None else "INVALID_CROSS_REFERENCE_KEY"
            message = "entity is deleted" if code == "ENTITY_IS_DELETED" else "invalid cross reference id"
            return obj, row, {}, [_FieldError(code, message, [])], record_id
        converted, errors = self._convert(obj, values, creating=False, strict=False)
        errors += self._check_unique(obj, converted, row)
        return obj, row, converted, errors, make_id(obj.key_prefix, row)

    def _apply_updates(
        self,
        plan: list[tuple[SObject | None, int, dict[str, Any], list[_FieldError], str | None]],
        stamp: int,
        all_or_none: bool,
    ) -> list[dict[str, Any]]:
        failed = any(errors for *_, errors, _ in plan)
        results = []
        for obj, row, values, errors, record_id in plan:
            if errors:
                results.append(
                    {
                        "id": record_id
                        if obj and row >= 0 and errors[0].status_code != "MALFORMED_ID"
                        else None,
                        "success": False,
                        "errors": [e.composite() for e in errors],
                    }
                )
                continue
            if not (all_or_none and failed):
                assert obj is not None
                rec = self._tables[obj.name].get(row)
                assert rec is not None
                self._store_update(obj, row, rec, values, stamp)
            results.append({"id": record_id, "success": True, "errors": []})
        return self._rolled_back(results) if all_or_none and failed else results

    def _composite_upsert(
        self, obj: SObject, f: SField, records: list[Any], all_or_none: bool
    ) -> list[dict[str, Any]]:
        stamp = self.clock.next_stamp()
        results: list[dict[str, Any] | None] = []
        creates: list[tuple[int, tuple[SObject | None, dict[str, Any], list[_FieldError]]]] = []
        updates: list[
            tuple[int, tuple[SObject | None, int, dict[str, Any], list[_FieldError], str | None]]
        ] = []
        for index, values in enumerate(records):
            typed = self._record_type(values)
            if isinstance(typed, _FieldError) or typed.name != obj.name:
                error = (
                    typed
                    if isinstance(typed, _FieldError)
                    else _FieldError("INVALID_TYPE", f"all records must be of type {obj.name}", [])
                )
                results.append(
                    {"id": None, "success": False, "errors": [error.composite()], "created": False}
                )
                continue
            values = {k: v for k, v in values.items() if k != "attributes"}
            key_value = next((v for k, v in values.items() if k.lower() == f.name.lower()), None)
            if key_value in (None, ""):
                results.append(
                    {
                        "id": None,
                        "success": False,
                        "created": False,
                        "errors": [
                            _FieldError("MISSING_ARGUMENT", f"{f.name} not specified", [f.name]).composite()
                        ],
                    }
                )
                continue
            rows = (
                self._find(obj, f, str(key_value))
                if f.name != "Id"
                else (
                    [r]
                    if (r := self.row_of(obj.name, str(key_value))) is not None
                    and self._tables[obj.name].get(r)
                    else []
                )
            )
            results.append(None)
            if len(rows) > 1:
                results[-1] = {
                    "id": None,
                    "success": False,
                    "created": False,
                    "errors": [
                        _FieldError(
                            "DUPLICATE_EXTERNAL_ID",
                            f"{f.label}: more than one record found for external id field: "
                            f"{[make_id(obj.key_prefix, r) for r in rows]}",
                            [f.name],
                        ).composite()
                    ],
                }
            elif rows:
                rest = {k: v for k, v in values.items() if k.lower() != f.name.lower()}
                updates.append((index, self._plan_update(obj, make_id(obj.key_prefix, rows[0]), rest)))
            else:
                converted, errors = self._convert(obj, values, creating=True, strict=False)
                creates.append((index, (obj, converted, errors)))
        failed = (
            any(r is not None and not r["success"] for r in results)
            or any(p[1][2] for p in creates)
            or any(p[1][3] for p in updates)
        )
        if not (all_or_none and failed):
            for index, outcome in zip(
                [i for i, _ in creates],
                self._apply_creates([p for _, p in creates], stamp, False, with_created=True),
                strict=True,
            ):
                results[index] = outcome
            for index, outcome in zip(
                [i for i, _ in updates],
                self._apply_updates([p for _, p in updates], stamp, False),
                strict=True,
            ):
                results[index] = {**outcome, "created": False}
        else:
            for index, (_, _, errors) in creates:
                results[index] = {
                    "id": None,
                    "success": not errors,
                    "created": False,
                    "errors": [e.composite() for e in errors],
                }
            for index, (_, _, _, errors, record_id) in updates:
                results[index] = {
                    "id": record_id,
                    "success": not errors,
                    "created": False,
                    "errors": [e.composite() for e in errors],
                }
        final = [r for r in results if r is not None]
        if all_or_none and failed:
            return [{**r, "created": False} for r in self._rolled_back(final)]
        return final

    def _composite_delete(self, ids: list[str], all_or_none: bool) -> Response:
        stamp = self.clock.next_stamp()
        plan: list[tuple[SObject | None, int, str, _FieldError | None]] = []
        for record_id in ids:
            parsed = parse_id(record_id) if looks_like_id(record_id) else None
            obj = BY_PREFIX.get(parsed[0]) if parsed else None
            if parsed is None or obj is None:
                plan.append(
                    (None, -1, record_id, _FieldError("MALFORMED_ID", f"malformed id {record_id}", []))
                )
                continue
            table = self._tables[obj.name]
            if table.get(parsed[1]) is None:
                deleted = table.get_dead(parsed[1]) is not None
                plan.append(
                    (
                        obj,
                        parsed[1],
                        record_id,
                        _FieldError(
                            "ENTITY_IS_DELETED" if deleted else "INVALID_CROSS_REFERENCE_KEY",
                            "entity is deleted" if deleted else "invalid cross reference id",
                            [],
                        ),
                    )
                )
                continue
            if obj.name == "User":
                plan.append(
                    (obj, parsed[1], record_id, _FieldError("DELETE_FAILED", "Users cannot be deleted", []))
                )
                continue
            plan.append((obj, parsed[1], make_id(obj.key_prefix, parsed[1]), None))
        failed = any(error for *_, error in plan)
        results = []
        for obj, row, record_id, error in plan:
            if error is not None:
                results.append(
                    {"id": record_id if obj else None, "success": False, "errors": [error.composite()]}
                )
                continue
            if not (all_or_none and failed):
                assert obj is not None
                rec = self._tables[obj.name].get(row)
                if rec is not None:  # a cascade may have deleted it already
                    self._delete_row(obj, row, rec, stamp)
            results.append({"id": record_id, "success": True, "errors": []})
        return json_response(self._rolled_back(results) if all_or_none and failed else results)

    # -- conveniences for tests ----------------------------------------------------------------------

    def now(self) -> datetime:
        """The emulator clock's now."""
        return self.clock.now()

    def login_url(self, base_url: str) -> str:
        """The token endpoint under ``base_url``."""
        return f"{base_url.rstrip('/')}/services/oauth2/token"

    def issue_token(self) -> str:
        """A valid access token without a login round trip (for tests)."""
        return self.tokens.issue_access(self.admin_id).value

    def __repr__(self) -> str:
        return (
            f"SalesforceEmulator(accounts={self.n_accounts}, contacts={self.n_contacts}, users={self.n_users}, "
            f"seed={self.seed}, api_version={self.api_version!r})"
        )

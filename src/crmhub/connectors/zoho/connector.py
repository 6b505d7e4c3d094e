"""The Zoho CRM connector, written only against the kit (:mod:`crmhub.connectors.kit`).

* **Auth**: OAuth refresh-token flow against the data centre's accounts server
  (``Authorization: Zoho-oauthtoken …``); the API host is the token response's ``api_domain``
  (accepted only when it is a Zoho API host, the accounts server's host or loopback).
* **Discovery**: ``settings/modules``, ``settings/fields?module=``; ``users?type=CurrentUser`` tests.
  Lookups (``Account_Name``) and the owner (``Owner`` → Users) are relationships: ``Account_Name.Account_Name``,
  ``Owner.email`` are dot paths COQL selects directly. A lookup read plainly is its id.
* **Reads** are COQL: ``select … from M where ((window) and pushed) order by Modified_Time asc, id asc
  limit offset, n`` (≤ 2,000 a call). LIMIT/OFFSET reaches only 100,000 rows, so reads run in windows
  (:func:`crmhub.connectors.paging.windowed`): a window cut there goes on at its last modstamp, a
  modstamp shared by more than a window is sliced by id. The filter part COQL can take (≤ 22 criteria
  beside the window, ``in`` ≤ 50, bracketed) is pushed; the rest runs locally. Datetimes (``+05:30``)
  arrive as canonical UTC text; multi-select picklists as lists.
* **Deletes**: ``GET /{Module}/deleted?type=all`` with ``If-Modified-Since``, merged into the pages in
  (modstamp, id) order as ``deleted=True``.
* **Writes**: insert / update / ``upsert`` (``duplicate_check_fields``) ≤ 100 a call, one result per
  record from Zoho's per-record ``code``; an update matching on an external field goes through
  ``X-EXTERNAL: {Module}.{field}``. Lookups are written as ``{"id": …}``.
* **Usage**: API credits as Zoho counts them (COQL 1/2/3 by LIMIT, other calls 1) in
  ``usage.reported["api_credits"]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Generator, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import httpx
import orjson

from crmhub.connectors.auth import OAuth2, oauth_form, secret
from crmhub.connectors.base import (
    REMOTE_ID,
    Capability,
    ConnectionCheck,
    FieldInfo,
    ObjectDescription,
    ObjectInfo,
    Page,
    RejectedRow,
    RemoteRecord,
    WriteMode,
    WriteResult,
)
from crmhub.connectors.egress import EndpointNotAllowedError, check_endpoint
from crmhub.connectors.errors import AuthenticationError, ConnectorFatalError
from crmhub.connectors.http import Action, Auth, ErrorTable, UsageHook
from crmhub.connectors.kit import HttpConnector
from crmhub.connectors.paging import PageRequest, PageToken, Window, follow, windowed
from crmhub.connectors.usage import ApiUsage
from crmhub.connectors.zoho.spec import COQL_LIMIT, DATA_CENTRES, HOSTS, ZohoCredentials, ZohoSettings
from crmhub.core.concurrency import prefetch
from crmhub.core.errors import CrmHubError
from crmhub.core.values import CoercionError, format_datetime

if TYPE_CHECKING:
    from crmhub.expr.ast import Expr
    from crmhub.expr.pushdown import PushDown
    from crmhub.expr.types import ValueType

#: Records per write call.
WRITE_LIMIT = 100
#: Rows LIMIT/OFFSET reaches in one COQL query.
COQL_ROW_CEILING = 100_000
#: COQL caps.
MAX_SELECT = 50
MAX_CRITERIA = 25
#: Criteria the connector adds to every query (the modstamp window: lower, upper, id slice).
RESERVED_CRITERIA = 3
#: Values per ``id in (…)`` of a batch read.
IN_LIMIT = 50
MODSTAMP = "Modified_Time"

#: Zoho's codes (``API_Exception.code`` in ``v8.0/record.json``): what each means for a call.
ZOHO_ERRORS = ErrorTable().override(
    codes={
        "INVALID_TOKEN": Action.REFRESH,
        "AUTHENTICATION_FAILURE": Action.REFRESH,
        "OAUTH_SCOPE_MISMATCH": Action.FAIL,
        "NO_PERMISSION": Action.FAIL,
        "LIMIT_REACHED": Action.LIMIT,
        "TOO_MANY_REQUESTS": Action.RETRY,
        "INTERNAL_ERROR": Action.RETRY,
        "RECORD_LOCKED": Action.RETRY,
        "INVALID_DATA": Action.SKIP,
        "MANDATORY_NOT_FOUND": Action.SKIP,
        "DUPLICATE_DATA": Action.SKIP,
        "INVALID_MODULE": Action.FAIL,
        "INVALID_URL_PATTERN": Action.FAIL,
        "INVALID_QUERY": Action.FAIL,
        "SYNTAX_ERROR": Action.FAIL,
        "LIMIT_EXCEEDED": Action.FAIL,
        "REQUIRED_PARAM_MISSING": Action.FAIL,
        "DISCRETE_PAGINATION_LIMIT_EXCEEDED": Action.FAIL,
    },
)

#: Zoho data_type → hub value type.
VALUE_TYPES = {
    "integer": "number",
    "double": "number",
    "bigint": "text",
    "currency": "currency",
    "boolean": "boolean",
    "date": "date",
    "datetime": "datetime",
    "multiselectpicklist": "multi_text",
}
_ALIASES = {"account": "Accounts", "contact": "Contacts", "lead": "Leads", "user": "Users"}
_LIMIT = re.compile(rb"limit\s+(?:\d+\s*,\s*)?(\d+)", re.IGNORECASE)


def coql_credits(limit: int) -> int:
    """API credits of one COQL call by its LIMIT (1–200: 1, 201–1000: 2, 1001–2000: 3)."""
    return 1 if limit <= 200 else 2 if limit <= 1000 else 3


def _usage_hook(response: httpx.Response, usage: ApiUsage) -> None:
    if response.status_code >= 400:
        return
    request = response.request
    credits = 1
    if request.url.path.endswith("/coql"):
        found = _LIMIT.search(request.content or b"")
        credits = coql_credits(int(found.group(1))) if found else 1
    usage.reported["api_credits"] = usage.reported.get("api_credits", 0) + credits


def utc_text(text: Any) -> str:
    """Zoho's ``2024-05-20T20:49:32+05:30`` as canonical UTC text."""
    if not isinstance(text, str):
        raise CoercionError(f"expects a datetime, got {text!r}")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CoercionError(f"expects a datetime, got {text!r}") from None
    return format_datetime(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


def coql_datetime(value: datetime) -> str:
    """A COQL datetime literal of ``value`` rounded *up* to the second (Zoho keeps whole seconds, so
    ``stamp >= t`` ⇔ ``stamp >= ceil(t)`` and ``stamp < t`` ⇔ ``stamp < ceil(t)``)."""
    value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if value.microsecond:
        value = value.replace(microsecond=0) + timedelta(seconds=1)
    return "'" + value.strftime("%Y-%m-%dT%H:%M:%S") + "+00:00'"


def _literal_of(canonical: str) -> str:
    return coql_datetime(datetime.fromisoformat(canonical.replace("Z", "+00:00")))


def _join(terms: Sequence[str]) -> str:
    """COQL criteria ANDed, bracketed pairwise (``((A and B) and C)``) as COQL requires."""
    text = terms[0]
    for term in terms[1:]:
        text = f"({text} and {term})"
    return text


# (canonical modstamp, numeric id, id, raw row or None for a deleted record)
_Row = tuple[str, int, str, dict[str, Any] | None]


class ZohoConnector(HttpConnector[ZohoSettings, ZohoCredentials]):
    kind: ClassVar[str] = "zoho"
    label: ClassVar[str] = "Zoho CRM"
    errors: ClassVar[ErrorTable] = ZOHO_ERRORS
    path_depth: ClassVar[int] = 1
    capabilities: ClassVar[frozenset[Capability]] = frozenset(
        {
            Capability.REMOTE_API,
            Capability.READ,
            Capability.WRITE,
            Capability.INCREMENTAL,
            Capability.DELETES,
            Capability.FILTER_PUSHDOWN,
            Capability.RELATIONSHIPS,
            Capability.UPSERT,
            Capability.BATCH_READ,
            Capability.ARCHIVE,
        }
    )

    # -- set-up ----------------------------------------------------------------------------------

    def accounts_url(self) -> str:
        return (self.settings.accounts_url or DATA_CENTRES[self.settings.data_centre][0]).rstrip("/")

    def default_api_domain(self) -> str:
        prefix = {"production": "www", "sandbox": "sandbox", "developer": "developer"}[
            self.settings.environment
        ]
        return f"https://{prefix}.{DATA_CENTRES[self.settings.data_centre][1]}"

    def make_auth(self, http: httpx.Client) -> Auth:
        c = self.credentials
        self.api_domain = (self.settings.api_domain or self.default_api_domain()).rstrip("/")
        self._ready = False

        def form() -> dict[str, str]:
            return oauth_form(
                "Zoho CRM",
                "refresh_token",
                client_id=secret(c.client_id),
                client_secret=secret(c.client_secret),
                refresh_token=secret(c.refresh_token),
            )

        return OAuth2(
            crm="Zoho CRM",
            token_url=self.accounts_url() + "/oauth/v2/token",
            form=form,
            http=http,
            scheme="Zoho-oauthtoken",
            on_token=self._learn,
            hint="generate a new refresh token for the Zoho client (the grant may be revoked or for another data centre)",
        )

    def _learn(self, body: dict[str, Any]) -> None:
        """Take the token response's ``api_domain`` (unless the connection fixes one)."""
        domain = body.get("api_domain")
        if not domain or self.settings.api_domain:
            return
        domain = str(domain).rstrip("/")
        accounts_host = urlsplit(self.accounts_url()).hostname or ""
        try:
            check_endpoint(domain, what="Zoho api_domain", kind_hosts=(*HOSTS, accounts_host))
        except EndpointNotAllowedError as exc:
            raise AuthenticationError(
                str(exc), hint="the accounts server named an API host crmhub does not trust"
            ) from None
        self.api_domain = domain
        self.api.set_base_url(domain)

    def base_url(self) -> str:
        return self.api_domain

    def usage_hook(self) -> UsageHook:
        return _usage_hook

    def object_name(self, name: str) -> str:
        cleaned = name.strip()
        return _ALIASES.get(cleaned.lower().rstrip("s"), cleaned)

    @property
    def base(self) -> str:
        return f"/crm/{self.settings.api_version}"

    def _ensure(self) -> None:
        if not self._ready:
            self.auth.headers()  # obtains a token, learns api_domain
            self.api.set_base_url(self.api_domain)
            self._ready = True

    def push_down(self, expr: Expr, schema: dict[str, ValueType]) -> PushDown[Any]:
        from crmhub.expr import to_zoho_coql

        return to_zoho_coql(
            expr,
            schema=schema,
            text_case_insensitive=self.settings.text_case_insensitive,
            max_criteria=MAX_CRITERIA - RESERVED_CRITERIA,
        )

    # -- discovery -------------------------------------------------------------------------------

    def test(self) -> ConnectionCheck:
        try:
            self._ensure()
            body = self.api.request_json(
                "GET", f"{self.base}/users", params={"type": "CurrentUser"}, what="read the current user"
            )
        except CrmHubError as exc:
            return ConnectionCheck(False, str(exc))
        users = (body or {}).get("users") or [{}]
        return ConnectionCheck(
            True,
            f"connected to {self.api_domain} as {users[0].get('email', '?')} (Zoho CRM {self.settings.api_version})",
            {"api_credits_used": self.usage.reported.get("api_credits")},
        )

    def list_objects(self) -> list[ObjectInfo]:
        self._ensure()
        body = self.api.request_json("GET", f"{self.base}/settings/modules", what="list modules")
        return [
            ObjectInfo(
                m["api_name"],
                m.get("plural_label") or m["api_name"],
                creatable=bool(m.get("creatable", True)),
                updatable=bool(m.get("editable", True)),
                queryable=bool(m.get("api_supported", True)),
            )
            for m in (body or {}).get("modules") or []
            if m.get("api_supported", True)
        ]

    def _describe(self, object_name: str) -> ObjectDescription:
        self._ensure()
        body = self.api.request_json(
            "GET",
            f"{self.base}/settings/fields",
            params={"module": object_name},
            what=f"describe {object_name}",
        )
        fields: list[FieldInfo] = []
        for f in (body or {}).get("fields") or []:
            kind = str(f.get("data_type") or "text")
            name = str(f["api_name"])
            reference: tuple[str, ...] = ()
            if kind == "lookup":
                reference = (str(((f.get("lookup") or {}).get("module") or {}).get("api_name") or ""),)
            elif kind == "ownerlookup":
                reference = ("Users",)
            writable = not f.get("read_only") and not f.get("field_read_only")
            fields.append(
                FieldInfo(
                    name=name,
                    label=str(f.get("field_label") or f.get("display_label") or name),
                    type=kind,
                    value_type="text" if reference else VALUE_TYPES.get(kind, "text"),
                    creatable=writable,
                    updatable=writable,
                    external_id=bool(f.get("unique")) or name == "id",
                    nillable=not f.get("system_mandatory"),
                    picklist_values=tuple(
                        str(p.get("actual_value") or p.get("display_value"))
                        for p in f.get("pick_list_values") or []
                    ),
                    reference_to=reference if reference and reference[0] else (),
                    relationship_name=name if reference and reference[0] else None,
                    length=f.get("length"),
                )
            )
        names = {f.name for f in fields}
        return ObjectDescription(
            ObjectInfo(object_name, object_name),
            tuple(fields),
            modstamp_field=MODSTAMP if MODSTAMP in names else None,
            id_field="id",
        )

    # -- reading ---------------------------------------------------------------------------------

    def read(
        self,
        object_name: str,
        fields: Sequence[str],
        *,
        filter: Expr | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        page_size: int | None = None,
        include_deleted: bool = False,
    ) -> Iterator[Page]:
        self._ensure()
        name = self.object_name(object_name)
        for path in fields:
            self.resolve_path(name, path)
        plan = self.plan_filter(name, fields, filter)
        wanted = list(dict.fromkeys([*fields, *plan.extra]))
        select = [p for p in dict.fromkeys([*wanted, MODSTAMP]) if p != "id"]
        if len(select) > MAX_SELECT:
            raise ConnectorFatalError(
                f"Zoho COQL selects at most {MAX_SELECT} fields; this read of {name} needs {len(select)}",
                hint=f"select at most {MAX_SELECT - 1} fields (Modified_Time is always read)",
            )
        size = max(1, min(COQL_LIMIT, page_size or self.settings.page_size))
        deleted = self._deleted(name, since, until) if include_deleted else []
        rows = windowed(
            lambda window: self._window(name, select, plan.pushed, window, since, until, size),
            stamp=lambda r: r[0],
            ident=lambda r: r[1],
            what=f"COQL read of {name}",
        )
        batches = prefetch(rows, depth=2)
        try:
            yield from self._pages(name, wanted, list(fields), plan.predicate, batches, deleted)
        finally:
            batches.close()

    def _window(
        self,
        name: str,
        select: list[str],
        pushed: str | None,
        window: Window[str, int],
        since: datetime | None,
        until: datetime | None,
        size: int,
    ) -> Generator[list[_Row], None, bool]:
        """One window's rows, page by page; returns whether LIMIT/OFFSET's ceiling cut it."""
        terms: list[str] = []
        order = f"order by {MODSTAMP} asc, id asc"
        if window.tie is not None:
            terms.append(f"{MODSTAMP} = {_literal_of(window.tie)}")
            if window.id_floor is not None:
                terms.append(f"id > {int(window.id_floor)}")
        else:
            if window.lo is not None:
                terms.append(f"{MODSTAMP} {'>' if window.exclusive else '>='} {_literal_of(window.lo)}")
            elif since is not None:
                terms.append(f"{MODSTAMP} >= {coql_datetime(since)}")
            if until is not None:
                terms.append(f"{MODSTAMP} < {coql_datetime(until)}")
        if not terms:
            terms.append(f"{MODSTAMP} is not null")
        if pushed:
            terms.append(pushed)
        # Field names come from describe (checked by resolve_path); values from the COQL formatter.
        head = f"select {', '.join(select)} from {name} where {_join(terms)} {order}"  # noqa: S608
        offset = 0
        call = 0
        while True:
            limit = min(size, COQL_ROW_CEILING - offset)
            if limit <= 0:
                return True
            call += 1
            body = self.api.request_json(
                "POST",
                f"{self.base}/coql",
                json={"select_query": f"{head} limit {offset}, {limit}"},
                what=f"COQL read of {name} call {call}",
            )
            if not isinstance(body, dict):
                return False  # 204: nothing (more)
            rows = []
            for raw in body.get("data") or []:
                record_id = str(raw.get("id"))
                rows.append(
                    (
                        utc_text(raw.get(MODSTAMP)),
                        int(record_id) if record_id.isdigit() else -1,
                        record_id,
                        raw,
                    )
                )
            yield rows
            if not (body.get("info") or {}).get("more_records"):
                return False
            offset += len(rows)
            if not rows:
                return False

    def _deleted(self, name: str, since: datetime | None, until: datetime | None) -> list[_Row]:
        """Deleted records with ``since <= deleted_time < until``, in (modstamp, id) order."""
        headers = (
            {
                "If-Modified-Since": (since - timedelta(seconds=1))
                .astimezone(UTC)
                .isoformat(timespec="seconds")
            }
            if since
            else {}
        )
        pager = PageToken(
            PageRequest(f"{self.base}/{name}/deleted", {"type": "all"}), per_page=200, page_ceiling=10**9
        )

        def call(request: PageRequest) -> Any:
            return self.api.request_json(
                "GET",
                request.url,
                params=dict(request.params),
                headers=headers,
                what=f"list deleted {name}",
                ok_statuses=(304,),
            )

        lo = format_datetime(since) if since else None
        hi = format_datetime(until) if until else None
        out: list[_Row] = []
        for body in follow(pager, call):
            for item in (body or {}).get("data") or []:
                stamp = utc_text(item.get("deleted_time"))
                if (lo is None or stamp >= lo) and (hi is None or stamp < hi):
                    record_id = str(item.get("id"))
                    out.append((stamp, int(record_id) if record_id.isdigit() else -1, record_id, None))
        out.sort(key=lambda r: (r[0], r[1]))
        return out

    def _pages(
        self,
        name: str,
        wanted: list[str],
        fields: list[str],
        predicate: Any,
        batches: Iterator[list[_Row]],
        deleted: list[_Row],
    ) -> Iterator[Page]:
        description = self.describe(name)
        kinds = {f.name: f for f in description.fields}
        lookups = {p for p in wanted if "." not in p and kinds.get(p) is not None and kinds[p].reference_to}
        datetimes = {p for p in wanted if p in kinds and kinds[p].value_type == "datetime"}
        extra = [p for p in wanted if p not in set(fields)]
        wanted_set = set(wanted)
        drop = [k for k in ("id", MODSTAMP) if k not in wanted_set]
        modstamp_wanted = MODSTAMP in wanted_set
        lookup_list = sorted(lookups)
        datetime_list = sorted(datetimes - {MODSTAMP})
        n_wanted = len(wanted_set)
        ordinal = 0
        pending = 0

        def build(rows: list[_Row]) -> Page:
            nonlocal ordinal
            page = Page([])
            for stamp, _, record_id, raw in rows:
                ordinal += 1
                if raw is None:
                    page.records.append(RemoteRecord(record_id, stamp, dict.fromkeys(fields), True, ordinal))
                    continue
                # A COQL row holds the selected fields, id and Modified_Time: it becomes the
                # record's values in place (lookups to their id, datetimes to UTC text).
                values: dict[str, Any] = raw
                for key in drop:
                    values.pop(key, None)
                if modstamp_wanted:
                    values[MODSTAMP] = stamp
                try:
                    for key in lookup_list:
                        v = values.get(key)
                        if isinstance(v, dict):
                            values[key] = v.get("id")
                    for key in datetime_list:
                        v = values.get(key)
                        if v is not None:
                            values[key] = utc_text(v)
                except CoercionError as exc:
                    page.rejected.append(RejectedRow(ordinal, record_id, str(exc)))
                    continue
                if len(values) != n_wanted:
                    values = {key: values.get(key) for key in wanted}
                if predicate is not None:
                    try:
                        if not predicate(values):
                            continue
                    except CrmHubError as exc:
                        page.rejected.append(RejectedRow(ordinal, record_id, f"filter: {exc}"))
                        continue
                for p in extra:
                    values.pop(p, None)
                page.records.append(RemoteRecord(record_id, stamp, values, False, ordinal))
            return page

        for rows in batches:
            if pending < len(deleted) and rows:
                last = (rows[-1][0], rows[-1][1])
                cut = pending
                while cut < len(deleted) and (deleted[cut][0], deleted[cut][1]) <= last:
                    cut += 1
                if cut > pending:
                    rows = sorted([*rows, *deleted[pending:cut]], key=lambda r: (r[0], r[1]))
                    pending = cut
            page = build(rows)
            if page.records or page.rejected:
                yield page
        if pending < len(deleted):
            yield build(deleted[pending:])

    def batch_read(
        self, object_name: str, ids: Sequence[str], fields: Sequence[str], *, id_property: str | None = None
    ) -> list[RemoteRecord]:
        """The records with these ids (or ``id_property`` values), in the order asked; missing ones left out."""
        from crmhub.expr import ast

        name = self.object_name(object_name)
        key = id_property or "id"
        found: dict[str, RemoteRecord] = {}
        for start in range(0, len(ids), IN_LIMIT):
            chunk = [str(i) for i in ids[start : start + IN_LIMIT]]
            values = tuple(ast.Literal(int(i) if key == "id" and i.isdigit() else i) for i in chunk)
            expr = ast.In(ast.Field(key), values, False)
            for page in self.read(name, list(dict.fromkeys([*fields, key])), filter=expr):
                for record in page.records:
                    k = str(record.values.get(key) or record.id)
                    found[k.casefold() if id_property else k] = record
        out = []
        for i in ids:
            hit = found.get(str(i).casefold() if id_property else str(i))
            if hit is not None:
                out.append(RemoteRecord(hit.id, hit.modstamp, {f: hit.values.get(f) for f in fields}))
        return out

    # -- writing ---------------------------------------------------------------------------------

    def _wire(self, description: ObjectDescription, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in record.items():
            if key == REMOTE_ID:
                continue
            info = description.field(key)
            if (
                info is not None
                and info.reference_to
                and value not in (None, "")
                and not isinstance(value, dict)
            ):
                value = {"id": str(value)}
            elif isinstance(value, tuple | set | frozenset):
                value = list(value)
            elif isinstance(value, datetime):
                value = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
            elif isinstance(value, date):
                value = value.isoformat()
            elif (
                isinstance(value, float)
                and math.isfinite(value)
                and value.is_integer()
                and info is not None
                and info.type == "integer"
            ):
                value = int(value)
            out[info.name if info is not None else key] = value
        return out

    def write(
        self,
        object_name: str,
        records: Sequence[dict[str, Any]],
        *,
        mode: WriteMode,
        match: str | None = None,
    ) -> list[WriteResult]:
        self._ensure()
        name = self.object_name(object_name)
        description = self.describe(name)
        if mode == "upsert":
            if not match:
                raise ConnectorFatalError(
                    f"upsert into Zoho {name} needs a duplicate-check field to match on"
                )
            info = description.field(match)
            if info is None or not info.external_id:
                unique = sorted(f.name for f in description.fields if f.external_id)
                raise ConnectorFatalError(
                    f"upsert into Zoho {name} cannot match on {match!r}: it is not a unique field",
                    hint=f"unique fields: {', '.join(unique)}",
                )
            match = info.name
        external = match if mode == "update" and match not in (None, "id") else None
        results: list[WriteResult | None] = [None] * len(records)
        sendable: list[tuple[int, dict[str, Any]]] = []
        for index, record in enumerate(records):
            item = self._wire(description, record)
            if mode == "update":
                key = (
                    record.get(REMOTE_ID) if external is None else record.get(external, record.get(REMOTE_ID))
                )
                if key in (None, ""):
                    results[index] = WriteResult(
                        index,
                        False,
                        error_code="MISSING_ID",
                        message=f"record {index} names no Zoho record to update",
                    )
                    continue
                item[external or "id"] = str(key)
            sendable.append((index, item))
        for start in range(0, len(sendable), WRITE_LIMIT):
            chunk = sendable[start : start + WRITE_LIMIT]
            for result in self._send(name, mode, match, external, chunk):
                results[result.index] = result
        return [
            r or WriteResult(i, False, error_code="NO_RESULT", message="no result")
            for i, r in enumerate(results)
        ]

    def _send(
        self,
        name: str,
        mode: WriteMode,
        match: str | None,
        external: str | None,
        chunk: list[tuple[int, dict[str, Any]]],
    ) -> list[WriteResult]:
        body: dict[str, Any] = {"data": [item for _, item in chunk]}
        headers: dict[str, str] = {}
        if mode == "create":
            method, url = "POST", f"{self.base}/{name}"
        elif mode == "update":
            method, url = "PUT", f"{self.base}/{name}"
            if external:
                headers["X-EXTERNAL"] = f"{name}.{external}"
        else:
            method, url = "POST", f"{self.base}/{name}/upsert"
            body["duplicate_check_fields"] = [match]
        response = self.api.request(
            method,
            url,
            json=body,
            headers=headers,
            what=f"{mode} {len(chunk)} {name} record(s)",
            ok_statuses=(207, 400),
            skip_as_error=False,
        )
        try:
            answer = orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            answer = {}
        items = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(items, list) or len(items) != len(chunk):
            verdict = self.errors.classify(response)
            raise ConnectorFatalError(
                f"{mode} {name}: Zoho answered {response.status_code} {verdict.code or ''}: {verdict.message}".strip(),
                code=verdict.code,
                status=response.status_code,
            )
        out = []
        for (index, _), item in zip(chunk, items, strict=True):
            details = item.get("details") or {}
            if item.get("status") == "success":
                created = item.get("action") == "insert" if mode == "upsert" else mode == "create"
                out.append(WriteResult(index, True, remote_id=str(details.get("id")), created=created))
            else:
                api_name = details.get("api_name")
                out.append(
                    WriteResult(
                        index,
                        False,
                        remote_id=str(details["id"]) if details.get("id") else None,
                        error_code=str(item.get("code") or "REJECTED"),
                        message=f"{item.get('message') or 'rejected'}"
                        + (f" ({api_name})" if api_name else ""),
                        fields=(str(api_name),) if api_name else (),
                    )
                )
        return out

    def archive(self, object_name: str, ids: Sequence[str]) -> list[WriteResult]:
        """Delete records by id, 100 a call; one result per id."""
        self._ensure()
        name = self.object_name(object_name)
        results: list[WriteResult] = []
        for start in range(0, len(ids), WRITE_LIMIT):
            chunk = [str(i) for i in ids[start : start + WRITE_LIMIT]]
            response = self.api.request(
                "DELETE",
                f"{self.base}/{name}",
                params={"ids": ",".join(chunk)},
                what=f"delete {len(chunk)} {name}",
                ok_statuses=(207, 400),
                skip_as_error=False,
            )
            items = (orjson.loads(response.content) if response.content else {}).get("data") or []
            for n, record_id in enumerate(chunk):
                item = items[n] if n < len(items) else {}
                ok = item.get("status") == "success"
                results.append(
                    WriteResult(
                        start + n,
                        ok,
                        remote_id=record_id,
                        error_code=None if ok else str(item.get("code") or "NO_RESULT"),
                        message=None if ok else str(item.get("message") or "not deleted"),
                    )
                )
        return results

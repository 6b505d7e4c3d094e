"""The HubSpot connector (CRM v3 objects, search, properties and batch writes; v4 associations).

Conventions:

* **Objects** are named as in ``/crm/v3/objects/{type}``: ``companies``, ``contacts`` (the singular,
  ``0-2``/``0-1`` and any case are accepted and mapped to the plural). Record ids are ``hs_object_id``
  values (numeric text).
* **Modstamp**: ``hs_lastmodifieddate`` (companies and other objects) or ``lastmodifieddate``
  (contacts), as canonical UTC text; a deleted record's modstamp is its ``archivedAt``.
* **Dot paths**: ``associatedcompany.<property>`` on contacts is that property of the contact's
  primary associated company (the association labelled Primary, type 1; the lowest company id when
  none is primary). :meth:`HubSpotConnector.describe` shows it like Salesforce's ``AccountId`` /
  ``Account``: field ``associatedcompanyid`` references ``companies`` with relationship name
  ``associatedcompany``. Paths are resolved per page with one v4 associations batch read and one
  companies batch read per 100 companies (cached for the read). Search cannot filter on an associated
  record, so filter parts that name a dot path are evaluated locally.
* **Reads** use ``POST /crm/v3/objects/{type}/search`` — even full reads, because the list endpoint
  returns records in id order, and a full read must come in (modstamp, id) order for the sync engine
  to checkpoint and resume it. A search sorts by the modstamp property, then ``hs_object_id``, within
  the modstamp window ``since <= modstamp < until`` ANDed to every pushed-down filter group. Search
  pages stop at 10,000 results, so when a window is cut there the read goes on with a new window
  starting *at* the last modstamp seen, dropping the ids already read at it; when a whole window
  shares one modstamp (more than 10,000 records at one time), that modstamp is read in slices
  ``modstamp = t AND hs_object_id > last id`` sorted by id, then the read goes on after it. Each page
  is re-sorted locally, so the order holds even where HubSpot ignores the second sort rule; for the
  cursor only the modstamp order matters (ties are tracked as a set of ids).
* **Deletes**: with ``include_deleted`` the archived records (``GET …?archived=true``; search cannot
  see them) whose ``archivedAt`` falls in the window are merged into the pages in (modstamp, id) order
  as ``deleted=True``.
* **Writes** go in batches of 100 (``batch/create|update|upsert``) with one :class:`WriteResult` per
  record. HubSpot does not promise result order, so results are matched to inputs by
  ``objectWriteTraceId`` when echoed, else by record id (update), by the ``idProperty`` value (upsert)
  or by the written values (create); the errors of a 207 go to the unmatched inputs in order. A batch
  refused as a whole (400/404/409) is split in halves until each bad record stands alone. Multi-checkbox
  values are written ``;``-joined.
* **Limits**: ``X-HubSpot-RateLimit-*`` headers go to ``usage.reported``; a 429 is retried after its
  ``Retry-After``, except a daily-limit 429 (``policyName: DAILY``), which raises
  :class:`~crmhub.connectors.errors.ApiLimitError` so the run stops and keeps its cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
import orjson

from crmhub.connectors.auth import ApiKeyAuth, OAuth2, oauth_form, secret
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
from crmhub.connectors.errors import ConnectorFatalError, RecordRejectedError
from crmhub.connectors.http import Action, Auth, ErrorTable, UsageHook
from crmhub.connectors.hubspot.spec import SEARCH_PAGE_MAX, HubSpotCredentials, HubSpotSettings
from crmhub.connectors.kit import HttpConnector
from crmhub.connectors.usage import ApiUsage
from crmhub.core.concurrency import prefetch
from crmhub.core.errors import CrmHubError
from crmhub.core.values import COERCERS, CoercionError, format_datetime

if TYPE_CHECKING:
    from crmhub.expr.ast import Expr
    from crmhub.expr.pushdown import PushDown
    from crmhub.expr.types import ValueType

#: Inputs per batch call (HubSpot's documented batch limit).
BATCH_LIMIT = 100
#: Inputs per v4 associations batch read.
ASSOCIATION_BATCH_LIMIT = 1000
#: Results one search can page through.
SEARCH_RESULT_CAP = 10_000
#: Filters the connector adds to every filter group (the modstamp window, or modstamp + id slice).
RESERVED_FILTERS = 2
#: Records per archived-records list call (the list endpoint's maximum).
LIST_PAGE_MAX = 100

#: Standard objects and their modstamp properties.
MODSTAMPS = {"companies": "hs_lastmodifieddate", "contacts": "lastmodifieddate"}
_ALIASES = {
    "company": "companies",
    "companies": "companies",
    "0-2": "companies",
    "contact": "contacts",
    "contacts": "contacts",
    "0-1": "contacts",
}
ID_PROPERTY = "hs_object_id"
#: Relationship name → (object it starts from, reference field, target object).
RELATIONSHIPS = {"associatedcompany": ("contacts", "associatedcompanyid", "companies")}
#: Writing a contact with this field set makes that company its primary company.
PARENT_FIELD = "associatedcompanyid"
#: HubSpot-defined association type: contact → company, primary.
CONTACT_TO_COMPANY_PRIMARY = 1
#: v4 association type of a contact's primary company.
PRIMARY_CONTACT_TO_COMPANY = 1
_COMPANY_CACHE_MAX = 20_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hubspot_extract(response: httpx.Response) -> tuple[str | None, str]:
    """(code, message) of a HubSpot error body.

    A 429 gets ``RATE_LIMIT_<policyName>`` (``RATE_LIMIT_DAILY``, ``RATE_LIMIT_TEN_SECONDLY_ROLLING`` …)
    so the daily limit can mean something other than a burst limit; other errors their ``category``
    (``EXPIRED_AUTHENTICATION``, ``VALIDATION_ERROR`` …) or, from the OAuth endpoint, their ``status``.
    """
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None, response.reason_phrase or f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return None, response.reason_phrase or f"HTTP {response.status_code}"
    message = str(body.get("message") or "")
    if body.get("errorType") == "RATE_LIMIT" or body.get("category") == "RATE_LIMITS":
        policy = body.get("policyName")
        return (f"RATE_LIMIT_{policy}" if policy else "RATE_LIMIT"), message
    status = body.get("status")
    code = body.get("category") or (status if status and status != "error" else None) or body.get("errorType")
    return (str(code) if code else None), message


#: HubSpot's own meaning of its codes.
HUBSPOT_ERRORS = ErrorTable().override(
    codes={
        "RATE_LIMIT_DAILY": Action.LIMIT,
        "EXPIRED_AUTHENTICATION": Action.REFRESH,
        "INVALID_AUTHENTICATION": Action.REFRESH,
        "SERVICE_UNAVAILABLE": Action.RETRY,
        "CONFLICT": Action.SKIP,
        "VALIDATION_ERROR": Action.FAIL,
        "OBJECT_NOT_FOUND": Action.FAIL,
    },
    status={409: Action.SKIP, 423: Action.RETRY},
    extract=hubspot_extract,
)

_RATE_HEADERS = (
    ("X-HubSpot-RateLimit-Daily", "daily_limit"),
    ("X-HubSpot-RateLimit-Daily-Remaining", "daily_remaining"),
    ("X-HubSpot-RateLimit-Max", "burst_limit"),
    ("X-HubSpot-RateLimit-Remaining", "burst_remaining"),
    ("X-HubSpot-RateLimit-Interval-Milliseconds", "burst_interval_ms"),
)


def _usage_hook(response: httpx.Response, usage: ApiUsage) -> None:
    headers = response.headers
    reported = usage.reported
    for header, key in _RATE_HEADERS:
        value = headers.get(header)
        if value is not None and value.isdigit():
            reported[key] = int(value)
    if "daily_limit" in reported and "daily_remaining" in reported:
        reported["daily_used"] = reported["daily_limit"] - reported["daily_remaining"]


#: HubSpot property type → hub value type (``enumeration`` + ``checkbox`` → multi_text, see describe).
VALUE_TYPES = {"number": "number", "date": "date", "datetime": "datetime", "bool": "boolean"}


def value_type(prop_type: str, field_type: str) -> str:
    if field_type == "booleancheckbox" or prop_type == "bool":
        return "boolean"
    if prop_type == "enumeration" and field_type == "checkbox":
        return "multi_text"
    return VALUE_TYPES.get(prop_type, "text")


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of a datetime, rounded up (a naive one is UTC).

    Modstamps are whole milliseconds, so ``modstamp >= t`` ⇔ ``modstamp >= ceil(t)`` and
    ``modstamp < t`` ⇔ ``modstamp < ceil(t)``.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    whole = delta // timedelta(milliseconds=1)
    return whole + (1 if delta % timedelta(milliseconds=1) else 0)


def stamp_ms(canonical: str) -> int:
    """Epoch milliseconds of a canonical modstamp text."""
    return to_ms(datetime.fromisoformat(canonical.replace("Z", "+00:00")))


_to_datetime = COERCERS["datetime"]


def canonical_stamp(text: Any) -> str:
    """HubSpot's ``2024-05-15T12:00:00.123Z`` as canonical ``2024-05-15T12:00:00.123000Z``."""
    if type(text) is str and len(text) == 24 and text[-1] == "Z" and text[19] == "." and text[10] == "T":
        return text[:23] + "000Z"
    result = _to_datetime(text)
    if not isinstance(result, str):
        raise CoercionError(f"expects a datetime, got {text!r}")
    return result


def hubspot_value(value: Any) -> str:
    """A hub value as HubSpot takes a property value: text, multi-values ``;``-joined, "" clears."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(str(v) for v in value if v is not None)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _f(prop: str, operator: str, value: str | None = None, high: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"propertyName": prop, "operator": operator}
    if value is not None:
        out["value"] = value
    if high is not None:
        out["highValue"] = high
    return out


def _next_after(answer: dict[str, Any]) -> str | None:
    nxt = (answer.get("paging") or {}).get("next") or {}
    after = nxt.get("after")
    return str(after) if after not in (None, "") else None


def _int_id(record_id: str) -> int:
    return int(record_id) if record_id.isdigit() else -1


@dataclass
class _Plan:
    """What one read asks HubSpot for and what it does locally."""

    object: str
    modstamp: str
    fields: list[str]
    properties: list[str]
    #: Dot paths per relationship: [(path, property of the target)].
    paths: dict[str, list[tuple[str, str]]]
    #: Pushed filter groups (each a list of filters), [] when nothing is pushed.
    groups: list[list[dict[str, Any]]]
    predicate: Callable[[dict[str, Any]], bool] | None
    #: Paths read only for the local predicate; dropped before records are yielded.
    extra: list[str] = field(default_factory=list)
    #: Associated records' values fetched during this read: "props|id" → values.
    related: dict[str, dict[str, Any]] = field(default_factory=dict)


# (canonical modstamp, numeric id, id, raw result)
_Row = tuple[str, int, str, dict[str, Any]]


class HubSpotConnector(HttpConnector[HubSpotSettings, HubSpotCredentials]):
    kind: ClassVar[str] = "hubspot"
    label: ClassVar[str] = "HubSpot"
    errors: ClassVar[ErrorTable] = HUBSPOT_ERRORS
    path_depth: ClassVar[int] = 1
    push_paths: ClassVar[bool] = False  # search cannot filter on an associated record
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
            Capability.TOTAL_ESTIMATE,
            Capability.BATCH_READ,
            Capability.ARCHIVE,
        }
    )

    def make_auth(self, http: httpx.Client) -> Auth:
        s, c = self.settings, self.credentials
        if s.auth_method == "private_app":
            return ApiKeyAuth(crm="HubSpot private app", key=secret(c.access_token))
        form = partial(
            oauth_form,
            "HubSpot",
            "refresh_token",
            client_id=secret(c.client_id),
            client_secret=secret(c.client_secret),
            refresh_token=secret(c.refresh_token),
        )
        return OAuth2(
            crm="HubSpot",
            token_url=self.base_url() + "/oauth/v1/token",
            form=form,
            http=http,
            hint="reconnect the HubSpot app: the refresh token or client credentials are not accepted",
        )

    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")

    def usage_hook(self) -> UsageHook:
        return _usage_hook

    def push_down(self, expr: Expr, schema: dict[str, ValueType]) -> PushDown[Any]:
        from crmhub.expr import to_hubspot

        plain = {k: v for k, v in schema.items() if "." not in k}
        return to_hubspot(expr, schema=plain, limits=_reserved_limits())

    @staticmethod
    def object_name(name: str) -> str:
        """The API name of an object type (``Company`` → ``companies``)."""
        return _ALIASES.get(name.strip().lower(), name.strip())

    # Discovery ------------------------------------------------------------------------------

    def test(self) -> ConnectionCheck:
        try:
            self.api.request_json(
                "GET", "/crm/v3/objects/contacts", params={"limit": 1}, what="read one contact"
            )
        except CrmHubError as exc:
            return ConnectionCheck(False, str(exc))
        reported = self.usage.reported
        return ConnectionCheck(
            True,
            f"connected to {self.settings.base_url} ({self.settings.auth_method.replace('_', ' ')})",
            {
                "daily_api_max": reported.get("daily_limit"),
                "daily_api_remaining": reported.get("daily_remaining"),
            },
        )

    def list_objects(self) -> list[ObjectInfo]:
        """The standard objects this connector reads and writes (custom objects are not listed)."""
        return [ObjectInfo("companies", "Companies"), ObjectInfo("contacts", "Contacts")]

    def _describe(self, name: str) -> ObjectDescription:
        body = self.api.request_json("GET", f"/crm/v3/properties/{name}", what=f"describe {name}")
        fields: list[FieldInfo] = []
        for prop in (body or {}).get("results", []):
            fields.append(self._field(name, prop))
        names = {f.name for f in fields}
        if name == "contacts" and "associatedcompanyid" not in names:
            fields.append(
                FieldInfo(
                    "associatedcompanyid",
                    "Primary Associated Company ID",
                    "number",
                    "text",
                    reference_to=("companies",),
                    relationship_name="associatedcompany",
                )
            )
        modstamp = MODSTAMPS.get(name, "hs_lastmodifieddate")
        return ObjectDescription(
            ObjectInfo(name, name.capitalize()),
            tuple(fields),
            modstamp_field=modstamp if modstamp in names else None,
            id_field=ID_PROPERTY,
        )

    def _field(self, object_name: str, prop: dict[str, Any]) -> FieldInfo:
        name = str(prop["name"])
        prop_type = str(prop.get("type") or "string")
        field_type = str(prop.get("fieldType") or "text")
        metadata = prop.get("modificationMetadata") or {}
        writable = not metadata.get("readOnlyValue", False) and not prop.get("calculated", False)
        unique = bool(prop.get("hasUniqueValue")) or name == ID_PROPERTY
        reference_to: tuple[str, ...] = ()
        relationship: str | None = None
        if name == "hubspot_owner_id":
            reference_to = ("owners",)
        for rel, (source, ref_field, target) in RELATIONSHIPS.items():
            if source == object_name and ref_field == name:
                reference_to, relationship = (target,), rel
        return FieldInfo(
            name=name,
            label=str(prop.get("label") or name),
            type=prop_type,
            value_type="text" if reference_to else value_type(prop_type, field_type),
            creatable=writable,
            updatable=writable,
            external_id=unique or (object_name == "contacts" and name == "email"),
            nillable=True,
            picklist_values=tuple(
                str(o["value"])
                for o in prop.get("options") or []
                if not o.get("hidden") and prop_type == "enumeration"
            ),
            # HubSpot refuses an enumeration value that is not one of the property's options.
            restricted_picklist=prop_type == "enumeration",
            reference_to=reference_to,
            relationship_name=relationship,
        )

    def resolve_path(self, object_name: str, path: str) -> FieldInfo:
        """The field a path ends at (``associatedcompany.domain`` → companies.domain)."""
        name = self.object_name(object_name)
        parts = path.split(".")
        if len(parts) > 2:
            raise ConnectorFatalError(
                f"HubSpot paths go one association deep; {path!r} has {len(parts) - 1}",
                hint="use associatedcompany.<property> on contacts",
            )
        description = self.describe(name)
        if len(parts) == 2:
            relation = next((f for f in description.fields if f.relationship_name == parts[0]), None)
            if relation is None or not relation.reference_to:
                known = sorted(f.relationship_name for f in description.fields if f.relationship_name)
                raise ConnectorFatalError(
                    f"{name} has no association {parts[0]!r} (in {path!r})",
                    hint=f"associations: {', '.join(known) or 'none'}",
                )
            name, description = relation.reference_to[0], self.describe(relation.reference_to[0])
        prop = parts[-1]
        info = next((f for f in description.fields if f.name == prop), None)
        if info is None:
            near = description.field(prop)
            raise ConnectorFatalError(
                f"{name} has no property {prop!r} (in {path!r})",
                hint=f"did you mean {near.name!r}? HubSpot names are case-sensitive"
                if near is not None
                else "list the properties with describe",
            )
        return info

    # Reading --------------------------------------------------------------------------------

    def _plan(self, object_name: str, fields: Sequence[str], filter: Expr | None) -> _Plan:
        name = self.object_name(object_name)
        description = self.describe(name)
        modstamp = description.modstamp_field or MODSTAMPS.get(name, "hs_lastmodifieddate")
        for path in fields:
            self.resolve_path(name, path)
        split = self.plan_filter(name, fields, filter)
        groups = [list(g["filters"]) for g in split.pushed or []]
        predicate, extra = split.predicate, split.extra
        wanted = [*fields, *extra]
        properties = list(dict.fromkeys(p for p in wanted if "." not in p))
        paths: dict[str, list[tuple[str, str]]] = {}
        for path in wanted:
            if "." in path:
                rel, _, prop = path.partition(".")
                paths.setdefault(rel, []).append((path, prop))
        return _Plan(name, modstamp, list(fields), properties, paths, groups, predicate, extra)

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
        plan = self._plan(object_name, fields, filter)
        lo = to_ms(since) if since is not None else None
        hi = to_ms(until) if until is not None else None
        size = min(SEARCH_PAGE_MAX, max(1, page_size or self.settings.page_size))
        deleted = self._archived(plan, lo, hi) if include_deleted else []
        # The searches run ahead in a helper thread: the next page is on its way while this one is built.
        batches = prefetch(self._search(plan, lo, hi, size), depth=2)
        try:
            yield from self._pages(plan, batches, deleted)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()  # a reader that stops early stops the helper too

    def _pages(
        self, plan: _Plan, batches: Iterator[tuple[list[_Row], int | None]], deleted: list[_Row]
    ) -> Iterator[Page]:
        """Pages of records from search batches, with archived records merged in (modstamp, id) order."""
        ordinal = 0
        pending = 0  # next archived record to merge
        total: int | None = None
        for rows, batch_total in batches:
            if total is None and batch_total is not None:
                total = batch_total + len(deleted)
            if pending < len(deleted) and rows:
                last = (rows[-1][0], rows[-1][1])
                cut = pending
                while cut < len(deleted) and (deleted[cut][0], deleted[cut][1]) <= last:
                    cut += 1
                if cut > pending:
                    rows = sorted([*rows, *deleted[pending:cut]], key=lambda r: (r[0], r[1]))
                    pending = cut
            page = self._page(plan, rows, ordinal, total)
            ordinal += len(rows)
            if page.records or page.rejected:
                yield page
        if pending < len(deleted):
            yield self._page(plan, deleted[pending:], ordinal, total)

    def _page(self, plan: _Plan, rows: list[_Row], ordinal: int, total: int | None) -> Page:
        page = Page([], total=total)
        properties = plan.fields if not plan.extra else [*plan.fields, *plan.extra]
        plain = [p for p in properties if "." not in p]
        built: list[tuple[_Row, dict[str, Any], bool]] = []
        for row in rows:
            raw = row[3]
            props = raw.get("properties") or {}
            archived = bool(raw.get("archived"))
            built.append((row, {p: props.get(p) for p in plain}, archived))
        if plan.paths:
            self._resolve_paths(plan, [(row[2], values) for row, values, archived in built if not archived])
        predicate = plan.predicate
        for n, (row, values, archived) in enumerate(built, start=ordinal + 1):
            if archived:
                for path, _ in (item for items in plan.paths.values() for item in items):
                    values.setdefault(path, None)
            elif predicate is not None:
                try:
                    if not predicate(values):
                        continue
                except CrmHubError as exc:
                    page.rejected.append(RejectedRow(n, row[2], f"filter: {exc}"))
                    continue
            for name in plan.extra:
                values.pop(name, None)
            page.records.append(RemoteRecord(row[2], row[0], values, deleted=archived, row=n))
        return page

    def _row(self, plan: _Plan, raw: dict[str, Any], *, archived: bool = False) -> _Row:
        props = raw.get("properties") or {}
        text = raw.get("archivedAt") if archived else None
        text = text or props.get(plan.modstamp) or raw.get("updatedAt")
        record_id = str(raw.get("id") or props.get(ID_PROPERTY))
        return canonical_stamp(text), _int_id(record_id), record_id, raw

    def _search_call(self, plan: _Plan, body: dict[str, Any], call: int) -> dict[str, Any]:
        answer = self.api.request_json(
            "POST",
            f"/crm/v3/objects/{plan.object}/search",
            json=body,
            what=f"search {plan.object} call {call}",
        )
        if not isinstance(answer, dict):
            raise ConnectorFatalError(f"HubSpot search of {plan.object} answered without a JSON object")
        return answer

    def _search(
        self, plan: _Plan, lo: int | None, hi: int | None, size: int
    ) -> Iterator[tuple[list[_Row], int | None]]:
        """Search results in (modstamp, id) order with ``lo <= modstamp < hi`` (epoch ms), past the cap.

        Yields one batch of rows per call (duplicates at window edges dropped) and HubSpot's total.
        """
        mod = plan.modstamp
        cur_stamp: str | None = None  # the last modstamp yielded …
        cur_ids: set[str] = set()  # … and the ids yielded at it
        tie: int | None = None  # slicing one modstamp (epoch ms) by id …
        id_floor: int | None = None  # … above this id
        ordered = True  # whether HubSpot honoured the id sort so far
        total: int | None = None
        calls = 0
        while True:
            if tie is None and lo is not None and hi is not None and lo >= hi:
                return
            if tie is not None:
                bounds = [_f(mod, "EQ", str(tie))]
                if id_floor is not None:
                    bounds.append(_f(ID_PROPERTY, "GT", str(id_floor)))
                sorts = [{"propertyName": ID_PROPERTY, "direction": "ASCENDING"}]
            else:
                if lo is not None and hi is not None:
                    bounds = [_f(mod, "BETWEEN", str(lo), str(hi - 1))]
                elif lo is not None:
                    bounds = [_f(mod, "GTE", str(lo))]
                elif hi is not None:
                    bounds = [_f(mod, "LT", str(hi))]
                else:
                    bounds = []
                sorts = [
                    {"propertyName": mod, "direction": "ASCENDING"},
                    {"propertyName": ID_PROPERTY, "direction": "ASCENDING"},
                ]
            groups = [[*g, *bounds] for g in plan.groups] if plan.groups else ([bounds] if bounds else [])
            after = 0
            window_max_id: int | None = None
            capped = False
            while True:
                body: dict[str, Any] = {
                    "filterGroups": [{"filters": g} for g in groups],
                    "sorts": sorts,
                    "properties": plan.properties,
                    "limit": min(size, SEARCH_RESULT_CAP - after),
                }
                if after:
                    body["after"] = str(after)
                calls += 1
                answer = self._search_call(plan, body, calls)
                if total is None and isinstance(answer.get("total"), int):
                    total = answer["total"]
                rows: list[_Row] = []
                for raw in answer.get("results") or []:
                    row = self._row(plan, raw)
                    if window_max_id is None or row[1] > window_max_id:
                        window_max_id = row[1]
                    if row[0] == cur_stamp and row[2] in cur_ids:
                        continue
                    rows.append(row)
                if any((a[0], a[1]) > (b[0], b[1]) for a, b in zip(rows, rows[1:], strict=False)):
                    ordered = False
                    rows.sort(key=lambda r: (r[0], r[1]))
                for row in rows:
                    if row[0] != cur_stamp:
                        cur_stamp, cur_ids = row[0], set()
                    cur_ids.add(row[2])
                if rows:
                    yield rows, total
                nxt = _next_after(answer)
                if nxt is None:
                    break
                after = int(nxt)
                if after >= SEARCH_RESULT_CAP:
                    capped = True
                    break
            if tie is not None:
                if capped:
                    if window_max_id is None or (id_floor is not None and window_max_id <= id_floor):
                        raise ConnectorFatalError(
                            f"HubSpot search of {plan.object} does not advance past {ID_PROPERTY} "
                            f"{id_floor} at modstamp {cur_stamp}; the id filter seems ignored"
                        )
                    id_floor = window_max_id
                    continue
                lo, tie, id_floor = tie + 1, None, None
                continue
            if not capped or cur_stamp is None:
                return
            last = stamp_ms(cur_stamp)
            if lo is not None and last <= lo:
                # More than one window of records share one modstamp: slice it by id.
                tie = last
                id_floor = max((_int_id(i) for i in cur_ids), default=None) if ordered else None
                continue
            lo = last  # the next window starts at the last modstamp; its ids there are dropped

    def _archived(self, plan: _Plan, lo: int | None, hi: int | None) -> list[_Row]:
        """Archived records whose ``archivedAt`` is in ``[lo, hi)``, in (modstamp, id) order."""
        out: list[_Row] = []
        after: str | None = None
        call = 0
        params: dict[str, Any] = {"archived": "true", "limit": LIST_PAGE_MAX}
        if plan.properties:
            params["properties"] = ",".join(plan.properties)
        while True:
            call += 1
            answer = self.api.request_json(
                "GET",
                f"/crm/v3/objects/{plan.object}",
                params={**params, **({"after": after} if after else {})},
                what=f"list archived {plan.object} page {call}",
            )
            for raw in (answer or {}).get("results") or []:
                raw.setdefault("archived", True)
                row = self._row(plan, raw, archived=True)
                ms = stamp_ms(row[0])
                if (lo is None or ms >= lo) and (hi is None or ms < hi):
                    out.append(row)
            after = _next_after(answer or {})
            if after is None:
                break
        out.sort(key=lambda r: (r[0], r[1]))
        return out

    # Associations ---------------------------------------------------------------------------

    def _resolve_paths(self, plan: _Plan, records: list[tuple[str, dict[str, Any]]]) -> None:
        """Fill dot-path values of live records (in place)."""
        cache = plan.related
        for rel, items in plan.paths.items():
            _, _, target = RELATIONSHIPS[rel]
            links = self._primary_links(plan.object, target, [rid for rid, _ in records])
            props = sorted({prop for _, prop in items})
            key = ",".join(props)
            if len(cache) > _COMPANY_CACHE_MAX:
                cache.clear()  # before deciding what to fetch, so this page's targets are all there
            wanted = {target_id for target_id in links.values() if f"{key}|{target_id}" not in cache}
            for target_id, target_values in self._batch_read_values(target, sorted(wanted), props).items():
                cache[f"{key}|{target_id}"] = target_values
            for rid, values in records:
                linked = links.get(rid)
                found = cache.get(f"{key}|{linked}") if linked is not None else None
                for path, prop in items:
                    values[path] = found.get(prop) if found is not None else None

    def _primary_links(self, source: str, target: str, ids: list[str]) -> dict[str, str]:
        """Record id → id of its primary associated ``target`` record (v4 associations batch read)."""
        links: dict[str, str] = {}
        for start in range(0, len(ids), ASSOCIATION_BATCH_LIMIT):
            chunk = ids[start : start + ASSOCIATION_BATCH_LIMIT]
            answer = self.api.request_json(
                "POST",
                f"/crm/v4/associations/{source}/{target}/batch/read",
                json={"inputs": [{"id": i} for i in chunk]},
                what=f"read {source} → {target} associations of {len(chunk)} record(s)",
            )
            for item in (answer or {}).get("results") or []:
                source_id = str((item.get("from") or {}).get("id"))
                choices = item.get("to") or []
                primary = [
                    c
                    for c in choices
                    if any(
                        t.get("typeId") == PRIMARY_CONTACT_TO_COMPANY or t.get("label") == "Primary"
                        for t in c.get("associationTypes") or []
                    )
                ]
                pick = min(primary or choices, key=lambda c: int(c.get("toObjectId", 0)), default=None)
                if pick is not None:
                    links[source_id] = str(pick["toObjectId"])
        return links

    def _batch_read_values(
        self, object_name: str, ids: Sequence[str], properties: Sequence[str], id_property: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """id → properties of the records found (``batch/read``, 100 a call)."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), BATCH_LIMIT):
            chunk = ids[start : start + BATCH_LIMIT]
            body: dict[str, Any] = {"inputs": [{"id": i} for i in chunk], "properties": list(properties)}
            if id_property:
                body["idProperty"] = id_property
            answer = self.api.request_json(
                "POST",
                f"/crm/v3/objects/{object_name}/batch/read",
                json=body,
                what=f"batch read {len(chunk)} {object_name}",
            )
            for item in (answer or {}).get("results") or []:
                props = item.get("properties") or {}
                key = str(props.get(id_property)).casefold() if id_property else str(item.get("id"))
                out[key] = {**props, "@raw": item}
        return out

    def batch_read(
        self, object_name: str, ids: Sequence[str], fields: Sequence[str], *, id_property: str | None = None
    ) -> list[RemoteRecord]:
        """The records with these ids (or ``id_property`` values), in the order asked; missing ones left out."""
        name = self.object_name(object_name)
        plan = self._plan(name, [f for f in fields if "." not in f], None)
        found = self._batch_read_values(name, [str(i) for i in ids], plan.properties, id_property)
        out = []
        for i in ids:
            values = found.get(str(i).casefold() if id_property else str(i))
            if values is None:
                continue
            row = self._row(plan, values["@raw"])
            out.append(RemoteRecord(row[2], row[0], {f: values.get(f) for f in plan.fields}))
        return out

    # Writing --------------------------------------------------------------------------------

    def write(
        self,
        object_name: str,
        records: Sequence[dict[str, Any]],
        *,
        mode: WriteMode,
        match: str | None = None,
    ) -> list[WriteResult]:
        name = self.object_name(object_name)
        description = self.describe(name)
        id_property: str | None = None
        if mode == "upsert":
            if not match:
                raise ConnectorFatalError(f"upsert into HubSpot {name} needs a unique property to match on")
            id_property = self._unique(description, match, "upsert")
        elif mode == "update" and match not in (None, ID_PROPERTY, "id"):
            id_property = self._unique(description, match, "update")
        results: list[WriteResult | None] = [None] * len(records)
        inputs: list[tuple[int, dict[str, Any]]] = []
        # A contact's parent company (the outbound job's parent field) becomes its primary association.
        parents: dict[int, str] = {}
        if name == "contacts":
            trimmed = []
            for index, record in enumerate(records):
                if record.get(PARENT_FIELD) not in (None, ""):
                    parents[index] = str(record[PARENT_FIELD])
                trimmed.append({k: v for k, v in record.items() if k != PARENT_FIELD})
            records = trimmed
        for index, record in enumerate(records):
            item, problem = self._input(record, mode, match, id_property, index)
            if problem is not None:
                results[index] = WriteResult(index, False, error_code="MISSING_ID", message=problem)
            else:
                inputs.append((index, item))
        for start in range(0, len(inputs), BATCH_LIMIT):
            chunk = inputs[start : start + BATCH_LIMIT]
            for result in self._send(name, mode, id_property, chunk):
                results[result.index] = result
        final = [
            r if r is not None else WriteResult(i, False, error_code="NO_RESULT", message="no result")
            for i, r in enumerate(results)
        ]
        for index, company_id in parents.items():
            result = final[index]
            if result.ok and result.remote_id:
                final[index] = self._associate_primary(result, company_id)
        return final

    def _associate_primary(self, result: WriteResult, company_id: str) -> WriteResult:
        """Make ``company_id`` the primary company of the contact just written (v4 associations)."""
        try:
            self.api.request(
                "PUT",
                f"/crm/v4/objects/contacts/{result.remote_id}/associations/companies/{company_id}",
                json=[
                    {
                        "associationCategory": "HUBSPOT_DEFINED",
                        "associationTypeId": CONTACT_TO_COMPANY_PRIMARY,
                    }
                ],
                what=f"associate contact {result.remote_id} with company {company_id}",
            )
        except (ConnectorFatalError, RecordRejectedError) as exc:
            return WriteResult(
                result.index,
                False,
                remote_id=result.remote_id,
                created=result.created,
                error_code=getattr(exc, "code", None) or "ASSOCIATION_FAILED",
                message=f"written, but not associated with company {company_id}: {exc.message}",
                fields=(PARENT_FIELD,),
            )
        return result

    @staticmethod
    def _unique(description: ObjectDescription, match: str, mode: str) -> str:
        info = next((f for f in description.fields if f.name == match), None)
        if info is None or not info.external_id:
            unique = sorted(f.name for f in description.fields if f.external_id)
            raise ConnectorFatalError(
                f"{mode} into HubSpot {description.object.name} cannot match on {match!r}: "
                "it is not a unique property",
                hint=f"unique properties: {', '.join(unique)}",
            )
        return info.name

    @staticmethod
    def _input(
        record: dict[str, Any], mode: WriteMode, match: str | None, id_property: str | None, index: int
    ) -> tuple[dict[str, Any], str | None]:
        properties = {k: hubspot_value(v) for k, v in record.items() if k != REMOTE_ID}
        item: dict[str, Any] = {"objectWriteTraceId": str(index)}
        if mode == "update":
            key = record.get(REMOTE_ID)
            if key in (None, "") and id_property:
                key = record.get(id_property)
            if key in (None, "") and not id_property:
                key = record.get(ID_PROPERTY)
            if key in (None, ""):
                return item, f"record {index} names no HubSpot record to update ({REMOTE_ID} is empty)"
            properties.pop(ID_PROPERTY, None)
            item["id"] = str(key)
            if id_property:
                item["idProperty"] = id_property
                # The same value again, so the result carries the key it can be matched back by.
                properties[id_property] = hubspot_value(key)
        elif mode == "upsert":
            assert id_property is not None and match is not None
            key = record.get(match)
            if key in (None, ""):
                return item, f"record {index} has no {match} to upsert on"
            item["id"] = hubspot_value(key)
            item["idProperty"] = id_property
        item["properties"] = properties
        return item, None

    def _send(
        self, name: str, mode: WriteMode, id_property: str | None, chunk: list[tuple[int, dict[str, Any]]]
    ) -> list[WriteResult]:
        """Write one batch; a batch refused as a whole is split until the bad records stand alone."""
        what = f"{mode} {len(chunk)} {name} record(s)"
        try:
            response = self.api.request(
                "POST",
                f"/crm/v3/objects/{name}/batch/{mode}",
                json={"inputs": [item for _, item in chunk]},
                what=what,
                skip_as_error=False,
            )
        except ConnectorFatalError as exc:
            if exc.status not in (400, 404):
                raise
            return self._split(name, mode, id_property, chunk, exc.code, exc.message)
        try:
            answer = orjson.loads(response.content) if response.content else {}
        except orjson.JSONDecodeError:
            answer = {}
        if response.status_code >= 300 or not isinstance(answer, dict):
            code, message = hubspot_extract(response)
            return self._split(name, mode, id_property, chunk, code, message)
        return self._match(mode, id_property, chunk, answer)

    def _split(
        self,
        name: str,
        mode: WriteMode,
        id_property: str | None,
        chunk: list[tuple[int, dict[str, Any]]],
        code: str | None,
        message: str,
    ) -> list[WriteResult]:
        if len(chunk) == 1:
            return [WriteResult(chunk[0][0], False, error_code=code or "REJECTED", message=message)]
        half = len(chunk) // 2
        return [
            *self._send(name, mode, id_property, chunk[:half]),
            *self._send(name, mode, id_property, chunk[half:]),
        ]

    def _match(
        self,
        mode: WriteMode,
        id_property: str | None,
        chunk: list[tuple[int, dict[str, Any]]],
        answer: dict[str, Any],
    ) -> list[WriteResult]:
        """One result per input of a 200/201/207 batch answer."""
        by_trace = {item["objectWriteTraceId"]: (index, item) for index, item in chunk}
        done: dict[int, WriteResult] = {}

        def ok(index: int, result: dict[str, Any]) -> None:
            created = bool(result.get("new")) if mode == "upsert" else mode == "create"
            done[index] = WriteResult(index, True, remote_id=str(result.get("id")), created=created)

        def open_inputs() -> Iterable[tuple[int, dict[str, Any]]]:
            return ((i, item) for i, item in chunk if i not in done)

        for result in answer.get("results") or []:
            trace = result.get("objectWriteTraceId")
            if trace is not None and str(trace) in by_trace:
                ok(by_trace[str(trace)][0], result)
                continue
            props = result.get("properties") or {}
            for index, item in open_inputs():
                if mode == "update" and not id_property:
                    hit = item["id"] == str(result.get("id"))
                elif mode in ("update", "upsert"):
                    hit = _same(item["id"], props.get(id_property or ""))
                else:
                    hit = all(_same(v, props.get(k)) for k, v in item["properties"].items())
                if hit:
                    ok(index, result)
                    break
        for error in answer.get("errors") or []:
            context = error.get("context") or {}
            traces = [str(t) for t in context.get("objectWriteTraceId") or []]
            ids = {str(i) for i in context.get("ids") or []}
            targets = [by_trace[t][0] for t in traces if t in by_trace and by_trace[t][0] not in done]
            if not targets and ids:
                targets = [i for i, item in open_inputs() if item.get("id") in ids]
            if not targets:
                targets = [i for i, _ in list(open_inputs())[:1]]
            for index in targets:
                done[index] = _failure(index, error)
        return [
            done.get(index)
            or WriteResult(index, False, error_code="NO_RESULT", message="HubSpot returned no result for it")
            for index, _ in chunk
        ]

    def archive(self, object_name: str, ids: Sequence[str]) -> list[WriteResult]:
        """Archive (delete) records by id, 100 a call; HubSpot ignores ids that do not exist."""
        name = self.object_name(object_name)
        results: list[WriteResult] = []
        for start in range(0, len(ids), BATCH_LIMIT):
            chunk = [str(i) for i in ids[start : start + BATCH_LIMIT]]
            self.api.request(
                "POST",
                f"/crm/v3/objects/{name}/batch/archive",
                json={"inputs": [{"id": i} for i in chunk]},
                what=f"archive {len(chunk)} {name}",
            )
            results.extend(WriteResult(start + n, True, remote_id=i) for n, i in enumerate(chunk))
        return results


def _reserved_limits() -> Any:
    """HubSpot's filter limits less the filters the connector adds to every group (the window)."""
    from crmhub.expr import HubSpotLimits

    class ReservedLimits(HubSpotLimits):
        def fits(self, dnf: list[list[dict[str, Any]]]) -> bool:
            return super().fits([[*g, *([{}] * RESERVED_FILTERS)] for g in dnf])

    return ReservedLimits()


def _same(sent: Any, got: Any) -> bool:
    """Whether a written value and the value HubSpot reports back agree (HubSpot normalises some)."""
    if got is None:
        return sent in (None, "")
    a, b = str(sent), str(got)
    if a == b or a.casefold() == b.casefold():
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        pass
    if ";" in a or ";" in b:
        return {p.strip() for p in a.split(";") if p.strip()} == {
            p.strip() for p in b.split(";") if p.strip()
        }
    return len(a) >= 10 and a[:10] == b[:10] and a[4:5] == "-"


def _failure(index: int, error: dict[str, Any]) -> WriteResult:
    details = error.get("errors") or []
    context = error.get("context") or {}
    fields = tuple(str(p) for p in context.get("propertyName") or [])
    code = next((d.get("code") for d in details if d.get("code")), None) or error.get("category")
    message = "; ".join(str(d.get("message")) for d in details if d.get("message")) or str(
        error.get("message") or "rejected"
    )
    return WriteResult(index, False, error_code=code, message=message, fields=fields)

"""The Salesforce connector.

Reads build one SOQL query — selected fields (relationship paths like ``Owner.Name`` included),
the pushed-down part of the filter, the modstamp window — ordered by ``SystemModstamp, Id`` and follow
``nextRecordsUrl``. Incremental reads use ``queryAll`` so deleted rows arrive with ``IsDeleted``.
Writes go through sObject Collections, 200 records a call, one result per record.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

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
from crmhub.connectors.errors import ConnectorFatalError
from crmhub.connectors.http import Action, Auth, ErrorTable, UsageHook
from crmhub.connectors.kit import HttpConnector
from crmhub.connectors.salesforce.spec import SalesforceCredentials, SalesforceSettings
from crmhub.connectors.usage import ApiUsage
from crmhub.core.concurrency import prefetch
from crmhub.core.errors import CrmHubError
from crmhub.core.values import COERCERS, CoercionError

if TYPE_CHECKING:
    from crmhub.expr.ast import Expr
    from crmhub.expr.pushdown import PushDown
    from crmhub.expr.types import ValueType

COLLECTION_LIMIT = 200

#: Salesforce's own error codes, where they mean something other than their status.
SALESFORCE_ERRORS = ErrorTable().override(
    codes={
        "INVALID_SESSION_ID": Action.REFRESH,
        "REQUEST_LIMIT_EXCEEDED": Action.LIMIT,
        "SERVER_UNAVAILABLE": Action.RETRY,
        "UNABLE_TO_LOCK_ROW": Action.RETRY,
        "QUERY_TIMEOUT": Action.RETRY,
        "TXN_SECURITY_METERING_ERROR": Action.RETRY,
        "MALFORMED_QUERY": Action.FAIL,
        "INVALID_FIELD": Action.FAIL,
        "INVALID_TYPE": Action.FAIL,
        "INVALID_QUERY_LOCATOR": Action.FAIL,
    },
    status={403: Action.FAIL},
)

#: Salesforce field type → hub value type.
VALUE_TYPES = {
    "boolean": "boolean",
    "int": "number",
    "double": "number",
    "percent": "number",
    "long": "number",
    "currency": "currency",
    "date": "date",
    "datetime": "datetime",
    "multipicklist": "multi_text",
}

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_IDENTIFIER_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def _usage_hook(response: httpx.Response, usage: ApiUsage) -> None:
    info = response.headers.get("Sforce-Limit-Info")
    if info and (match := _LIMIT_INFO.search(info)):
        usage.reported["daily_used"] = int(match.group(1))
        usage.reported["daily_limit"] = int(match.group(2))


_UNKNOWN = "\x00unknown"
_NEXT_URL = re.compile(rb'"nextRecordsUrl"\s*:\s*"([^"\\]+)"')
_DONE = re.compile(rb'"done"\s*:\s*(true|false)')


@dataclass(frozen=True, slots=True)
class _Fetched:
    """A query page as it came off the wire, with the next page's URL peeked from its head."""

    url: str
    params: dict[str, str] | None
    what: str
    page_no: int
    content: bytes
    peeked: str | None


def _peek_next_url(content: bytes) -> str | None:
    """The ``nextRecordsUrl`` in the head of a query page (``None`` when done), or ``_UNKNOWN``."""
    head = content[: content.find(b'"records"')] if b'"records"' in content[:4096] else b""
    done = _DONE.search(head)
    if done is None:
        return _UNKNOWN
    if done.group(1) == b"true":
        return None
    found = _NEXT_URL.search(head)
    return found.group(1).decode() if found else _UNKNOWN


def _modstamp(stamp: str) -> str:
    """Salesforce's ``2024-05-20T20:49:32.000+0000`` as canonical UTC text, without parsing it when it
    has that exact UTC shape (the common case); anything else goes through the full conversion."""
    if len(stamp) == 28 and stamp[19] == "." and stamp.endswith("+0000") and stamp[10] == "T":
        return stamp[:23] + "000Z"
    return COERCERS["datetime"](stamp)  # type: ignore[no-any-return]


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal (UTC, millisecond precision, truncated)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class SalesforceConnector(HttpConnector[SalesforceSettings, SalesforceCredentials]):
    kind: ClassVar[str] = "salesforce"
    label: ClassVar[str] = "Salesforce"
    errors: ClassVar[ErrorTable] = SALESFORCE_ERRORS
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
        }
    )

    def make_auth(self, http: httpx.Client) -> Auth:
        s, c = self.settings, self.credentials
        self.instance_url = s.instance_url
        self._ready = False

        def form() -> dict[str, str]:
            password = secret(c.password)
            return oauth_form(
                "Salesforce",
                s.flow,
                client_id=secret(c.client_id),
                client_secret=secret(c.client_secret),
                refresh_token=secret(c.refresh_token),
                username=s.username,
                password=password and password + (secret(c.security_token) or ""),
                optional=("client_id", "client_secret"),
            )

        def learn(body: dict[str, Any]) -> None:
            if body.get("instance_url") and not s.instance_url:
                self.instance_url = str(body["instance_url"])

        return OAuth2(
            crm="Salesforce",
            token_url=s.login_url.rstrip("/") + "/services/oauth2/token",
            form=form,
            http=http,
            on_token=learn,
        )

    def usage_hook(self) -> UsageHook:
        return _usage_hook

    def push_down(self, expr: Expr, schema: dict[str, ValueType]) -> PushDown[Any]:
        from crmhub.expr import to_soql

        return to_soql(expr, schema=schema)

    @property
    def base(self) -> str:
        return f"/services/data/v{self.settings.api_version}"

    def _ensure(self) -> None:
        if self._ready:
            return
        self.auth.headers()  # logs in, learns instance_url
        if not self.instance_url:
            raise ConnectorFatalError("Salesforce did not name an instance_url; set it in the connection")
        self.api.set_base_url(self.instance_url)
        self._ready = True

    # Discovery ------------------------------------------------------------------------------

    def test(self) -> ConnectionCheck:
        try:
            self._ensure()
            limits = self.api.request_json("GET", f"{self.base}/limits", what="read API limits")
        except CrmHubError as exc:
            return ConnectionCheck(False, str(exc))
        daily = limits.get("DailyApiRequests", {}) if isinstance(limits, dict) else {}
        return ConnectionCheck(
            True,
            f"connected to {self.instance_url} (API v{self.settings.api_version})",
            {"daily_api_max": daily.get("Max"), "daily_api_remaining": daily.get("Remaining")},
        )

    def list_objects(self) -> list[ObjectInfo]:
        self._ensure()
        body = self.api.request_json("GET", f"{self.base}/sobjects", what="list objects (describeGlobal)")
        return [
            ObjectInfo(
                name=o["name"],
                label=o.get("label", o["name"]),
                creatable=bool(o.get("createable")),
                updatable=bool(o.get("updateable")),
                queryable=bool(o.get("queryable", True)),
            )
            for o in body.get("sobjects", [])
        ]

    def _describe(self, object_name: str) -> ObjectDescription:
        self._ensure()
        body = self.api.request_json(
            "GET", f"{self.base}/sobjects/{object_name}/describe", what=f"describe {object_name}"
        )
        fields = tuple(
            FieldInfo(
                name=f["name"],
                label=f.get("label", f["name"]),
                type=f.get("type", "string"),
                value_type=VALUE_TYPES.get(f.get("type", ""), "text"),
                creatable=bool(f.get("createable")),
                updatable=bool(f.get("updateable")),
                external_id=bool(f.get("externalId")) or f.get("name") == "Id",
                nillable=bool(f.get("nillable", True)),
                picklist_values=tuple(
                    p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)
                ),
                restricted_picklist=bool(f.get("restrictedPicklist")),
                defaulted_on_create=bool(f.get("defaultedOnCreate")),
                reference_to=tuple(f.get("referenceTo") or ()),
                relationship_name=f.get("relationshipName"),
                length=f.get("length"),
            )
            for f in body.get("fields", [])
        )
        names = {f.name for f in fields}
        modstamp = next((n for n in ("SystemModstamp", "LastModifiedDate") if n in names), None)
        return ObjectDescription(
            ObjectInfo(
                body.get("name", object_name),
                body.get("label", object_name),
                bool(body.get("createable", True)),
                bool(body.get("updateable", True)),
            ),
            fields,
            modstamp_field=modstamp,
            id_field="Id",
        )

    # Reading --------------------------------------------------------------------------------

    def build_query(
        self,
        object_name: str,
        fields: Sequence[str],
        *,
        where: str | None,
        since: datetime | None,
        until: datetime | None,
        include_deleted: bool,
        limit: int | None = None,
    ) -> str:
        description = self.describe(object_name)
        modstamp = description.modstamp_field
        select = ["Id"] + ([modstamp] if modstamp else []) + (["IsDeleted"] if include_deleted else [])
        for f in fields:
            if f.lower() not in {s.lower() for s in select}:
                select.append(f)
        conditions = []
        if where:
            conditions.append(f"({where})")
        if modstamp and since is not None:
            conditions.append(f"{modstamp} >= {soql_datetime(since)}")
        if modstamp and until is not None:
            # Salesforce stamps whole milliseconds: round the bound up so a write in the run's own
            # starting millisecond is read now (the cursor's ids at that stamp keep it from doubling).
            bound = until + timedelta(microseconds=(1000 - until.microsecond % 1000) % 1000)
            conditions.append(f"{modstamp} < {soql_datetime(bound)}")
        bad = [f for f in select if not _IDENTIFIER_PATH.match(f)]
        if bad:
            raise ConnectorFatalError(f"not a Salesforce field path: {', '.join(map(repr, bad))}")
        # Identifiers only (checked above and against describe); values come from the SOQL formatter.
        soql = f"SELECT {', '.join(select)} FROM {description.object.name}"  # noqa: S608
        if conditions:
            soql += " WHERE " + " AND ".join(conditions)
        soql += f" ORDER BY {modstamp}, Id" if modstamp else " ORDER BY Id"
        if limit is not None:
            soql += f" LIMIT {int(limit)}"
        return soql

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
        for path in fields:
            self.resolve_path(object_name, path)
        plan = self.plan_filter(object_name, fields, filter)
        soql = self.build_query(
            object_name,
            [*fields, *plan.extra],
            where=plan.pushed,
            since=since,
            until=until,
            include_deleted=include_deleted,
        )
        yield from self._pages(
            object_name, soql, fields, plan.extra, plan.predicate, include_deleted, page_size
        )

    def _pages(
        self,
        object_name: str,
        soql: str,
        fields: Sequence[str],
        extra: Sequence[str],
        predicate: Any,
        include_deleted: bool,
        page_size: int | None,
        *,
        limit: int | None = None,
    ) -> Iterator[Page]:
        modstamp_field = self.describe(object_name).modstamp_field
        size = min(2000, max(200, page_size or self.settings.page_size))
        headers = {"Sforce-Query-Options": f"batchSize={size}"}
        endpoint = "queryAll" if include_deleted else "query"
        wanted = [*fields, *extra]
        dotted = [(p, p.split(".")) for p in wanted if "." in p]
        # A SOQL record holds every selected field, so its parsed dict becomes the record's values
        # in place: drop what was not asked for (attributes, relationship objects, the Id and
        # modstamp every query selects) and add the dot paths. Its size then proves that nothing is
        # missing; a record of any other shape takes the field-by-field path.
        wanted_set = set(wanted)
        drop = [k for k in ("attributes", "Id", modstamp_field, "IsDeleted") if k and k not in wanted_set]
        drop += sorted({parts[0] for _, parts in dotted} - wanted_set)
        n_wanted = len(wanted_set)

        def fetch(url: str, params: dict[str, str] | None, page_no: int) -> Iterator[_Fetched]:
            # Runs ahead in a helper thread. It only peeks at the head of each body for the next
            # page's URL (Salesforce puts totalSize, done and nextRecordsUrl before the records), so
            # the next request is on its way while this page is parsed and converted.
            next_url: str | None = url
            while next_url is not None:
                page_no += 1
                what = f"query {object_name} page {page_no}"
                response = self.api.request("GET", next_url, params=params, headers=headers, what=what)
                peeked = _peek_next_url(response.content)
                yield _Fetched(next_url, params, what, page_no, response.content, peeked)
                if peeked is _UNKNOWN:
                    return  # the consumer parses the body and starts over from what it says
                next_url, params = peeked, None

        def parsed(item: _Fetched) -> dict[str, Any]:
            try:
                body = orjson.loads(item.content) if item.content else None
            except orjson.JSONDecodeError:
                # The same recovery as every other read: ask again (with back-off) until it parses.
                body = self.api.request_json(
                    "GET", item.url, params=item.params, headers=headers, what=item.what
                )
            if not isinstance(body, dict):
                raise ConnectorFatalError(f"{item.what}: the answer is not a query result", code="MALFORMED")
            return body

        def bodies() -> Generator[dict[str, Any], None, None]:
            start: tuple[str, dict[str, str] | None, int] | None = (f"{self.base}/{endpoint}", {"q": soql}, 0)
            while start is not None:
                fetched = prefetch(fetch(*start), depth=2)
                start = None
                try:
                    for item in fetched:
                        body = parsed(item)
                        actual = None if body.get("done", True) else body.get("nextRecordsUrl")
                        yield body
                        if actual != item.peeked:
                            # The peek was wrong or inconclusive: follow what the parsed body says.
                            start = (actual, None, item.page_no) if actual else None
                            break
                finally:
                    fetched.close()

        ordinal = 0
        pages = bodies()
        try:
            for body in pages:
                page = Page([], total=body.get("totalSize"))
                for raw in body.get("records", []):
                    ordinal += 1
                    get = raw.get
                    record_id = raw["Id"]
                    stamp = get(modstamp_field) if modstamp_field else None
                    deleted = bool(get("IsDeleted")) if include_deleted else False
                    for path, parts in dotted:
                        node: Any = raw
                        for part in parts:
                            node = node.get(part) if isinstance(node, dict) else None
                        raw[path] = node
                    values = raw
                    for key in drop:
                        values.pop(key, None)
                    if len(values) != n_wanted:
                        values = {p: get(p) for p in wanted}
                    try:
                        modstamp = _modstamp(stamp) if stamp else None
                    except CoercionError as exc:
                        page.rejected.append(
                            RejectedRow(ordinal, record_id, f"{modstamp_field} {exc}", str(stamp))
                        )
                        continue
                    if predicate is not None and not deleted:
                        try:
                            if not predicate(values):
                                continue
                        except CrmHubError as exc:
                            page.rejected.append(RejectedRow(ordinal, record_id, f"filter: {exc}"))
                            continue
                    for name in extra:
                        values.pop(name, None)
                    page.records.append(RemoteRecord(record_id, modstamp, values, deleted, ordinal))
                yield page
                if limit is not None and ordinal >= limit:
                    return
        finally:
            pages.close()

    # Writing --------------------------------------------------------------------------------

    def write(
        self,
        object_name: str,
        records: Sequence[dict[str, Any]],
        *,
        mode: WriteMode,
        match: str | None = None,
    ) -> list[WriteResult]:
        self._ensure()
        if mode == "upsert" and not match:
            raise ConnectorFatalError("upsert into Salesforce needs an external id field to match on")
        if mode == "update" and match not in (None, "Id"):
            raise ConnectorFatalError(
                "update in Salesforce matches on Id; use upsert to match an external id"
            )
        results: list[WriteResult] = []
        for start in range(0, len(records), COLLECTION_LIMIT):
            chunk = records[start : start + COLLECTION_LIMIT]
            items: list[dict[str, Any]] = [
                {"attributes": {"type": object_name}, **_sf_values(r)} for r in chunk
            ]
            body = {"allOrNone": False, "records": items}
            if mode == "update":
                for item, record in zip(items, chunk, strict=True):
                    item.pop(REMOTE_ID, None)
                    item["Id"] = record.get(REMOTE_ID) or record.get("Id")
            what = f"{mode} {len(chunk)} {object_name} record(s)"
            if mode == "create":
                answer = self.api.request_json(
                    "POST", f"{self.base}/composite/sobjects", json=body, what=what
                )
            elif mode == "update":
                missing = [start + i for i, r in enumerate(chunk) if not (r.get(REMOTE_ID) or r.get("Id"))]
                if missing:
                    raise ConnectorFatalError(
                        f"update needs an Id on every record (missing at {missing[:5]})"
                    )
                answer = self.api.request_json(
                    "PATCH", f"{self.base}/composite/sobjects", json=body, what=what
                )
            else:
                answer = self.api.request_json(
                    "PATCH", f"{self.base}/composite/sobjects/{object_name}/{match}", json=body, what=what
                )
            for i, item in enumerate(answer or []):
                errors = item.get("errors") or []
                if item.get("success"):
                    created = item.get("created") if mode == "upsert" else (mode == "create")
                    results.append(WriteResult(start + i, True, remote_id=item.get("id"), created=created))
                else:
                    first = errors[0] if errors else {}
                    results.append(
                        WriteResult(
                            start + i,
                            False,
                            remote_id=item.get("id"),
                            error_code=first.get("statusCode") or first.get("errorCode"),
                            message="; ".join(e.get("message", "") for e in errors) or "rejected",
                            fields=tuple(first.get("fields") or ()),
                        )
                    )
        return results


def _sf_values(record: dict[str, Any]) -> dict[str, Any]:
    """Hub values as Salesforce takes them: multi-values ';'-joined, dates as ISO text."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, list | tuple):
            out[key] = ";".join(str(v) for v in value)
        elif isinstance(value, datetime):
            out[key] = soql_datetime(value)
        elif hasattr(value, "isoformat"):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out

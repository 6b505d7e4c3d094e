"""The connector base every HTTP CRM builds on (the shape of singer-sdk's ``RESTStream``).

:class:`HttpConnector` owns what every CRM shares, so a CRM package writes only its own wire:

* set-up from the registry's parsed settings and credentials: one ``httpx.Client``, the auth the
  CRM picks (:meth:`HttpConnector.make_auth`, from :mod:`crmhub.connectors.auth`), one
  :class:`~crmhub.connectors.http.ApiClient` with the CRM's error table rows and usage hook;
* the describe cache (:meth:`describe` → the CRM's :meth:`_describe`, once per object);
* dot-path resolution (:meth:`resolve_path`, walking ``relationship_name`` → ``reference_to``),
  declared by :attr:`Capability.RELATIONSHIPS`;
* the filter split (:meth:`plan_filter`): the part the CRM's compiler (:meth:`push_down`) can
  express is pushed, the residual becomes a local predicate over raw values, and fields read only
  for the residual are named so the read can drop them;
* preview on top of read; usage accounting (``self.usage``) and redaction (in the http layer).

A CRM subclass sets ``kind``, ``label``, ``capabilities`` and ``errors`` and writes
``_describe``, ``list_objects``, ``test``, ``read`` and ``write`` (plus ``batch_read`` / ``archive``
when it declares :attr:`Capability.BATCH_READ` / :attr:`Capability.ARCHIVE`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import httpx
from pydantic import BaseModel

from crmhub.connectors.base import (
    Capability,
    ConnectionCheck,
    FieldInfo,
    ObjectDescription,
    ObjectInfo,
    Page,
    RemoteRecord,
    WriteMode,
    WriteResult,
)
from crmhub.connectors.errors import ConnectorFatalError
from crmhub.connectors.filtering import Predicate, local_predicate
from crmhub.connectors.http import DEFAULT_ERROR_TABLE, ApiClient, Auth, ErrorTable, RetryPolicy, UsageHook
from crmhub.connectors.usage import ApiUsage

if TYPE_CHECKING:
    from crmhub.expr.ast import Expr
    from crmhub.expr.pushdown import PushDown
    from crmhub.expr.types import ValueType

__all__ = ["FilterPlan", "HttpConnector", "resolve_plain"]

SettingsT = TypeVar("SettingsT", bound=BaseModel)
CredentialsT = TypeVar("CredentialsT", bound=BaseModel)


@dataclass(slots=True)
class FilterPlan:
    """How one read filters: ``pushed`` goes to the CRM (its dialect), ``predicate`` runs locally.

    ``extra`` are field paths the predicate needs that the caller did not ask for: read them, then
    drop them before the records are yielded.
    """

    pushed: Any = None
    predicate: Predicate | None = None
    extra: list[str] = field(default_factory=list)
    #: Field path → hub value type of every path the filter names.
    schema: dict[str, ValueType] = field(default_factory=dict)


def resolve_plain(description: ObjectDescription, path: str, *, crm: str) -> FieldInfo:
    """The field ``path`` names on a connector without relationships (a dot path is refused)."""
    from crmhub.expr.checker import did_you_mean

    info = description.field(path)
    if info is None and "." in path:
        raise ConnectorFatalError(
            f"{crm} has no related records: {path!r} is not a field of {description.object.name}",
            hint="name a field of the object itself",
        )
    if info is None:
        hint = did_you_mean(path, [f.name for f in description.fields])
        raise ConnectorFatalError(f"{description.object.name} has no field {path!r}{hint}")
    return info


class HttpConnector(Generic[SettingsT, CredentialsT]):
    """The shared part of every HTTP CRM connector; see the module docstring for what a CRM adds."""

    kind: ClassVar[str]
    #: The CRM's name in messages ("Salesforce", "Zoho CRM").
    label: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    errors: ClassVar[ErrorTable] = DEFAULT_ERROR_TABLE
    #: Deepest relationship path :meth:`resolve_path` follows (``Owner.Name`` is 1).
    path_depth: ClassVar[int] = 5
    #: Whether filter parts that name a dot path may be pushed down (HubSpot search cannot).
    push_paths: ClassVar[bool] = True
    timeout: ClassVar[float] = 120.0

    def __init__(
        self,
        settings: SettingsT,
        credentials: CredentialsT,
        *,
        retry: RetryPolicy | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.usage = ApiUsage()
        verify = getattr(settings, "verify_tls", True)
        self._http = http or httpx.Client(timeout=self.timeout, verify=verify)
        self.auth: Auth = self.make_auth(self._http)
        self.api = ApiClient(
            self.base_url(),
            crm=self.label,
            auth=self.auth,
            errors=self.errors,
            retry=retry,
            usage=self.usage,
            usage_hook=self.usage_hook(),
            http=self._http,
        )
        self._describes: dict[str, ObjectDescription] = {}

    # -- what a CRM provides ----------------------------------------------------------------------

    def make_auth(self, http: httpx.Client) -> Auth:
        """The auth piece of this connection (see :mod:`crmhub.connectors.auth`)."""
        raise NotImplementedError

    def base_url(self) -> str:
        """The API host calls go to ("" when it is learnt at login)."""
        return ""

    def usage_hook(self) -> UsageHook | None:
        """Reads the CRM's usage figures off each response into ``usage.reported``."""
        return None

    def object_name(self, name: str) -> str:
        """The API name of an object as the user may spell it (default: as given)."""
        return name

    def _describe(self, object_name: str) -> ObjectDescription:
        raise NotImplementedError

    def push_down(self, expr: Expr, schema: dict[str, ValueType]) -> PushDown[Any] | None:
        """The CRM's compile of ``expr`` (pushed part + residual); ``None``: everything local."""
        return None

    def test(self) -> ConnectionCheck:
        raise NotImplementedError

    def list_objects(self) -> list[ObjectInfo]:
        raise NotImplementedError

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
        raise NotImplementedError

    def write(
        self,
        object_name: str,
        records: Sequence[dict[str, Any]],
        *,
        mode: WriteMode,
        match: str | None = None,
    ) -> list[WriteResult]:
        raise NotImplementedError

    # -- what the kit does for every CRM ----------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def describe(self, object_name: str) -> ObjectDescription:
        """The object's fields (cached per connector; the CRM's :meth:`_describe` runs once)."""
        name = self.object_name(object_name)
        key = name.lower()
        cached = self._describes.get(key)
        if cached is None:
            cached = self._describes[key] = self._describe(name)
        return cached

    def resolve_path(self, object_name: str, path: str) -> FieldInfo:
        """The field a path ends at, following relationship names (``Owner.Name`` → User.Name)."""
        from crmhub.expr.checker import did_you_mean

        if Capability.RELATIONSHIPS not in self.capabilities:
            return resolve_plain(self.describe(object_name), path, crm=self.label)
        parts = path.split(".")
        if len(parts) - 1 > self.path_depth:
            raise ConnectorFatalError(
                f"{self.label} paths go {self.path_depth} relationship(s) deep; {path!r} has {len(parts) - 1}"
            )
        current = self.object_name(object_name)
        for depth, part in enumerate(parts):
            description = self.describe(current)
            if depth == len(parts) - 1:
                info = description.field(part)
                if info is None:
                    hint = did_you_mean(part, [f.name for f in description.fields])
                    raise ConnectorFatalError(f"{current} has no field {part!r} (in {path!r}){hint}")
                return info
            relation = next(
                (
                    f
                    for f in description.fields
                    if f.relationship_name and f.relationship_name.lower() == part.lower()
                ),
                None,
            )
            if relation is None or not relation.reference_to:
                names = [f.relationship_name for f in description.fields if f.relationship_name]
                raise ConnectorFatalError(
                    f"{current} has no relationship {part!r} (in {path!r}){did_you_mean(part, names)}"
                )
            current = relation.reference_to[0]
        raise ConnectorFatalError(f"empty field path {path!r}")  # pragma: no cover

    def plan_filter(self, object_name: str, fields: Sequence[str], filter: Expr | None) -> FilterPlan:
        """Split ``filter`` into what the CRM evaluates and a local predicate (see :class:`FilterPlan`)."""
        if filter is None:
            return FilterPlan()
        from crmhub.expr import ValueType, ast
        from crmhub.expr import fields as expr_fields
        from crmhub.expr.pushdown import conjuncts, to_nnf

        schema = {p: ValueType(self.resolve_path(object_name, p).value_type) for p in expr_fields(filter)}
        local: list[ast.Expr] = []
        remote: list[ast.Expr] = []
        if self.push_paths:
            remote = [filter]
        else:
            for part in conjuncts(to_nnf(filter)):
                (local if any("." in p for p in expr_fields(part)) else remote).append(part)
        pushed: Any = None
        if remote:
            expr = remote[0] if len(remote) == 1 else ast.And(tuple(remote))
            compiled = self.push_down(expr, schema)
            if compiled is None:
                local.append(expr)
            else:
                pushed = compiled.pushed
                if compiled.residual is not None:
                    local.append(compiled.residual)
        if not local:
            return FilterPlan(pushed, None, [], schema)
        residual = local[0] if len(local) == 1 else ast.And(tuple(local))
        needed = expr_fields(residual)
        predicate = local_predicate(residual, {p: schema[p] for p in needed})
        return FilterPlan(pushed, predicate, sorted(set(needed) - set(fields)), schema)

    def preview(
        self, object_name: str, fields: Sequence[str], *, filter: Expr | None = None, limit: int = 10
    ) -> list[RemoteRecord]:
        """The first ``limit`` records the read gives (the read stops once they are in)."""
        out: list[RemoteRecord] = []
        pages = self.read(object_name, fields, filter=filter, page_size=self.preview_page_size(limit, filter))
        try:
            for page in pages:
                out.extend(page.records)
                if len(out) >= limit:
                    break
        finally:
            close: Callable[[], None] | None = getattr(pages, "close", None)
            if close is not None:
                close()
        return out[:limit]

    def preview_page_size(self, limit: int, filter: Expr | None) -> int | None:
        """The page size a preview reads with (``None``: the connector's default)."""
        return None if filter is not None else limit

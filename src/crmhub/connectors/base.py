"""The protocol every connector implements, and the values that cross it.

A connector speaks one CRM's API (or a file format). It knows nothing about the hub: it lists and
describes remote objects, reads pages of records (filter pushed down as far as the CRM allows, the
residual applied locally, ordered by (modstamp, id)), previews, and writes batches with one result
per record.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from crmhub.connectors.usage import ApiUsage

if TYPE_CHECKING:
    from crmhub.expr.ast import Expr


class Capability(StrEnum):
    READ = "read"
    WRITE = "write"
    INCREMENTAL = "incremental"  # reads since a modstamp
    DELETES = "deletes"  # reports deleted records on incremental reads
    FILTER_PUSHDOWN = "filter_pushdown"
    RELATIONSHIPS = "relationships"  # dot paths like Owner.Name
    UPSERT = "upsert"  # upsert by an external id field
    TOTAL_ESTIMATE = "total_estimate"
    BATCH_READ = "batch_read"  # reads records by id (:class:`BatchReader`)
    ARCHIVE = "archive"  # deletes records by id (:class:`Archiver`)
    #: talks to the CRM's API over HTTP: rate limits, access tokens and daily limits apply
    REMOTE_API = "remote_api"


WriteMode = Literal["create", "update", "upsert"]
#: In ``write(mode="update")`` every record names the remote record it updates under this key.
REMOTE_ID = "@id"


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One field of a remote object, as describe reports it."""

    name: str
    label: str
    type: str  # the CRM's own type name (string, picklist, reference, …)
    value_type: (
        str  # the hub type it maps to (text, number, currency, boolean, date, datetime, multi_text, …)
    )
    creatable: bool = False
    updatable: bool = False
    external_id: bool = False
    nillable: bool = True
    picklist_values: tuple[str, ...] = ()
    #: The CRM refuses a value outside ``picklist_values`` (a restricted picklist, a HubSpot enumeration).
    restricted_picklist: bool = False
    #: The CRM fills the field on create when it is left out (so it need not be mapped).
    defaulted_on_create: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    name: str
    label: str
    creatable: bool = True
    updatable: bool = True
    queryable: bool = True


@dataclass(frozen=True, slots=True)
class ObjectDescription:
    object: ObjectInfo
    fields: tuple[FieldInfo, ...]
    #: The field holding the record's last-modified time (SystemModstamp, hs_lastmodifieddate, …).
    modstamp_field: str | None = None
    id_field: str = "Id"

    def required_on_create(self) -> list[FieldInfo]:
        """Fields a create must give a value for (not nillable, creatable, without a default)."""
        return [
            f
            for f in self.fields
            if f.creatable and not f.nillable and not f.defaulted_on_create and f.value_type != "boolean"
        ]

    def field(self, name: str) -> FieldInfo | None:
        lowered = name.lower()
        return next((f for f in self.fields if f.name.lower() == lowered), None)


@dataclass(slots=True)
class RemoteRecord:
    """One record read from a CRM: its id, modstamp (canonical UTC text) and the requested fields.

    ``values`` is flat: keys are the requested field paths, dot paths included (``"Owner.Name"``).
    """

    id: str
    modstamp: str | None
    values: dict[str, Any]
    deleted: bool = False
    #: Position in the source (row number of a file, ordinal of a read) for error messages.
    row: int | None = None


#: The longest remote id the hub can link (characters; the width of the link table's column).
REMOTE_ID_MAX_LENGTH = 255


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A source row that could not be read as a record (ragged CSV row, undecodable value …)."""

    row: int | None
    remote_id: str | None
    message: str
    raw: str | None = None


@dataclass(slots=True)
class Page:
    records: list[RemoteRecord]
    #: The CRM's estimate of the total to read (where the API says), for progress.
    total: int | None = None
    #: Rows of this page that could not be read; the sync engine puts them in the error ledger.
    rejected: list[RejectedRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """The outcome of writing one record; ``index`` is its position in the batch."""

    index: int
    ok: bool
    remote_id: str | None = None
    created: bool | None = None
    error_code: str | None = None
    message: str | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    ok: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    """What every connector does. Capabilities say which of the optional behaviours it has."""

    kind: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    usage: ApiUsage

    def test(self) -> ConnectionCheck:
        """Authenticate and make one cheap call; say clearly what is wrong when it fails."""
        ...

    def list_objects(self) -> list[ObjectInfo]: ...

    def describe(self, object_name: str) -> ObjectDescription: ...

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
        """Pages of records ordered by (modstamp, id) with ``since <= modstamp < until``.

        ``filter`` is a ``crmhub.expr`` AST; the part the CRM can evaluate is pushed down and the
        residual is applied to each page before it is yielded. With ``include_deleted`` (incremental
        reads) deleted records come as ``RemoteRecord(deleted=True)`` where the API reports them.
        """
        ...

    def preview(
        self, object_name: str, fields: Sequence[str], *, filter: Expr | None = None, limit: int = 10
    ) -> list[RemoteRecord]: ...

    def resolve_path(self, object_name: str, path: str) -> FieldInfo:
        """The field a path ends at (``Owner.Name`` → User.Name; a plain name → that field).

        Dot paths work where the connector has :attr:`Capability.RELATIONSHIPS`; otherwise (and for
        a path that does not resolve) a :class:`~crmhub.connectors.errors.ConnectorFatalError`
        names the problem.
        """
        ...

    def write(
        self,
        object_name: str,
        records: Sequence[dict[str, Any]],
        *,
        mode: WriteMode,
        match: str | None = None,
    ) -> list[WriteResult]:
        """Write a batch (split to the API's limits); one result per input record, in order.

        ``create`` makes new records; ``update`` changes the records named by each one's
        :data:`REMOTE_ID` entry; ``upsert`` matches on the ``match`` field (an external id).
        """
        ...

    def close(self) -> None: ...


@runtime_checkable
class BatchReader(Protocol):
    """The optional behaviour of :attr:`Capability.BATCH_READ`."""

    def batch_read(
        self, object_name: str, ids: Sequence[str], fields: Sequence[str], *, id_property: str | None = None
    ) -> list[RemoteRecord]:
        """The records with these ids (or ``id_property`` values), in the order asked; missing ones left out."""
        ...


@runtime_checkable
class Archiver(Protocol):
    """The optional behaviour of :attr:`Capability.ARCHIVE`."""

    def archive(self, object_name: str, ids: Sequence[str]) -> list[WriteResult]:
        """Delete (archive) records by id; one result per id."""
        ...


def batch_reader(connector: Connector) -> BatchReader | None:
    """The connector as a :class:`BatchReader` when it declares the capability, else ``None``."""
    if Capability.BATCH_READ in connector.capabilities and isinstance(connector, BatchReader):
        return connector
    return None


def archiver(connector: Connector) -> Archiver | None:
    """The connector as an :class:`Archiver` when it declares the capability, else ``None``."""
    if Capability.ARCHIVE in connector.capabilities and isinstance(connector, Archiver):
        return connector
    return None

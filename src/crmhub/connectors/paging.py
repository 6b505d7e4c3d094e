"""Paging pieces a connector picks from; each turns one answer into the next request, or ``None``.

The shape is dlt's paginators (``update_state`` / ``update_request``) cut to what CRMs use:

=====================  ===========================================================================
:class:`NextUrl`       the answer names the next page's URL (Salesforce ``nextRecordsUrl``/``done``)
:class:`CursorAfter`   an opaque ``after`` cursor (HubSpot ``paging.next.after``, Pipedrive v2
                       ``additional_data.next_cursor``), sent as a query parameter or a body field
:class:`PageToken`     ``page`` numbers up to a record ceiling, then ``page_token`` (Zoho listing)
:class:`ODataLinks`    ``@odata.nextLink`` to follow and ``@odata.deltaLink`` to keep (Dataverse)
:func:`windowed`       reads past a result cap in windows sliced by modstamp (HubSpot search's
                       10,000, Zoho COQL's 100,000): a cut window goes on at its last modstamp
                       dropping the ids read there; a window that is all one modstamp is sliced by id
=====================  ===========================================================================

A paginator is used as ``request = p.first(); while request: body = call(request); request =
p.next(body)``; :func:`follow` does exactly that.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

from crmhub.connectors.errors import ConnectorFatalError

__all__ = [
    "CursorAfter",
    "NextUrl",
    "ODataLinks",
    "PageRequest",
    "PageToken",
    "Paginator",
    "Window",
    "follow",
    "windowed",
]


@dataclass(frozen=True, slots=True)
class PageRequest:
    """One page's call: where, with which query parameters and (for POST searches) which body."""

    url: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None


class Paginator(Protocol):
    def first(self) -> PageRequest: ...

    def next(self, body: Any) -> PageRequest | None:
        """The request for the page after the one ``body`` answered, or ``None`` when it was the last."""
        ...


def _dig(body: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(body, Mapping):
            return None
        body = body.get(key)
    return body


@dataclass
class NextUrl:
    """Follow a URL the answer names; ``done_path`` (when given) ends the read when true."""

    start: PageRequest
    next_path: tuple[str, ...] = ("nextRecordsUrl",)
    done_path: tuple[str, ...] | None = ("done",)

    def first(self) -> PageRequest:
        return self.start

    def next(self, body: Any) -> PageRequest | None:
        if self.done_path is not None and _dig(body, self.done_path) is not False:
            return None
        url = _dig(body, self.next_path)
        return PageRequest(str(url)) if url else None


@dataclass
class CursorAfter:
    """An opaque cursor from ``cursor_path`` sent back as ``param`` (in the query, or in the JSON body)."""

    start: PageRequest
    cursor_path: tuple[str, ...] = ("paging", "next", "after")
    param: str = "after"
    in_body: bool = False

    def first(self) -> PageRequest:
        return self.start

    def next(self, body: Any) -> PageRequest | None:
        cursor = _dig(body, self.cursor_path)
        if cursor in (None, ""):
            return None
        if self.in_body:
            return replace(self.start, json={**(self.start.json or {}), self.param: str(cursor)})
        return replace(self.start, params={**self.start.params, self.param: str(cursor)})


@dataclass
class PageToken:
    """``page=1, 2, …`` while ``page * per_page`` stays within ``page_ceiling`` records, then ``page_token``.

    Zoho: ``info.more_records`` says whether there is more, ``info.next_page_token`` is the token;
    ``page`` and ``page_token`` are never sent together.
    """

    start: PageRequest
    per_page: int
    page_ceiling: int = 2000
    more_path: tuple[str, ...] = ("info", "more_records")
    token_path: tuple[str, ...] = ("info", "next_page_token")
    _page: int = 1

    def first(self) -> PageRequest:
        self._page = 1
        return replace(self.start, params={**self.start.params, "page": 1, "per_page": self.per_page})

    def next(self, body: Any) -> PageRequest | None:
        if _dig(body, self.more_path) is not True:
            return None
        params = {k: v for k, v in self.start.params.items() if k not in ("page", "page_token")}
        params["per_page"] = self.per_page
        if (self._page + 1) * self.per_page <= self.page_ceiling:
            self._page += 1
            return replace(self.start, params={**params, "page": self._page})
        token = _dig(body, self.token_path)
        if not token:
            raise ConnectorFatalError(
                f"the CRM says there are more records after {self._page * self.per_page} but gave no page token",
                code="NO_PAGE_TOKEN",
            )
        self._page += 1
        return replace(self.start, params={**params, "page_token": str(token)})


@dataclass
class ODataLinks:
    """Follow ``@odata.nextLink``; the last page's ``@odata.deltaLink`` is kept for the next read."""

    start: PageRequest
    delta_link: str | None = None

    def first(self) -> PageRequest:
        return self.start

    def next(self, body: Any) -> PageRequest | None:
        link = _dig(body, ("@odata.nextLink",))
        if link:
            return PageRequest(str(link))
        delta = _dig(body, ("@odata.deltaLink",))
        if delta:
            self.delta_link = str(delta)
        return None


def follow(paginator: Paginator, call: Callable[[PageRequest], Any]) -> Iterator[Any]:
    """Every page's body, calling ``call`` for each request the paginator makes."""
    request: PageRequest | None = paginator.first()
    while request is not None:
        body = call(request)
        yield body
        request = paginator.next(body)


# -- windows sliced by modstamp ---------------------------------------------------------------------

S = TypeVar("S")  # a modstamp (comparable)
I = TypeVar("I")  # an id (comparable)  # noqa: E741
Row = TypeVar("Row")


@dataclass(frozen=True, slots=True)
class Window(Generic[S, I]):
    """What one capped search asks for.

    ``lo`` is the lower modstamp bound (``None``: open; ``exclusive``: ``modstamp > lo``). When
    ``tie`` is set the window is the records *at* that one modstamp with id above ``id_floor``,
    in id order.
    """

    lo: S | None = None
    exclusive: bool = False
    tie: S | None = None
    id_floor: I | None = None


def windowed(
    fetch: Callable[[Window[S, I]], Generator[list[Row], None, bool]],
    *,
    stamp: Callable[[Row], S],
    ident: Callable[[Row], I],
    lo: S | None = None,
    what: str = "search",
) -> Iterator[list[Row]]:
    """Batches of rows in (modstamp, id) order past a result cap.

    ``fetch(window)`` yields the batches of one window in (modstamp, id) order and returns whether
    the window was cut at the cap. A cut window goes on with a window starting at the last modstamp
    yielded (its ids already yielded there are dropped); a cut window that is all one modstamp
    goes on at that modstamp sliced by id, then after it.
    """
    cur_stamp: S | None = None
    cur_ids: set[I] = set()
    window: Window[S, I] = Window(lo=lo)
    tie_max: I | None = None  # the highest id a capped slice of the tie reached
    while True:
        max_id: I | None = None
        batches = fetch(window)
        while True:
            try:
                rows = next(batches)
            except StopIteration as stop:
                capped = bool(stop.value)
                break
            kept: list[Row] = []
            for row in rows:
                s, i = stamp(row), ident(row)
                if max_id is None or i > max_id:  # type: ignore[operator]
                    max_id = i
                if s == cur_stamp and i in cur_ids:
                    continue
                if s != cur_stamp:
                    cur_stamp, cur_ids = s, set()
                cur_ids.add(i)
                kept.append(row)
            if kept:
                yield kept
        if window.tie is not None:
            if capped:
                floor = window.id_floor if tie_max is None else tie_max
                if max_id is None or (floor is not None and max_id <= floor):  # type: ignore[operator]
                    raise ConnectorFatalError(
                        f"{what} does not advance past id {floor} at modstamp {window.tie}"
                    )
                tie_max = max_id
                window = Window(tie=window.tie, id_floor=max_id)
                continue
            tie_max = None
            window = Window(lo=window.tie, exclusive=True)
            continue
        if not capped or cur_stamp is None:
            return
        if window.lo is not None and not window.exclusive and cur_stamp <= window.lo:  # type: ignore[operator]
            # A whole window of records shares one modstamp: slice it by id.
            window = Window(tie=cur_stamp, id_floor=max(cur_ids) if cur_ids else None)  # type: ignore[type-var]
            continue
        window = Window(lo=cur_stamp)

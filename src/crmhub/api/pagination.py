"""Pagination: ``?limit=&cursor=`` on every list, and a ``next`` link in every page.

Cursors are opaque to clients (URL-safe base64 of the last key seen); lists keep a stable order
(name, id or time) so a page boundary never skips or repeats an item while others are added.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import urlencode

import orjson
from fastapi import Query, Request
from pydantic import BaseModel, Field

from crmhub.core.errors import CrmHubError

T = TypeVar("T")
K = TypeVar("K")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
Cursor = Annotated[str | None, Query(max_length=512, description="The `next` cursor of the previous page.")]


class BadCursorError(CrmHubError):
    """A cursor that this API did not hand out."""

    hint = "start again without a cursor, and follow the `next` links"


class Page(BaseModel, Generic[T]):
    items: list[T]
    next: str | None = Field(description="URL of the next page; null on the last one.")


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode("ascii").rstrip("=")


#: Cursors this API makes are short: a hub id, a number, a name.
MAX_CURSOR_CHARS = 512


def decode_cursor(text: str | None, kind: type | tuple[type, ...]) -> Any:
    """The key a cursor carries (None without a cursor); BadCursorError (400) if it is not ours."""
    if text is None or text == "":
        return None
    if len(text) > MAX_CURSOR_CHARS:
        raise BadCursorError(f"the cursor {text[:40]!r}… is not valid (too long)")
    try:
        value = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise BadCursorError(f"the cursor {text[:40]!r} is not valid") from None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadCursorError(f"the cursor {text[:40]!r} is not valid for this list")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise BadCursorError(f"the cursor {text[:40]!r} is not valid for this list")
    if isinstance(value, str) and ("\x00" in value or len(value) > 255):
        raise BadCursorError(f"the cursor {text[:40]!r} is not valid for this list")
    return value


def next_link(request: Request, cursor: Any) -> str:
    """The relative URL of the next page: this request with ``cursor`` replaced."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    params.append(("cursor", encode_cursor(cursor)))

    return f"{request.url.path}?{urlencode(params)}"


def page_of(
    request: Request, rows: Sequence[T], limit: int, key: Callable[[T], Any]
) -> tuple[list[T], str | None]:
    """Cut ``rows`` (fetched with ``limit + 1``) to a page and make its next link."""
    if len(rows) > limit:
        items = list(rows[:limit])
        return items, next_link(request, key(items[-1]))
    return list(rows), None


def slice_sorted(
    request: Request,
    rows: Sequence[T],
    limit: int,
    cursor: str | None,
    key: Callable[[T], K],
    kind: type = str,
) -> tuple[list[T], str | None]:
    """Page a short list held in memory (already sorted by ``key``) with a keyset cursor."""
    after = decode_cursor(cursor, kind)
    if after is not None:
        rows = [r for r in rows if key(r) > after]
    return page_of(request, rows[: limit + 1], limit, key)

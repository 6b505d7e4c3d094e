"""Small HTTP helpers shared by the emulators: orjson responses, JSON bodies, correlation ids."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

JSON_TYPE = "application/json;charset=UTF-8"


class JSONBodyError(ValueError):
    """The request body is not the JSON the endpoint needs."""


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response serialized with orjson."""
    return Response(orjson.dumps(content), status_code=status, headers=headers, media_type=JSON_TYPE)


def raw_json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A response around already-serialized JSON."""
    return Response(body, status_code=status, headers=headers, media_type=JSON_TYPE)


async def read_json(request: Request) -> Any:
    """The request's JSON body; raises :class:`JSONBodyError` when it is missing or not JSON."""
    body = await request.body()
    if not body.strip():
        raise JSONBodyError("the request body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise JSONBodyError(f"the request body is not valid JSON: {exc}") from exc


def parse_json(body: bytes) -> Any:
    """A body already read as JSON; raises :class:`JSONBodyError` when it is empty or not JSON."""
    if not body.strip():
        raise JSONBodyError("the request body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise JSONBodyError(f"the request body is not valid JSON: {exc}") from exc


def correlation_id() -> str:
    """A random correlation id in the UUID form HubSpot uses."""
    return str(uuid.uuid4())


_DAYS: dict[int, str] = {}
# Pages format three datetimes per record: a cached day, then "HH:MM:SS" and ".mmm" from tables
# (86,400 + 1,000 short strings), so a timestamp costs two divmods and one concatenation.
_CLOCK = [f"T{h:02d}:{m:02d}:{s:02d}." for h in range(24) for m in range(60) for s in range(60)]
_MILLIS = [f"{ms:03d}" for ms in range(1000)]


def iso_day(day: int) -> str:
    """Days since the epoch as ``2024-01-31`` (cached: pages format many dates of few days)."""
    text = _DAYS.get(day)
    if text is None:
        if len(_DAYS) > 200_000:
            _DAYS.clear()
        text = _DAYS[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))
    return text


def iso_ms(ms: int) -> str:
    """Epoch ms as ``2024-01-31T10:00:00.000Z``."""
    day, rest = divmod(ms, 86_400_000)
    seconds, millis = divmod(rest, 1000)
    return (_DAYS.get(day) or iso_day(day)) + _CLOCK[seconds] + _MILLIS[millis] + "Z"


def sf_datetime(ms: int) -> str:
    """Epoch ms as Salesforce's ``2024-01-31T10:00:00.000+0000``."""
    day, rest = divmod(ms, 86_400_000)
    seconds, millis = divmod(rest, 1000)
    return (_DAYS.get(day) or iso_day(day)) + _CLOCK[seconds] + _MILLIS[millis] + "+0000"

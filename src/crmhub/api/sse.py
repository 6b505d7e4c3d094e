"""Live run progress as Server-Sent Events.

The stream polls the run's row (one small query in a worker thread, no transaction held between
polls) and sends ``event: progress`` whenever what it shows changed, a ``: keep-alive`` comment
when nothing did for a while, and ``event: end`` with the final state once the run is over. A
client that goes away cancels the generator at its next ``await``; nothing needs cleaning up.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import orjson
from starlette.requests import Request

from crmhub.api import queries
from crmhub.store.database import Database
from crmhub.store.runs import FINAL_STATUSES

#: Seconds between polls of the run row, and between keep-alive comments when nothing changes.
POLL_INTERVAL = 0.5
KEEPALIVE_INTERVAL = 15.0
#: A stream ends after this long even if the run does not (clients reconnect; EventSource does).
MAX_STREAM_SECONDS = 3600.0


def _event(kind: str, payload: bytes) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n"


async def progress_events(
    request: Request,
    db: Database,
    run_id: str,
    *,
    interval: float = POLL_INTERVAL,
    keepalive: float = KEEPALIVE_INTERVAL,
    max_seconds: float = MAX_STREAM_SECONDS,
) -> AsyncIterator[bytes]:
    started = last_sent = time.monotonic()
    last: tuple[object, ...] | None = None
    yield b"retry: 2000\n\n"
    while True:
        state = await anyio.to_thread.run_sync(queries.run_progress, db, run_id)
        now = time.monotonic()
        if state is None:  # the run was deleted while we watched
            yield _event("end", orjson.dumps({"run_id": run_id, "status": "deleted"}))
            return
        shown = (
            state["status"],
            state["done"],
            state["total"],
            orjson.dumps(state["counts"]),
            state["message"],
        )
        if state["status"] in FINAL_STATUSES:
            yield _event("end", orjson.dumps(state))
            return
        if shown != last:
            yield _event("progress", orjson.dumps(state))
            last, last_sent = shown, now
        elif now - last_sent >= keepalive:
            yield b": keep-alive\n\n"
            last_sent = now
        if now - started >= max_seconds or await request.is_disconnected():
            return
        await anyio.sleep(interval)

"""What every request passes before any route: a bounded body, and the security headers of every answer.

Both are plain ASGI middleware (no ``BaseHTTPMiddleware``: it would buffer streaming answers such
as the run progress stream).

- **Body size**: a request whose ``Content-Length`` is above the limit is refused with 413 before a
  byte of it is read; a body without a length (chunked) is counted as it arrives and refused the
  moment it passes the limit, so no route ever sees, parses or walks more than the limit. The limit
  is ``CRMHUB_MAX_BODY_BYTES`` (1 MiB); the routes that take whole files (job YAML import) have their
  own, larger one (:data:`UPLOAD_ROUTES`).
- **No NUL characters**: a NUL (``%00`` in the path or query, ``\u0000`` in a JSON body) is refused
  with 422 before any route: PostgreSQL can store none, and no name, e-mail or filter needs one.
- **Statement timeout**: every database statement a request runs is cancelled after
  ``CRMHUB_QUERY_TIMEOUT_SECONDS`` (5 s): SQLite through a progress handler, PostgreSQL through
  ``statement_timeout`` for the transaction.
- **Headers**: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` and CSP
  ``frame-ancestors 'none'`` (no framing, so no click-jacking), ``Referrer-Policy: no-referrer``, a
  Content-Security-Policy without inline script, and HSTS when the request came over TLS.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

import orjson

from crmhub.store.database import statement_timeout

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY = 1024 * 1024
#: Seconds one database statement of an API request may run (``CRMHUB_QUERY_TIMEOUT_SECONDS``).
DEFAULT_QUERY_TIMEOUT = 5.0
#: path suffix → its own body limit (bytes): routes that take a whole file
UPLOAD_ROUTES: dict[str, int] = {"/jobs/import": 4 * 1024 * 1024}

#: The API's answers are JSON and never framed; the interactive docs page (loopback by default)
#: loads its script and styles from the page itself.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class BodyLimit:
    """Refuse request bodies over the limit with 413, before any route reads them; bound the time
    each database statement of the request may take (``statement_timeout``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = DEFAULT_MAX_BODY,
        uploads: dict[str, int] | None = None,
        query_timeout: float | None = DEFAULT_QUERY_TIMEOUT,
    ):
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = UPLOAD_ROUTES if uploads is None else uploads
        self.query_timeout = query_timeout

    def limit_for(self, path: str) -> int:
        for suffix, limit in self.uploads.items():
            if path.endswith(suffix):
                return max(limit, self.max_bytes)
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = self.limit_for(path)
        if "\x00" in path or b"%00" in scope.get("query_string", b""):
            await _answer(send, 422, _nul(path))
            return
        json_body = False
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                json_body = b"json" in value.lower()
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
                if length < 0 or length > limit:
                    await _answer(
                        send,
                        413 if length > limit else 400,
                        _too_large(path, limit)
                        if length > limit
                        else _problem(
                            400,
                            path,
                            "the Content-Length header is not a number of bytes",
                            "bad_content_length",
                        ),
                    )
                    return
                break
        received = 0
        started = answered = False
        tail = b""  # the end of the previous chunk: an escape may straddle two

        async def bounded_receive() -> Message:
            nonlocal received, answered, tail
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if json_body and b"u0000" in tail + chunk and _has_nul_escape(tail + chunk):
                    answered = True
                    if not started:
                        await _answer(send, 422, _nul(path))
                    return {"type": "http.disconnect"}
                tail = chunk[-64:]
                if received > limit:
                    # Answer now and tell the route the client is gone: it stops reading (Starlette
                    # raises ClientDisconnect), and whatever it would still send is dropped.
                    answered = True
                    if not started:
                        await _answer(send, 413, _too_large(path, limit))
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        token = statement_timeout.set(self.query_timeout)
        try:
            await self.app(scope, bounded_receive, watched_send)
        finally:
            statement_timeout.reset(token)


def _problem(status: int, path: str, detail: str, code: str, hint: str | None = None) -> bytes:
    """A problem JSON body (as ``crmhub.api.problems`` makes them), for answers given before any route."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": path,
        "code": code,
    }
    if hint:
        body["hint"] = hint
    return orjson.dumps(body)


def _too_large(path: str, limit: int) -> bytes:
    return _problem(
        413,
        path,
        f"the request body is larger than this route's limit of {limit:,} bytes",
        "body_too_large",
        "send a smaller body (CRMHUB_MAX_BODY_BYTES sets the server's limit)",
    )


def _nul(path: str) -> bytes:
    return _problem(
        422,
        path,
        "the request holds a NUL character (\\u0000 or %00), which no name, e-mail or value may hold",
        "nul_character",
        "remove the NUL character and send the request again",
    )


def _has_nul_escape(data: bytes) -> bool:
    """Whether JSON text holds ``\u0000`` as an escape (not as ``\\u0000``, a backslash and text)."""
    at = data.find(b"\\u0000")
    while at != -1:
        backslashes = 0
        while at - backslashes - 1 >= 0 and data[at - backslashes - 1] == 0x5C:
            backslashes += 1
        if backslashes % 2 == 0:
            return True
        at = data.find(b"\\u0000", at + 1)
    return False


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *_security_headers(None),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _security_headers(scope: Scope | None, *, docs: bool = False) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", (DOCS_CSP if docs else API_CSP).encode()),
    ]
    if scope is not None and scope.get("scheme") == "https":
        headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return headers


class SecurityHeaders:
    """Add the security headers to every answer (a route's own value of one of them wins)."""

    def __init__(self, app: ASGIApp, *, docs_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _security_headers(scope, docs=scope.get("path") in self.docs_paths)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()), *(h for h in extra if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, with_headers)

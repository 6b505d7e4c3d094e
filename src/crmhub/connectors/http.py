"""The HTTP layer every CRM connector shares.

HTTP outcomes are data: an :class:`ErrorTable` maps a status code — or, first, the CRM's own error
code from the body — to an :class:`Action`. The client carries the actions out: retry with
exponential backoff and jitter (honouring ``Retry-After``), refresh the OAuth token and retry (once
per expiry; a token refused right after it was obtained means the credentials are bad), reject one
record, stop on a long-window API limit (the run keeps its cursor), or fail. Every URL and
message that leaves this module is redacted.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import httpx
import orjson

from crmhub.connectors.errors import (
    ApiLimitError,
    AuthenticationError,
    ConnectorFatalError,
    MalformedResponseError,
    RecordRejectedError,
    TransientConnectorError,
)
from crmhub.connectors.redact import RedactingFilter, redact, redact_url
from crmhub.connectors.usage import ApiUsage

log = logging.getLogger("crmhub.http")
log.addFilter(RedactingFilter())


class Action(StrEnum):
    RETRY = "retry"  # transient: back off and try again
    REFRESH = "refresh"  # the access token expired: refresh it and retry (see ApiClient.request)
    SKIP = "skip"  # this one record is bad: reject it, go on with the others
    LIMIT = "limit"  # a long-window API limit is reached: stop the run, keep its cursor
    FAIL = "fail"  # retrying will not help


#: What a bare status code means when the CRM's body says nothing more specific.
DEFAULT_STATUS_ACTIONS: Mapping[int, Action] = {
    400: Action.FAIL,
    401: Action.REFRESH,
    402: Action.FAIL,
    403: Action.FAIL,
    404: Action.FAIL,
    405: Action.FAIL,
    408: Action.RETRY,
    409: Action.RETRY,
    410: Action.FAIL,
    412: Action.FAIL,
    413: Action.FAIL,
    415: Action.FAIL,
    422: Action.SKIP,
    425: Action.RETRY,
    429: Action.RETRY,
    500: Action.RETRY,
    502: Action.RETRY,
    503: Action.RETRY,
    504: Action.RETRY,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    status: int
    code: str | None
    message: str


def default_extract(response: httpx.Response) -> tuple[str | None, str]:
    """(error code, message) from a JSON body of a common shape, else the reason phrase."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None, response.reason_phrase or f"HTTP {response.status_code}"
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        code = body.get("errorCode") or body.get("code") or body.get("category") or body.get("error")
        message = body.get("message") or body.get("error_description") or body.get("error") or ""
        if isinstance(body.get("error"), dict):  # OData: {"error": {"code", "message"}}
            code, message = body["error"].get("code"), body["error"].get("message", "")
        return (str(code) if code is not None else None), str(message)
    return None, response.reason_phrase or f"HTTP {response.status_code}"


@dataclass(frozen=True)
class ErrorTable:
    """Status / error code → action. CRM packages derive theirs with :meth:`override`."""

    status_actions: Mapping[int, Action] = field(default_factory=lambda: dict(DEFAULT_STATUS_ACTIONS))
    code_actions: Mapping[str, Action] = field(default_factory=dict)
    extract: Callable[[httpx.Response], tuple[str | None, str]] = default_extract

    def override(
        self,
        *,
        status: Mapping[int, Action] | None = None,
        codes: Mapping[str, Action] | None = None,
        extract: Callable[[httpx.Response], tuple[str | None, str]] | None = None,
    ) -> ErrorTable:
        return ErrorTable(
            {**self.status_actions, **(status or {})},
            {**self.code_actions, **(codes or {})},
            extract or self.extract,
        )

    def classify(self, response: httpx.Response) -> Verdict:
        code, message = self.extract(response)
        status = response.status_code
        action = self.code_actions.get(code) if code else None
        if action is None:
            action = self.status_actions.get(status, Action.RETRY if status >= 500 else Action.FAIL)
        return Verdict(action, status, code, redact(message))


DEFAULT_ERROR_TABLE = ErrorTable()


class Auth(Protocol):
    """How a connector authenticates its calls."""

    def headers(self) -> dict[str, str]:
        """Headers for the next call (obtaining a token first if there is none)."""
        ...

    def refresh(self) -> bool:
        """Obtain a fresh token; False when this kind of credential cannot be refreshed."""
        ...


class NoAuth:
    def headers(self) -> dict[str, str]:
        return {}

    def refresh(self) -> bool:
        return False


@dataclass(frozen=True)
class RetryPolicy:
    """How long and how often to retry transient failures of one call."""

    max_retries: int = 6
    base_delay: float = 0.5
    max_delay: float = 60.0
    #: Longest Retry-After honoured; a longer one ends the call (it is a long-window limit).
    max_retry_after: float = 300.0
    #: Token refreshes one call may make: the session may expire again while the call waits out a
    #: rate limit, and each such expiry earns a refresh, up to this many.
    max_refreshes: int = 3
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[], float] = random.random

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        backoff = min(self.max_delay, self.base_delay * (2**attempt))
        return float(backoff * (0.5 + self.jitter() / 2))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


UsageHook = Callable[[httpx.Response, ApiUsage], None]


class ApiClient:
    """A CRM's HTTP API: one connection pool, the error table, retries, token refresh and usage."""

    def __init__(
        self,
        base_url: str,
        *,
        crm: str,
        auth: Auth | None = None,
        errors: ErrorTable = DEFAULT_ERROR_TABLE,
        retry: RetryPolicy | None = None,
        usage: ApiUsage | None = None,
        usage_hook: UsageHook | None = None,
        timeout: float = 60.0,
        headers: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
        verify: bool | str = True,
    ) -> None:
        self.crm = crm
        self.auth: Auth = auth or NoAuth()
        self.errors = errors
        self.retry = retry or RetryPolicy()
        self.usage = usage or ApiUsage()
        self._usage_hook = usage_hook
        self.http = http or httpx.Client(
            base_url=base_url, timeout=timeout, headers=dict(headers or {}), verify=verify
        )
        if http is not None and base_url:
            self.http.base_url = httpx.URL(base_url)

    def close(self) -> None:
        self.http.close()

    def set_base_url(self, base_url: str) -> None:
        self.http.base_url = httpx.URL(base_url)

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        ok_statuses: tuple[int, ...] = (),
        skip_as_error: bool = True,
    ) -> httpx.Response:
        """Send one call with the retry / refresh policy; returns a 2xx (or ``ok_statuses``) response.

        ``what`` names the call for messages ("query Account page 3"). A SKIP verdict raises
        :class:`RecordRejectedError` when ``skip_as_error``, else returns the response for the caller
        to read per-record errors from.
        """
        refreshes = 0
        #: The token in use was obtained by a refresh in this call and the CRM has not answered it
        #: yet with anything but a 401: a 401 now means the fresh token itself is refused.
        fresh = False
        attempt = 0
        body = orjson.dumps(json) if json is not None else None
        while True:
            req_headers = {**self.auth.headers(), **(headers or {})}
            if body is not None:
                req_headers.setdefault("Content-Type", "application/json")
            self.usage.count_call()
            try:
                response = self.http.request(
                    method, url, params=params, content=body, data=data, headers=req_headers
                )
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {redact(str(exc)) or 'no answer'}"
                if attempt >= self.retry.max_retries:
                    raise TransientConnectorError(
                        f"{self.crm}: {what} failed after {attempt + 1} attempts: {reason}",
                        hint="check that the CRM is reachable; the run can be retried",
                    ) from None
                self._wait(attempt, None, what, reason)
                attempt += 1
                continue
            if self._usage_hook is not None:
                self._usage_hook(response, self.usage)
            status = response.status_code
            if 200 <= status < 300 or status in ok_statuses:
                return response
            verdict = self.errors.classify(response)
            detail = f"{self.crm} answered {status}" + (f" {verdict.code}" if verdict.code else "")
            detail += f": {verdict.message}" if verdict.message else ""
            if verdict.action is Action.REFRESH:
                if fresh:
                    raise AuthenticationError(
                        f"{what}: {detail} (a token obtained just before was refused)",
                        code=verdict.code,
                        status=status,
                    )
                if refreshes >= self.retry.max_refreshes:
                    raise TransientConnectorError(
                        f"{what}: {detail} — the session expired {refreshes + 1} times during one call",
                        code=verdict.code,
                        status=status,
                        hint="the CRM keeps ending sessions (check its session timeout); the run can be retried",
                    )
                if not self.auth.refresh():
                    raise AuthenticationError(f"{what}: {detail}", code=verdict.code, status=status)
                refreshes += 1
                fresh = True
                self.usage.refreshed_tokens += 1
                continue
            fresh = False  # the CRM answered the fresh token with something else: it was accepted
            if verdict.action is Action.RETRY:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if retry_after is not None and retry_after > self.retry.max_retry_after:
                    raise ApiLimitError(
                        f"{what}: {detail} (asked to wait {retry_after:.0f} s)",
                        code=verdict.code,
                        status=status,
                    )
                if attempt >= self.retry.max_retries:
                    raise TransientConnectorError(
                        f"{what}: {detail} — still failing after {attempt + 1} attempts",
                        code=verdict.code,
                        status=status,
                        hint="the CRM is overloaded or rate-limiting; the run can be retried later",
                    )
                self._wait(attempt, retry_after, what, detail)
                attempt += 1
                continue
            if verdict.action is Action.LIMIT:
                raise ApiLimitError(f"{what}: {detail}", code=verdict.code, status=status)
            if verdict.action is Action.SKIP:
                if skip_as_error:
                    raise RecordRejectedError(f"{what}: {detail}", code=verdict.code)
                return response
            raise ConnectorFatalError(f"{what}: {detail}", code=verdict.code, status=status)

    def request_json(self, method: str, url: str, *, what: str, **kw: Any) -> Any:
        """Like :meth:`request`, parsing the body; a malformed body is retried like a 503."""
        attempt = 0
        while True:
            response = self.request(method, url, what=what, **kw)
            if not response.content:
                return None
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError:
                if attempt >= self.retry.max_retries:
                    raise MalformedResponseError(
                        f"{self.crm}: {what}: the answer is not valid JSON after {attempt + 1} attempts"
                    ) from None
                self._wait(attempt, None, what, "malformed JSON body")
                attempt += 1

    def _wait(self, attempt: int, retry_after: float | None, what: str, reason: str) -> None:
        delay = self.retry.delay(attempt, retry_after)
        self.usage.count_retry()
        log.info("%s: %s — retry %d in %.2f s (%s)", self.crm, what, attempt + 1, delay, reason)
        self.retry.sleep(delay)


def describe_request(request: httpx.Request) -> str:
    """``METHOD url`` with secrets redacted, for messages."""
    return f"{request.method} {redact_url(str(request.url))}"

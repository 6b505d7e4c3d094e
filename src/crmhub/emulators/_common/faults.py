"""Fault injection for emulators: 429s, 503s, slow answers, expired tokens and cut-short pages.

A :class:`FaultConfig` gives each fault a rate (0..1); a :class:`FaultInjector` draws from a seeded
random generator in a fixed order per request, so one seed gives one sequence of faults. Tests that
need an exact fault on the next request use :meth:`FaultInjector.inject` instead of rates.

The :class:`FaultMiddleware` applies the decision to API requests only (never to the emulator's
``/__emulator`` control endpoints nor to the token endpoints, so a client can always re-authenticate).
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

FaultKind = Literal["rate_limit", "unavailable", "slow", "expired_token", "malformed"]
FAULT_KINDS: tuple[FaultKind, ...] = ("rate_limit", "unavailable", "slow", "expired_token", "malformed")


@dataclass(frozen=True)
class FaultConfig:
    """Rates (0..1) of injected faults on API requests; all zero means a well-behaved CRM.

    Attributes:
        rate_limit_rate: share of requests answered 429 with ``Retry-After``.
        unavailable_rate: share answered 503.
        slow_rate: share delayed by ``slow_seconds`` before being served.
        slow_seconds: the delay of a slow answer.
        expired_token_rate: share of requests before which every issued access token expires
            (the request itself then gets the CRM's 401 body).
        malformed_rate: share of successful JSON reads (GET pages, searches) whose body is cut in
            half while the status stays 200.
        retry_after_seconds: the ``Retry-After`` value of an injected 429.
        seed: seed of the random draws; the same seed gives the same fault sequence.
    """

    rate_limit_rate: float = 0.0
    unavailable_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.2
    expired_token_rate: float = 0.0
    malformed_rate: float = 0.0
    retry_after_seconds: int = 1
    seed: int | None = 0

    def __post_init__(self) -> None:
        for name in (
            "rate_limit_rate",
            "unavailable_rate",
            "slow_rate",
            "expired_token_rate",
            "malformed_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"FaultConfig.{name} must be between 0 and 1, got {value!r}")
        if self.slow_seconds < 0 or self.retry_after_seconds < 0:
            raise ValueError("FaultConfig.slow_seconds and retry_after_seconds must not be negative")

    @classmethod
    def uniform(cls, rate: float, *, seed: int | None = 0) -> FaultConfig:
        """One rate for 429s, 503s and cut-short pages (what ``crmhub emulate --fault-rate`` sets)."""
        return cls(rate_limit_rate=rate, unavailable_rate=rate, malformed_rate=rate, seed=seed)

    def to_json(self) -> dict[str, Any]:
        """The config as plain JSON values."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], *, base: FaultConfig | None = None) -> FaultConfig:
        """A config from JSON; keys not given keep the values of ``base`` (default: no faults)."""
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        return replace(base or cls(), **data)


@dataclass
class FaultDecision:
    """What to do to one request."""

    status: int | None = None  # 429 or 503: answer with the CRM's error instead of serving
    delay: float = 0.0
    expire_tokens: bool = False
    malformed: bool = False


@dataclass
class FaultInjector:
    """Draws fault decisions per request from a config, plus a queue of forced faults."""

    config: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.config.seed)
        self._forced: deque[FaultKind] = deque()
        self._lock = threading.Lock()
        self.injected: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)

    def configure(self, config: FaultConfig) -> None:
        """Replace the rates and restart the random sequence from the config's seed."""
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)

    def inject(self, kind: FaultKind, count: int = 1) -> None:
        """Force ``kind`` on the next ``count`` API requests, whatever the rates say."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(FAULT_KINDS)}")
        if count < 0:
            raise ValueError("count must not be negative")
        with self._lock:
            self._forced.extend([kind] * count)

    def clear(self) -> None:
        """Drop forced faults and set all rates to zero."""
        with self._lock:
            self._forced.clear()
        self.configure(FaultConfig())

    def decide(self, *, readable: bool) -> FaultDecision:
        """The decision for the next API request; ``readable`` says a cut-short body is possible."""
        with self._lock:
            decision = FaultDecision()
            if self._forced:
                kind = self._forced.popleft()
                self._apply(decision, kind)
                return decision
            cfg = self.config
            if not (
                cfg.rate_limit_rate
                or cfg.unavailable_rate
                or cfg.slow_rate
                or cfg.expired_token_rate
                or cfg.malformed_rate
            ):
                return decision
            # One draw per kind in a fixed order keeps the sequence reproducible per seed.
            draws = [self._rng.random() for _ in FAULT_KINDS]
            if draws[3] < cfg.expired_token_rate:
                self._apply(decision, "expired_token")
            elif draws[0] < cfg.rate_limit_rate:
                self._apply(decision, "rate_limit")
            elif draws[1] < cfg.unavailable_rate:
                self._apply(decision, "unavailable")
            else:
                if draws[2] < cfg.slow_rate:
                    self._apply(decision, "slow")
                if readable and draws[4] < cfg.malformed_rate:
                    self._apply(decision, "malformed")
            return decision

    def _apply(self, decision: FaultDecision, kind: FaultKind) -> None:
        self.injected[kind] += 1
        if kind == "rate_limit":
            decision.status = 429
        elif kind == "unavailable":
            decision.status = 503
        elif kind == "slow":
            decision.delay = self.config.slow_seconds
        elif kind == "expired_token":
            decision.expire_tokens = True
        else:
            decision.malformed = True


ErrorRenderer = Callable[[int, FaultConfig], tuple[bytes, list[tuple[bytes, bytes]]]]


class FaultMiddleware:
    """ASGI middleware applying :class:`FaultInjector` decisions to the requests ``applies`` selects.

    Args:
        app: the emulator's ASGI app.
        injector: where decisions come from.
        applies: ``applies(method, path)`` is true for API requests that may be faulted.
        render_error: builds the CRM's body and extra headers for an injected 429/503.
        expire_tokens: called when a decision expires every issued token.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        injector: FaultInjector,
        applies: Callable[[str, str], bool],
        render_error: ErrorRenderer,
        expire_tokens: Callable[[], object],
    ) -> None:
        self.app = app
        self.injector = injector
        self.applies = applies
        self.render_error = render_error
        self.expire_tokens = expire_tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.applies(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        decision = self.injector.decide(readable=scope["method"] in ("GET", "POST"))
        if decision.delay:
            await asyncio.sleep(decision.delay)
        if decision.expire_tokens:
            self.expire_tokens()
        if decision.status is not None:
            body, headers = self.render_error(decision.status, self.injector.config)
            await send(
                {
                    "type": "http.response.start",
                    "status": decision.status,
                    "headers": [
                        (b"content-type", b"application/json;charset=UTF-8"),
                        (b"content-length", str(len(body)).encode()),
                        *headers,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if decision.malformed:
            await self.app(scope, receive, _truncating_send(send))
            return
        await self.app(scope, receive, send)


def _truncating_send(send: Send) -> Callable[[Message], Awaitable[None]]:
    """A ``send`` that cuts a 200 JSON body in half (and fixes Content-Length to match)."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        headers = list(start.get("headers", []))
        is_json = any(k.lower() == b"content-type" and b"json" in v for k, v in headers)
        if start.get("status") == 200 and is_json and len(body) > 1:
            body = body[: len(body) // 2]
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return wrapped

"""What every emulator shares: the clock, faults, usage, tokens, and the control API.

The control API exists twice: as Python methods on the emulator object (tests in the same process)
and as JSON endpoints under ``/__emulator`` (benchmarks and the demo, which run the emulator in
another process). Both go through the same methods, so they cannot drift apart.
"""

from __future__ import annotations

import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from crmhub.core.errors import CrmHubError
from crmhub.emulators._common.clock import EmulatorClock, from_ms, to_ms
from crmhub.emulators._common.faults import (
    FAULT_KINDS,
    FaultConfig,
    FaultInjector,
    FaultKind,
    FaultMiddleware,
)
from crmhub.emulators._common.responses import JSONBodyError, iso_ms, json_response, read_json
from crmhub.emulators._common.table import Record, RecordTable
from crmhub.emulators._common.tokens import TokenStore
from crmhub.emulators._common.usage import UsageMeter, UsageSnapshot

CONTROL_PREFIX = "/__emulator"


class EmulatorError(CrmHubError):
    """A control-API call on an emulator cannot be done."""


class UnknownObjectError(EmulatorError, KeyError):
    """The emulator has no such object type."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class RecordNotFoundError(EmulatorError, KeyError):
    """No live record has that id."""

    def __str__(self) -> str:
        return self.message


class InvalidRecordError(EmulatorError, ValueError):
    """Field values the emulator cannot store."""


def parse_when(value: datetime | str | int) -> int:
    """Epoch ms from a datetime, an ISO 8601 string or epoch ms."""
    if isinstance(value, datetime):
        return to_ms(value)
    if isinstance(value, int):
        return value
    text = value.strip().replace("+0000", "+00:00")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return to_ms(datetime.fromisoformat(text))


class EmulatorBase(ABC):
    """Clock, fault injection, usage counting, token store and the control API of one emulator."""

    #: The object types whose records the control API reads and writes.
    object_names: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        seed: int,
        clock: EmulatorClock | None,
        fault: FaultConfig | None,
        daily_limit: int,
        token_lifetime: float,
        token_prefix: str = "",
    ) -> None:
        self.seed = seed
        self.clock = clock or EmulatorClock()
        self.fault_injector = FaultInjector(fault or FaultConfig())
        self.usage_meter = UsageMeter(daily_limit)
        self.tokens = TokenStore(self.clock, lifetime_seconds=token_lifetime, prefix=token_prefix)
        self.lock = threading.RLock()
        self._rng = random.Random(seed ^ 0x5EED)
        self._app: ASGIApp | None = None

    # -- hooks each emulator implements ----------------------------------------------------------

    @abstractmethod
    def table(self, object_name: str) -> tuple[str, RecordTable]:
        """The canonical object name and its table; raises :class:`UnknownObjectError`."""

    @abstractmethod
    def row_of(self, object_name: str, record_id: str) -> int | None:
        """The row number an id names, or ``None`` for a malformed or foreign id."""

    @abstractmethod
    def id_of(self, object_name: str, row: int) -> str:
        """The public id of a row."""

    @abstractmethod
    def _create(self, object_name: str, values: dict[str, Any], stamp: int) -> str:
        """Store a new record (values as the API takes them); returns its id."""

    @abstractmethod
    def _modify(self, object_name: str, row: int, rec: Record, values: dict[str, Any], stamp: int) -> None:
        """Store ``rec`` changed by ``values`` (as the API takes them) with modstamp ``stamp``."""

    @abstractmethod
    def _remove(self, object_name: str, row: int, rec: Record, stamp: int) -> None:
        """Delete (archive) a record, keeping a tombstone stamped ``stamp``."""

    @abstractmethod
    def _restamp(self, object_name: str, row: int, rec: Record, stamp: int) -> None:
        """Store ``rec`` unchanged but with modstamp ``stamp``."""

    @abstractmethod
    def _touch_values(self, object_name: str, rec: Record, serial: int) -> dict[str, Any]:
        """A small, real change to ``rec`` (API form) for :meth:`touch`."""

    @abstractmethod
    def _public(self, object_name: str, rec: Record) -> dict[str, Any]:
        """A record as the control API shows it."""

    @abstractmethod
    def _api_routes(self) -> list[Route]:
        """The CRM's own endpoints."""

    def _exception_handlers(self) -> dict[Any, Callable[[Request, Exception], Any]]:
        """Starlette exception handlers turning the CRM's errors (and 404/405) into its error bodies."""
        return {}

    @abstractmethod
    def _fault_applies(self, method: str, path: str) -> bool:
        """Whether a request is an API call faults may hit."""

    @abstractmethod
    def _fault_error(self, status: int, config: FaultConfig) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The CRM's body and headers for an injected 429 or 503."""

    # -- the ASGI app -----------------------------------------------------------------------------

    @property
    def app(self) -> ASGIApp:
        """The emulator as an ASGI app (built once)."""
        if self._app is None:
            inner = Starlette(
                routes=[Mount(CONTROL_PREFIX, routes=control_routes(self)), *self._api_routes()],
                exception_handlers=self._exception_handlers(),
            )
            self._app = FaultMiddleware(
                inner,
                injector=self.fault_injector,
                applies=self._fault_applies,
                render_error=self._fault_error,
                expire_tokens=self.expire_tokens,
            )
        return self._app

    # -- records ----------------------------------------------------------------------------------

    def _row(self, object_name: str, record_id: str) -> tuple[str, RecordTable, int, Record]:
        name, table = self.table(object_name)
        row = self.row_of(name, record_id)
        rec = table.get(row) if row is not None else None
        if row is None or rec is None:
            raise RecordNotFoundError(f"{name} {record_id} does not exist or is deleted", object=name)
        return name, table, row, rec

    def insert(self, object_name: str, records: Sequence[dict[str, Any]]) -> list[str]:
        """Create records (field values as the CRM's API takes them); returns their ids."""
        with self.lock:
            name, _ = self.table(object_name)
            stamp = self.clock.next_stamp()
            return [self._create(name, dict(values), stamp) for values in records]

    def update(self, object_name: str, record_id: str, values: dict[str, Any]) -> None:
        """Change field values of one record; its modstamp moves to now."""
        with self.lock:
            name, _, row, rec = self._row(object_name, record_id)
            self._modify(name, row, rec, dict(values), self.clock.next_stamp())

    def delete(self, object_name: str, record_id: str) -> None:
        """Delete (archive) one record; it stays visible to the deleted-record endpoints."""
        with self.lock:
            name, _, row, rec = self._row(object_name, record_id)
            self._remove(name, row, rec, self.clock.next_stamp())

    def get(
        self, object_name: str, record_id: str, *, include_deleted: bool = False
    ) -> dict[str, Any] | None:
        """One record as the control API shows it, or ``None``."""
        with self.lock:
            name, table = self.table(object_name)
            row = self.row_of(name, record_id)
            if row is None:
                return None
            rec = table.get(row)
            if rec is None and include_deleted:
                rec = table.get_dead(row)
            return self._public(name, rec) if rec is not None else None

    def count(self, object_name: str, *, include_deleted: bool = False) -> int:
        """How many live records (plus tombstones with ``include_deleted``) there are."""
        with self.lock:
            _, table = self.table(object_name)
            return table.live_count() + (table.dead_count() if include_deleted else 0)

    def ids(self, object_name: str, *, limit: int | None = None) -> list[str]:
        """Ids of live records in id (creation) order; ``limit`` keeps the first ones."""
        with self.lock:
            name, table = self.table(object_name)
            out: list[str] = []
            for row, _ in table.rows_from(0):
                if limit is not None and len(out) >= limit:
                    break
                out.append(self.id_of(name, row))
            return out

    def _pick_rows(
        self,
        name: str,
        table: RecordTable,
        *,
        fraction: float | None,
        count: int | None,
        ids: Sequence[str] | None,
    ) -> list[int]:
        given = sum(x is not None for x in (fraction, count, ids))
        if given != 1:
            raise InvalidRecordError("give exactly one of fraction, count or ids")
        if ids is not None:
            rows = []
            for record_id in ids:
                row = self.row_of(name, record_id)
                if row is None or table.get(row) is None:
                    raise RecordNotFoundError(f"{name} {record_id} does not exist or is deleted", object=name)
                rows.append(row)
            return rows
        refs = table.natural_refs()
        if fraction is not None:
            if not 0.0 <= fraction <= 1.0:
                raise InvalidRecordError(f"fraction must be between 0 and 1, got {fraction}")
            k = round(fraction * len(refs))
            picked = sorted(self._rng.sample(range(len(refs)), k))
        else:
            assert count is not None
            if count < 0:
                raise InvalidRecordError("count must not be negative")
            picked = list(range(min(count, len(refs))))
        return [r if isinstance(r, int) else r["_row"] for r in (refs[i] for i in picked)]

    def touch(
        self,
        object_name: str,
        *,
        fraction: float | None = None,
        count: int | None = None,
        ids: Sequence[str] | None = None,
    ) -> list[str]:
        """Really change some records (a random ``fraction``, the first ``count``, or ``ids``).

        All changed records share one new modstamp, as one bulk update in the CRM would.
        """
        with self.lock:
            name, table = self.table(object_name)
            rows = self._pick_rows(name, table, fraction=fraction, count=count, ids=ids)
            stamp = self.clock.next_stamp()
            for serial, row in enumerate(rows):
                rec = table.get(row)
                assert rec is not None
                self._modify(name, row, rec, self._touch_values(name, rec, serial), stamp)
            return [self.id_of(name, row) for row in rows]

    def set_modstamp(
        self,
        object_name: str,
        modstamp: datetime | str | int,
        *,
        ids: Sequence[str] | None = None,
        count: int | None = None,
    ) -> list[str]:
        """Give records (``ids``, or the first ``count`` in modstamp order) one explicit modstamp."""
        with self.lock:
            name, table = self.table(object_name)
            rows = self._pick_rows(name, table, fraction=None, count=count, ids=ids)
            stamp = parse_when(modstamp)
            for row in rows:
                rec = table.get(row)
                assert rec is not None
                self._restamp(name, row, rec, stamp)
            self.clock.note_stamp(stamp)
            return [self.id_of(name, row) for row in rows]

    # -- faults, usage, tokens --------------------------------------------------------------------

    @property
    def fault(self) -> FaultConfig:
        """The fault rates in force."""
        return self.fault_injector.config

    def set_faults(self, config: FaultConfig) -> None:
        """Replace the fault rates (restarting their random sequence from ``config.seed``)."""
        self.fault_injector.configure(config)

    def inject_fault(self, kind: FaultKind, count: int = 1) -> None:
        """Force a fault on the next ``count`` API requests."""
        self.fault_injector.inject(kind, count)

    def clear_faults(self) -> None:
        """No more faults: rates to zero, forced faults dropped."""
        self.fault_injector.clear()

    @property
    def usage(self) -> UsageSnapshot:
        """API requests counted today against the daily limit."""
        return self.usage_meter.snapshot()

    def reset_daily_usage(self) -> None:
        """Start a new API day."""
        self.usage_meter.reset()

    def set_daily_limit(self, limit: int) -> None:
        """Change the daily request limit."""
        if limit < 0:
            raise InvalidRecordError("the daily limit must not be negative")
        self.usage_meter.limit = limit

    def expire_tokens(self) -> int:
        """Expire every access token issued so far; returns how many were still valid."""
        return self.tokens.expire_all()

    def state(self) -> dict[str, Any]:
        """A JSON summary: clock, usage, faults, record counts."""
        usage = self.usage
        with self.lock:
            counts = {
                name: {"live": self.count(name), "deleted": self.table(name)[1].dead_count()}
                for name in self.object_names
            }
        return {
            "now": iso_ms(self.clock.now_ms()),
            "clockFrozen": self.clock.frozen,
            "usage": {
                "used": usage.used,
                "limit": usage.limit,
                "remaining": usage.remaining,
                "refused": usage.refused,
            },
            "faults": self.fault.to_json(),
            "faultsInjected": dict(self.fault_injector.injected),
            "records": counts,
        }


# -- the /__emulator endpoints ----------------------------------------------------------------------


def _bad(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status)


def control_routes(emulator: EmulatorBase) -> list[Route]:
    """JSON endpoints mirroring the Python control API (mounted under ``/__emulator``)."""

    def guarded(fn: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            try:
                response: Response = await fn(request)
                return response
            except (UnknownObjectError, RecordNotFoundError) as exc:
                return _bad(str(exc), 404)
            except (JSONBodyError, ValueError, TypeError, KeyError) as exc:
                return _bad(str(exc))

        return endpoint

    async def body(request: Request) -> dict[str, Any]:
        data = await read_json(request) if (await request.body()).strip() else {}
        if not isinstance(data, dict):
            raise JSONBodyError("the request body must be a JSON object")
        return data

    async def state(request: Request) -> Response:
        return json_response(emulator.state())

    async def insert(request: Request) -> Response:
        data = await body(request)
        records = data.get("records")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise JSONBodyError('give {"records": [{field: value, ...}, ...]}')
        return json_response({"ids": emulator.insert(request.path_params["object"], records)}, 201)

    async def record(request: Request) -> Response:
        obj, rid = request.path_params["object"], request.path_params["id"]
        if request.method == "GET":
            rec = emulator.get(obj, rid, include_deleted=request.query_params.get("deleted") == "true")
            if rec is None:
                raise RecordNotFoundError(f"{obj} {rid} does not exist")
            return json_response(rec)
        if request.method == "PATCH":
            emulator.update(obj, rid, await body(request))
            return json_response(emulator.get(obj, rid))
        emulator.delete(obj, rid)
        return Response(status_code=204)

    async def touch(request: Request) -> Response:
        data = await body(request)
        ids = emulator.touch(
            request.path_params["object"],
            fraction=data.get("fraction"),
            count=data.get("count"),
            ids=data.get("ids"),
        )
        return json_response({"ids": ids, "count": len(ids)})

    async def modstamp(request: Request) -> Response:
        data = await body(request)
        if "modstamp" not in data:
            raise JSONBodyError('give {"modstamp": "2024-01-31T10:00:00Z", "count": N} or "ids": [...]')
        ids = emulator.set_modstamp(
            request.path_params["object"], data["modstamp"], ids=data.get("ids"), count=data.get("count")
        )
        return json_response({"ids": ids, "count": len(ids)})

    async def ids(request: Request) -> Response:
        limit = request.query_params.get("limit")
        return json_response(
            {"ids": emulator.ids(request.path_params["object"], limit=int(limit) if limit else None)}
        )

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            data = await body(request)
            if "now" in data:
                emulator.clock.set(from_ms(parse_when(data["now"])))
            if "advance_seconds" in data:
                emulator.clock.advance(float(data["advance_seconds"]))
            if data.get("freeze") is True:
                emulator.clock.freeze()
            elif data.get("freeze") is False:
                emulator.clock.unfreeze()
        return json_response({"now": iso_ms(emulator.clock.now_ms()), "frozen": emulator.clock.frozen})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            emulator.set_faults(FaultConfig.from_json(await body(request)))
        elif request.method == "DELETE":
            emulator.clear_faults()
        return json_response(
            {"config": emulator.fault.to_json(), "injected": dict(emulator.fault_injector.injected)}
        )

    async def inject(request: Request) -> Response:
        data = await body(request)
        kind = data.get("kind")
        if kind not in FAULT_KINDS:
            raise JSONBodyError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        emulator.inject_fault(kind, int(data.get("count", 1)))
        return json_response({"injected": kind, "count": int(data.get("count", 1))})

    async def usage(request: Request) -> Response:
        u = emulator.usage
        return json_response(
            {"used": u.used, "limit": u.limit, "remaining": u.remaining, "refused": u.refused}
        )

    async def usage_reset(request: Request) -> Response:
        emulator.reset_daily_usage()
        return await usage(request)

    async def usage_limit(request: Request) -> Response:
        data = await body(request)
        emulator.set_daily_limit(int(data["limit"]))
        return await usage(request)

    async def expire(request: Request) -> Response:
        return json_response({"expired": emulator.expire_tokens()})

    return [
        Route("/state", guarded(state), methods=["GET"]),
        Route("/records/{object}", guarded(insert), methods=["POST"]),
        Route("/records/{object}/ids", guarded(ids), methods=["GET"]),
        Route("/records/{object}/touch", guarded(touch), methods=["POST"]),
        Route("/records/{object}/modstamp", guarded(modstamp), methods=["POST"]),
        Route("/records/{object}/{id}", guarded(record), methods=["GET", "PATCH", "DELETE"]),
        Route("/clock", guarded(clock), methods=["GET", "POST"]),
        Route("/faults", guarded(faults), methods=["GET", "POST", "DELETE"]),
        Route("/faults/inject", guarded(inject), methods=["POST"]),
        Route("/usage", guarded(usage), methods=["GET"]),
        Route("/usage/reset", guarded(usage_reset), methods=["POST"]),
        Route("/usage/limit", guarded(usage_limit), methods=["POST"]),
        Route("/tokens/expire", guarded(expire), methods=["POST"]),
    ]

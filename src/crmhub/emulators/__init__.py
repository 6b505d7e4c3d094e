"""Protocol-faithful CRM emulators: local servers of a CRM's real wire protocol, with seeded data.

Each emulator is an object with an ASGI ``app`` (Starlette) and a Python control API; the same control
actions are served as JSON under ``/__emulator``. Serve one on loopback with :func:`serve_in_thread`
(tests) or ``crmhub emulate salesforce|hubspot`` (the command line).

Control endpoints (``{object}`` is ``Account``/``Contact``/``User`` or ``companies``/``contacts``)::

    GET    /__emulator/state                          clock, usage, faults, record counts
    POST   /__emulator/records/{object}               {"records": [{...}]} -> {"ids": [...]}
    GET    /__emulator/records/{object}/ids?limit=N   ids in id (creation) order
    GET    /__emulator/records/{object}/{id}          one record (?deleted=true for tombstones)
    PATCH  /__emulator/records/{object}/{id}          change fields (modstamp moves)
    DELETE /__emulator/records/{object}/{id}          delete / archive
    POST   /__emulator/records/{object}/touch         {"fraction": 0.01} | {"count": N} | {"ids": [...]}
    POST   /__emulator/records/{object}/modstamp      {"modstamp": "...", "count": N} | "ids": [...]
    GET    /__emulator/clock                          {"now", "frozen"}
    POST   /__emulator/clock                          {"now": "..."}, {"advance_seconds": N}, {"freeze": bool}
    GET    /__emulator/faults                         the fault config and how many were injected
    POST   /__emulator/faults                         a FaultConfig as JSON (keys not given: off)
    DELETE /__emulator/faults                         no more faults
    POST   /__emulator/faults/inject                  {"kind": "rate_limit", "count": 2}
    GET    /__emulator/usage                          {"used", "limit", "remaining", "refused"}
    POST   /__emulator/usage/reset                    start a new API day
    POST   /__emulator/usage/limit                    {"limit": N}
    POST   /__emulator/tokens/expire                  every issued access token stops working
"""

from crmhub.emulators._common import (
    EmulatorClock,
    EmulatorError,
    FaultConfig,
    FaultKind,
    InvalidRecordError,
    RecordNotFoundError,
    UnknownObjectError,
    UsageSnapshot,
)
from crmhub.emulators.hubspot import HubSpotEmulator
from crmhub.emulators.salesforce import SalesforceEmulator
from crmhub.emulators.serve import serve_in_thread

__all__ = [
    "EmulatorClock",
    "EmulatorError",
    "FaultConfig",
    "FaultKind",
    "HubSpotEmulator",
    "InvalidRecordError",
    "RecordNotFoundError",
    "SalesforceEmulator",
    "UnknownObjectError",
    "UsageSnapshot",
    "serve_in_thread",
]

"""Protocol-faithful CRM emulators: local servers of a CRM's real wire protocol, with seeded data.

Each emulator is an object with an ASGI ``app`` (Starlette) and a Python control API; the same control
actions are served as JSON under ``/__emulator``. Serve one on loopback with :func:`serve_in_thread`
(tests) or ``crmhub emulate salesforce|hubspot`` (the command line).
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

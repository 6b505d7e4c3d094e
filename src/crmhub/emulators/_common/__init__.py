"""Code every emulator shares: clock, faults, tokens, usage, seeded fake data, the record table."""

from crmhub.emulators._common.base import (
    EmulatorBase,
    EmulatorError,
    InvalidRecordError,
    RecordNotFoundError,
    UnknownObjectError,
)
from crmhub.emulators._common.clock import EmulatorClock
from crmhub.emulators._common.faults import FaultConfig, FaultInjector, FaultKind
from crmhub.emulators._common.usage import UsageSnapshot

__all__ = [
    "EmulatorBase",
    "EmulatorClock",
    "EmulatorError",
    "FaultConfig",
    "FaultInjector",
    "FaultKind",
    "InvalidRecordError",
    "RecordNotFoundError",
    "UnknownObjectError",
    "UsageSnapshot",
]

"""Schedules: cadences → next run (pure, :mod:`crmhub.core.cadence`) and the scheduler loop.

The cadence names are imported eagerly: job specs (``crmhub.sync.spec``) use them. The scheduler
sits above the services and is loaded on first use, so importing a cadence never pulls it in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.core.cadence import (
    WEEKDAYS,
    Daily,
    EveryMinutes,
    Hourly,
    Monthly,
    Once,
    Schedule,
    ScheduleKind,
    Weekday,
    Weekly,
    Workdays,
    describe,
    next_run,
    parse_schedule,
)

if TYPE_CHECKING:
    from crmhub.schedule.scheduler import RunSubmitter, Scheduler, TickReport

__all__ = [
    "WEEKDAYS",
    "Daily",
    "EveryMinutes",
    "Hourly",
    "Monthly",
    "Once",
    "RunSubmitter",
    "Schedule",
    "ScheduleKind",
    "Scheduler",
    "TickReport",
    "Weekday",
    "Weekly",
    "Workdays",
    "describe",
    "next_run",
    "parse_schedule",
]

_LAZY = {"RunSubmitter", "Scheduler", "TickReport"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from crmhub.schedule import scheduler

        return getattr(scheduler, name)
    raise AttributeError(f"module 'crmhub.schedule' has no attribute {name!r}")

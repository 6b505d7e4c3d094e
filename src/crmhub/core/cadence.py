"""Cadences and their next run: pure functions over aware datetimes (no database, no clock).

A :data:`Schedule` is one of seven cadences, each in a named IANA time zone:

==================  ===============================================================  ==================
kind                runs                                                             fields
==================  ===============================================================  ==================
``once``            at one moment                                                    ``at``
``every_minutes``   every N minutes, counted from each local midnight                ``minutes``
``hourly``          every hour at minute M                                           ``minute``
``daily``           every day at a wall-clock time                                   ``at``
``workdays``        Monday to Friday at a wall-clock time                            ``at``
``weekly``          on the given weekdays at a wall-clock time                       ``days``, ``at``
``monthly``         on a day of the month at a wall-clock time; a day past the       ``day``, ``at``
                    month's end (31 in April) means the month's last day
==================  ===============================================================  ==================

:func:`next_run` gives the first slot strictly after a moment, as aware UTC (``None`` when a
``once`` schedule has passed). Days, weekdays and months are those of the schedule's time zone.

Daylight-saving time — the decisions:

* **A wall-clock time that does not exist** (clocks spring forward over it, e.g. 02:30 on the
  night Europe/Berlin or America/New_York moves from 02:00 to 03:00) runs at the first valid instant
  after the gap: the moment the clocks jump (03:00 local). The run is not skipped.
* **A wall-clock time that happens twice** (clocks fall back over it, e.g. 02:30 on the night
  Europe/Berlin moves from 03:00 back to 02:00) runs once, at its first occurrence (summer time).
* ``daily``, ``workdays``, ``weekly``, ``monthly`` and a ``once`` given as a wall-clock time follow
  these two rules.
* ``every_minutes`` counts real (elapsed) minutes from each local midnight, so intervals stay N
  minutes long through a change: both 01:30s of a fall-back night get a run when N divides 60, and
  on a spring-forward night slots continue N real minutes apart. The interval restarts at local
  midnight (with N not dividing 1440 the day's last interval is shorter).
* ``hourly`` runs at every instant whose local minute is M: every real hour in zones whose changes
  are whole hours (both 01:M of a fall-back night, nothing skipped on a spring-forward night).

A ``once`` schedule's ``at`` may be naive (a wall-clock time in ``timezone``, resolved by the rules
above) or aware (that instant; ``timezone`` then only names how it is shown).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

__all__ = [
    "WEEKDAYS",
    "Daily",
    "EveryMinutes",
    "Hourly",
    "Monthly",
    "Once",
    "Schedule",
    "ScheduleKind",
    "Weekday",
    "Weekly",
    "Workdays",
    "describe",
    "next_run",
    "parse_schedule",
    "resolve_wall_time",
]

ScheduleKind = Literal["once", "every_minutes", "hourly", "daily", "workdays", "weekly", "monthly"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: Weekday names in ``date.weekday()`` order (Monday is 0).
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


@lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


class _Cadence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field("UTC", description="IANA time zone name, e.g. Europe/Berlin.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        name = value.strip()
        try:
            _zone(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}: use an IANA name such as Europe/Berlin or America/New_York"
            ) from None
        return name

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)


def _wall_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("give the time without an offset; the schedule's timezone says where it is")
    return value


class Once(_Cadence):
    """Runs once, at ``at``."""

    kind: Literal["once"] = "once"
    at: datetime


class EveryMinutes(_Cadence):
    """Runs every ``minutes`` real minutes, counted from each local midnight."""

    kind: Literal["every_minutes"] = "every_minutes"
    minutes: int = Field(ge=1, le=1440)


class Hourly(_Cadence):
    """Runs every hour at ``minute``."""

    kind: Literal["hourly"] = "hourly"
    minute: int = Field(0, ge=0, le=59)


class Daily(_Cadence):
    """Runs every day at ``at`` (local wall-clock time)."""

    kind: Literal["daily"] = "daily"
    at: time

    _at = field_validator("at")(_wall_time)


class Workdays(_Cadence):
    """Runs Monday to Friday at ``at``."""

    kind: Literal["workdays"] = "workdays"
    at: time

    _at = field_validator("at")(_wall_time)


class Weekly(_Cadence):
    """Runs on each of ``days`` at ``at``."""

    kind: Literal["weekly"] = "weekly"
    days: tuple[Weekday, ...] = Field(min_length=1)
    at: time

    _at = field_validator("at")(_wall_time)

    @field_validator("days")
    @classmethod
    def _ordered(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        return tuple(d for d in WEEKDAYS if d in value)


class Monthly(_Cadence):
    """Runs on ``day`` of every month at ``at``; a day past the month's end means its last day."""

    kind: Literal["monthly"] = "monthly"
    day: int = Field(ge=1, le=31)
    at: time

    _at = field_validator("at")(_wall_time)


Schedule = Annotated[
    Once | EveryMinutes | Hourly | Daily | Workdays | Weekly | Monthly, Field(discriminator="kind")
]

_ADAPTER: TypeAdapter[Schedule] = TypeAdapter(Schedule)


def parse_schedule(data: Any) -> Schedule:
    """A schedule from its JSON form (as stored in ``job.schedule``); pydantic's ValidationError if bad."""
    return _ADAPTER.validate_python(data)


# Wall-clock times → instants ------------------------------------------------------------------


def resolve_wall_time(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``zone``, by the module's DST rules."""
    local = datetime.combine(day, at, tzinfo=zone)
    # PEP 495: fold=0 reads a wall time with the offset in force before a transition, fold=1 with the
    # one after. Equal: an ordinary time. The offset grows (clocks jump forward): a gap. It shrinks
    # (clocks fall back): ambiguous, and fold=0 is its first occurrence.
    before, after = local.utcoffset(), local.replace(fold=1).utcoffset()
    if before is not None and after is not None and after > before:
        return _gap_end(local, zone)
    return local.astimezone(UTC)


def _gap_end(local: datetime, zone: ZoneInfo) -> datetime:
    """The first valid instant after the gap that swallows the wall-clock time ``local``."""
    # fold=0 reads the time with the offset before the jump (an instant after the gap), fold=1 with
    # the offset after it (an instant before): the transition lies between; find its second.
    late = int(local.replace(fold=0).astimezone(UTC).timestamp())
    early = int(local.replace(fold=1).astimezone(UTC).timestamp())
    if early > late:  # defensive: keep late > early
        early, late = late, early
    after = datetime.fromtimestamp(late, UTC).astimezone(zone).utcoffset()
    while late - early > 1:
        mid = (early + late) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(zone).utcoffset() == after:
            late = mid
        else:
            early = mid
    return datetime.fromtimestamp(late, UTC)


def _aware_utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


# Next runs -----------------------------------------------------------------------------------


def next_run(schedule: Schedule, after: datetime) -> datetime | None:
    """The schedule's first slot strictly after ``after`` (aware), as aware UTC; None if there is none."""
    after = _aware_utc(after, "after")
    zone = schedule.zone
    if isinstance(schedule, Once):
        at = schedule.at
        if at.tzinfo is None:
            slot = resolve_wall_time(at.date(), at.time(), zone)
        else:
            slot = at.astimezone(UTC)
        return slot if slot > after else None
    if isinstance(schedule, EveryMinutes):
        return _next_every(schedule.minutes, after, zone)
    if isinstance(schedule, Hourly):
        return _next_hourly(schedule.minute, after, zone)
    if isinstance(schedule, Daily):
        return _next_on_days(after, zone, schedule.at, lambda d: True, horizon=3)
    if isinstance(schedule, Workdays):
        return _next_on_days(after, zone, schedule.at, lambda d: d.weekday() < 5, horizon=5)
    if isinstance(schedule, Weekly):
        days = frozenset(WEEKDAYS.index(d) for d in schedule.days)
        return _next_on_days(after, zone, schedule.at, lambda d: d.weekday() in days, horizon=9)
    return _next_monthly(schedule.day, schedule.at, after, zone)


def _next_on_days(
    after: datetime, zone: ZoneInfo, at: time, wanted: Callable[[date], bool], *, horizon: int
) -> datetime | None:
    # Start a day early: a gap-shifted slot of the previous local day can still lie ahead.
    day = after.astimezone(zone).date() - _DAY
    for _ in range(horizon + 2):
        if wanted(day):
            slot = resolve_wall_time(day, at, zone)
            if slot > after:
                return slot
        day += _DAY
    return None  # pragma: no cover - every cadence has a slot within its horizon


def _next_monthly(day_of_month: int, at: time, after: datetime, zone: ZoneInfo) -> datetime:
    local = after.astimezone(zone)
    year, month = local.year, local.month - 1  # from the previous month (see _next_on_days)
    if month == 0:
        year, month = year - 1, 12
    while True:
        last = calendar.monthrange(year, month)[1]
        slot = resolve_wall_time(date(year, month, min(day_of_month, last)), at, zone)
        if slot > after:
            return slot
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return resolve_wall_time(day, time(0, 0), zone)


def _next_every(minutes: int, after: datetime, zone: ZoneInfo) -> datetime:
    step = timedelta(minutes=minutes)
    day = after.astimezone(zone).date()
    start = _local_midnight(day, zone)
    if start > after:
        day -= _DAY
        start = _local_midnight(day, zone)
    end = _local_midnight(day + _DAY, zone)
    slot = start + step * ((after - start) // step + 1)
    return slot if slot < end else end


def _next_hourly(minute: int, after: datetime, zone: ZoneInfo) -> datetime:
    probe = after
    for _ in range(4):
        offset = probe.astimezone(zone).utcoffset() or timedelta(0)
        offset_minutes = int(offset.total_seconds() // 60) % 60
        utc_minute = (minute - offset_minutes) % 60
        slot = after.replace(minute=utc_minute, second=0, microsecond=0)
        if slot <= after:
            slot += _HOUR
        if slot.astimezone(zone).minute == minute:
            return slot
        probe = slot  # the offset changed between ``after`` and the slot (a 30-minute shift)
    # A zone whose offsets keep dodging minute M: fall back to a minute-by-minute search.
    slot = after.replace(second=0, microsecond=0) + _MINUTE
    while slot.astimezone(zone).minute != minute:
        slot += _MINUTE
    return slot


# Words ---------------------------------------------------------------------------------------


def describe(schedule: Schedule) -> str:
    """A short human description, e.g. ``daily at 06:30 (Europe/Berlin)``."""

    def hm(t: time) -> str:
        return t.strftime("%H:%M") if not t.second else t.strftime("%H:%M:%S")

    tz = schedule.timezone
    if isinstance(schedule, Once):
        return f"once at {schedule.at.isoformat(sep=' ', timespec='minutes')} ({tz})"
    if isinstance(schedule, EveryMinutes):
        return f"every {schedule.minutes} minute{'s' if schedule.minutes != 1 else ''} ({tz})"
    if isinstance(schedule, Hourly):
        return f"hourly at minute {schedule.minute:02d} ({tz})"
    if isinstance(schedule, Daily):
        return f"daily at {hm(schedule.at)} ({tz})"
    if isinstance(schedule, Workdays):
        return f"Monday to Friday at {hm(schedule.at)} ({tz})"
    if isinstance(schedule, Weekly):
        names = ", ".join(d.capitalize() for d in schedule.days)
        return f"weekly on {names} at {hm(schedule.at)} ({tz})"
    return f"monthly on day {schedule.day} at {hm(schedule.at)} ({tz})"

"""Cadences × time zones × DST transitions → expected next runs (see crmhub.schedule.cadence's rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from crmhub.core.errors import ConfigError
from crmhub.schedule import describe, next_run, parse_schedule
from crmhub.sync.spec import JobSpec

NY, BERLIN, SYDNEY, SANTIAGO, KOLKATA, LORD_HOWE = (
    "America/New_York",  # 2024: +1h on Mar 10 02:00, back on Nov 3 02:00
    "Europe/Berlin",  # 2024: +1h on Mar 31 02:00, back on Oct 27 03:00
    "Australia/Sydney",  # 2024: back on Apr 7 03:00, +1h on Oct 6 02:00
    "America/Santiago",  # 2024: back at midnight Apr 7 (24:00 → 23:00), +1h at midnight Sep 8
    "Asia/Kolkata",  # +05:30, no DST
    "Australia/Lord_Howe",  # half-hour DST: back Apr 7 02:00 → 01:30, on Oct 6 02:00 → 02:30
)


def daily(at: str, tz: str) -> dict[str, Any]:
    return {"kind": "daily", "at": at, "timezone": tz}


# (schedule, after (UTC), expected next run (local time with offset) or None)
CASES: list[tuple[str, dict[str, Any], str, str | None]] = [
    # daily
    (
        "daily New York at a gap time runs when the clocks jump",
        daily("02:30", NY),
        "2024-03-09T12:00Z",
        "2024-03-10T03:00-04:00",
    ),
    (
        "daily New York after the gap run goes on at the wall time",
        daily("02:30", NY),
        "2024-03-10T07:00Z",
        "2024-03-11T02:30-04:00",
    ),
    (
        "daily New York at an ambiguous time runs at its first occurrence",
        daily("01:30", NY),
        "2024-11-02T12:00Z",
        "2024-11-03T01:30-04:00",
    ),
    (
        "daily New York skips the second occurrence",
        daily("01:30", NY),
        "2024-11-03T05:30Z",
        "2024-11-04T01:30-05:00",
    ),
    (
        "daily Berlin keeps its wall time across spring forward",
        daily("06:30", BERLIN),
        "2024-03-30T06:00Z",
        "2024-03-31T06:30+02:00",
    ),
    ("daily Berlin at a gap time", daily("02:30", BERLIN), "2024-03-30T12:00Z", "2024-03-31T03:00+02:00"),
    (
        "daily Berlin at an ambiguous time",
        daily("02:30", BERLIN),
        "2024-10-26T12:00Z",
        "2024-10-27T02:30+02:00",
    ),
    (
        "daily Berlin after the ambiguous run",
        daily("02:30", BERLIN),
        "2024-10-27T00:30Z",
        "2024-10-28T02:30+01:00",
    ),
    (
        "daily Sydney at a gap time (southern spring)",
        daily("02:30", SYDNEY),
        "2024-10-05T00:00Z",
        "2024-10-06T03:00+11:00",
    ),
    (
        "daily Sydney at an ambiguous time (southern autumn)",
        daily("02:30", SYDNEY),
        "2024-04-06T00:00Z",
        "2024-04-07T02:30+11:00",
    ),
    (
        "daily Santiago at a midnight that does not exist",
        daily("00:00", SANTIAGO),
        "2024-09-07T12:00Z",
        "2024-09-08T01:00-03:00",
    ),
    (
        "daily Santiago at an hour that repeats before midnight",
        daily("23:30", SANTIAGO),
        "2024-04-06T12:00Z",
        "2024-04-06T23:30-03:00",
    ),
    (
        "daily Kolkata on a half-hour offset",
        daily("09:00", KOLKATA),
        "2024-03-10T00:00Z",
        "2024-03-10T09:00+05:30",
    ),
    (
        "daily is strictly after: at the slot itself comes the next day",
        daily("09:00", BERLIN),
        "2024-06-01T07:00Z",
        "2024-06-02T09:00+02:00",
    ),
    ("daily UTC", daily("23:59", "UTC"), "2024-12-31T23:59:30Z", "2025-01-01T23:59+00:00"),
    # every N minutes: real minutes from local midnight
    (
        "every 15 minutes New York through the repeated hour",
        {"kind": "every_minutes", "minutes": 15, "timezone": NY},
        "2024-11-03T05:50Z",
        "2024-11-03T01:00-05:00",
    ),
    (
        "every 60 minutes Berlin across spring forward",
        {"kind": "every_minutes", "minutes": 60, "timezone": BERLIN},
        "2024-03-31T00:30Z",
        "2024-03-31T03:00+02:00",
    ),
    (
        "every 90 minutes Berlin counts real minutes across the gap",
        {"kind": "every_minutes", "minutes": 90, "timezone": BERLIN},
        "2024-03-31T00:30Z",
        "2024-03-31T04:00+02:00",
    ),
    (
        "every 7 minutes restarts at midnight",
        {"kind": "every_minutes", "minutes": 7, "timezone": "UTC"},
        "2024-01-01T23:58Z",
        "2024-01-02T00:00+00:00",
    ),
    (
        "every 30 minutes Kolkata aligned to local midnight",
        {"kind": "every_minutes", "minutes": 30, "timezone": KOLKATA},
        "2024-01-01T00:10Z",
        "2024-01-01T06:00+05:30",
    ),
    (
        "every 30 minutes Santiago into a missing midnight",
        {"kind": "every_minutes", "minutes": 30, "timezone": SANTIAGO},
        "2024-09-08T03:50Z",
        "2024-09-08T01:00-03:00",
    ),
    (
        "every 60 minutes Santiago runs both 23:00s of a 25-hour day",
        {"kind": "every_minutes", "minutes": 60, "timezone": SANTIAGO},
        "2024-04-07T02:10Z",
        "2024-04-06T23:00-04:00",
    ),
    (
        "every 1440 minutes is daily at midnight",
        {"kind": "every_minutes", "minutes": 1440, "timezone": NY},
        "2024-03-10T05:00Z",
        "2024-03-11T00:00-04:00",
    ),
    # hourly: every real hour at local minute M
    (
        "hourly New York runs the repeated hour again",
        {"kind": "hourly", "minute": 15, "timezone": NY},
        "2024-11-03T05:20Z",
        "2024-11-03T01:15-05:00",
    ),
    (
        "hourly New York one real hour across the gap",
        {"kind": "hourly", "minute": 15, "timezone": NY},
        "2024-03-10T06:20Z",
        "2024-03-10T03:15-04:00",
    ),
    (
        "hourly Kolkata at local minute 0",
        {"kind": "hourly", "minute": 0, "timezone": KOLKATA},
        "2024-01-01T00:10Z",
        "2024-01-01T06:00+05:30",
    ),
    (
        "hourly Lord Howe across a half-hour spring forward",
        {"kind": "hourly", "minute": 45, "timezone": LORD_HOWE},
        "2024-10-05T15:20Z",
        "2024-10-06T02:45+11:00",
    ),
    (
        "hourly Lord Howe across a half-hour fall back",
        {"kind": "hourly", "minute": 15, "timezone": LORD_HOWE},
        "2024-04-06T14:20Z",
        "2024-04-07T02:15+10:30",
    ),
    # workdays
    (
        "workdays Berlin from Friday after the run to Monday",
        {"kind": "workdays", "at": "08:00", "timezone": BERLIN},
        "2024-03-29T08:00Z",
        "2024-04-01T08:00+02:00",
    ),
    (
        "workdays New York from Saturday to Monday",
        {"kind": "workdays", "at": "08:00", "timezone": NY},
        "2024-03-09T15:00Z",
        "2024-03-11T08:00-04:00",
    ),
    (
        "workdays ignore the Sunday gap",
        {"kind": "workdays", "at": "02:30", "timezone": NY},
        "2024-03-09T12:00Z",
        "2024-03-11T02:30-04:00",
    ),
    (
        "workdays Sydney: Friday evening UTC is Saturday there",
        {"kind": "workdays", "at": "09:00", "timezone": SYDNEY},
        "2024-06-07T20:00Z",
        "2024-06-10T09:00+10:00",
    ),
    (
        "workdays on a Wednesday before the time",
        {"kind": "workdays", "at": "17:00", "timezone": KOLKATA},
        "2024-06-05T05:00Z",
        "2024-06-05T17:00+05:30",
    ),
    # weekly
    (
        "weekly on Sunday at a gap time",
        {"kind": "weekly", "days": ["sun"], "at": "02:30", "timezone": NY},
        "2024-03-09T12:00Z",
        "2024-03-10T03:00-04:00",
    ),
    (
        "weekly on Monday and Thursday from a Tuesday",
        {"kind": "weekly", "days": ["thu", "mon"], "at": "10:00", "timezone": SYDNEY},
        "2024-06-04T02:00Z",
        "2024-06-06T10:00+10:00",
    ),
    (
        "weekly on Sunday at an ambiguous time",
        {"kind": "weekly", "days": ["sun"], "at": "02:30", "timezone": BERLIN},
        "2024-10-26T12:00Z",
        "2024-10-27T02:30+02:00",
    ),
    (
        "weekly a week later after the run",
        {"kind": "weekly", "days": ["wed"], "at": "12:00", "timezone": "UTC"},
        "2024-06-05T12:00Z",
        "2024-06-12T12:00+00:00",
    ),
    # monthly: a day past the month's end means its last day
    (
        "monthly on the 31st in a leap February",
        {"kind": "monthly", "day": 31, "at": "09:00", "timezone": BERLIN},
        "2024-01-31T09:00Z",
        "2024-02-29T09:00+01:00",
    ),
    (
        "monthly on the 31st in a common February",
        {"kind": "monthly", "day": 31, "at": "09:00", "timezone": BERLIN},
        "2023-01-31T09:00Z",
        "2023-02-28T09:00+01:00",
    ),
    (
        "monthly on the 31st in March after the DST change",
        {"kind": "monthly", "day": 31, "at": "09:00", "timezone": BERLIN},
        "2024-02-29T09:00Z",
        "2024-03-31T09:00+02:00",
    ),
    (
        "monthly on the 31st in April",
        {"kind": "monthly", "day": 31, "at": "09:00", "timezone": BERLIN},
        "2024-03-31T08:00Z",
        "2024-04-30T09:00+02:00",
    ),
    (
        "monthly on the 30th in February",
        {"kind": "monthly", "day": 30, "at": "09:00", "timezone": NY},
        "2024-02-01T00:00Z",
        "2024-02-29T09:00-05:00",
    ),
    (
        "monthly across the year end",
        {"kind": "monthly", "day": 1, "at": "00:00", "timezone": "UTC"},
        "2024-12-15T00:00Z",
        "2025-01-01T00:00+00:00",
    ),
    (
        "monthly at a gap time",
        {"kind": "monthly", "day": 10, "at": "02:30", "timezone": NY},
        "2024-03-01T00:00Z",
        "2024-03-10T03:00-04:00",
    ),
    (
        "monthly on the 31st in Sydney: the UTC date is still the 30th",
        {"kind": "monthly", "day": 31, "at": "06:00", "timezone": SYDNEY},
        "2024-07-30T12:00Z",
        "2024-07-31T06:00+10:00",
    ),
    # once
    (
        "once at a wall time in a gap",
        {"kind": "once", "at": "2024-03-10T02:30", "timezone": NY},
        "2024-03-01T00:00Z",
        "2024-03-10T03:00-04:00",
    ),
    (
        "once at an ambiguous wall time",
        {"kind": "once", "at": "2024-11-03T01:30", "timezone": NY},
        "2024-11-01T00:00Z",
        "2024-11-03T01:30-04:00",
    ),
    (
        "once given with an offset",
        {"kind": "once", "at": "2024-06-01T12:00+02:00", "timezone": NY},
        "2024-06-01T00:00Z",
        "2024-06-01T06:00-04:00",
    ),
    (
        "once has no run after its time",
        {"kind": "once", "at": "2024-06-01T12:00", "timezone": BERLIN},
        "2024-06-01T10:00Z",
        None,
    ),
]


@pytest.mark.parametrize(("schedule", "after", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_next_run(schedule: dict[str, Any], after: str, expected: str | None) -> None:
    parsed = parse_schedule(schedule)
    got = next_run(parsed, datetime.fromisoformat(after.replace("Z", "+00:00")))
    if expected is None:
        assert got is None
    else:
        assert got is not None and got.tzinfo is not None and got.utcoffset() == timedelta(0)
        want = datetime.fromisoformat(expected)
        assert got == want, f"got {got.astimezone(parsed.zone).isoformat()}, want {expected}"
        # The local rendering matches too (the offset says which of two occurrences it is).
        assert got.astimezone(parsed.zone).utcoffset() == want.utcoffset()


def test_given_a_naive_after_when_asking_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_run(parse_schedule(daily("06:00", "UTC")), datetime(2024, 1, 1))  # noqa: DTZ001


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (daily("06:00", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (daily("25:00", "UTC"), "at"),
        ({"kind": "daily", "at": "06:00+02:00", "timezone": "UTC"}, "without an offset"),
        ({"kind": "weekly", "days": [], "at": "06:00"}, "days"),
        ({"kind": "weekly", "days": ["someday"], "at": "06:00"}, "days"),
        ({"kind": "monthly", "day": 32, "at": "06:00"}, "day"),
        ({"kind": "every_minutes", "minutes": 0}, "minutes"),
        ({"kind": "hourly", "minute": 60}, "minute"),
        ({"kind": "fortnightly", "at": "06:00"}, "kind"),
        ({"kind": "daily", "at": "06:00", "cron": "* * * * *"}, "cron"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.get("kind"),
)
def test_given_a_bad_schedule_when_parsed_then_the_error_names_the_field(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_schedule(data)


def test_weekly_days_are_kept_in_week_order_and_described() -> None:
    weekly = parse_schedule(
        {"kind": "weekly", "days": ["fri", "mon", "fri"], "at": "07:45", "timezone": BERLIN}
    )
    assert weekly.days == ("mon", "fri")  # type: ignore[union-attr]
    assert describe(weekly) == "weekly on Mon, Fri at 07:45 (Europe/Berlin)"
    assert describe(parse_schedule({"kind": "every_minutes", "minutes": 15})) == "every 15 minutes (UTC)"
    assert (
        describe(parse_schedule({"kind": "monthly", "day": 31, "at": "09:00"}))
        == "monthly on day 31 at 09:00 (UTC)"
    )


def test_a_job_spec_carries_its_schedule_through_yaml() -> None:
    spec = JobSpec.model_validate(
        {
            "name": "nightly",
            "direction": "inbound",
            "connection": "files",
            "remote_object": "accounts",
            "object_type": "account",
            "schedule": {"kind": "workdays", "at": "06:30", "timezone": BERLIN},
        }
    )
    again = JobSpec.from_yaml(spec.to_yaml())
    assert again.schedule == spec.schedule
    assert "kind: workdays" in spec.to_yaml()
    with pytest.raises(ConfigError, match="schedule"):
        JobSpec.from_yaml(spec.to_yaml().replace("Europe/Berlin", "Europe/Atlantis"))


ZONES = [NY, BERLIN, SYDNEY, SANTIAGO, KOLKATA, LORD_HOWE, "UTC", "Pacific/Apia", "America/St_Johns"]
SCHEDULES = st.one_of(
    st.builds(
        lambda m, tz: {"kind": "every_minutes", "minutes": m, "timezone": tz},
        st.integers(1, 1440),
        st.sampled_from(ZONES),
    ),
    st.builds(
        lambda m, tz: {"kind": "hourly", "minute": m, "timezone": tz},
        st.integers(0, 59),
        st.sampled_from(ZONES),
    ),
    st.builds(
        lambda h, m, tz: daily(f"{h:02d}:{m:02d}", tz),
        st.integers(0, 23),
        st.integers(0, 59),
        st.sampled_from(ZONES),
    ),
    st.builds(
        lambda h, tz: {"kind": "workdays", "at": f"{h:02d}:30", "timezone": tz},
        st.integers(0, 23),
        st.sampled_from(ZONES),
    ),
    st.builds(
        lambda d, h, tz: {"kind": "monthly", "day": d, "at": f"{h:02d}:00", "timezone": tz},
        st.integers(1, 31),
        st.integers(0, 23),
        st.sampled_from(ZONES),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    schedule=SCHEDULES,
    after=st.integers(946684800, 2145916800).map(lambda ts: datetime.fromtimestamp(ts, UTC)),
)
def test_next_runs_move_forward_and_keep_their_wall_time(schedule: dict[str, Any], after: datetime) -> None:
    parsed = parse_schedule(schedule)
    first = next_run(parsed, after)
    assert first is not None and first > after
    second = next_run(parsed, first)
    assert second is not None and second > first
    # Nothing is skipped: just before the first slot, the first slot is next.
    assert next_run(parsed, first - timedelta(microseconds=1)) == first
    local = first.astimezone(parsed.zone)
    if schedule["kind"] in ("daily", "workdays", "monthly"):
        wall = parsed.at  # type: ignore[union-attr]
        shifted = (local.hour, local.minute) != (wall.hour, wall.minute)
        if shifted:  # only a wall time that does not exist that day moves, and then to the jump
            before = first - timedelta(seconds=1)
            assert before.astimezone(parsed.zone).utcoffset() != local.utcoffset()
    if schedule["kind"] == "workdays":
        assert local.weekday() < 5 or (local.hour, local.minute) != (parsed.at.hour, parsed.at.minute)  # type: ignore[union-attr]
    if schedule["kind"] == "hourly":
        assert local.minute == schedule["minute"]
    if schedule["kind"] == "every_minutes":
        assert second - first <= timedelta(minutes=schedule["minutes"])

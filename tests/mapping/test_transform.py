"""The compiled mapping: canonical values, and the fast path for CRM datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmhub.mapping.spec import MappingRow
from crmhub.mapping.transform import Transformer


def _transformer(source_format: str | None = None) -> Transformer:
    rows = [
        MappingRow(source="Id", target="account_id"),
        MappingRow(source="CreatedDate", target="created", source_format=source_format),
    ]
    return Transformer.compile(
        rows, target_types={"account_id": "text", "created": "datetime"}, canonical=True
    )


def _slow(text: str) -> str:
    parsed = datetime.fromisoformat(text).astimezone(UTC)
    return parsed.isoformat(timespec="microseconds")[:-6] + "Z"


@given(
    when=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),  # noqa: DTZ001 - hypothesis bounds are naive
    suffix=st.sampled_from(["+0000", "Z", "+01:00", "-0530"]),
)
def test_given_any_crm_datetime_when_mapped_then_the_fast_path_agrees_with_full_parsing(
    when: datetime, suffix: str
) -> None:
    text = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}" + suffix
    out, errors = _transformer()({"Id": "1", "CreatedDate": text})
    assert errors == []
    assert out["created"] == _slow(text)


@pytest.mark.parametrize(
    "text",
    [
        "2025-13-03T06:57:20.717+0000",
        "2025-02-30T06:57:20.717+0000",
        "2025-02-29T06:57:20.717Z",
        "2025-01-01T24:00:00.000+0000",
        "2025-01-01T10:61:00.000+0000",
        "yesterday",
    ],
)
def test_given_an_impossible_datetime_when_mapped_then_it_is_an_error_naming_target_and_value(
    text: str,
) -> None:
    out, errors = _transformer()({"Id": "1", "CreatedDate": text})
    assert "created" not in out
    assert [(e.target, e.raw) for e in errors] == [("created", text)]


def test_given_a_custom_source_format_when_an_iso_value_arrives_then_it_is_not_taken_by_the_fast_path() -> (
    None
):
    out, errors = _transformer("DD/MM/YYYY HH:mm")({"Id": "1", "CreatedDate": "2025-10-03T06:57:20.717+0000"})
    assert errors and errors[0].target == "created"
    out, errors = _transformer("DD/MM/YYYY HH:mm")({"Id": "1", "CreatedDate": "03/10/2025 06:57"})
    assert out["created"] == "2025-10-03T06:57:00.000000Z"


def test_given_an_offset_datetime_when_mapped_then_it_is_stored_in_utc() -> None:
    out, _ = _transformer()({"Id": "1", "CreatedDate": "2025-10-03T06:57:20.717+0200"})
    assert out["created"] == (
        datetime(2025, 10, 3, 6, 57, 20, 717000, tzinfo=UTC) - timedelta(hours=2)
    ).isoformat(timespec="microseconds").replace("+00:00", "Z")

"""Hub ids (ULIDs) increase with every id this process makes, within a batch and across calls in
the same millisecond: the greatest run id of a job is its newest run."""

from __future__ import annotations

import time

from crmhub.core.ids import hub_id_timestamp_ms, new_hub_id, new_hub_ids


def test_ids_made_one_after_another_in_the_same_millisecond_increase() -> None:
    ids = [new_hub_id() for _ in range(2000)]  # far more than one per millisecond
    assert len(set(ids)) == 2000
    assert ids == sorted(ids)
    same_ms = [a for a, b in zip(ids, ids[1:], strict=False) if a[:10] == b[:10]]
    assert same_ms, "the loop never made two ids in one millisecond; the test proves nothing"


def test_batches_continue_where_the_last_call_stopped() -> None:
    first = new_hub_ids(500)
    second = new_hub_ids(500)
    assert first == sorted(first) and second == sorted(second) and first[-1] < second[0]


def test_an_id_carries_its_creation_time_and_an_explicit_time_is_kept() -> None:
    before = int(time.time() * 1000)
    made = new_hub_id()
    after = int(time.time() * 1000)
    assert before <= hub_id_timestamp_ms(made) <= after + 1
    assert hub_id_timestamp_ms(new_hub_ids(1, timestamp_ms=1_700_000_000_123)[0]) == 1_700_000_000_123
    assert len(made) == 26 and made.isalnum() and made.upper() == made

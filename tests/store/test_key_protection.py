"""Keys change only on purpose: a write by hub id never rewrites a record's key (issue 11, item 1)."""

from __future__ import annotations

import pytest

from crmhub.core.errors import ValidationError
from crmhub.store import audit
from crmhub.store.records import Outcome


def test_given_a_row_by_hub_id_naming_another_key_then_the_key_is_kept_and_the_rest_applied(hub) -> None:
    created = hub.upsert("account", [{"account_id": "0015g00000A", "name": "Acme"}]).results[0]
    result = hub.upsert(
        "account",
        [{"hub_id": created.hub_id, "account_id": "3000001001", "name": "Acme Inc"}],
        match="hub_id",
    ).results[0]
    assert result.status is Outcome.UPDATED
    assert result.key_conflict == ("0015g00000A", "3000001001")
    record = hub.get_record(created.hub_id)
    assert (record.key, record.values) == ("0015g00000A", {"account_id": "0015g00000A", "name": "Acme Inc"})
    assert hub.find_record("account", "3000001001") is None


def test_given_a_row_by_hub_id_removing_the_key_then_it_stays(hub) -> None:
    created = hub.upsert("account", [{"account_id": "A-1", "name": "Acme"}]).results[0]
    result = hub.upsert("account", [{"hub_id": created.hub_id, "account_id": None}], match="hub_id").results[
        0
    ]
    assert (result.status, result.key_conflict) == (Outcome.UNCHANGED, ("A-1", None))
    assert hub.get_record(created.hub_id).values == {"account_id": "A-1", "name": "Acme"}


def test_given_the_same_key_in_another_case_then_no_conflict(hub) -> None:
    created = hub.upsert("contact", [{"email": "Jane@Acme.com"}]).results[0]
    result = hub.upsert(
        "contact", [{"hub_id": created.hub_id, "email": "jane@acme.com"}], match="hub_id"
    ).results[0]
    assert (result.status, result.key_conflict) == (Outcome.UPDATED, None)


def test_given_key_less_records_then_a_row_by_hub_id_fills_a_free_key_and_not_a_taken_one(hub) -> None:
    free, taken = hub.upsert("account", [{"name": "Free"}, {"name": "Taken"}], match="create").results
    assert (free.status, taken.status) == (Outcome.CREATED, Outcome.CREATED)
    hub.upsert("account", [{"account_id": "HELD", "name": "Holder"}])
    results = hub.upsert(
        "account",
        [{"hub_id": free.hub_id, "account_id": "NEW-1"}, {"hub_id": taken.hub_id, "account_id": "HELD"}],
        match="hub_id",
    ).results
    assert (results[0].status, results[0].key_conflict) == (Outcome.UPDATED, None)
    assert results[1].key_conflict == (None, "HELD")
    assert hub.find_record("account", "NEW-1").hub_id == free.hub_id
    assert hub.get_record(taken.hub_id).key is None
    assert hub.find_record("account", "HELD").values["name"] == "Holder"


def test_given_change_key_then_it_is_the_one_audited_way_and_refuses_a_taken_key(hub) -> None:
    one, two = hub.upsert("account", [{"account_id": "K-1"}, {"account_id": "K-2"}]).results
    with pytest.raises(ValidationError, match="belongs to hub record"):
        hub.change_key(one.hub_id, "K-2", actor="admin@example.com")
    hub.change_key(one.hub_id, "K-9", actor="admin@example.com")
    record = hub.find_record("account", "K-9")
    assert record.hub_id == one.hub_id and record.values["account_id"] == "K-9"
    assert hub.find_record("account", "K-1") is None
    with hub.db.read() as session:
        events = [e for e in audit.list_events(session) if e.action == "change_key"]
    assert [(e.actor, e.details["old"], e.details["new"]) for e in events] == [
        ("admin@example.com", "K-1", "K-9")
    ]

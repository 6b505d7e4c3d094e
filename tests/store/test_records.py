from datetime import UTC, datetime

import pytest

from crmhub.core.errors import NotFoundError
from crmhub.store.records import Outcome, Stamp, stamp_of


def _statuses(result) -> list[str]:
    return [r.status.value for r in result.results]


def test_given_new_rows_when_upserted_then_records_are_created_with_typed_values(hub) -> None:
    result = hub.upsert(
        "account",
        [
            {
                "account_id": "A-1",
                "name": "Acme",
                "employees": "1200",
                "annual_revenue": 1.5e6,
                "products": "CRM; Billing;",
                "website": "https://acme.example",
            },
        ],
        stamp=Stamp(job="job-1", run="run-1"),
    )
    assert _statuses(result) == ["created"]
    record = hub.find_record("account", "A-1")
    assert record is not None
    assert record.values == {
        "account_id": "A-1",
        "name": "Acme",
        "employees": 1200,
        "annual_revenue": 1500000.0,
        "products": ["CRM", "Billing"],
        "website": "https://acme.example",
    }
    assert stamp_of(record, "name") == {"source_time": None, "job": "job-1", "run": "run-1"}
    assert record.created_at.tzinfo is not None


def test_given_the_same_batch_twice_when_upserted_then_the_second_changes_nothing(hub) -> None:
    rows = [{"account_id": f"A-{i}", "name": f"Company {i}", "employees": i} for i in range(50)]
    first = hub.upsert("account", rows)
    before = {r.hub_id: (r.values, r.stamps, r.updated_at) for r in hub.list_records("account", limit=100)}
    second = hub.upsert("account", rows, stamp=Stamp(job="other"))
    after = {r.hub_id: (r.values, r.stamps, r.updated_at) for r in hub.list_records("account", limit=100)}
    assert first.counts()["created"] == 50
    assert second.counts() == {"created": 0, "updated": 0, "unchanged": 50, "ignored": 0, "failed": 0}
    assert before == after


def test_given_a_changed_attribute_when_upserted_then_only_it_gets_the_new_stamp(hub) -> None:
    hub.upsert(
        "account", [{"account_id": "A-1", "name": "Acme", "industry": "Retail"}], stamp=Stamp("j1", "r1")
    )
    result = hub.upsert(
        "account", [{"account_id": "A-1", "name": "Acme Corp", "industry": "Retail"}], stamp=Stamp("j2", "r2")
    )
    assert _statuses(result) == ["updated"]
    assert result.results[0].changed == ("name",)
    record = hub.find_record("account", "A-1")
    assert record.values["name"] == "Acme Corp"
    assert stamp_of(record, "name")["run"] == "r2"
    assert stamp_of(record, "industry")["run"] == "r1"


def test_given_a_bad_value_when_upserted_then_that_record_fails_by_name_and_the_rest_are_written(hub) -> None:
    rows = [
        {"account_id": "A-1", "name": "Good"},
        {"account_id": "A-2", "name": "Bad", "employees": "many"},
        {"account_id": "A-3", "name": "Bad date", "products": {"not": "a list"}},
        {"name": "No key"},
        {"account_id": "A-5", "colour": "blue"},
        {"account_id": "A-6", "name": "Also good"},
    ]
    result = hub.upsert("account", rows)
    assert _statuses(result) == ["created", "failed", "failed", "failed", "failed", "created"]
    bad = result.results[1]
    assert (bad.key, bad.attribute, bad.value) == ("A-2", "employees", "many")
    assert bad.error == "account A-2: attribute 'employees' expects a number, got 'many'"
    assert "products" in result.results[2].error
    assert "key attribute 'account_id' is missing" in result.results[3].error
    assert "unknown attribute 'colour'" in result.results[4].error
    assert hub.count_records("account") == 2


def test_given_a_whole_number_past_64_bits_when_upserted_then_only_that_record_fails_and_says_why(hub) -> None:
    rows = [
        {"account_id": "A-1", "employees": 2**70},
        {"account_id": "A-2", "employees": "1180591620717411303424"},
        {"account_id": "A-3", "employees": 2**63 - 1, "annual_revenue": "1180591620717411303424.5"},
    ]
    result = hub.upsert("account", rows)
    assert _statuses(result) == ["failed", "failed", "created"]
    assert "attribute 'employees' expects a whole number between" in result.results[0].error
    assert "text attribute" in result.results[1].error
    stored = hub.find_record("account", "A-3")
    assert stored.values["employees"] == 2**63 - 1 and isinstance(stored.values["annual_revenue"], float)


def test_given_a_key_longer_than_512_characters_when_upserted_then_only_that_record_fails_and_says_why(
    hub,
) -> None:
    # PostgreSQL's key column holds 512 characters: a longer key failed the whole batch there
    # (and was stored on SQLite).
    rows = [{"account_id": "A-1"}, {"account_id": "k" * 513}, {"account_id": "k" * 512}]
    result = hub.upsert("account", rows)
    assert _statuses(result) == ["created", "failed", "created"]
    assert result.results[1].error == (
        "account row 1: key attribute 'account_id' is 513 characters long; keys are at most 512 "
        "(map a shorter, unique value to the key)"
    )
    assert hub.find_record("account", "k" * 512) is not None
    assert hub.count_records("account") == 2


def test_given_nul_characters_in_values_when_upserted_then_they_are_dropped_and_a_repeat_changes_nothing(
    hub,
) -> None:
    # PostgreSQL's JSONB refuses "\u0000": one such value failed the whole batch there.
    rows = [
        {"account_id": "A-1", "name": "Ac\x00me", "products": ["CRM\x00", "\x00"]},
        {"account_id": "A-2", "name": "Beta"},
    ]
    assert _statuses(hub.upsert("account", rows)) == ["created", "created"]
    assert hub.find_record("account", "A-1").values == {
        "account_id": "A-1",
        "name": "Acme",
        "products": ["CRM"],
    }
    assert _statuses(hub.upsert("account", rows)) == ["unchanged", "unchanged"]


def test_given_canonical_values_holding_nul_when_written_then_the_store_drops_it_on_both_databases(
    hub,
) -> None:
    # Canonical rows skip coercion (the sync's mapped rows; an expression can make a NUL).
    from crmhub.store import records as record_repo

    with hub.db.begin() as session:
        result = record_repo.upsert_records(
            session, hub.schema("account"), [{"account_id": "A-9", "name": "x\x00y"}], coerced=True
        )
    assert _statuses(result) == ["created"]
    assert hub.find_record("account", "A-9").values["name"] == "xy"


def test_given_keys_and_values_with_copy_and_json_special_characters_then_they_round_trip_and_match(
    hub,
) -> None:
    # PostgreSQL writes records as COPY text lines the hub formats itself, and looks keys up
    # through a JSON array: every character either treats specially must come back as it went.
    odd = ["back\\slash", "tab\there", "new\nline", "cr\rhere", "\\N", "\\.", 'quote"s', "ünï €", "[1]"]
    rows = [{"account_id": k, "name": k, "products": [k, "x"]} for k in odd]
    assert _statuses(hub.upsert("account", rows)) == ["created"] * len(odd)
    for k in odd:
        record = hub.find_record("account", k)
        assert record is not None and record.values == {"account_id": k, "name": k, "products": [k, "x"]}
    assert _statuses(hub.upsert("account", rows)) == ["unchanged"] * len(odd)
    renamed = [{"account_id": k, "name": k + "!"} for k in odd]
    assert _statuses(hub.upsert("account", renamed)) == ["updated"] * len(odd)
    assert hub.find_record("account", "tab\there").values["name"] == "tab\there!"


def test_given_emails_differing_in_case_when_upserted_then_they_are_one_contact(hub) -> None:
    hub.upsert("contact", [{"email": "Ada@Example.COM", "first_name": "Ada"}])
    result = hub.upsert("contact", [{"email": "ada@example.com", "last_name": "Lovelace"}])
    assert _statuses(result) == ["updated"]
    assert hub.count_records("contact") == 1
    record = hub.find_record("contact", "ADA@example.com")
    assert record.values["first_name"] == "Ada" and record.values["last_name"] == "Lovelace"


def test_given_account_ids_differing_in_case_then_they_are_different_accounts(hub) -> None:
    hub.upsert("account", [{"account_id": "001abc", "name": "x"}, {"account_id": "001ABC", "name": "y"}])
    assert hub.count_records("account") == 2


def test_given_unicode_and_long_text_when_stored_then_they_round_trip(hub) -> None:
    long_text = "Ünïcødé ✓ 日本語 🚀 " * 5000
    name = "Société Générale — 株式会社 \"quoted\" 'single' \\ backslash \n newline \t tab"
    hub.upsert("account", [{"account_id": "Ü-1", "name": name, "description": long_text}])
    record = hub.find_record("account", "Ü-1")
    assert record.values["name"] == name
    assert record.values["description"] == long_text


def test_given_most_recent_wins_when_an_older_source_value_arrives_then_the_newer_one_stays(hub) -> None:
    new, old = datetime(2024, 5, 2, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC)
    hub.upsert(
        "account", [{"account_id": "A-1", "industry": "Banking"}], source_times=[new], most_recent=True
    )
    result = hub.upsert(
        "account",
        [{"account_id": "A-1", "industry": "Retail", "name": "Acme"}],
        source_times=[old],
        most_recent=True,
    )
    record = hub.find_record("account", "A-1")
    assert record.values["industry"] == "Banking"  # older value lost
    assert record.values["name"] == "Acme"  # attribute had no stamp yet: taken
    assert result.results[0].changed == ("name",)
    newer = datetime(2024, 5, 3, tzinfo=UTC)
    hub.upsert(
        "account", [{"account_id": "A-1", "industry": "Energy"}], source_times=[newer], most_recent=True
    )
    assert hub.find_record("account", "A-1").values["industry"] == "Energy"


def test_given_creation_off_when_new_rows_arrive_then_they_are_ignored_and_existing_ones_updated(hub) -> None:
    hub.upsert("account", [{"account_id": "A-1", "name": "x"}])
    result = hub.upsert(
        "account", [{"account_id": "A-1", "name": "y"}, {"account_id": "A-2", "name": "z"}], create=False
    )
    assert _statuses(result) == ["updated", "ignored"]
    assert hub.count_records("account") == 1


def test_given_rows_matched_by_hub_id_then_they_update_and_unknown_ids_fail(hub) -> None:
    created = hub.upsert("account", [{"account_id": "A-1", "name": "x"}])
    hub_id = created.results[0].hub_id
    result = hub.upsert(
        "account",
        [{"hub_id": hub_id, "name": "renamed"}, {"hub_id": "01UNKNOWN", "name": "z"}],
        match="hub_id",
    )
    assert _statuses(result) == ["updated", "failed"]
    assert "no record with hub id" in result.results[1].error
    assert hub.get_record(hub_id).values["name"] == "renamed"


def test_given_one_record_twice_in_a_batch_then_rows_apply_in_order(hub) -> None:
    result = hub.upsert(
        "account",
        [
            {"account_id": "A-1", "name": "first"},
            {"account_id": "A-1", "name": "second"},
            {"account_id": "A-1", "name": "second"},
        ],
    )
    assert _statuses(result) == ["created", "updated", "unchanged"]
    assert hub.find_record("account", "A-1").values["name"] == "second"
    assert hub.count_records("account") == 1


def test_given_a_none_value_then_the_attribute_is_removed(hub) -> None:
    hub.upsert("account", [{"account_id": "A-1", "name": "x", "industry": "Retail"}])
    hub.upsert("account", [{"account_id": "A-1", "industry": None}])
    assert hub.find_record("account", "A-1").values == {"account_id": "A-1", "name": "x"}


def test_given_many_batches_then_counts_and_indexes_span_them(hub) -> None:
    rows = [{"account_id": f"A-{i}", "employees": i} for i in range(2500)]
    rows[1700]["employees"] = "lots"
    result = hub.upsert("account", rows, batch_size=1000)
    assert len(result.results) == 2500
    assert [r.index for r in result.results] == list(range(2500))
    assert result.failed[0].index == 1700 and result.failed[0].key == "A-1700"
    assert hub.count_records("account") == 2499


def test_soft_deleted_records_are_hidden_and_come_back_when_upserted(hub) -> None:
    hub.upsert("account", [{"account_id": "A-1", "name": "x"}, {"account_id": "A-2", "name": "y"}])
    gone = hub.find_record("account", "A-1")
    assert hub.soft_delete([gone.hub_id]) == 1
    assert [r.values["account_id"] for r in hub.list_records("account")] == ["A-2"]
    with pytest.raises(NotFoundError):
        hub.get_record(gone.hub_id)
    result = hub.upsert("account", [{"account_id": "A-1", "name": "x"}])
    assert _statuses(result) == ["updated"]
    assert hub.get_record(gone.hub_id).deleted_at is None


def test_equality_filters_compare_typed_values(hub) -> None:
    hub.upsert(
        "account",
        [
            {"account_id": "A-1", "industry": "Retail", "employees": 10},
            {"account_id": "A-2", "industry": "Retail", "employees": 20},
            {"account_id": "A-3", "industry": "Banking", "employees": 10},
        ],
    )
    assert [r.values["account_id"] for r in hub.list_records("account", where={"industry": "Retail"})] == [
        "A-1",
        "A-2",
    ]
    assert [r.values["account_id"] for r in hub.list_records("account", where={"employees": "10"})] == [
        "A-1",
        "A-3",
    ]
    with pytest.raises(NotFoundError, match="no attribute 'colour'"):
        hub.list_records("account", where={"colour": "red"})


def test_list_pages_by_hub_id(hub) -> None:
    hub.upsert("account", [{"account_id": f"A-{i}"} for i in range(7)])
    first = hub.list_records("account", limit=4)
    second = hub.list_records("account", limit=4, after=first[-1].hub_id)
    ids = [r.hub_id for r in first + second]
    assert len(ids) == 7 and ids == sorted(ids) and len(set(ids)) == 7


def test_outcome_values_are_the_documented_words() -> None:
    assert [o.value for o in Outcome] == ["created", "updated", "unchanged", "ignored", "failed"]


def test_given_a_load_that_meets_stored_keys_in_a_later_batch_then_each_row_gets_its_own_outcome(hub) -> None:
    # Batch 1 creates everything; batch 2 meets keys stored before the load (one soft-deleted), a
    # key twice, a key differing only in case, and a bad value.
    hub.upsert("account", [{"account_id": "OLD-1", "name": "kept"}, {"account_id": "OLD-2", "name": "gone"}])
    hub.soft_delete([hub.find_record("account", "OLD-2").hub_id])
    first_batch = [{"account_id": f"N-{i}", "name": f"n{i}"} for i in range(10)]
    second_batch = [
        {"account_id": "N-10", "name": "new"},
        {"account_id": "old-1", "name": "not the same key: ids are case-sensitive"},
        {"account_id": "OLD-1", "name": "kept"},
        {"account_id": "OLD-2", "name": "back"},
        {"account_id": "N-11", "name": "twice"},
        {"account_id": "N-11", "name": "twice, changed"},
        {"account_id": "N-12", "employees": "lots"},
        {"account_id": "OLD-1", "name": "renamed", "industry": "Retail"},
        {"account_id": "N-3", "name": "n3"},
        {"account_id": "N-4", "name": "n4 changed"},
    ]
    result = hub.upsert("account", first_batch + second_batch, batch_size=10, stamp=Stamp("load", "1"))
    assert _statuses(result)[10:] == [
        "created",
        "created",
        "unchanged",
        "updated",
        "created",
        "updated",
        "failed",
        "updated",
        "unchanged",
        "updated",
    ]
    assert hub.count_records("account") == 15
    assert hub.find_record("account", "OLD-1").values == {
        "account_id": "OLD-1",
        "name": "renamed",
        "industry": "Retail",
    }
    assert hub.find_record("account", "OLD-2").values["name"] == "back"
    assert hub.find_record("account", "N-11").values["name"] == "twice, changed"
    assert hub.find_record("account", "N-4").values["name"] == "n4 changed"
    old = hub.find_record("account", "OLD-1")
    assert result.results[11].hub_id != old.hub_id and result.results[12].hub_id == old.hub_id

"""Shared emulator pieces: clock, record table ordering, fault injection, seeded data, serving."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import httpx
import pytest

from crmhub.emulators import EmulatorClock, FaultConfig, HubSpotEmulator, SalesforceEmulator, serve_in_thread
from crmhub.emulators._common.faults import FaultInjector
from crmhub.emulators._common.table import RecordTable

from .conftest import NOW


def test_given_a_frozen_clock_when_writes_happen_then_stamps_still_increase() -> None:
    clock = EmulatorClock(NOW, frozen=True)
    stamps = [clock.next_stamp() for _ in range(3)]
    assert stamps == sorted(set(stamps)) and stamps[0] == int(NOW.timestamp() * 1000)
    clock.set(NOW - dt.timedelta(days=1))
    assert clock.next_stamp() > stamps[-1]


def test_given_a_burst_of_writes_on_a_running_clock_when_stamped_then_no_stamp_is_ahead_of_the_clock() -> None:
    """A run that reads "until now" right after a write must find it, as with a real CRM."""
    clock = EmulatorClock()
    stamps = []
    for _ in range(20):  # far more than one write per millisecond
        stamp = clock.next_stamp()
        assert stamp <= clock.now_ms()  # handed out no earlier than its own millisecond
        stamps.append(stamp)
    assert stamps == sorted(set(stamps))


def test_given_a_running_clock_when_advanced_then_now_moves_by_that_much() -> None:
    clock = EmulatorClock(NOW)
    before = clock.now()
    clock.advance(3600)
    assert dt.timedelta(seconds=3600) <= clock.now() - before < dt.timedelta(seconds=3601)


def _table(seeded: int = 10) -> RecordTable:
    return RecordTable(
        seeded=seeded,
        derive=lambda row: {"_row": row, "stamp": 1000 + row * 10},
        stamp_base=1000,
        stamp_step=10,
        stamp_key="stamp",
    )


def _rows(refs: list[object]) -> list[int]:
    return [r if isinstance(r, int) else r["_row"] for r in refs]  # type: ignore[index]


def test_given_records_restamped_into_the_past_when_listing_then_order_is_modstamp_then_row() -> None:
    table = _table()
    table.put(7, {"_row": 7, "stamp": 1030})  # ties with row 3's stamp: row 3 first, then 7
    table.put(2, {"_row": 2, "stamp": 999})  # before every seeded row
    table.put(4, {"_row": 4, "stamp": 5000})  # after every seeded row
    table.kill(5, {"_row": 5, "stamp": 1055})
    assert _rows(table.natural_refs()) == [2, 0, 1, 3, 7, 6, 8, 9, 4]
    assert _rows(table.natural_refs(live=True, dead=True)) == [2, 0, 1, 3, 7, 5, 6, 8, 9, 4]
    assert _rows(table.natural_refs(lo=1030, hi=1070)) == [3, 7, 6]
    assert table.live_count() == 9 and table.dead_count() == 1


def test_given_a_fault_seed_when_drawing_twice_then_the_decisions_repeat() -> None:
    config = FaultConfig(rate_limit_rate=0.2, unavailable_rate=0.2, malformed_rate=0.2, slow_rate=0.1, seed=9)

    def draws() -> list[tuple[int | None, bool, float]]:
        injector = FaultInjector(config)
        return [
            (d.status, d.malformed, d.delay) for d in (injector.decide(readable=True) for _ in range(200))
        ]

    first = draws()
    assert first == draws()
    assert {s for s, _, _ in first} == {None, 429, 503}
    assert any(m for _, m, _ in first)


@pytest.mark.parametrize(
    "data",
    [{"rate_limit_rate": 1.5}, {"unknown": 1}, {"slow_seconds": -1}],
    ids=["rate above 1", "unknown key", "negative delay"],
)
def test_given_bad_fault_settings_when_parsing_then_value_error(data: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FaultConfig.from_json(data)


def test_given_one_seed_when_building_emulators_twice_then_records_are_identical_and_other_seeds_differ() -> (
    None
):
    one = SalesforceEmulator(accounts=50, contacts=50, users=3, seed=21, clock=EmulatorClock(NOW))
    two = SalesforceEmulator(accounts=50, contacts=50, users=3, seed=21, clock=EmulatorClock(NOW))
    other = SalesforceEmulator(accounts=50, contacts=50, users=3, seed=22, clock=EmulatorClock(NOW))
    ids = one.ids("Account")
    assert [one.get("Account", i) for i in ids] == [two.get("Account", i) for i in ids]
    assert [one.get("Account", i)["Name"] for i in ids] != [other.get("Account", i)["Name"] for i in ids]  # type: ignore[index]


def test_when_seeding_then_data_looks_like_a_crm_and_names_and_domains_are_unique() -> None:
    emulator = SalesforceEmulator(accounts=9000, contacts=200, users=4, seed=3, clock=EmulatorClock(NOW))
    accounts = [emulator.get("Account", i) for i in emulator.ids("Account")]
    assert len({a["Name"] for a in accounts}) == 9000  # type: ignore[index]
    assert len({a["Website"] for a in accounts}) == 9000  # type: ignore[index]
    statuses = {a["Partner_Status__c"] for a in accounts}  # type: ignore[index]
    assert statuses == {"Active", "Inactive", "Pending", None}
    assert any(a["Industry"] is None for a in accounts)  # type: ignore[index]
    contacts = [emulator.get("Contact", i) for i in emulator.ids("Contact")]
    linked = [c for c in contacts if c["AccountId"]]  # type: ignore[index]
    assert 0 < len(linked) < len(contacts)
    for contact in linked[:20]:
        account = emulator.get("Account", contact["AccountId"])  # type: ignore[index]
        assert contact["Email"].endswith("@" + account["Website"].removeprefix("https://www."))  # type: ignore[index]
    hubspot = HubSpotEmulator(companies=100, contacts=0, owners=2, seed=3, clock=EmulatorClock(NOW))
    company = hubspot.get("companies", hubspot.ids("companies", limit=1)[0])
    assert (
        company and company["properties"]["domain"] and company["properties"]["hs_object_id"] == company["id"]
    )


def test_given_a_tls_certificate_when_serving_then_https_answers_with_that_certificate(
    tls_files: tuple[Path, Path],
) -> None:
    emulator = SalesforceEmulator(accounts=1, contacts=0, users=1)
    cert, key = tls_files
    with serve_in_thread(emulator.app, ssl_certfile=str(cert), ssl_keyfile=str(key)) as url:
        assert url.startswith("https://127.0.0.1:")
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:
            assert client.get(f"{url}/services/data/").status_code == 200


def test_given_half_a_tls_pair_when_serving_then_value_error(tls_files: tuple[Path, Path]) -> None:
    with (
        pytest.raises(ValueError, match="both"),
        serve_in_thread(SalesforceEmulator(accounts=0, contacts=0).app, ssl_certfile=str(tls_files[0])),
    ):
        pass


def test_when_the_server_stops_then_the_port_no_longer_answers() -> None:
    emulator = HubSpotEmulator(companies=1, contacts=0, owners=1)
    with serve_in_thread(emulator.app) as url:
        assert httpx.get(f"{url}/__emulator/state").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/__emulator/state")

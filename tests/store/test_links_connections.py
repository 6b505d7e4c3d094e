import pytest
from sqlalchemy import text

from crmhub.config import generate_secret_key
from crmhub.core.errors import ConfigError, ValidationError
from crmhub.store import connections, links
from crmhub.store.connections import Vault


@pytest.fixture
def vault() -> Vault:
    return Vault(generate_secret_key())


def _connection(hub, vault: Vault, name: str = "sf-prod"):
    with hub.db.begin() as session:
        return connections.create_connection(
            session,
            vault,
            name=name,
            kind="salesforce",
            settings={"instance_url": "https://x.example"},
            credentials={"client_secret": "s3cr3t-value", "refresh_token": "rt-123"},
        )


def test_credentials_are_encrypted_at_rest_and_listed_only_by_field_name(hub, vault: Vault) -> None:
    conn = _connection(hub, vault)
    with hub.db.read() as session:
        raw = session.execute(
            text("SELECT credentials FROM connection WHERE id = :id"), {"id": conn.id}
        ).scalar_one()
        stored = connections.get_connection(session, "sf-prod")
    assert b"s3cr3t-value" not in bytes(raw) and b"rt-123" not in bytes(raw)
    assert connections.credential_fields(vault, stored) == ["client_secret", "refresh_token"]
    assert connections.read_credentials(vault, stored)["client_secret"] == "s3cr3t-value"
    with pytest.raises(ConfigError, match="cannot be decrypted with the current secret key"):
        connections.read_credentials(Vault(generate_secret_key()), stored)


def test_connection_names_are_unique(hub, vault: Vault) -> None:
    _connection(hub, vault)
    with pytest.raises(ValidationError, match="already exists"):
        _connection(hub, vault)


def test_links_are_unique_on_both_sides_and_can_be_found_removed_and_cleared(hub, vault: Vault) -> None:
    conn = _connection(hub, vault)
    result = hub.upsert("account", [{"account_id": "A-1"}, {"account_id": "A-2"}])
    a1, a2 = (r.hub_id for r in result.results)
    with hub.db.begin() as session:
        links.create_link(
            session, hub_id=a1, connection_id=conn.id, remote_object="Account", remote_id="001A"
        )
        with pytest.raises(ValidationError, match="linked already"):
            links.create_link(
                session, hub_id=a2, connection_id=conn.id, remote_object="Account", remote_id="001A"
            )
        with pytest.raises(ValidationError, match="linked already"):
            links.create_link(
                session, hub_id=a1, connection_id=conn.id, remote_object="Account", remote_id="001B"
            )
        links.create_link(
            session, hub_id=a2, connection_id=conn.id, remote_object="Account", remote_id="001B"
        )
    with hub.db.begin() as session:
        found = links.find_link_by_remote(
            session, connection_id=conn.id, remote_object="Account", remote_id="001A"
        )
        assert found is not None and found.hub_id == a1
        batch = links.find_links_by_remote(
            session, connection_id=conn.id, remote_object="Account", remote_ids=["001A", "001B", "001C"]
        )
        assert {k: v.hub_id for k, v in batch.items()} == {"001A": a1, "001B": a2}
        links.remove_link(session, found)
        assert links.links_of_record(session, a1) == []
        assert links.clear_links(session, connection_id=conn.id) == 1


def test_links_inserted_in_bulk_keep_every_value_and_are_found_by_remote_and_hub_id(
    hub, vault: Vault
) -> None:
    """``insert_links`` (COPY lines on PostgreSQL, executemany on SQLite) and the batch look-ups
    (one array parameter on PostgreSQL, IN chunks on SQLite) agree value for value."""
    from datetime import UTC, datetime

    conn = _connection(hub, vault)
    keys = [f"B-{i}" for i in range(2500)]  # more than one IN chunk of 2,000
    result = hub.upsert("account", [{"account_id": k} for k in keys])
    hub_ids = [r.hub_id for r in result.results]
    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    odd = "tab\there back\\slash new\nline"  # COPY's special characters, escaped on the way in
    rows = [
        {
            "hub_id": hub_id,
            "connection_id": conn.id,
            "remote_object": "Account",
            "remote_id": odd if i == 0 else f"R-{i}",
            "last_received_hash": f"h{i}",
            "last_received_at": at,
            "last_seen_at": None,
            "created_at": at,
            "matched_by": "created",
        }
        for i, hub_id in enumerate(hub_ids)
    ]
    with hub.db.begin() as session:
        links.insert_links(session, rows)
    wanted = [odd, "R-1", "R-2499", "R-missing"]
    with hub.db.read() as session:
        by_remote = links.link_states_by_remote(
            session,
            connection_id=conn.id,
            remote_object="Account",
            remote_ids=[f"R-{i}" for i in range(1, 2500)] + [odd],
        )
        assert len(by_remote) == 2500
        assert by_remote[odd].hub_id == hub_ids[0] and by_remote[odd].last_received_hash == "h0"
        assert by_remote["R-2499"].hub_id == hub_ids[2499]
        by_hub = links.link_states_by_hub(
            session, connection_id=conn.id, remote_object="Account", hub_ids=hub_ids
        )
        assert by_hub[hub_ids[0]].remote_id == odd and len(by_hub) == 2500
        assert links.hub_ids_of_remote(session, connection_id=conn.id, remote_ids=wanted) == {
            odd: hub_ids[0],
            "R-1": hub_ids[1],
            "R-2499": hub_ids[2499],
        }
        assert (
            links.link_states_by_remote(
                session, connection_id=conn.id, remote_object="Account", remote_ids=[]
            )
            == {}
        )
        stored = session.execute(
            text("SELECT last_received_at, last_seen_at, matched_by FROM link WHERE remote_id = :r"),
            {"r": odd},
        ).one()
    from crmhub.core.clock import ensure_utc

    received = stored[0] if not isinstance(stored[0], str) else datetime.fromisoformat(stored[0])
    assert ensure_utc(received) == at and stored[1] is None and stored[2] == "created"

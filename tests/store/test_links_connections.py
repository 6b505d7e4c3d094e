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

"""The record API shows how each link was made and changes a key only on purpose (issue 11, item 1)."""

from __future__ import annotations

from .conftest import Api


def test_given_a_record_then_its_links_say_how_it_was_identified_and_only_writers_change_its_key(
    api: Api,
) -> None:
    hub = api.hub
    created = hub.upsert("account", [{"account_id": "0015g00000A", "name": "Acme"}]).results[0]
    connection = api.jobs.connections.add("files", "csv", {"path": str(hub.settings.home / "files")}, {})
    from crmhub.store.links import create_link

    with hub.db.begin() as session:
        link = create_link(
            session,
            hub_id=created.hub_id,
            connection_id=connection.id,
            remote_object="accounts",
            remote_id="7",
        )
        link.matched_by = "match:domain"

    detail = api.client("viewer").get(f"/hub/records/{created.hub_id}")
    assert detail.status_code == 200, detail.text
    assert [(x["connection"], x["remote_id"], x["matched_by"]) for x in detail.json()["links"]] == [
        ("files", "7", "match:domain")
    ]

    refused = api.client("viewer").post(f"/hub/records/{created.hub_id}/key", json={"value": "NEW"})
    assert refused.status_code == 403
    assert hub.get_record(created.hub_id).key == "0015g00000A"

    changed = api.client("advanced").post(f"/hub/records/{created.hub_id}/key", json={"value": "NEW"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["key"], changed.json()["values"]["account_id"]) == ("NEW", "NEW")

    other = hub.upsert("account", [{"account_id": "OTHER"}]).results[0]
    clash = api.client("admin").post(f"/hub/records/{other.hub_id}/key", json={"value": "NEW"})
    assert clash.status_code == 422, clash.text
    assert "belongs to hub record" in clash.text

    events = api.client("admin").get("/audit-events").json()
    items = events["items"] if isinstance(events, dict) else events
    change = next(e for e in items if e["action"] == "change_key")
    assert (change["actor"], change["details"]["old"], change["details"]["new"]) == (
        "advanced@example.com",
        "0015g00000A",
        "NEW",
    )

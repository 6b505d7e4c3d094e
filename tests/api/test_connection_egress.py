"""Credentials go only where they belong (issue 12): allowed hosts, re-given secrets, audited values."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from crmhub.connectors.egress import EndpointNotAllowedError, check_destination, check_endpoint
from crmhub.emulators import salesforce as sf
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.hub import HubService

from .conftest import running_api

CREDENTIALS = sf.default_credentials()


class _Thief(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        _Thief.received.append(self.rfile.read(length))
        self.send_response(500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def thief() -> Iterator[str]:
    """A server of the attacker's, on another loopback address of this machine."""
    _Thief.received = []
    server = ThreadingHTTPServer(("127.0.0.2", 0), _Thief)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.2:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_given_an_advanced_user_when_moving_login_url_without_the_secrets_then_refused_and_nothing_leaks(
    hub: HubService, thief: str
) -> None:
    with serve_in_thread(sf.SalesforceEmulator(accounts=1, contacts=0).app) as url, running_api(hub) as api:
        admin, advanced = api.client("admin"), api.client("advanced")
        created = admin.post(
            "/connections",
            json={
                "name": "sf",
                "kind": "salesforce",
                "settings": {"login_url": url, "username": sf.DEFAULT_USERNAME},
                "credentials": CREDENTIALS,
            },
        )
        assert created.status_code == 201, created.text
        moved = advanced.patch("/connections/sf", json={"settings": {"login_url": thief}})
        assert moved.status_code == 422, moved.text
        assert "give them again" in moved.json()["detail"]
        assert advanced.post("/connections/sf/test").json()["ok"] is True  # still the real one
        assert _Thief.received == []

        # With every secret given again, the move is the user's own credentials going where they say.
        again = advanced.patch(
            "/connections/sf", json={"settings": {"login_url": thief}, "credentials": CREDENTIALS}
        )
        assert again.status_code == 200, again.text
        event = next(
            e
            for e in admin.get("/audit-events").json()["items"]
            if e["object_kind"] == "connection" and e["action"] == "update"
        )
        assert event["details"]["settings"]["login_url"] == [url, thief]
        assert sf.DEFAULT_PASSWORD not in str(event)


def test_given_a_host_that_is_not_the_crms_then_the_connection_is_refused(hub: HubService) -> None:
    hub.settings.egress_loopback = False
    with running_api(hub) as api:
        refused = api.client("admin").post(
            "/connections",
            json={
                "name": "sf",
                "kind": "salesforce",
                "settings": {"login_url": "http://127.0.0.1:9/", "username": "u@x.com"},
                "credentials": CREDENTIALS,
            },
        )
        assert refused.status_code == 422
        assert "not a host of this CRM" in refused.json()["detail"]
        real = api.client("admin").post(
            "/connections",
            json={
                "name": "sf",
                "kind": "salesforce",
                "settings": {"login_url": "https://acme.my.salesforce.com", "username": "u@x.com"},
                "credentials": CREDENTIALS,
            },
        )
        assert real.status_code == 201, real.text


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://10.1.2.3/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/",
    ],
)
def test_given_a_private_or_metadata_address_then_no_webhook_goes_there(url: str) -> None:
    with pytest.raises(EndpointNotAllowedError):
        check_destination(url, what="the webhook URL")
    check_destination(
        url, what="the webhook URL", allowed=["10.0.0.0/8", "169.254.169.254", "fd00::/8", "0.0.0.0"]
    )


def test_given_the_kinds_own_hosts_then_patterns_match_subdomains_only() -> None:
    hosts = ("*.salesforce.com",)
    check_endpoint("https://login.salesforce.com", what="login_url", kind_hosts=hosts, loopback=False)
    for bad in (
        "https://salesforce.com.evil.example",
        "https://evilsalesforce.com",
        "https://salesforce.com",
    ):
        with pytest.raises(EndpointNotAllowedError):
            check_endpoint(bad, what="login_url", kind_hosts=hosts, loopback=False)

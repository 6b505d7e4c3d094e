"""Bounded bodies and security headers on every answer (issue 12): before any route runs."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from crmhub.api import create_app
from crmhub.api.guard import DEFAULT_MAX_BODY
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.hub import HubService


class _NoExecutor:
    def submit(self, run_id: str) -> None:
        raise AssertionError("no run is started here")


@pytest.fixture
def url(hub: HubService) -> Iterator[str]:
    with serve_in_thread(create_app(hub, executor=_NoExecutor())) as served:
        yield served


@pytest.fixture
def client(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as c:
        yield c


def _raw(url: str, head: bytes, chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """Send a request by hand; (the answer, how many chunks went out before it came)."""
    parts = urlsplit(url)
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head)
        sock.settimeout(0.05)
        answer = b""
        for chunk in chunks:
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                answer = b""
            if answer:
                break
            try:
                sock.sendall(chunk)
            except OSError:
                break
            sent += 1
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    return answer, sent


def test_given_an_anonymous_20_mb_login_body_then_413_before_it_is_read(url: str) -> None:
    mb = b"x" * (1024 * 1024)
    declared, sent = _raw(
        url,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 20971520\r\n\r\n",
        iter([mb] * 20),
    )
    assert declared.startswith(b"HTTP/1.1 413"), declared[:200]
    assert b"application/problem+json" in declared
    assert sent <= 2  # answered on the header, not after 20 MB

    chunked, sent = _raw(
        url,
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        iter([b"%x\r\n" % len(mb) + mb + b"\r\n"] * 20),
    )
    assert chunked.startswith(b"HTTP/1.1 413"), chunked[:200]
    assert sent <= 4  # refused once past the limit


def test_given_a_body_under_the_limit_then_the_route_answers_as_usual(client: httpx.Client) -> None:
    answer = client.post("/api/v1/auth/login", json={"email": "nobody@example.com", "password": "x" * 20})
    assert answer.status_code == 401


def test_given_the_yaml_import_route_then_its_own_larger_limit_applies(client: httpx.Client) -> None:
    big = "#" * (2 * 1024 * 1024)
    answer = client.post("/api/v1/jobs/import", json={"yaml": big})
    assert answer.status_code == 401  # past the body limit: refused for want of a token, not for size
    huge = client.post("/api/v1/jobs/import", json={"yaml": "#" * (5 * 1024 * 1024)})
    assert huge.status_code == 413


def test_given_any_answer_then_it_carries_the_security_headers(client: httpx.Client, hub: HubService) -> None:
    for response in (
        client.get("/api/v1/jobs"),
        client.get("/api/v1/no-such-route"),
        client.post("/api/v1/auth/login", content=b"x" * (DEFAULT_MAX_BODY + 1)),
    ):
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "'unsafe-inline'" not in headers["content-security-policy"]
        assert "strict-transport-security" not in headers  # plain http: HSTS only over TLS

    async def over_tls() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(hub, executor=_NoExecutor()))
        async with httpx.AsyncClient(transport=transport, base_url="https://crmhub.example") as tls:
            return await tls.get("/api/v1/jobs")

    import anyio

    assert anyio.run(over_tls).headers["strict-transport-security"].startswith("max-age=")


def test_given_docs_off_then_neither_the_docs_nor_the_openapi_document_are_served(hub: HubService) -> None:
    with serve_in_thread(create_app(hub, executor=_NoExecutor(), docs=False)) as closed:
        assert httpx.get(f"{closed}/api/v1/docs").status_code == 404
        assert httpx.get(f"{closed}/api/v1/openapi.json").status_code == 404
    with serve_in_thread(create_app(hub, executor=_NoExecutor())) as opened:
        assert httpx.get(f"{opened}/api/v1/openapi.json").status_code == 200


def test_given_options_or_a_wrong_method_then_allow_lists_every_method_of_the_path(
    client: httpx.Client,
) -> None:
    options = client.options("/api/v1/jobs")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    wrong = client.delete("/api/v1/jobs")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert wrong.json()["code"] == "method_not_allowed"


def test_given_a_forged_host_header_then_the_trigger_call_points_at_the_server_itself(
    hub: HubService,
) -> None:
    from crmhub.sync.spec import JobSpec

    from .conftest import ACCOUNTS_JOB, running_api

    with running_api(hub) as api:
        api.jobs.connections.add("files", "csv", {"path": str(hub.settings.home / "files")}, {})
        job = api.jobs.create(JobSpec.model_validate(ACCOUNTS_JOB))
        forged = api.client("admin", headers={"Host": "evil.example"})
        issued = forged.post(f"/jobs/{job.id}/trigger-tokens", json={"name": "etl"})
        assert issued.status_code == 201, issued.text
        call = issued.json()["call"]
        assert "evil.example" not in call["url"] + call["curl"]
        assert call["url"] == f"{api.url}/api/v1/jobs/{job.id}/trigger"


def test_given_a_huge_or_filter_then_400_and_a_slow_one_is_stopped(hub: HubService) -> None:
    hub.upsert("account", [{"account_id": f"A-{i}", "name": f"Name {i}"} for i in range(3000)])
    with serve_in_thread(create_app(hub, executor=_NoExecutor(), query_timeout=0.0005)) as served:
        from .conftest import seed_users

        token = seed_users(hub)["viewer"]
        with httpx.Client(
            base_url=f"{served}/api/v1", headers={"Authorization": f"Bearer {token}"}
        ) as viewer:
            huge = viewer.get(
                "/hub/object-types/account/records",
                params={"filter": " OR ".join(f'name = "n{i}"' for i in range(120))},
            )
            assert huge.status_code == 400, huge.text
            assert "at most 300" in huge.json()["detail"]
            slow = viewer.get(
                "/hub/object-types/account/records",
                params={"filter": " OR ".join(f'name = "n{i}"' for i in range(90)), "limit": 100},
            )
            if hub.db.dialect == "sqlite":  # 3,000 records × 90 terms: far past half a millisecond
                assert slow.status_code == 422, slow.text
                assert slow.json()["code"] == "query_too_slow"
            else:
                assert slow.status_code in (200, 422), slow.text
            assert viewer.get("/jobs").status_code == 200


def test_given_the_docs_page_then_every_asset_comes_from_crmhub_and_no_script_is_inline(
    client: httpx.Client,
) -> None:
    import re

    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "http" not in csp and "'unsafe-inline'" not in csp
    text = page.text
    assert "cdn" not in text.lower() and "https://" not in text
    # Every <script> has a src (none inline), and every referenced asset is served here.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", text, flags=re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    urls = re.findall(r'(?:src|href)="([^"]+)"', text)
    assert len(urls) == 4, urls  # stylesheet, icon, Swagger UI, crmhub's start-up script
    kinds = {}
    for ref in urls:
        asset = client.get(ref)
        assert asset.status_code == 200, ref
        kinds[ref.rsplit("/", 1)[1]] = asset.headers["content-type"].split(";")[0]
        assert len(asset.content) > 100
    assert kinds == {
        "swagger-ui.css": "text/css",
        "favicon.png": "image/png",
        "swagger-ui-bundle.js": "text/javascript",
        "docs.js": "text/javascript",
    }
    assert "SwaggerUIBundle" in client.get("/api/v1/docs/assets/docs.js").text
    assert client.get("/api/v1/docs/assets/..%2Fdocs.py").status_code == 404  # names, not paths
    assert client.get("/api/v1/docs/assets/nothing.js").status_code == 404

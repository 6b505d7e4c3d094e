"""The console served over a loopback port on a fresh hub (the API's ``running_api``), and clients
signed in through the sign-in form as each role (``admin``, ``advanced``, ``viewer``, ``runner``)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.conftest import ADMIN_PASSWORD, Api, running_api
from crmhub.services.hub import HubService

#: Every seeded user but the admin gets this password here (tests.api.conftest seeds them without one).
PASSWORD = "a long enough password 42"


def set_passwords(api: Api) -> None:
    from crmhub.services.users import UserService

    users = UserService(api.hub)
    for role in ("advanced", "viewer", "runner"):
        users.update(f"{role}@example.com", password=PASSWORD)


def password_of(role: str) -> str:
    return ADMIN_PASSWORD if role == "admin" else PASSWORD


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(url: str, role: str) -> httpx.Client:
    """A client with a session, signed in through the form like a browser."""
    client = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    page = client.get("/signin")
    token = re.search(r'name="signin_token" value="([^"]+)"', page.text)
    assert token, page.text
    answer = client.post(
        "/signin",
        data={
            "email": f"{role}@example.com",
            "password": password_of(role),
            "signin_token": token.group(1),
            "next": "/",
        },
    )
    assert answer.status_code == 303, answer.text
    return client


@pytest.fixture
def signin() -> Iterator[Callable[[str, str], httpx.Client]]:
    """``signin(url, role)``: a client signed in through the form (closed after the test)."""
    made: list[httpx.Client] = []

    def make(url: str, role: str) -> httpx.Client:
        made.append(sign_in(url, role))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture
def console(hub: HubService) -> Iterator[Api]:
    """The console and the API on a fresh hub, on SQLite and on PostgreSQL."""
    with running_api(hub) as served:
        set_passwords(served)
        yield served


# The browser -------------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
#: Without these, Chromium's own background connections fail (slowly) on a closed network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots of every page go here (git-ignored; CI keeps them as artifacts).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
WIDTHS = {"wide": 1280, "narrow": 390}


#: The elements that reach past the window's right edge (for the message of a failed width check).
WIDEST = """[...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
    && !(e.parentElement && e.parentElement.getBoundingClientRect().right > window.innerWidth + 1))
  .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def browser_unavailable() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (install it with `apt-get install -y chromium`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (make install puts it in .venv)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright (never `playwright install`)."""
    reason = browser_unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Browsing:
    """A signed-in browser page on the console, with checks every page gets."""

    page: Any
    url: str
    name: str
    console_errors: list[str] = field(default_factory=list)

    def go(self, path: str) -> Any:
        response = self.page.goto(self.url + path)
        assert response is not None and response.status < 400, f"{path}: {response and response.status}"
        return response

    def check_page(self, label: str) -> None:
        """Axe finds no serious or critical violation; the page fits 1280 px and 390 px; screenshots."""
        from axe_playwright_python.sync_playwright import Axe

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for width_name, width in WIDTHS.items():
            self.page.set_viewport_size({"width": width, "height": 900})
            overflow = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            wide = self.page.evaluate(WIDEST) if overflow > 1 else []
            assert overflow <= 1, f"{label} at {width} px is {overflow} px wider than the window: {wide}"
            self.page.screenshot(
                path=str(ARTIFACTS / f"{self.name}-{label}-{width_name}.png"), full_page=True
            )
        self.page.set_viewport_size({"width": WIDTHS["wide"], "height": 900})
        results = Axe().run(self.page)
        bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert not bad, f"{label}: " + "; ".join(
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad
        )


def open_console(browser: Any, url: str, role: str, name: str) -> Browsing:
    context = browser.new_context(viewport={"width": WIDTHS["wide"], "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    browsing = Browsing(page, url, name)
    page.on("console", lambda m: browsing.console_errors.append(m.text) if m.type == "error" else None)
    page.goto(url + "/signin")
    page.fill("#email", f"{role}@example.com")
    page.fill("#password", password_of(role))
    page.click("button[type=submit]")
    page.wait_for_selector("#who-am-i")
    return browsing


@pytest.fixture
def sqlite_console(tmp_path: Path) -> Iterator[Api]:
    """The console on a fresh SQLite hub (the browser tests: the databases are covered by the plain tests)."""
    from crmhub.config import Settings
    from crmhub.store.database import Database

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    settings = Settings(home=tmp_path / "home", database_url=url, file_roots=[tmp_path])
    service = HubService(Database(url), settings=settings)
    service.init()
    try:
        with running_api(service) as served:
            set_passwords(served)
            yield served
    finally:
        service.close()

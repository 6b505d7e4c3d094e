"""In a real browser: an admin adds a Salesforce-emulator connection through its generated form and
builds an inbound accounts job entirely through the builder, then uses every item of the job's menu."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from api.conftest import Api
from crmhub.emulators import salesforce as sf
from crmhub.emulators.serve import serve_in_thread

from .conftest import Browsing, open_console


@pytest.fixture
def salesforce_url() -> Iterator[str]:
    emulator = sf.SalesforceEmulator(accounts=120, contacts=0, seed=11)
    with serve_in_thread(emulator.app) as url:
        yield url


def add_salesforce_connection(b: Browsing, url: str) -> None:
    page = b.page
    b.go("/connections")
    b.check_page("connections-empty")
    page.click("#add-connection")
    page.select_option("#kind-pick", "salesforce")
    page.click("#choose-kind")
    page.fill("#name", "sf")
    page.fill("[id='s.login_url']", url)
    page.fill("[id='s.username']", sf.DEFAULT_USERNAME)
    for name, value in sf.default_credentials().items():
        page.fill(f"[id='c.{name}']", value)
    b.check_page("connection-add")
    page.click("#save-connection")
    page.wait_for_selector("text=Connection sf added.")
    assert sf.DEFAULT_PASSWORD not in page.content()
    page.click("#test-connection")
    assert page.inner_text("#test-result").startswith("Works:")
    b.check_page("connection")
    page.click("#remote-objects")
    page.click("a:text-is('Account')")
    assert page.locator("#fields td:first-child:text-is('Industry')").count() == 1
    b.check_page("describe")


def test_admin_builds_an_inbound_job_in_the_browser(browser, sqlite_console: Api, salesforce_url: str) -> None:  # type: ignore[no-untyped-def]
    b = open_console(browser, sqlite_console.url, "admin", "inbound")
    b.check_page("home")
    add_salesforce_connection(b, salesforce_url)
    assert not b.console_errors, b.console_errors

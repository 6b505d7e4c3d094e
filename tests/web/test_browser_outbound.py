"""In a real browser: an outbound job built through the builder (filter over hub attributes with a
preview, destination object, the default mapping template, match field, allow creation, update
existing, validate, schedule) and run against the HubSpot emulator, watched to its end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from api.conftest import Api
from crmhub.emulators import hubspot as hs
from crmhub.emulators.serve import serve_in_thread

from .conftest import open_console
from .seed import seed


@pytest.fixture
def hubspot() -> Iterator[tuple[str, hs.HubSpotEmulator]]:
    emulator = hs.HubSpotEmulator(companies=0, contacts=0, owners=1, seed=3)
    with serve_in_thread(emulator.app) as url:
        yield url, emulator


def test_admin_builds_and_runs_an_outbound_job_in_the_browser(
    browser, sqlite_console: Api, hubspot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    url, emulator = hubspot
    seed(sqlite_console, tmp_path / "files")
    b = open_console(browser, sqlite_console.url, "admin", "outbound")
    page = b.page
    b.go("/connections/new?kind=hubspot")
    page.fill("#name", "hubspot")
    page.fill("[id='s.base_url']", url)
    page.fill("[id='c.access_token']", hs.DEFAULT_PRIVATE_APP_TOKEN)
    page.click("#save-connection")
    page.wait_for_selector("text=Connection hubspot added.")
    assert hs.DEFAULT_PRIVATE_APP_TOKEN not in page.content()

    b.go("/jobs")
    page.click("text=New outbound job")
    page.select_option("#connection", "hubspot")
    page.fill("#remote_object", "companies")
    page.select_option("#object_type", "account")
    page.click("#select-source")
    # A filter over hub attributes, checked live, then a preview of what would be sent.
    page.fill("#filter", "employes > 15")
    page.wait_for_selector("#filter-check.problem")
    page.fill("#filter", "employees > 15")
    page.wait_for_selector("#filter-check.ok")
    page.click("#automap")
    assert page.locator("#mapping tbody tr").count() >= 2, page.inner_text("main")
    page.click("#load-preview")
    previewed = page.locator("#preview tbody tr").count()
    assert previewed == 1, page.inner_text("#preview")  # Beta GmbH (20 employees); 10 and "x" do not pass
    assert "create" in page.inner_text("#preview")
    # Match on the destination's one unique property, hub_id: map the account key to it.
    count = page.locator("#mapping tbody tr").count()
    page.click("#add-row")
    page.fill(f"#m{count}_source", "account_id")
    page.fill(f"#m{count}_target", "hub_id")
    page.fill(f"#m{count}_note", "matches on the account key")
    page.fill("#match_field", "hub_id")
    page.click("#validate")
    assert page.locator("#valid-mark").count() == 1, page.inner_text("main")
    b.check_page("builder-outbound-filled")
    page.fill("#name", "accounts-to-hubspot")
    assert page.is_checked("#create_records") and page.is_checked("#update_records")
    page.select_option("#schedule_kind", "hourly")
    page.fill("#minute", "15")
    page.fill("#timezone", "America/New_York")
    page.check("#sync_now")
    page.check("#enabled")
    page.click("#save-job")
    page.wait_for_url("**/runs/*")
    if page.locator("#live").count():
        page.wait_for_selector("#live", state="detached", timeout=60_000)
    assert "succeeded" in page.inner_text("#run-status"), page.inner_text("main")
    assert page.inner_text("#count-created") == "1"
    names = [emulator.get("companies", i)["properties"].get("name") for i in emulator.ids("companies")]
    assert names == ["Beta GmbH"]
    job = sqlite_console.jobs.get("accounts-to-hubspot")[1]
    assert job.direction == "outbound" and job.match_field == "hub_id" and job.filter == "employees > 15"
    assert job.schedule is not None and job.schedule.kind == "hourly"
    assert not b.console_errors, b.console_errors

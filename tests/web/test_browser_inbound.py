"""In a real browser: an admin adds a Salesforce-emulator connection through its generated form and
builds an inbound accounts job entirely through the builder, then uses every item of the job's menu."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.conftest import Api
from crmhub.emulators import salesforce as sf
from crmhub.emulators._common.faults import FaultConfig
from crmhub.emulators.serve import serve_in_thread

from .conftest import Browsing, open_console


@pytest.fixture
def salesforce() -> Iterator[tuple[str, sf.SalesforceEmulator]]:
    emulator = sf.SalesforceEmulator(accounts=300, contacts=0, seed=11)
    with serve_in_thread(emulator.app) as url:
        yield url, emulator


def row_of(page: Any, source: str) -> str:
    """The form prefix (``m3``) of the mapping row that reads ``source``."""
    name = page.get_attribute(f"input[name$='_source'][value='{source}']", "name")
    assert name, f"no mapping row reads {source}"
    return str(name).removesuffix("_source")


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


def build_inbound_job(b: Browsing) -> None:
    page = b.page
    b.go("/jobs")
    page.click("text=New inbound job")
    page.select_option("#connection", "sf")
    page.fill("#remote_object", "Account")
    page.select_option("#object_type", "account")
    page.click("#select-source")
    # Default fields are preselected; the search finds a relationship dot path.
    assert page.is_checked("input[name=fields][value=Name]")
    page.fill("#field-search", "owner.name")
    assert page.locator(".field-list label:visible").count() >= 1
    page.check("input[name=fields][value='Owner.Name']")
    # A filter with a typo is flagged at its line and column as it is typed, then fixed.
    page.fill("#filter", 'Industri = "Banking"')
    page.wait_for_selector("#filter-check.problem")
    assert "line 1, column 1" in page.inner_text("#filter-check")
    assert "Industry" in page.inner_text("#filter-check")
    page.fill("#filter", "NumberOfEmployees >= 0")
    page.wait_for_selector("#filter-check.ok")
    b.check_page("builder-source")
    page.click("#load-preview")
    rows = page.locator("#preview tbody tr").count()
    assert 1 <= rows <= 10
    page.click("#automap")
    assert "proposed" in page.inner_text("#builder-message")
    assert page.locator(".confidence").count() >= 5
    first = page.locator("#row-0 input[name$='_source']").input_value()
    assert first == "Id", "the key comes first"
    # One target changed (Phone becomes a new attribute), one new Currency attribute.
    phone = row_of(page, "Phone")
    page.select_option(f"#{phone}_target", "__new__")
    page.fill(f"#{phone}_new_name", "main_phone")
    revenue = row_of(page, "AnnualRevenue")
    page.select_option(f"#{revenue}_target", "__new__")
    page.fill(f"#{revenue}_new_name", "annual_revenue_usd")
    page.select_option(f"#{revenue}_new_type", "currency")
    page.fill(f"#{revenue}_note", "revenue in US dollars")
    # A function-editor row: the function list inserts a call, the live check types it.
    count = page.locator("#mapping tbody tr").count()
    page.click("#add-row")
    fn = f"m{count}"
    page.select_option(f"#{fn}_kind", "expression")
    page.select_option(f"#{fn}_fn", "UPPER(text)")
    assert page.input_value(f"#{fn}_expression") == "UPPER(text)"
    page.wait_for_selector(f"#{fn}_check.problem")
    page.fill(f"#{fn}_expression", "UPPER(Owner.Name)")
    page.wait_for_selector(f"#{fn}_check.ok")
    assert "text" in page.inner_text(f"#{fn}_check")
    page.select_option(f"#{fn}_target", "__new__")
    page.fill(f"#{fn}_new_name", "owner_upper")
    page.fill(f"#{fn}_note", "owner's name in capitals")
    b.check_page("builder-mapping")
    # Enabling is impossible until the mapping validates.
    assert page.is_disabled("#enabled")
    page.click("#validate")
    assert page.locator("#valid-mark").count() == 1, page.inner_text("main")
    assert page.is_enabled("#enabled")
    page.fill("#name", "sf-accounts")
    page.fill("#description", "Accounts from the Salesforce emulator")
    page.select_option("#schedule_kind", "workdays")
    page.fill("#at_time", "07:30")
    page.fill("#timezone", "Europe/Berlin")
    page.check("#sync_now")
    page.check("#enabled")


def test_admin_builds_an_inbound_job_in_the_browser(browser, sqlite_console: Api, salesforce) -> None:  # type: ignore[no-untyped-def]
    url, emulator = salesforce
    b = open_console(browser, sqlite_console.url, "admin", "inbound")
    b.check_page("home")
    add_salesforce_connection(b, url)
    build_inbound_job(b)
    page = b.page
    # Slow the CRM down so the run lasts long enough to be watched.
    emulator.fault_injector.configure(FaultConfig(slow_rate=1.0, slow_seconds=0.6))
    page.click("#save-job")
    page.wait_for_url("**/runs/*")
    assert page.locator("#live").count() == 1, "the run page opens while the run goes"
    page.wait_for_selector("#live progress")
    page.wait_for_selector("#live", state="detached", timeout=60_000)  # the page reloads at the end
    emulator.fault_injector.configure(FaultConfig())
    assert "succeeded" in page.inner_text("#run-status")
    assert page.inner_text("#count-created") == "300"
    b.check_page("run")
    with page.expect_download() as ledger:
        page.click("#errors-csv")
    assert ledger.value.suggested_filename.endswith("-errors.csv")
    with page.expect_download() as source:
        page.click("#snapshot-link")
    assert source.value.suggested_filename.endswith(".jsonl.gz")

    # The job's menu.
    page.click("h1 a")
    assert page.inner_text("#scheduling") == "on"
    job = sqlite_console.jobs.get("sf-accounts")[1]
    assert job.schedule is not None and job.schedule.kind == "workdays"
    assert job.schedule.timezone == "Europe/Berlin"
    by_target = {r.target: r for r in job.mapping}
    assert by_target["annual_revenue_usd"].new_attribute is not None
    assert by_target["annual_revenue_usd"].new_attribute.type == "currency"
    assert by_target["owner_upper"].expression == "UPPER(Owner.Name)"
    assert "Owner.Name" in job.fields and job.filter == "NumberOfEmployees >= 0"
    b.check_page("job")
    with page.expect_download() as snapshot:
        page.click("#download-source")
    assert snapshot.value.suggested_filename.endswith(".jsonl.gz")
    page.fill("#dup-name", "sf-accounts-copy")
    page.click("#duplicate")
    assert "copied as sf-accounts-copy" in page.inner_text(".notice")
    b.go("/jobs/sf-accounts")
    page.click("#disable")
    assert page.inner_text("#scheduling") == "off"
    page.click("#trigger-api")
    page.fill("#token-name", "nightly")
    page.click("#create-trigger")
    token = page.inner_text("#new-token")
    assert token.startswith("crmhub_") and token in page.inner_text("#trigger-call")
    assert "/api/v1/jobs/" in page.inner_text("#trigger-call")
    b.check_page("trigger")
    b.go("/jobs/sf-accounts")
    page.check("#rebuild-confirm")
    page.click("#rebuild")
    page.wait_for_url("**/runs/*")
    assert "rebuild" in page.inner_text("main")
    b.go("/jobs/sf-accounts-copy")
    assert page.is_disabled("#delete"), "delete waits for the name to be typed"
    page.fill("#delete-name", "sf-accounts-copy")
    page.click("#delete")
    assert "deleted" in page.inner_text(".notice")
    assert [j.name for j, _ in sqlite_console.jobs.list()] == ["sf-accounts"]
    b.go("/runs?job=sf-accounts")
    b.check_page("history")
    assert not b.console_errors, b.console_errors

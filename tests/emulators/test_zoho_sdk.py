"""Zoho's official Python SDK (``zohocrmsdk8-0``) against the Zoho emulator over loopback HTTP.

The SDK is a client nobody here wrote: it reaches the emulator through a custom
``DataCenter.Environment`` (API, accounts and upload URLs on loopback), saves its token (it asks
``users?type=CurrentUser`` and ``org`` for the token's user name), reads modules, fields, a paged
record list and a COQL query, writes (insert, update, upsert with a duplicate-check field, delete),
and meets an error with its own exception class and code. The SDK keeps global state (one
``Initializer``), so one module-scoped emulator serves every test here.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

sdk = pytest.importorskip(
    "zohocrmsdk.src.com.zoho.crm.api.initializer", reason="zohocrmsdk8-0 (dev extra) is missing"
)

from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken  # noqa: E402
from zohocrmsdk.src.com.zoho.api.authenticator.store import FileStore  # noqa: E402
from zohocrmsdk.src.com.zoho.api.logger import Logger  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api import ParameterMap  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.coql import BodyWrapper as CoqlBody  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.coql import CoqlOperations  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.dc import DataCenter  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.exception import SDKException  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.fields import FieldsOperations, GetFieldsParam  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.modules import ModulesOperations  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.record import (  # noqa: E402
    APIException,
    BodyWrapper,
    DeleteRecordsParam,
    GetRecordsParam,
    Record,
    RecordOperations,
    SuccessResponse,
)
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.users import GetUsersParam, UsersOperations  # noqa: E402

from crmhub.emulators.serve import serve_in_thread  # noqa: E402
from crmhub.emulators.zoho import (  # noqa: E402
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REFRESH_TOKEN,
    ZohoEmulator,
)

ACCOUNTS = 450


@pytest.fixture(scope="module")
def zoho(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ZohoEmulator, str, Path]]:
    emulator = ZohoEmulator(accounts=ACCOUNTS, contacts=40, leads=5, users=3, seed=3)
    folder = tmp_path_factory.mktemp("zoho-sdk")
    with serve_in_thread(emulator.app) as url:
        environment = DataCenter.Environment(url, url + "/oauth/v2/token", url)
        token = OAuthToken(
            client_id=DEFAULT_CLIENT_ID,
            client_secret=DEFAULT_CLIENT_SECRET,
            refresh_token=DEFAULT_REFRESH_TOKEN,
        )
        Initializer.initialize(
            environment=environment,
            token=token,
            store=FileStore(str(folder / "tokens.csv")),
            sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=False),
            resource_path=str(folder),
            logger=Logger.get_instance(Logger.Levels.INFO, str(folder / "sdk.log")),
        )
        yield emulator, url, folder


def _success(item: Any) -> dict[str, Any]:
    assert isinstance(item, SuccessResponse), (
        type(item).__name__,
        getattr(item, "get_details", lambda: None)(),
    )
    return dict(item.get_details())


def test_given_a_refresh_token_when_the_sdk_saves_its_token_then_it_names_the_current_user_and_the_api_domain(
    zoho: tuple[ZohoEmulator, str, Path],
) -> None:
    emulator, url, folder = zoho
    params = ParameterMap()
    params.add(GetUsersParam.type, "CurrentUser")
    answer = UsersOperations().get_users(params)
    assert answer.get_status_code() == 200
    users = answer.get_object().get_users()
    assert [u.get_email() for u in users] == [emulator.get("Users", emulator.id_of("Users", 0))["email"]]  # type: ignore[index]
    with (folder / "tokens.csv").open(encoding="utf-8") as fh:
        saved = list(csv.DictReader(fh))
    assert len(saved) == 1
    assert saved[0]["user_name"] == f"{users[0].get_email()}:60000000001"  # e-mail : org zgid
    assert saved[0]["api_domain"] == url
    assert saved[0]["access_token"].startswith("1000.")


def test_the_sdk_reads_modules_and_fields_with_types_picklists_and_lookups(
    zoho: tuple[ZohoEmulator, str, Path],
) -> None:
    modules = ModulesOperations().get_modules().get_object().get_modules()
    assert {"Accounts", "Contacts", "Leads"} <= {m.get_api_name() for m in modules}
    params = ParameterMap()
    params.add(GetFieldsParam.module, "Contacts")
    fields = {f.get_api_name(): f for f in FieldsOperations().get_fields(params).get_object().get_fields()}
    assert fields["Account_Name"].get_data_type() == "lookup"
    assert fields["Account_Name"].get_lookup().get_module().get_api_name() == "Accounts"
    assert fields["Last_Name"].get_system_mandatory() is True
    assert fields["Email"].get_unique() is not None
    params = ParameterMap()
    params.add(GetFieldsParam.module, "Accounts")
    account_fields = {
        f.get_api_name(): f for f in FieldsOperations().get_fields(params).get_object().get_fields()
    }
    status = [p.get_display_value() for p in account_fields["Partner_Status"].get_pick_list_values()]
    assert status == ["Active", "Inactive", "Pending"]
    assert account_fields["Products"].get_json_type() == "jsonarray"


def test_the_sdk_pages_through_records_by_page_then_page_token(zoho: tuple[ZohoEmulator, str, Path]) -> None:
    emulator, _, _ = zoho
    seen: list[int] = []
    token = None
    for page in range(1, 10):
        params = ParameterMap()
        params.add(GetRecordsParam.fields, "Account_Name,Owner,Modified_Time,Products")
        params.add(GetRecordsParam.per_page, 200)
        if token is None:
            params.add(GetRecordsParam.page, page)
        else:
            params.add(GetRecordsParam.page_token, token)
        body = RecordOperations("Accounts").get_records(params).get_object()
        seen += [r.get_id() for r in body.get_data()]
        if page == 1:
            first = body.get_data()[0]
            assert first.get_key_value("Owner").get_email().endswith("@crmhub-emulator.example")
            shown = emulator.get("Accounts", str(first.get_id()))["Modified_Time"]  # type: ignore[index]
            assert shown.endswith("+05:30")  # the org's time zone on the wire …
            assert first.get_key_value("Modified_Time") == datetime.fromisoformat(shown)  # … the same instant
        if not body.get_info().get_more_records():
            break
        token = body.get_info().get_next_page_token() if page >= 2 else None
    assert seen == [int(i) for i in emulator.ids("Accounts")]  # 450 records, each once, in id order


def test_the_sdk_runs_a_coql_query(zoho: tuple[ZohoEmulator, str, Path]) -> None:
    emulator, _, _ = zoho
    query = CoqlBody()
    query.set_select_query(
        "select Account_Name, Employees from Accounts where (Employees >= 1000 and Industry is not null) "
        "order by id asc limit 0, 2000"
    )
    rows = CoqlOperations().get_records(query).get_object().get_data()
    expected = [
        int(i)
        for i in emulator.ids("Accounts")
        if (r := emulator.get("Accounts", i)) is not None
        and r["Employees"] >= 1000
        and r["Industry"] is not None
    ]
    assert expected and [r.get_id() for r in rows] == expected
    assert all(r.get_key_value("Employees") >= 1000 for r in rows)


def test_the_sdk_inserts_updates_upserts_and_deletes_with_per_record_results(
    zoho: tuple[ZohoEmulator, str, Path],
) -> None:
    emulator, _, _ = zoho
    operations = RecordOperations("Accounts")
    good, bad = Record(), Record()
    good.add_key_value("Account_Name", "SDK Insert Ltd")
    good.add_key_value("Hub_ID", "SDK-0001")
    bad.add_key_value("Website", "https://no-name.example")  # Account_Name is mandatory
    body = BodyWrapper()
    body.set_data([good, bad])
    answer = operations.create_records(body)
    assert answer.get_status_code() == 207
    results = answer.get_object().get_data()
    created = _success(results[0])["id"]
    assert isinstance(results[1], APIException)
    assert results[1].get_code().get_value() == "MANDATORY_NOT_FOUND"
    assert results[1].get_details()["api_name"] == "Account_Name"
    assert emulator.get("Accounts", str(created))["Account_Name"] == "SDK Insert Ltd"  # type: ignore[index]

    change = Record()
    change.set_id(int(created))
    change.add_key_value("Employees", 77)
    body = BodyWrapper()
    body.set_data([change])
    _success(operations.update_records(body).get_object().get_data()[0])
    assert emulator.get("Accounts", str(created))["Employees"] == 77  # type: ignore[index]

    again, new = Record(), Record()
    again.add_key_value("Hub_ID", "SDK-0001")
    again.add_key_value("Account_Name", "SDK Upserted Ltd")
    new.add_key_value("Hub_ID", "SDK-0002")
    new.add_key_value("Account_Name", "SDK Second Ltd")
    body = BodyWrapper()
    body.set_data([again, new])
    body.set_duplicate_check_fields(["Hub_ID"])
    upserted = operations.upsert_records(body).get_object().get_data()
    assert str(_success(upserted[0])["id"]) == str(created)
    second = _success(upserted[1])["id"]
    assert emulator.get("Accounts", str(created))["Account_Name"] == "SDK Upserted Ltd"  # type: ignore[index]
    before = emulator.count("Accounts")

    params = ParameterMap()
    params.add(DeleteRecordsParam.ids, str(created))
    params.add(DeleteRecordsParam.ids, str(second))
    deleted = operations.delete_records(params).get_object().get_data()
    assert [str(_success(d)["id"]) for d in deleted] == [str(created), str(second)]
    assert emulator.count("Accounts") == before - 2


def test_given_a_module_that_does_not_exist_then_the_sdk_raises_its_own_exception_with_zohos_code(
    zoho: tuple[ZohoEmulator, str, Path],
) -> None:
    params = ParameterMap()
    params.add(GetRecordsParam.fields, "Name")
    # The SDK reads the module's fields first (to type the records) and raises on Zoho's answer.
    with pytest.raises(SDKException) as raised:
        RecordOperations("Invoices_Nope").get_records(params)
    assert raised.value.code == "API_EXCEPTION"
    assert raised.value.details == {
        "code": "INVALID_MODULE",
        "status": "error",
        "message": "the module name given seems to be invalid",
    }

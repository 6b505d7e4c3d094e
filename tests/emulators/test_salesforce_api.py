"""Salesforce emulator: OAuth, describe, record writes, composite collections, replication endpoints."""

from __future__ import annotations

import re

import httpx
import pytest

from crmhub.emulators import SalesforceEmulator
from crmhub.emulators.salesforce import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_USERNAME,
)

PASSWORD_FORM = {
    "grant_type": "password",
    "client_id": DEFAULT_CLIENT_ID,
    "client_secret": DEFAULT_CLIENT_SECRET,
    "username": DEFAULT_USERNAME,
    "password": DEFAULT_PASSWORD + DEFAULT_SECURITY_TOKEN,
}


# -- OAuth ------------------------------------------------------------------------------------------------------


def test_given_right_credentials_when_password_login_then_token_response_has_salesforce_fields(
    sf_url: str,
) -> None:
    response = httpx.post(f"{sf_url}/services/oauth2/token", data=PASSWORD_FORM)
    assert response.status_code == 200
    body = response.json()
    assert {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
        "refresh_token",
    } <= set(body)
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == sf_url
    assert re.fullmatch(r"\d{13}", body["issued_at"])
    assert body["access_token"].startswith("00D")
    me = httpx.get(
        f"{sf_url}/services/data/v62.0/limits", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"password": DEFAULT_PASSWORD + "WRONG"}, "invalid_grant"),
        ({"password": DEFAULT_PASSWORD}, "invalid_grant"),
        ({"username": "nobody@example.com"}, "invalid_grant"),
        ({"client_id": "someone-else"}, "invalid_client_id"),
        ({"grant_type": "magic"}, "unsupported_grant_type"),
    ],
    ids=["wrong password", "password without token", "unknown user", "unknown client", "unknown grant type"],
)
def test_given_bad_credentials_when_logging_in_then_400_oauth_error(
    sf_url: str, change: dict[str, str], error: str
) -> None:
    response = httpx.post(f"{sf_url}/services/oauth2/token", data={**PASSWORD_FORM, **change})
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_given_wrong_password_when_logging_in_then_body_is_authentication_failure(sf_url: str) -> None:
    response = httpx.post(f"{sf_url}/services/oauth2/token", data={**PASSWORD_FORM, "password": "nope"})
    assert response.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


def test_given_a_refresh_token_when_refreshing_then_new_access_token_without_new_refresh_token(
    sf_url: str,
) -> None:
    first = httpx.post(f"{sf_url}/services/oauth2/token", data=PASSWORD_FORM).json()
    again = httpx.post(
        f"{sf_url}/services/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": DEFAULT_CLIENT_ID,
            "refresh_token": first["refresh_token"],
        },
    )
    assert again.status_code == 200
    assert again.json()["access_token"] != first["access_token"]
    assert "refresh_token" not in again.json()
    bad = httpx.post(
        f"{sf_url}/services/oauth2/token",
        data={"grant_type": "refresh_token", "client_id": DEFAULT_CLIENT_ID, "refresh_token": "forged"},
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"


def test_given_client_credentials_when_requesting_a_token_then_no_refresh_token(sf_url: str) -> None:
    body = httpx.post(
        f"{sf_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        },
    ).json()
    assert body["access_token"] and "refresh_token" not in body


def test_given_no_token_when_calling_the_api_then_401_invalid_session_id(sf_url: str) -> None:
    response = httpx.get(f"{sf_url}/services/data/v62.0/sobjects")
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_given_a_token_past_its_lifetime_when_calling_then_401_and_a_new_login_works(
    sf: SalesforceEmulator, sf_url: str, sf_client: httpx.Client
) -> None:
    assert sf_client.get("/limits").status_code == 200
    sf.clock.advance(7201)
    expired = sf_client.get("/limits")
    assert expired.status_code == 401
    assert expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    token = httpx.post(f"{sf_url}/services/oauth2/token", data=PASSWORD_FORM).json()["access_token"]
    assert sf_client.get("/limits", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_when_listing_versions_then_no_auth_is_needed_and_the_default_version_is_last(sf_url: str) -> None:
    versions = httpx.get(f"{sf_url}/services/data/").json()
    assert versions[-1] == {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"}


def test_given_a_soap_login_when_credentials_are_right_then_session_id_and_server_url(sf_url: str) -> None:
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
        '<env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com">'
        f"<n1:username>{DEFAULT_USERNAME}</n1:username><n1:password>{DEFAULT_PASSWORD}{DEFAULT_SECURITY_TOKEN}"
        "</n1:password></n1:login></env:Body></env:Envelope>"
    )
    ok = httpx.post(f"{sf_url}/services/Soap/u/62.0", content=envelope, headers={"SOAPAction": "login"})
    assert ok.status_code == 200
    assert "<sessionId>00D" in ok.text and f"<serverUrl>{sf_url}/services/Soap/u/62.0/" in ok.text
    bad = httpx.post(f"{sf_url}/services/Soap/u/62.0", content=envelope.replace(DEFAULT_SECURITY_TOKEN, "X"))
    assert bad.status_code == 500
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in bad.text


# -- describe ---------------------------------------------------------------------------------------------------


def test_when_describing_globally_then_account_contact_and_user_are_listed(sf_client: httpx.Client) -> None:
    body = sf_client.get("/sobjects").json()
    assert body["encoding"] == "UTF-8" and body["maxBatchSize"] == 200
    prefixes = {o["name"]: o["keyPrefix"] for o in body["sobjects"]}
    assert prefixes == {"Account": "001", "Contact": "003", "User": "005"}


def test_when_describing_account_then_fields_carry_salesforce_metadata(sf_client: httpx.Client) -> None:
    fields = {f["name"]: f for f in sf_client.get("/sobjects/Account/describe").json()["fields"]}
    expected_keys = {
        "name",
        "label",
        "type",
        "soapType",
        "length",
        "nillable",
        "createable",
        "updateable",
        "externalId",
        "unique",
        "idLookup",
        "picklistValues",
        "referenceTo",
        "relationshipName",
    }
    assert expected_keys <= set(fields["Name"])
    assert (fields["Name"]["type"], fields["Name"]["nillable"], fields["Name"]["length"]) == (
        "string",
        False,
        255,
    )
    assert fields["Id"]["type"] == "id" and not fields["Id"]["createable"]
    assert (fields["OwnerId"]["referenceTo"], fields["OwnerId"]["relationshipName"]) == (["User"], "Owner")
    assert fields["Products__c"]["type"] == "multipicklist"
    assert [p["value"] for p in fields["Partner_Status__c"]["picklistValues"]] == [
        "Active",
        "Inactive",
        "Pending",
    ]
    assert fields["Hub_ID__c"]["externalId"] and fields["Hub_ID__c"]["unique"]
    assert fields["SystemModstamp"]["soapType"] == "xsd:dateTime"
    assert fields["NumberOfEmployees"]["soapType"] == "xsd:int"


def test_given_an_unknown_object_when_describing_then_404(sf_client: httpx.Client) -> None:
    response = sf_client.get("/sobjects/Widget__c/describe")
    assert response.status_code == 404 and response.json()[0]["errorCode"] == "NOT_FOUND"


# -- single-record writes --------------------------------------------------------------------------------------


def test_when_creating_reading_updating_and_deleting_an_account_then_each_step_answers_like_salesforce(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    created = sf_client.post("/sobjects/Account", json={"Name": "Initech", "Industry": "Technology"})
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == []
    assert re.fullmatch(r"001[0-9A-Za-z]{15}", body["id"])
    record = sf_client.get(f"/sobjects/Account/{body['id']}").json()
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v62.0/sobjects/Account/{body['id']}",
    }
    assert (record["Name"], record["IsDeleted"], record["OwnerId"]) == ("Initech", False, sf.admin_id)
    before = record["SystemModstamp"]
    sf.clock.advance(5)
    assert (
        sf_client.patch(f"/sobjects/Account/{body['id']}", json={"NumberOfEmployees": 42}).status_code == 204
    )
    after = sf_client.get(
        f"/sobjects/Account/{body['id']}", params={"fields": "NumberOfEmployees,SystemModstamp"}
    ).json()
    assert after["NumberOfEmployees"] == 42 and after["SystemModstamp"] > before
    assert sf_client.delete(f"/sobjects/Account/{body['id']}").status_code == 204
    gone = sf_client.get(f"/sobjects/Account/{body['id']}")
    assert gone.status_code == 404 and gone.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


WRITE_ERRORS = [
    ("unknown field", {"Name": "X", "Bogus__c": 1}, "INVALID_FIELD"),
    (
        "read-only field",
        {"Name": "X", "CreatedDate": "2024-01-01T00:00:00Z"},
        "INVALID_FIELD_FOR_INSERT_UPDATE",
    ),
    ("missing Name", {"Industry": "Retail"}, "REQUIRED_FIELD_MISSING"),
    ("text into a number", {"Name": "X", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR"),
    ("bad date", {"Name": "X", "Customer_Since__c": "2024-13-45"}, "JSON_PARSER_ERROR"),
    ("string too long", {"Name": "X" * 256}, "STRING_TOO_LONG"),
    (
        "bad restricted picklist value",
        {"Name": "X", "Partner_Status__c": "Gold"},
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ),
    ("owner id of the wrong type", {"Name": "X", "OwnerId": "001000000000000AAA"}, "MALFORMED_ID"),
]


@pytest.mark.parametrize(
    ("values", "code"), [(v, c) for _, v, c in WRITE_ERRORS], ids=[w[0] for w in WRITE_ERRORS]
)
def test_given_invalid_values_when_creating_then_400_with_the_error_code(
    sf_client: httpx.Client, values: dict[str, object], code: str
) -> None:
    response = sf_client.post("/sobjects/Account", json=values)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code


def test_given_a_new_external_id_when_upserting_then_201_created_and_then_200_updated(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    first = sf_client.patch("/sobjects/Account/Hub_ID__c/HUB-NEW-1", json={"Name": "Upserted"})
    assert first.status_code == 201
    assert first.json()["created"] is True
    second = sf_client.patch("/sobjects/Account/Hub_ID__c/hub-new-1", json={"Name": "Upserted again"})
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": False}
    assert sf.get("Account", first.json()["id"])["Name"] == "Upserted again"


def test_given_api_version_below_46_when_upserting_an_existing_record_then_204(
    sf: SalesforceEmulator, sf_url: str
) -> None:
    headers = {"Authorization": f"Bearer {sf.issue_token()}"}
    url = f"{sf_url}/services/data/v45.0/sobjects/Account/Hub_ID__c/HUB-OLD"
    assert httpx.patch(url, json={"Name": "Old"}, headers=headers).status_code == 201
    assert httpx.patch(url, json={"Name": "Older"}, headers=headers).status_code == 204


def test_given_two_matches_when_upserting_by_a_lookup_field_then_300_with_their_urls(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    ids = sf.insert("Contact", [{"LastName": "Twin", "Email": "twin@example.org"}] * 2)
    response = sf_client.patch("/sobjects/Contact/Email/twin@example.org", json={"Title": "?"})
    assert response.status_code == 300
    assert sorted(response.json()) == sorted(f"/services/data/v62.0/sobjects/Contact/{i}" for i in ids)


def test_given_an_unknown_external_id_field_when_upserting_then_404(sf_client: httpx.Client) -> None:
    response = sf_client.patch("/sobjects/Account/Website/x", json={"Name": "X"})
    assert response.status_code == 404


def test_given_update_only_when_upserting_an_unknown_value_then_404_and_nothing_created(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    count = sf.count("Account")
    response = sf_client.patch(
        "/sobjects/Account/Hub_ID__c/HUB-NOPE", params={"updateOnly": "true"}, json={"Name": "X"}
    )
    assert response.status_code == 404 and sf.count("Account") == count


def test_given_a_seeded_external_id_when_reading_by_it_then_that_record_returns(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    seeded = next(
        a for a in (sf.get("Account", i) for i in sf.ids("Account", limit=20)) if a and a["Hub_ID__c"]
    )
    record = sf_client.get(f"/sobjects/Account/Hub_ID__c/{seeded['Hub_ID__c']}").json()
    assert record["Id"] == seeded["Id"]


# -- composite collections ---------------------------------------------------------------------------------------


def test_given_a_batch_with_one_bad_record_when_creating_then_per_record_errors_and_others_saved(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    records = [
        {"attributes": {"type": "Account"}, "Name": "Good One"},
        {"attributes": {"type": "Account"}, "Industry": "Retail"},
        {"attributes": {"type": "Account"}, "Name": "Good Two", "NumberOfEmployees": "lots"},
        {"attributes": {"type": "Contact"}, "LastName": "Mixed types are fine"},
    ]
    response = sf_client.post("/composite/sobjects", json={"allOrNone": False, "records": records})
    assert response.status_code == 200
    results = response.json()
    assert [r["success"] for r in results] == [True, False, False, True]
    assert results[1]["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [Name]",
            "fields": ["Name"],
        }
    ]
    assert results[2]["errors"][0]["statusCode"] == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert results[1]["id"] is None
    assert sf.get("Account", results[0]["id"])["Name"] == "Good One"
    assert results[3]["id"].startswith("003")


def test_given_all_or_none_when_one_record_fails_then_nothing_is_saved(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    count = sf.count("Account")
    records = [{"attributes": {"type": "Account"}, "Name": "Fine"}, {"attributes": {"type": "Account"}}]
    results = sf_client.post("/composite/sobjects", json={"allOrNone": True, "records": records}).json()
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.count("Account") == count


def test_given_duplicate_external_ids_in_one_batch_when_creating_then_the_second_fails(
    sf_client: httpx.Client,
) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": n, "Hub_ID__c": "HUB-DUP"} for n in ("A", "B")]
    results = sf_client.post("/composite/sobjects", json={"records": records}).json()
    assert [r["success"] for r in results] == [True, False]
    assert results[1]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"


def test_given_more_than_200_records_when_creating_then_400_exceeded_id_limit(
    sf_client: httpx.Client,
) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(201)]
    response = sf_client.post("/composite/sobjects", json={"records": records})
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_when_updating_a_collection_then_unknown_ids_fail_alone(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    [account] = sf.ids("Account", limit=1)
    sf.delete("Account", sf.ids("Account", limit=2)[1])
    deleted = [i for i in sf.ids("Account", limit=3) if i != account][0]
    gone = "001" + "5g0" + "zzzzzzzzz"
    records = [
        {"attributes": {"type": "Account"}, "id": account, "Description": "updated"},
        {"attributes": {"type": "Account"}, "id": gone, "Description": "x"},
    ]
    results = sf_client.patch("/composite/sobjects", json={"records": records}).json()
    assert results[0] == {"id": account, "success": True, "errors": []}
    assert results[1]["success"] is False
    assert results[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert sf.get("Account", account)["Description"] == "updated"
    assert deleted


def test_when_upserting_a_collection_by_external_id_then_created_flags_tell_new_from_existing(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    sf.insert("Account", [{"Name": "Existing", "Hub_ID__c": "HUB-C-1"}])
    records = [
        {"attributes": {"type": "Account"}, "Hub_ID__c": "HUB-C-1", "Name": "Existing renamed"},
        {"attributes": {"type": "Account"}, "Hub_ID__c": "HUB-C-2", "Name": "Brand new"},
        {"attributes": {"type": "Account"}, "Hub_ID__c": "HUB-C-3"},
    ]
    results = sf_client.patch("/composite/sobjects/Account/Hub_ID__c", json={"records": records}).json()
    assert [(r["success"], r["created"]) for r in results] == [(True, False), (True, True), (False, False)]
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.get("Account", results[0]["id"])["Name"] == "Existing renamed"


def test_when_deleting_a_collection_then_each_id_gets_its_own_result(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    a, b = sf.ids("Contact", limit=2)
    sf.delete("Contact", b)
    results = sf_client.delete("/composite/sobjects", params={"ids": f"{a},{b}"}).json()
    assert results[0] == {"id": a, "success": True, "errors": []}
    assert results[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


# -- replication and cascades -------------------------------------------------------------------------------------


def test_given_deleted_records_when_asking_for_deleted_then_ids_and_dates_in_the_window(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    victims = sf.ids("Contact", limit=2)
    for victim in victims:
        sf.delete("Contact", victim)
    body = sf_client.get(
        "/sobjects/Contact/deleted/",
        params={"start": "2024-05-15T00:00:00+00:00", "end": "2024-05-16T00:00:00+00:00"},
    ).json()
    assert {d["id"] for d in body["deletedRecords"]} == set(victims)
    assert all(d["deletedDate"].startswith("2024-05-15T12:00:00") for d in body["deletedRecords"])
    assert body["latestDateCovered"] == "2024-05-15T12:00:00.000+0000"
    assert "earliestDateAvailable" in body
    empty = sf_client.get(
        "/sobjects/Contact/deleted/", params={"start": "2024-05-10T00:00:00Z", "end": "2024-05-11T00:00:00Z"}
    ).json()
    assert empty["deletedRecords"] == []


def test_given_an_account_with_contacts_when_deleting_it_then_its_contacts_are_deleted_too(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    [account] = sf.ids("Account", limit=1)
    soql = f"SELECT Id FROM Contact WHERE AccountId = '{account}'"
    contacts = [r["Id"] for r in sf_client.get("/query", params={"q": soql}).json()["records"]]
    assert contacts
    assert sf_client.delete(f"/sobjects/Account/{account}").status_code == 204
    assert sf_client.get("/query", params={"q": soql}).json()["totalSize"] == 0
    deleted = sf_client.get("/queryAll", params={"q": soql.replace("Id FROM", "Id, IsDeleted FROM")}).json()[
        "records"
    ]
    assert {r["Id"] for r in deleted} == set(contacts) and all(r["IsDeleted"] for r in deleted)


def test_given_changes_when_asking_for_updated_then_their_ids_come_back(
    sf: SalesforceEmulator, sf_client: httpx.Client
) -> None:
    changed = sf.touch("Account", count=2)
    body = sf_client.get(
        "/sobjects/Account/updated/", params={"start": "2024-05-15T11:59:00Z", "end": "2024-05-15T12:01:00Z"}
    ).json()
    assert set(body["ids"]) == set(changed)

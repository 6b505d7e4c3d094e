"""What a Salesforce connection needs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from crmhub.connectors.registry import ConnectorSpec, register

DEFAULT_API_VERSION = "62.0"


class SalesforceSettings(BaseModel):
    login_url: str = Field(
        "https://login.salesforce.com",
        description="OAuth host: https://login.salesforce.com, https://test.salesforce.com (sandbox) or your My Domain.",
    )
    flow: Literal["password", "refresh_token", "client_credentials"] = Field(
        "password", description="OAuth flow used to obtain access tokens."
    )
    username: str | None = Field(None, description="Integration user (password flow).")
    api_version: str = Field(DEFAULT_API_VERSION, description="REST API version, e.g. 62.0.")
    instance_url: str | None = Field(None, description="API host; taken from the token response when empty.")
    page_size: int = Field(
        2000, ge=200, le=2000, description="Records per query page (Sforce-Query-Options batchSize)."
    )
    verify_tls: bool | str = Field(True, description="Verify TLS certificates (or a CA bundle path).")


class SalesforceCredentials(BaseModel):
    client_id: SecretStr | None = Field(None, description="Connected app consumer key.")
    client_secret: SecretStr | None = Field(None, description="Connected app consumer secret.")
    password: SecretStr | None = Field(None, description="Password of the integration user (password flow).")
    security_token: SecretStr | None = Field(
        None, description="Security token appended to the password, if required."
    )
    refresh_token: SecretStr | None = Field(None, description="Refresh token (refresh_token flow).")


SPEC = register(
    ConnectorSpec(
        kind="salesforce",
        label="Salesforce",
        description="Salesforce REST API: SOQL reads with relationship fields, queryAll deletes, sObject Collections writes.",
        settings_model=SalesforceSettings,
        credentials_model=SalesforceCredentials,
        factory="crmhub.connectors.salesforce.connector:SalesforceConnector",
        url_settings=("login_url", "instance_url"),
        hosts=(
            "*.salesforce.com",
            "*.force.com",
            "*.cloudforce.com",
            "*.salesforce.mil",
            "*.sfcrmproducts.cn",
        ),
    )
)

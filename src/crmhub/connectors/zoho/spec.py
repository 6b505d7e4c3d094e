"""What a Zoho CRM connection needs: the data centre (or an accounts server of its own), the OAuth client."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from crmhub.connectors.registry import ConnectorSpec, register

DataCentre = Literal["US", "EU", "IN", "AU", "JP", "CN", "CA", "SA"]
#: Data centre → (accounts server, API domain suffix). Source: the official SDK's ``dc/*_data_center.py``
#: (CRM-PROTOCOLS-2.md §1); sandbox and developer orgs use ``sandbox.`` / ``developer.`` API hosts.
DATA_CENTRES: dict[str, tuple[str, str]] = {
    "US": ("https://accounts.zoho.com", "zohoapis.com"),
    "EU": ("https://accounts.zoho.eu", "zohoapis.eu"),
    "IN": ("https://accounts.zoho.in", "zohoapis.in"),
    "AU": ("https://accounts.zoho.com.au", "zohoapis.com.au"),
    "JP": ("https://accounts.zoho.jp", "zohoapis.jp"),
    "CN": ("https://accounts.zoho.com.cn", "zohoapis.com.cn"),
    "CA": ("https://accounts.zohocloud.ca", "zohoapis.ca"),
    "SA": ("https://accounts.zoho.sa", "zohoapis.sa"),
}
HOSTS = (
    *(url.removeprefix("https://") for url, _ in DATA_CENTRES.values()),
    *(f"*.{suffix}" for _, suffix in DATA_CENTRES.values()),
)
#: Most rows one COQL call returns.
COQL_LIMIT = 2000


class ZohoSettings(BaseModel):
    data_centre: DataCentre = Field(
        "US", description="Data centre of the org: US, EU, IN, AU, JP, CN, CA or SA."
    )
    environment: Literal["production", "sandbox", "developer"] = Field(
        "production", description="production, sandbox or developer org (picks the API host)."
    )
    accounts_url: str | None = Field(
        None, description="OAuth accounts server; the data centre's when empty (an emulator's URL for tests)."
    )
    api_domain: str | None = Field(
        None, description="API host; taken from the token response's api_domain when empty."
    )
    api_version: Literal["v8", "v7"] = Field("v8", description="REST API version (v8; v7 is compatible).")
    page_size: int = Field(COQL_LIMIT, ge=200, le=COQL_LIMIT, description="Rows per COQL call (200-2000).")
    text_case_insensitive: bool = Field(
        False,
        description="Push text comparisons into COQL (Zoho does not document their case rules; confirm first).",
    )
    verify_tls: bool | str = Field(True, description="Verify TLS certificates (or a CA bundle path).")


class ZohoCredentials(BaseModel):
    client_id: SecretStr | None = Field(None, description="OAuth client id (Zoho API console).")
    client_secret: SecretStr | None = Field(None, description="OAuth client secret.")
    refresh_token: SecretStr | None = Field(None, description="Refresh token from the OAuth grant.")


SPEC = register(
    ConnectorSpec(
        kind="zoho",
        label="Zoho CRM",
        description=(
            "Zoho CRM REST v8: COQL reads past the 100,000-row ceiling, lookups and owner as dot paths, "
            "deleted records, upsert with duplicate-check fields, API credits reported."
        ),
        settings_model=ZohoSettings,
        credentials_model=ZohoCredentials,
        factory="crmhub.connectors.zoho.connector:ZohoConnector",
        url_settings=("accounts_url", "api_domain"),
        hosts=HOSTS,
    )
)

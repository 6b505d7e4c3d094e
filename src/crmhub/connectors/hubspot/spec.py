"""What a HubSpot connection needs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from crmhub.connectors.registry import ConnectorSpec, register

DEFAULT_BASE_URL = "https://api.hubapi.com"
#: Most records one search call returns (HubSpot's documented maximum).
SEARCH_PAGE_MAX = 200


class HubSpotSettings(BaseModel):
    base_url: str = Field(
        DEFAULT_BASE_URL, description="API host (https://api.hubapi.com; an emulator's URL for tests)."
    )
    auth_method: Literal["private_app", "oauth"] = Field(
        "private_app",
        description="private_app: a static access token; oauth: an OAuth app's refresh token.",
    )
    page_size: int = Field(
        SEARCH_PAGE_MAX, ge=1, le=SEARCH_PAGE_MAX, description="Records per search call (at most 200)."
    )
    verify_tls: bool | str = Field(True, description="Verify TLS certificates (or a CA bundle path).")


class HubSpotCredentials(BaseModel):
    access_token: SecretStr | None = Field(None, description="Private app access token (private_app).")
    client_id: SecretStr | None = Field(None, description="OAuth app client id (oauth).")
    client_secret: SecretStr | None = Field(None, description="OAuth app client secret (oauth).")
    refresh_token: SecretStr | None = Field(None, description="OAuth refresh token (oauth).")


SPEC = register(
    ConnectorSpec(
        kind="hubspot",
        label="HubSpot",
        description=(
            "HubSpot CRM v3: searches windowed past the 10,000-result cap, archived records as deletes, "
            "associated-company paths, batch writes with per-record results."
        ),
        settings_model=HubSpotSettings,
        credentials_model=HubSpotCredentials,
        factory="crmhub.connectors.hubspot.connector:HubSpotConnector",
        url_settings=("base_url",),
        hosts=("*.hubapi.com", "api.hubspot.com"),
    )
)

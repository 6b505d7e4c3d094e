"""A protocol-faithful HubSpot CRM emulator (v3 objects, search, batch, properties, owners, v4 associations)."""

from crmhub.emulators.hubspot.emulator import (
    DEFAULT_AUTH_CODE,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PRIVATE_APP_TOKEN,
    DEFAULT_REFRESH_TOKEN,
    HubSpotEmulator,
)
from crmhub.emulators.hubspot.search import (
    MAX_FILTERS_PER_GROUP,
    MAX_FILTERS_TOTAL,
    MAX_GROUPS,
    MAX_LIMIT,
    MAX_RESULTS,
)

__all__ = [
    "DEFAULT_AUTH_CODE",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PRIVATE_APP_TOKEN",
    "DEFAULT_REFRESH_TOKEN",
    "MAX_FILTERS_PER_GROUP",
    "MAX_FILTERS_TOTAL",
    "MAX_GROUPS",
    "MAX_LIMIT",
    "MAX_RESULTS",
    "HubSpotEmulator",
]

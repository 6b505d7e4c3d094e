"""A protocol-faithful Zoho CRM emulator (REST v8 / v7: OAuth, metadata, records, COQL, deleted, upsert)."""

from crmhub.emulators.zoho.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_GRANT_TOKEN,
    DEFAULT_REFRESH_TOKEN,
    ZohoEmulator,
    ZohoError,
)

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_GRANT_TOKEN",
    "DEFAULT_REFRESH_TOKEN",
    "ZohoEmulator",
    "ZohoError",
]

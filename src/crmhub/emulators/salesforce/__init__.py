"""A protocol-faithful Salesforce REST emulator (OAuth, SOAP login, sObjects, SOQL, composite, limits)."""

from crmhub.emulators.salesforce.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_USERNAME,
    DEFAULT_VERSION,
    SalesforceEmulator,
    default_credentials,
)
from crmhub.emulators.salesforce.soql import SoqlError, compile_query, parse

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_SECURITY_TOKEN",
    "DEFAULT_USERNAME",
    "DEFAULT_VERSION",
    "SalesforceEmulator",
    "SoqlError",
    "compile_query",
    "default_credentials",
    "parse",
]

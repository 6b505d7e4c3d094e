"""Zoho CRM REST v8 connector (OAuth per data centre, COQL reads, deleted records, upsert), on the kit."""

from crmhub.connectors.zoho.connector import ZohoConnector
from crmhub.connectors.zoho.spec import ZohoCredentials, ZohoSettings

__all__ = ["ZohoConnector", "ZohoCredentials", "ZohoSettings"]

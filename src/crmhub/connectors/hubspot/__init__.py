"""HubSpot CRM connector (private-app or OAuth tokens, v3 search and batch APIs, v4 associations)."""

from crmhub.connectors.hubspot.connector import HubSpotConnector
from crmhub.connectors.hubspot.spec import HubSpotCredentials, HubSpotSettings

__all__ = ["HubSpotConnector", "HubSpotCredentials", "HubSpotSettings"]

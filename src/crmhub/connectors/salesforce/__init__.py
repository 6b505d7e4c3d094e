"""Salesforce REST API connector (OAuth2, SOQL query/queryAll, describe, sObject Collections)."""

from crmhub.connectors.salesforce.connector import SalesforceConnector
from crmhub.connectors.salesforce.spec import SalesforceCredentials, SalesforceSettings

__all__ = ["SalesforceConnector", "SalesforceCredentials", "SalesforceSettings"]

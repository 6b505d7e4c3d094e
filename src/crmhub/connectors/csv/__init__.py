"""CSV files as a source and a destination, through the connector protocol."""

from crmhub.connectors.csv.connector import CsvConnector
from crmhub.connectors.csv.spec import CsvCredentials, CsvSettings

__all__ = ["CsvConnector", "CsvCredentials", "CsvSettings"]

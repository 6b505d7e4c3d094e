"""Vocabulary types, the error tree, clock and ids. Imports only the standard library and pydantic."""

from crmhub.core.clock import utcnow
from crmhub.core.errors import (
    ConfigError,
    ConnectorError,
    CrmHubError,
    ExpressionError,
    FatalError,
    MappingError,
    RetriableError,
    SkippableError,
    StoreError,
    SyncError,
    ValueConversionError,
)
from crmhub.core.ids import new_hub_id, new_hub_ids

__all__ = [
    "ConfigError",
    "ConnectorError",
    "CrmHubError",
    "ExpressionError",
    "FatalError",
    "MappingError",
    "RetriableError",
    "SkippableError",
    "StoreError",
    "SyncError",
    "ValueConversionError",
    "new_hub_id",
    "new_hub_ids",
    "utcnow",
]

"""The rigs now ship in :mod:`crmhub.testing.rigs`; this name stays for the tests that import it."""

from crmhub.testing.rigs import read_all, recording_retry, utc

__all__ = ["read_all", "recording_retry", "utc"]

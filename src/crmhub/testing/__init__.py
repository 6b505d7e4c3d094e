"""The connector contract suite, shipped with crmhub (as singer-sdk ships its tap tests).

Given rigs — a connector kind paired with its emulator (:mod:`crmhub.testing.rigs`) — the suite
yields the standard cases (:mod:`crmhub.testing.contract`): discovery, preview, full read with
paging, 5,000 records sharing one modstamp, dot paths, push-down with residual, deletes,
create/update/upsert with per-record errors, a 429 storm with Retry-After, an expired token
mid-read, the daily limit reached. A case a connector cannot do is skipped with the capability it
lacks, never silently. From pytest::

    from crmhub.testing import BUILTIN_RIGS, pytest_cases, skip_unless_applies

    @pytest.mark.parametrize(("rig", "case"), **pytest_cases(BUILTIN_RIGS))
    def test_contract(rig, case):
        skip_unless_applies(rig, case)
        case.check(rig)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crmhub.testing.contract import CASES, ContractCase, case, contract_cases
from crmhub.testing.rigs import (
    BUILTIN_RIGS,
    CsvRig,
    HubSpotRig,
    Names,
    Rig,
    SalesforceRig,
    Session,
    ZohoRig,
    read_all,
    recording_retry,
)

__all__ = [
    "BUILTIN_RIGS",
    "CASES",
    "ContractCase",
    "CsvRig",
    "HubSpotRig",
    "Names",
    "Rig",
    "SalesforceRig",
    "Session",
    "ZohoRig",
    "case",
    "contract_cases",
    "pytest_cases",
    "read_all",
    "recording_retry",
    "skip_unless_applies",
]


def pytest_cases(rigs: Sequence[Rig]) -> dict[str, Any]:
    """``argvalues`` and ``ids`` for ``pytest.mark.parametrize(("rig", "case"), ...)``."""
    pairs = [(rig, item) for rig, item, _ in contract_cases(rigs)]
    return {"argvalues": pairs, "ids": [f"{rig.label}: {item.name}" for rig, item in pairs]}


def skip_unless_applies(rig: Rig, item: ContractCase) -> None:
    """``pytest.skip`` with the reason when the case needs a capability the connector lacks."""
    reason = item.skip_reason(rig)
    if reason is not None:
        import pytest

        pytest.skip(reason)

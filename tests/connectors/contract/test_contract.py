"""The shipped connector contract (``crmhub.testing``) for every built-in connector against its emulator.

Cases a connector cannot do (CSV has no incremental reads, deletes, rate limits or tokens) are skipped
with the capability it lacks. CSV-only malformed-file cases live in ``test_csv_files.py`` beside this
file (and in ``tests/connectors/test_csv.py``).
"""

from __future__ import annotations

import pytest

from crmhub.testing import BUILTIN_RIGS, ContractCase, Rig, pytest_cases, skip_unless_applies


@pytest.mark.parametrize(("rig", "case"), **pytest_cases(BUILTIN_RIGS))
def test_contract(rig: Rig, case: ContractCase) -> None:
    skip_unless_applies(rig, case)
    case.check(rig)

"""The contract suite runs every case for every (connector, emulator) pair that has the capability."""

from __future__ import annotations

import pytest

from crmhub.connectors.base import Capability

from .rigs import RIG_IDS, RIGS, Rig


@pytest.fixture(params=RIGS, ids=RIG_IDS)
def rig(request: pytest.FixtureRequest) -> Rig:
    return request.param  # type: ignore[no-any-return]


def needs(rig: Rig, *capabilities: Capability, why: str = "") -> None:
    """Skip a case the connector cannot do, saying why."""
    missing = [c.value for c in capabilities if c not in rig.capabilities]
    if missing:
        pytest.skip(f"{rig.kind} has no {', '.join(missing)} capability" + (f" ({why})" if why else ""))

"""A session that expires again within one call's retries (401 → 429 → 401 → 200) does not fail the run."""

from __future__ import annotations

from typing import Any

import pytest

from crmhub.emulators import hubspot as hs
from crmhub.emulators import salesforce as sf
from crmhub.emulators._common.faults import FaultConfig
from crmhub.emulators.serve import serve_in_thread
from crmhub.services.jobs import JobService
from crmhub.sync.spec import JobSpec


def _connect(jobs: JobService, kind: str, url: str) -> tuple[str, str]:
    """A refreshable connection 'crm'; returns (remote object, id field)."""
    if kind == "salesforce":
        jobs.connections.add(
            "crm",
            "salesforce",
            {"login_url": url, "username": sf.DEFAULT_USERNAME},
            sf.default_credentials(),
        )
        return "Account", "Id"
    jobs.connections.add(
        "crm",
        "hubspot",
        {"base_url": url, "auth_method": "oauth"},
        {
            "client_id": hs.DEFAULT_CLIENT_ID,
            "client_secret": hs.DEFAULT_CLIENT_SECRET,
            "refresh_token": hs.DEFAULT_REFRESH_TOKEN,
        },
    )
    return "companies", "hs_object_id"


@pytest.mark.parametrize("kind", ["salesforce", "hubspot"])
def test_given_the_session_expires_twice_around_a_rate_limit_when_a_run_reads_then_it_succeeds(
    kind: str, jobs: JobService
) -> None:
    emulator: Any = (
        sf.SalesforceEmulator(accounts=50, contacts=0, seed=3)
        if kind == "salesforce"
        else hs.HubSpotEmulator(companies=50, contacts=0, seed=3)
    )
    with serve_in_thread(emulator.app) as url:
        remote_object, id_field = _connect(jobs, kind, url)
        jobs.create(
            JobSpec.model_validate(
                {
                    "name": "accounts-in",
                    "direction": "inbound",
                    "connection": "crm",
                    "remote_object": remote_object,
                    "object_type": "account",
                    "mapping": [{"source": id_field, "target": "account_id"}],
                }
            )
        )
        emulator.set_faults(FaultConfig(retry_after_seconds=0))
        for fault in ("expired_token", "rate_limit", "expired_token"):  # the run's first API requests
            emulator.inject_fault(fault)

        _, outcome = jobs.run("accounts-in")

        assert outcome.status == "succeeded", outcome.message
        assert outcome.counts.created == 50
        assert emulator.fault_injector.injected["expired_token"] == 2
        assert outcome.usage["refreshed_tokens"] == 2

"""Start `crmhub emulate …` in its own process for a benchmark, and stop it afterwards."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def emulator_process(kind: str, *args: str, ready_timeout: float = 120.0) -> Iterator[str]:
    """Yield the base URL of an emulator served by a separate process."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "crmhub.cli.main", "emulate", kind, "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"emulator exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            try:
                httpx.get(f"{url}/__emulator/state", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("emulator did not start in time") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


#: The Account fields both Salesforce benchmarks read (+ Id and SystemModstamp, which every read
#: selects): two dates, a datetime, a currency, a number, a multi-picklist, a relationship field.
ACCOUNT_FIELDS = [
    "Name",
    "Website",
    "Industry",
    "NumberOfEmployees",
    "AnnualRevenue",
    "BillingCountry",
    "BillingCity",
    "Type",
    "Phone",
    "Partner_Status__c",
    "Products__c",
    "Owner.Email",
    "Customer_Since__c",
    "CreatedDate",
    "Description",
    "Hub_ID__c",
    "OwnerId",
    "LastModifiedDate",
    "CreatedById",
]

"""``crmhub emulate``: serve a CRM emulator on loopback (filled in by the emulator work)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Serve a protocol-faithful CRM emulator on loopback.", no_args_is_help=True)

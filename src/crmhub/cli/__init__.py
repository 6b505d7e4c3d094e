"""The ``crmhub`` command line (Typer): one module per command group."""

"""The sync engine: inbound and outbound runs of integration jobs."""

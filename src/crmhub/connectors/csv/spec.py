"""Settings of a CSV connection (no credentials)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from crmhub.connectors.registry import ConnectorSpec, register


class CsvSettings(BaseModel):
    path: str = Field(
        description="A folder of .csv files (each file is an object) or one .csv file, inside one of the "
        "folders CRMHUB_FILE_ROOTS allows (default: the data folder's files/)."
    )
    delimiter: str | None = Field(None, description="Field delimiter; sniffed from the file when empty.")
    encoding: str | None = Field(None, description="Text encoding; detected when empty (UTF-8 first).")
    id_column: str | None = Field(
        None,
        description="Column holding each row's id (default: 'id' or 'Id' if present, else the row number).",
    )
    modstamp_column: str | None = Field(
        None,
        description="Column holding each row's last-modified time (default: the file's modification time).",
    )


class CsvCredentials(BaseModel):
    pass


SPEC = register(
    ConnectorSpec(
        kind="csv",
        label="CSV files",
        description="Import from and export to CSV files in a local folder.",
        settings_model=CsvSettings,
        credentials_model=CsvCredentials,
        factory="crmhub.connectors.csv.connector:CsvConnector",
        path_settings=("path",),
    )
)

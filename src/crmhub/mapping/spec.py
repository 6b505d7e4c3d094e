"""Mapping rows: how source fields become target attributes (or hub attributes become CRM fields)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ValueTypeName = Literal[
    "text", "number", "currency", "boolean", "date", "datetime", "foreign_key", "multi_text"
]
CategoryName = Literal[
    "firmographics",
    "technographics",
    "scores",
    "crm",
    "calculated",
    "csv",
    "journey_stage",
    "segment",
    "system",
]


class NewAttribute(BaseModel):
    """A target attribute the job creates when it is saved."""

    model_config = ConfigDict(extra="forbid")

    type: ValueTypeName = "text"
    category: CategoryName = "crm"
    label: str | None = None
    fk_target: str | None = None


class MappingRow(BaseModel):
    """One row: exactly one of source field, expression or constant → a target.

    ``source_format`` says how raw source values look (``MM/DD/YYYY``, ``1.234,56``, ``;`` …).
    """

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(None, description="A source field path, e.g. Owner.Email.")
    expression: str | None = Field(None, description="An expression over source fields.")
    constant: Any = Field(None, description="A fixed value.")
    source_format: str | None = None
    target: str
    new_attribute: NewAttribute | None = None
    note: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> MappingRow:
        given = [self.source is not None, self.expression is not None, self.constant is not None]
        if sum(given) != 1:
            raise ValueError(
                f"mapping row for {self.target!r} needs exactly one of source, expression or constant"
            )
        return self

    def describe_source(self) -> str:
        if self.source is not None:
            return self.source
        if self.expression is not None:
            return f"= {self.expression}"
        return f"constant {self.constant!r}"

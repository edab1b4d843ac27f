"""AttributeSchema: the custom attributes (and standard fields) an integration declares."""

from __future__ import annotations

import difflib
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from reconciler.manifests.kinds.common import Strict

# Amperity's eight types (case-insensitive) plus Braze's array and object.
ATTRIBUTE_TYPES = (
    "boolean",
    "date",
    "datetime",
    "decimal",
    "float",
    "integer",
    "string",
    "varchar",
    "array",
    "object",
)


def _any_case_pattern(words: tuple[str, ...] | list[str]) -> str:
    """`^(?:[Bb][Oo]…|…)$`: matches each word in any mix of upper and lower case."""
    spelled = ("".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in w) for w in words)
    return "^(?:" + "|".join(spelled) + ")$"


def _lower_type(v: Any) -> Any:
    if isinstance(v, str) and v.lower() in ATTRIBUTE_TYPES:
        return v.lower()
    return v


def _known_type(v: str) -> str:
    if v not in ATTRIBUTE_TYPES:
        close = difflib.get_close_matches(v.lower(), ATTRIBUTE_TYPES, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"unknown type {v!r} (expected one of {', '.join(ATTRIBUTE_TYPES)}){hint}")
    return v


AttributeType = Annotated[
    str,
    BeforeValidator(_lower_type),
    AfterValidator(_known_type),
    Field(
        # any case, as the CLI accepts: JSON Schema regexes have no (?i), so spell it out
        json_schema_extra={"pattern": _any_case_pattern(ATTRIBUTE_TYPES)},
        description="Boolean, Date, Datetime, Decimal, Float, Integer, String, Varchar "
        "(case-insensitive), array or object",
    ),
]


class AttributeDef(Strict):
    name: str = Field(min_length=1, max_length=255)
    type: AttributeType
    description: str | None = None
    enum: list[str | int | float] | None = None
    standard: bool = Field(default=False, description="a Braze standard profile field")
    pii: bool = Field(default=False, description="masked in plans; only a keyed hash in state")
    consent: bool = Field(default=False, description="opt-in to write subscription fields")
    max_length: int | None = Field(default=None, ge=0, description="array length or varchar")

    @model_validator(mode="after")
    def _check(self) -> AttributeDef:
        if self.enum is not None and self.type not in ("string", "varchar", "integer"):
            raise ValueError(f"enum is only allowed on string, varchar or integer, not {self.type}")
        if self.max_length is not None and self.type not in ("array", "varchar", "string"):
            raise ValueError(f"max_length applies to array, varchar or string, not {self.type}")
        return self


class AttributeSchemaSpec(Strict):
    integration: str
    attributes: list[AttributeDef] = Field(min_length=1)

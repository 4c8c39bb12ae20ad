"""The JSON Schema a model is shown for a tool's parameters, derived from a pydantic model.

The one way to declare parameters: ``@tool`` builds the model from a function's signature,
the built-in tools declare theirs as fields. The rule: the schema is as short as it can be
and says the same thing, keys in the order they were declared (``type`` first), no titles,
``X | None`` as ``"type": [X, "null"]``, and a default of ``None`` left out (it says nothing).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema


def parameters_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s fields as a tool's ``parameters`` schema."""
    schema = model.model_json_schema(schema_generator=_Compact)
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


class _Compact(GenerateJsonSchema):
    def sort(self, value: JsonSchemaValue, parent_key: str | None = None) -> JsonSchemaValue:
        return value  # declaration order: what a model reads first comes first

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        if set(inner) == {"type"} and isinstance(inner["type"], str):
            return {"type": [inner["type"], "null"]}
        return super().nullable_schema(schema)

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        json_schema = super().default_schema(schema)
        if "default" in schema and schema["default"] is None:
            json_schema.pop("default", None)
        return json_schema

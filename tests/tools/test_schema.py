"""How a tool's parameters are shown to a model: derived from pydantic fields, compact."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from thinkact.tools.decorator import tool
from thinkact.tools.schema import parameters_schema


class Args(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(description="What to look for.")
    limit: int | None = None
    tags: list[str] | None = None
    depth: int = 2


def test_schema_is_compact_and_in_declaration_order() -> None:
    schema = parameters_schema(Args)
    assert list(schema) == ["type", "properties", "required", "additionalProperties"]
    assert schema["properties"] == {
        "query": {"type": "string", "description": "What to look for."},
        "limit": {"type": ["integer", "null"]},  # None as default says nothing: left out
        "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
        "depth": {"type": "integer", "default": 2},
    }
    assert schema["required"] == ["query"] and schema["additionalProperties"] is False


def test_tool_decorator_derives_the_same_schema() -> None:
    @tool
    def search(query: str, limit: int | None = None, tags: list[str] | None = None,
               depth: int = 2) -> str:
        """Search."""
        return query

    expected = parameters_schema(Args)
    expected["properties"]["query"].pop("description")
    assert search.spec.parameters == expected

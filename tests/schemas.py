"""JSON Schema helpers for tests that compare the published OpenAPI document with the models."""

from __future__ import annotations

from typing import Any


def inline_refs(schema: Any, definitions: dict[str, Any]) -> Any:
    """The schema with every `$ref` replaced by its definition (the ref's last path segment) and any
    `$defs` dropped, so a schema that refers to components compares with a self-contained one."""
    if isinstance(schema, dict):
        rest = {k: inline_refs(v, definitions) for k, v in schema.items() if k not in ("$defs", "$ref")}
        if "$ref" in schema:
            return {**inline_refs(definitions[schema["$ref"].rsplit("/", 1)[1]], definitions), **rest}
        return rest
    if isinstance(schema, list):
        return [inline_refs(v, definitions) for v in schema]
    return schema

"""The OpenAPI 3.1 description, built from the JSON views themselves so it cannot leave one out.

Each JSON view carries `@document(...)`: its summary, request model, query model, response model, success
status and content type. Models are the pydantic classes of `core.shapes`, and their JSON Schema is what
the document publishes (OpenAPI 3.1 is JSON Schema 2020-12), so the document says exactly what the code
validates and answers. A few endpoints still describe themselves with the older shape dicts
("string", "money", {...}); those are published as loose schemas in which any value may be null.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import IntegerConverter

from core.shapes import MAX_ID

_TYPES = {"string": {"type": "string"}, "integer": {"type": "integer"}, "boolean": {"type": "boolean"},
          "object": {"type": "object"}, "array": {"type": "array", "items": {"type": "object"}},
          "money": {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "description": "decimal string"},
          "datetime": {"type": "string", "format": "date-time"}}

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "field"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "field": {"type": ["string", "null"]}}}},
}

_REF = "#/components/schemas/{model}"


class BoundedIntegerConverter(IntegerConverter):
    """`<int:...>` path segments up to a PostgreSQL integer; a larger one is a 404, not an overflow."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = 0,  # noqa: A002
                 max: int | None = MAX_ID, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def init_app(app: Flask) -> None:
    """Bounded integer path segments (before any route is registered)."""
    app.url_map.converters["int"] = BoundedIntegerConverter


def _legacy(shape: Any, nullable: bool = True) -> dict[str, Any]:
    """An older shape dict as a loose schema: any value may be null."""
    if isinstance(shape, str):
        schema = dict(_TYPES[shape])
    elif isinstance(shape, list):
        schema = {"type": "array", "items": _legacy(shape[0])}
    elif isinstance(shape, dict):
        schema = {"type": "object", "properties": {k: _legacy(v) for k, v in shape.items()}}
    else:
        raise TypeError(f"unknown schema shape {shape!r}")
    if nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


#: A CSV file, as a multipart field `file` or as the whole body.
CSV_UPLOADS = {
    "multipart/form-data": {"type": "object", "required": ["file"],
                            "properties": {"file": {"type": "string", "contentMediaType": "text/csv"}}},
    "text/csv": {"type": "string"},
}


def _is_model(shape: Any) -> bool:
    return isinstance(shape, type) and issubclass(shape, BaseModel)


def document(*, summary: str, request: Any = None, response: Any = "object", public: bool = False,
             query: Any = None, status: int = 200, content_type: str = "application/json",
             responses: dict[int, Any] | None = None, uploads: dict[str, Any] | None = None) -> Callable:
    """Attach the OpenAPI description of a JSON view.

    `request`, `response` and `query` are pydantic models (or, for endpoints not yet converted, shape
    dicts); `responses` adds other success statuses the view answers, status -> model (or None: no body).
    `uploads` describes a body that is not JSON: media type -> JSON Schema (a CSV file as
    `multipart/form-data` or `text/csv`). Errors (`{"error": ...}`) are described for every endpoint.
    """

    def wrap(view: Callable) -> Callable:
        view._openapi = {"summary": summary, "request": request, "response": response, "public": public,
                         "query": query or {}, "status": status, "content_type": content_type,
                         "responses": responses or {}, "uploads": uploads or {}}
        return view

    return wrap


def undocumented_api_endpoints(app: Flask) -> list[str]:
    """JSON endpoints that carry no description (a test keeps this empty)."""
    return sorted(rule.endpoint for rule in app.url_map.iter_rules()
                  if _is_api(rule.rule) and not hasattr(app.view_functions[rule.endpoint], "_openapi"))


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path.startswith("/.well-known/") or path == "/healthz"


def documented_views(app: Flask) -> list[tuple[Any, dict[str, Any]]]:
    """(rule, description) of every documented JSON endpoint, in path order."""
    found = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if not _is_api(rule.rule):
            continue
        meta = getattr(app.view_functions[rule.endpoint], "_openapi", None)
        if meta is not None:
            found.append((rule, meta))
    return found


def _model_schemas(views: list[tuple[Any, dict[str, Any]]]
                   ) -> tuple[dict[tuple[type, str], dict[str, Any]], dict[str, Any]]:
    wanted: set[tuple[type, str]] = set()
    for _rule, meta in views:
        if _is_model(meta["request"]):
            wanted.add((meta["request"], "validation"))
        if _is_model(meta["query"]):
            wanted.add((meta["query"], "validation"))
        for shape in [meta["response"], *meta["responses"].values()]:
            if _is_model(shape):
                wanted.add((shape, "serialization"))
    if not wanted:
        return {}, {}
    ordered = sorted(wanted, key=lambda pair: (pair[0].__module__, pair[0].__qualname__, pair[1]))
    refs, defs = models_json_schema(ordered, ref_template=_REF)
    return dict(refs), defs.get("$defs", {})


def request_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema a request model publishes (self-contained, for tests and clients)."""
    return model.model_json_schema(mode="validation")


def _body_schema(shape: Any, mode: str, refs: dict[tuple[type, str], dict[str, Any]]) -> dict[str, Any]:
    if _is_model(shape):
        return refs[(shape, mode)]
    return _legacy(shape, nullable=False)


def _query_parameters(query: Any, components: dict[str, Any]) -> list[dict[str, Any]]:
    if _is_model(query):
        schema = query.model_json_schema(mode="validation", ref_template=_REF)
        components.update(schema.get("$defs", {}))
        required = set(schema.get("required", ()))
        params = []
        for name, prop in schema.get("properties", {}).items():
            prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
            param = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
        return params
    return [{"name": n, "in": "query", "required": False, "schema": _legacy(t, nullable=False)}
            for n, t in query.items()]


def _path_parameters(rule: Any) -> list[dict[str, Any]]:
    params = []
    for name in sorted(rule.arguments):
        converter = rule._converters.get(name)
        if isinstance(converter, IntegerConverter):
            schema = {"type": "integer", "minimum": converter.min or 0, "maximum": converter.max or MAX_ID}
        else:
            schema = {"type": "string", "minLength": 1}
            if getattr(converter, "regex", "[^/]+") == "[^/]+":
                schema["pattern"] = "^[^/]+$"
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _success(shape: Any, content_type: str, refs: dict[tuple[type, str], dict[str, Any]]) -> dict[str, Any]:
    if shape is None:
        return {"description": "success, no body"}
    if content_type != "application/json":
        return {"description": "success", "content": {content_type: {"schema": {}}}}
    return {"description": "success", "content": {content_type: {"schema": _body_schema(
        shape, "serialization", refs)}}}


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document for every JSON endpoint."""
    views = documented_views(app)
    refs, components = _model_schemas(views)
    components = dict(components)
    paths: dict[str, dict[str, Any]] = {}
    for rule, meta in views:
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        params = _path_parameters(rule) + _query_parameters(meta["query"], components)
        responses = {str(meta["status"]): _success(meta["response"], meta["content_type"], refs)}
        for status, shape in meta["responses"].items():
            responses[str(status)] = _success(shape, "application/json", refs)
        responses["default"] = {"description": "error", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {
                "operationId": f"{rule.endpoint}.{method.lower()}",
                "summary": meta["summary"],
                "parameters": params,
                "responses": responses,
            }
            if not meta["public"]:
                op["security"] = [{"bearer": []}]
            content: dict[str, Any] = {}
            if meta["request"] is not None:
                content["application/json"] = {"schema": _body_schema(meta["request"], "validation", refs)}
            content.update({media: {"schema": schema} for media, schema in meta["uploads"].items()})
            if content and method in {"POST", "PUT", "PATCH"}:
                op["requestBody"] = {"required": True, "content": content}
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "e-bidding platform API", "version": "0.2.0",
                 "description": "Money is a decimal string with a currency; "
                                "times are ISO 8601 with an offset, answered in UTC. "
                                "Errors are {\"error\": {\"code\", \"message\", \"field\"}}."},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA, **components},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }

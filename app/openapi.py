"""The OpenAPI 3 description, built from the JSON views themselves so it cannot leave one out."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask

_TYPES = {"string": {"type": "string"}, "integer": {"type": "integer"}, "boolean": {"type": "boolean"},
          "object": {"type": "object"}, "array": {"type": "array", "items": {"type": "object"}},
          "money": {"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "description": "decimal string"},
          "datetime": {"type": "string", "format": "date-time"}}

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "field"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "field": {"type": "string", "nullable": True}}}},
}


def _schema(shape: Any) -> dict[str, Any]:
    if isinstance(shape, str):
        return dict(_TYPES[shape])
    if isinstance(shape, list):
        return {"type": "array", "items": _schema(shape[0])}
    if isinstance(shape, dict):
        return {"type": "object", "properties": {k: _schema(v) for k, v in shape.items()}}
    raise TypeError(f"unknown schema shape {shape!r}")


def document(*, summary: str, request: Any = None, response: Any = "object", public: bool = False,
             query: dict[str, str] | None = None, status: int = 200, content_type: str = "application/json"
             ) -> Callable:
    """Attach the OpenAPI description of a JSON view."""

    def wrap(view: Callable) -> Callable:
        view._openapi = {"summary": summary, "request": request, "response": response, "public": public,
                         "query": query or {}, "status": status, "content_type": content_type}
        return view

    return wrap


def undocumented_api_endpoints(app: Flask) -> list[str]:
    """JSON endpoints that carry no description (a test keeps this empty)."""
    return sorted(rule.endpoint for rule in app.url_map.iter_rules()
                  if _is_api(rule.rule) and not hasattr(app.view_functions[rule.endpoint], "_openapi"))


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path.startswith("/.well-known/") or path == "/healthz"


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.0 document for every JSON endpoint."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not _is_api(rule.rule):
            continue
        meta = getattr(app.view_functions[rule.endpoint], "_openapi", None)
        if meta is None:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        params = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "integer" if f"<int:{name}>" in rule.rule else "string"}}
                  for name in rule.arguments]
        params += [{"name": n, "in": "query", "required": False, "schema": _schema(t)}
                   for n, t in meta["query"].items()]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {
                "operationId": f"{rule.endpoint}.{method.lower()}",
                "summary": meta["summary"],
                "parameters": params,
                "responses": {
                    str(meta["status"]): {"description": "success", "content": {
                        meta["content_type"]: {"schema": _schema(meta["response"])
                                               if meta["content_type"] == "application/json" else {}}}},
                    "default": {"description": "error", "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                },
            }
            if not meta["public"]:
                op["security"] = [{"bearer": []}]
            if meta["request"] is not None and method in {"POST", "PUT", "PATCH"}:
                op["requestBody"] = {"required": True, "content": {
                    "application/json": {"schema": _schema(meta["request"])}}}
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "e-bidding platform API", "version": "0.1.0",
                 "description": "Money is a decimal string with a currency; "
                                "times are ISO 8601 with an offset."},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }

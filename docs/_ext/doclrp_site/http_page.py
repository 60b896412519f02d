"""The HTTP API reference, generated from the OpenAPI schema of ``doclrp serve``'s app
(``doclrp.serve.create_app().openapi()``): every route with its parameters, request and
response bodies, and every schema with its fields, so the page cannot drift from the server.

>>> schema = {"paths": {"/api/x": {"get": {"summary": "X", "responses": {"200": {"description": "OK"}}}}},
...           "components": {"schemas": {}}}
>>> "### `GET /api/x`" in http_markdown(schema)
True
"""

from __future__ import annotations

import json
from typing import Any

from .markdown import cell, code, escape, rst_roles_to_markdown

__all__ = ["app_schema", "http_markdown", "schema_type"]

_REF = "#/components/schemas/"


def app_schema() -> dict[str, Any]:
    """The OpenAPI schema of the app ``doclrp serve`` runs (nothing is loaded or served)."""
    from doclrp.serve import create_app

    return create_app(digits=False).openapi()


def _anchor(name: str) -> str:
    return f"schema-{name.lower()}"


def schema_type(schema: dict[str, Any]) -> str:
    """A field's type in words, schemas linked to their section.

    >>> schema_type({"type": "array", "items": {"$ref": "#/components/schemas/Word"}})
    'array of [Word](#schema-word)'
    >>> schema_type({"anyOf": [{"type": "string"}, {"type": "null"}]})
    'string or null'
    """
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_REF)
        return f"[{name}](#{_anchor(name)})"
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " or ".join(schema_type(part) for part in schema[key])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {schema_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {schema_type(schema['additionalProperties'])}"
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']}`"
    return str(kind)


def _body(content: dict[str, Any]) -> str:
    parts = []
    for media, body in content.items():
        parts.append(f"{escape(media)}: {schema_type(body.get('schema', {}))}")
    return "; ".join(parts)


def _route(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", ""]
    description = operation.get("description") or operation.get("summary") or ""
    if description:
        lines += [rst_roles_to_markdown(" ".join(description.split())), ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += ["| parameter | in | type | required | meaning |", "|---|---|---|---|---|"]
        for p in parameters:
            schema = p.get("schema", {})
            default = f" (default {code(json.dumps(schema['default']))})" if "default" in schema else ""
            lines.append(f"| `{p['name']}` | {p['in']} | {schema_type(schema)} | {'yes' if p.get('required') else 'no'}"
                         f" | {cell(p.get('description', '') or schema.get('description', ''))}{default} |")
        lines.append("")
    if "requestBody" in operation:
        lines += [f"Request body: {_body(operation['requestBody'].get('content', {}))}", ""]
    lines += ["| status | meaning | body |", "|---|---|---|"]
    for status, response in operation.get("responses", {}).items():
        lines.append(f"| {status} | {cell(response.get('description', ''))} | {_body(response.get('content', {}))} |")
    return lines + [""]


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"({_anchor(name)})=", f"### {name}", ""]
    if schema.get("description"):
        lines += [rst_roles_to_markdown(" ".join(schema["description"].split())), ""]
    properties = schema.get("properties", {})
    if properties:
        required = set(schema.get("required", []))
        lines += ["| field | type | required | meaning |", "|---|---|---|---|"]
        for field, spec in properties.items():
            default = f" (default {code(json.dumps(spec['default']))})" if "default" in spec else ""
            meaning = cell(rst_roles_to_markdown(spec.get("description", "")))
            lines.append(f"| `{field}` | {schema_type(spec)} | {'yes' if field in required else 'no'} | {meaning}{default} |")
        lines.append("")
    return lines


def http_markdown(schema: dict[str, Any] | None = None) -> str:
    """The Markdown page of the HTTP API described by ``schema`` (default: the app's own)."""
    schema = app_schema() if schema is None else schema
    lines = ["# HTTP API", "",
             "Generated from the OpenAPI schema of the app that `doclrp serve` runs, when the site is built. "
             "A running server gives the same schema at `/openapi.json` (also [here](openapi.json) as a file). "
             "The server binds to `127.0.0.1`, answers only to its own host names and refuses cross-origin posts; "
             "errors are one line of JSON with a 4xx or 503 status.", "", "## Routes", ""]
    for path, methods in schema.get("paths", {}).items():
        for method, operation in methods.items():
            lines += _route(path, method, operation)
    schemas = schema.get("components", {}).get("schemas", {})
    if schemas:
        lines += ["## Schemas", ""]
        for name, spec in schemas.items():
            lines += _schema(name, spec)
    return "\n".join(lines)

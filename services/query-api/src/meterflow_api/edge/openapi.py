"""The refusals of the edge in the OpenAPI document: every data operation may answer 429 (rate limit, with
Retry-After) and 414 (URL cap), so generated clients and schema-driven tests know them."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from meterflow_api.edge.headers import DATA_PREFIXES

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
REFUSALS: dict[str, dict[str, Any]] = {
    "429": {
        "description": (
            "Too many requests with this credential, or too many failed authentications from this address; "
            "retry after Retry-After seconds."
        ),
        "headers": {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}},
        "content": _ERROR,
    },
    "414": {"description": "The URL (path and query string) is longer than the API accepts.", "content": _ERROR},
}


def document_refusals(app: FastAPI) -> None:
    """Wraps app.openapi: the document it builds (once, then cached) gains the refusals on data operations."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        for path, operations in schema.get("paths", {}).items():
            if path.startswith(DATA_PREFIXES):
                for operation in operations.values():
                    for status, answer in REFUSALS.items():
                        operation.setdefault("responses", {}).setdefault(status, answer)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

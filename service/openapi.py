"""The OpenAPI document: what this server, as configured, really does.

Routes declare their answers with :func:`errors` (one table of what each error status means and
which body it carries); :func:`install` makes ``app.openapi()`` adjust FastAPI's document to the
server's settings:

* without API keys no operation asks for one, and none lists 401 (with keys, all but
  ``/healthz`` do: ``ignored_auth`` fuzzing checks exactly that);
* ``POST /score`` batches carry this server's ``JUDGE_MAX_BATCH`` as ``maxItems``;
* FastAPI's generic 422 (``HTTPValidationError``) is dropped: the service answers 422 with
  :class:`~service.schemas.ValidationErrorResponse`, and each route declares it where it can occur;
* error bodies are JSON on every route (FastAPI would document them in a text route's media type).

The document is built once per app and cached, as FastAPI does.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from judge.settings import Settings
from service.schemas import ErrorResponse, ValidationErrorResponse

AUTH = {401: "Missing or wrong API key (`Authorization: Bearer <key>`; only when the server has JUDGE_API_KEYS)."}
"""Every operation behind the key answers this."""
BODY = {
    408: "The request body stalled: no byte arrived for 30 s.",
    413: "Request body over the server's limit (JUDGE_MAX_BODY_BYTES).",
}
"""Every operation that reads a body answers these (the body-limit middleware)."""
STORE = {503: "The store is unavailable (no free connection, or the service is stopping)."}
"""Every operation that borrows a store connection may answer this."""

_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`, the scheme to use.", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "Seconds to wait before retrying, when known.", "schema": {"type": "string"}}},
}
_GENERIC_422 = "#/components/schemas/HTTPValidationError"


def errors(*tables: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with its description, error body and headers."""
    out: dict[int | str, dict[str, Any]] = {}
    for table in tables:
        for code, description in table.items():
            entry: dict[str, Any] = {
                "model": ValidationErrorResponse if code == 422 else ErrorResponse, "description": description,
            }
            if code in _HEADERS:
                entry["headers"] = _HEADERS[code]
            out[code] = entry
    return out


def install(app: FastAPI, settings: Settings, *, keys: bool) -> None:
    """Make ``app.openapi()`` return the document of this server (``keys``: whether JUDGE_API_KEYS is set)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title, version=app.version, summary=app.summary, description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = for_this_server(doc, app, settings, keys=keys)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def for_this_server(doc: dict[str, Any], app: FastAPI, settings: Settings, *, keys: bool) -> dict[str, Any]:
    """FastAPI's document adjusted to ``settings`` (see the module docstring)."""
    operations = [op for path in doc.get("paths", {}).values() for op in path.values()]
    for op in operations:
        responses = op.get("responses", {})
        for code, response in responses.items():
            content = response.get("content")
            if code[0] in "45" and content and "application/json" not in content:
                response["content"] = {"application/json": next(iter(content.values()))}  # every error body is JSON
        generic = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if generic.get("$ref") == _GENERIC_422:
            del responses["422"]
        if not keys:
            op.pop("security", None)
            responses.pop("401", None)
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    if not keys:
        doc.get("components", {}).pop("securitySchemes", None)
    batch = schemas.get("ScoreBatchRequest", {}).get("properties", {}).get("items")
    if batch is not None:
        batch["maxItems"] = settings.max_batch
        batch["description"] = f"{batch.get('description', '')} At most {settings.max_batch} (JUDGE_MAX_BATCH).".strip()
    _check_operation_ids(app)
    return doc


def _check_operation_ids(app: FastAPI) -> None:
    """Every documented route names its operation (links and generated clients rely on the names)."""
    missing = [r.path for r in app.routes if isinstance(r, APIRoute) and r.include_in_schema and not r.operation_id]
    if missing:
        raise RuntimeError(f"routes without an operation_id: {missing}")

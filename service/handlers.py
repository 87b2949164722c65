"""Error translation at the HTTP edge: library errors and invalid requests become clear 4xx replies.

Every error body is JSON with a ``detail`` that says what is wrong (and, where it can, how to
fix it) and the ``request_id``; 422s also list each field path with its problem. Nothing here
ever puts a stack trace in a response.
"""

from __future__ import annotations

import json
import re
import reprlib
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from judge.errors import BackendError, InputError, JudgeError, RubricError, StoreError
from service.engine import EngineBusy
from service.schemas import DISCRIMINATOR_TAGS, PATTERN_PROBLEMS

MAX_LISTED = 20
MAX_DETAIL_CHARS = 2_000
"""An error's ``detail`` at most (it may quote a client's value; the quote is not the point)."""
MAX_PROBLEM_CHARS = 300
"""One field's problem in a 422 at most."""
_short_repr = reprlib.Repr()
_short_repr.maxstring = _short_repr.maxother = 80  # a client's value, echoed: bounded in size and depth


def _rid(request: Request) -> str | None:
    rid = request.scope.get("judge.request_id")
    return str(rid) if rid else None


_UNION_MEMBER = re.compile(r"^(?:constrained-)?(?:str|int|float|bool|bytes|none)$|^[a-z-]+\[.*\]$|^\[key\]$")
"""How pydantic names the member of a union (``constrained-str``, ``list[str]``) or a dict's key (``[key]``)
in an error's location."""


def _field(loc: Sequence[Any], user_key_last: bool = False) -> str:
    """``body.items.3.candidate``: the location without discriminator tags and union member names
    (except a last part that is the client's own key, as in an unknown field)."""
    parts = [
        str(p) for i, p in enumerate(loc)
        if p not in DISCRIMINATOR_TAGS and not (
            isinstance(p, str) and _UNION_MEMBER.match(p) and not (user_key_last and i == len(loc) - 1)
        )
    ]
    return ".".join(parts) or "request"


def _problem(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    msg = str(error.get("msg", "invalid"))
    ctx = error.get("ctx") or {}
    if kind == "json_invalid":
        loc = error.get("loc", ())
        where = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return f"invalid JSON{where} ({ctx.get('error', 'cannot parse')})"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    if kind == "literal_error" or kind == "enum":
        return f"{msg}, got {_short_repr.repr(error.get('input'))}"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in PATTERN_PROBLEMS:
        return f"{PATTERN_PROBLEMS[ctx['pattern']]}, got {_short_repr.repr(error.get('input'))}"
    return msg.removeprefix("Value error, ")


def describe_errors(errors: Sequence[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """``("body.candidate: field required; ...", [{"field", "problem"}, ...])``."""
    listed = []
    for e in errors:
        loc = list(e.get("loc", ()))
        if e.get("type") == "json_invalid":
            loc = loc[:1]  # ("body", <char offset>) -> "body"
        problem = _problem(e)
        if len(problem) > MAX_PROBLEM_CHARS:
            problem = f"{problem[:MAX_PROBLEM_CHARS]}..."
        field = _field(loc, user_key_last=e.get("type") == "extra_forbidden")
        listed.append({"field": field[:MAX_PROBLEM_CHARS], "problem": problem})
    text = "; ".join(f"{x['field']}: {x['problem']}" for x in listed[:MAX_LISTED])
    if len(listed) > MAX_LISTED:
        text += f"; and {len(listed) - MAX_LISTED} more"
    return text, listed[:MAX_LISTED]


def request_validation_error(exc: ValidationError, prefix: str = "body") -> RequestValidationError:
    """A pydantic error on a hand-parsed body, as FastAPI's own (locations prefixed)."""
    errors = [{**e, "loc": (prefix, *e["loc"])} for e in exc.errors(include_url=False)]
    return RequestValidationError(errors)


def field_error(*loc: str | int, problem: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 naming one field of a hand-parsed request (``field_error("body", "benchmark", problem=...)``),
    listed in ``errors`` like every other field problem."""
    return RequestValidationError([{"type": kind, "loc": loc, "msg": problem, "input": None}])


def json_error(exc: json.JSONDecodeError) -> RequestValidationError:
    """A hand-parsed JSON body that is not JSON, reported as FastAPI reports a declared body's."""
    return RequestValidationError(
        [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "ctx": {"error": exc.msg}}]
    )


def error_response(request: Request, status: int, detail: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    """The JSON body every error uses (``detail`` clipped to :data:`MAX_DETAIL_CHARS`)."""
    if len(detail) > MAX_DETAIL_CHARS:
        detail = f"{detail[:MAX_DETAIL_CHARS]}... ({len(detail) - MAX_DETAIL_CHARS} more characters)"
    return JSONResponse({"detail": detail, **extra, "request_id": _rid(request)}, status_code=status, headers=headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    text, listed = describe_errors(exc.errors())
    return error_response(request, 422, text, errors=listed)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE")


def allowed_methods(request: Request) -> str:
    """Every method some route answers at this path (Starlette's 405 names only the first matching
    route's methods). Asked of the routes themselves, so included routers count too."""
    routes = request.app.router.routes
    return ", ".join(
        m for m in _METHODS if any(r.matches({**request.scope, "method": m})[0] is Match.FULL for r in routes)
    )


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return error_response(request, exc.status_code, detail, headers=headers)


async def _judge(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InputError | RubricError):
        return error_response(request, 422, str(exc))
    if isinstance(exc, BackendError):
        headers = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after else None
        return error_response(request, 503, f"judge backend unavailable: {exc}", headers=headers)
    if isinstance(exc, StoreError):
        return error_response(request, 503, f"store unavailable: {exc}")
    return error_response(request, 400, str(exc))


async def _busy(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EngineBusy)
    return error_response(request, 503, str(exc), headers={"Retry-After": str(exc.retry_after)})


def install(app: FastAPI) -> None:
    """Register the handlers (the catch-all for anything else is the request-context middleware)."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(JudgeError, _judge)
    app.add_exception_handler(EngineBusy, _busy)

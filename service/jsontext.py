"""Request bodies parsed by :func:`judge.jsontext.loads`: strict JSON for every route that reads one.

Use as ``APIRouter(route_class=StrictJSONRoute)``; FastAPI turns a :class:`~judge.jsontext.JSONTextError`
into a 422 ``body: invalid JSON at character N (problem)``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from judge.jsontext import loads

OFFLOAD_BYTES = 64 * 1024
"""Bodies larger than this are parsed in the threadpool, not on the event loop."""


class StrictRequest(Request):
    """A request whose ``json()`` is :func:`loads` (large bodies are parsed off the event loop)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = await run_in_threadpool(loads, body) if len(body) > OFFLOAD_BYTES else loads(body)
        return self._json


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type names JSON (``application/json`` or ``application/*+json``)."""
    media = (content_type or "").split(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class StrictJSONRoute(APIRoute):
    """A route whose JSON body (declared, or read with ``await request.json()``) is parsed by :func:`loads`.

    Use as ``APIRouter(route_class=StrictJSONRoute)``; FastAPI turns a JSONTextError into a 422. A
    declared body sent as anything but JSON is a 415 (FastAPI would validate the raw bytes and
    answer 422); no Content-Type at all is read as JSON, as FastAPI does.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        json_body = self.body_field is not None

        async def strict(request: Request) -> Response:
            ctype = request.headers.get("content-type")
            if json_body and ctype is not None and not is_json(ctype):
                raise HTTPException(415, f"send the body as application/json, not {ctype[:100]!r}")
            return await handler(StrictRequest(request.scope, request.receive))

        return strict

"""Request bodies parsed by :func:`judge.jsontext.loads`: strict JSON for every route that reads one.

Use as ``APIRouter(route_class=StrictJSONRoute)``; FastAPI turns a :class:`~judge.jsontext.JSONTextError`
into a 422 ``body: invalid JSON at character N (problem)``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
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


class StrictJSONRoute(APIRoute):
    """A route whose JSON body (declared, or read with ``await request.json()``) is parsed by :func:`loads`.

    Use as ``APIRouter(route_class=StrictJSONRoute)``; FastAPI turns a JSONTextError into a 422.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictRequest(request.scope, request.receive))

        return strict

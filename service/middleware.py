"""Two pure ASGI middlewares (no ``BaseHTTPMiddleware``, which buffers and costs a task per request).

:class:`BodyLimitMiddleware` caps the request body: a declared ``Content-Length`` over the limit
is refused at the first read, before a byte is taken (so after routing: it is counted
under its route), and a chunked body is counted as it streams in and refused
as soon as it passes the limit, so at most one chunk past the limit is ever in memory. (Not
FastAPI's own ``max_body_size``: it answers in plain text and, sitting outside the user
middleware, replaces our JSON error bodies.) It also bounds how long a body may stall: uvicorn
waits for the rest of a body as long as the client keeps the connection open (its
``timeout_keep_alive`` only applies between requests), so a client that sends part of a body and
then nothing (slowloris) gets a 408 after :data:`BODY_IDLE_SECONDS` without a byte.

:class:`RequestContextMiddleware`:

* gives each request an id (the caller's ``X-Request-ID`` when it is sane) and echoes it back;
* counts the request by route *template* (``/jobs/{job_id}``, so ids do not explode the label
  set) and status, and times it;
* turns any exception that got this far into ``500 {"detail": "internal error", "request_id"}``
  and logs the traceback with the id, so a stack trace never reaches a client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.telemetry import Metrics

log = logging.getLogger("judge.service")
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


BODY_IDLE_SECONDS = 30.0
"""A request body that stalls this long (no byte arrives) is answered 408."""


class BodyRefused(HTTPException):
    """Raised from ``receive``; the HTTP handlers answer it (or the middleware, if it gets that far)."""


class BodyTooLarge(BodyRefused):
    """The body passed the limit: 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over the limit of {limit} bytes (JUDGE_MAX_BODY_BYTES)")


class BodyStalled(BodyRefused):
    """No byte of the body arrived for a while: 408."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body stalled: no byte arrived for {seconds:g} s")


async def _send_json(send: Send, status: int, payload: dict[str, object]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {"type": "http.response.start", "status": status,
         "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 for a request body over ``limit`` bytes, declared or streamed; 408 for one that stalls."""

    def __init__(self, app: ASGIApp, limit: int, idle_seconds: float = BODY_IDLE_SECONDS) -> None:
        self.app = app
        self.limit = limit
        self.idle_seconds = idle_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        too_large = BodyTooLarge(self.limit)
        refuse = declared.isdigit() and (len(declared) > 18 or int(declared) > self.limit)
        seen = 0
        started = False
        body_done = False

        async def counted() -> Message:
            nonlocal seen, body_done
            if refuse:  # declared too large: refuse at the first read, before a byte is taken
                raise too_large
            if body_done:  # after the body: a disconnect listener may wait as long as it likes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.idle_seconds)
            except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11
                raise BodyStalled(self.idle_seconds) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                if seen > self.limit:
                    raise too_large
            else:
                body_done = True
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyRefused as exc:
            if started:
                raise
            await _send_json(send, exc.status_code, {"detail": exc.detail, "request_id": scope.get("judge.request_id")})


class RequestContextMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        rid = incoming if _SANE_ID.match(incoming) else uuid.uuid4().hex[:16]
        scope["judge.request_id"] = rid
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request %s %r %r failed", rid, scope.get("method"), scope.get("path"))
            if not started:
                await _send_json(send_with_id, 500, {"detail": "internal error", "request_id": rid})
            status = 500
        finally:
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe_request(template, scope.get("method", "?"), status, time.perf_counter() - start)

"""JSON from clients, read strictly: request bodies and the lines of uploaded files.

Python's ``json.loads`` accepts more than the service can use, and what it lets through breaks
later, far from the input (a 500, or a job that fails after it was accepted). Here JSON text is
what RFC 8259 says it is, and what every later step can handle:

* **UTF-8.** Bytes that are not UTF-8 (Latin-1, UTF-16 or UTF-32 text, binary) are refused with
  the offset of the first bad byte or the encoding the text seems to be in. A UTF-8 byte-order
  mark is tolerated (editors write one).
* **Nested at most** :data:`~judge.limits.MAX_JSON_DEPTH` **levels.** ``json.loads`` recurses
  per level and deep values break everything that walks them (error reports, ``repr``).
* **No lone surrogates.** ``"\\ud800"`` is valid JSON syntax but not a Unicode character: such a
  string cannot be encoded as UTF-8 (cache keys, the store, the response).
* **Finite numbers of bounded size.** ``NaN``/``Infinity`` are not JSON; ``1e999999`` would be
  read as infinity; an integer of more digits than Python converts (4300) raises a bare
  ``ValueError``.

Every problem is a :class:`JSONTextError` (a ``json.JSONDecodeError``, which FastAPI turns
into a 422 ``body: invalid JSON at character N (problem)``); files report it as
``file:line: problem``. The work is linear in the text: a few C-speed passes, and the Python
walks run only on the rare text that needs them.
"""

from __future__ import annotations

import codecs
import json
import math
import re
import sys
from collections.abc import Callable, Coroutine
from itertools import accumulate
from typing import Any

from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from judge.limits import MAX_JSON_DEPTH

OFFLOAD_BYTES = 64 * 1024
"""Bodies larger than this are parsed in the threadpool, not on the event loop."""
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"),
)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300


class JSONTextError(json.JSONDecodeError):
    """Text that is not JSON the service accepts; ``msg`` says why, ``pos`` where (a character offset)."""


class _NumberError(ValueError):
    def __init__(self, text: str, problem: str) -> None:
        super().__init__(problem)
        self.text = text


# ------------------------------------------------------------------------------------- checks


def decode(data: bytes, sniff: bool = True) -> str:
    """``data`` as text, or JSONTextError naming the encoding it is in or its first bad byte.

    ``sniff``: ``data`` is the start of the text, where a UTF-16/32 byte-order mark or NUL bytes
    tell a wide encoding (a later line of a file is not).
    """
    for bom, name in _BOMS if sniff else ():
        if data.startswith(bom):
            raise JSONTextError(f"the text is {name} (it starts with a {name} byte-order mark); send UTF-8", "", 0)
    if sniff and b"\x00" in data[:4]:
        raise JSONTextError("the text looks like UTF-16 or UTF-32 (NUL bytes at the start); send UTF-8", "", 0)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(codecs.BOM_UTF8) else 0)
        raise JSONTextError(
            f"not UTF-8: byte 0x{data[start]:02x} at byte {start} {exc.reason}; send UTF-8 text", "", start
        ) from None


def depth_exceeded_at(text: str, limit: int = MAX_JSON_DEPTH) -> int | None:
    """Where valid JSON ``text`` first nests deeper than ``limit``, or None (C-speed passes)."""
    if text.count("[") + text.count("{") <= limit:
        return None
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if max(accumulate(map(_STEP.__getitem__, brackets)), default=0) <= limit:
        return None
    return _crossing(text, limit)


def _crossing(text: str, limit: int) -> int:
    """Where the nesting first passes ``limit``; the text before that point must be valid JSON.

    (On an unterminated string the string pattern would rescan the rest of the text from every
    quote in it; before the crossing point every string is terminated, and the scan stops there.)
    """
    depth = 0
    for m in _STRING_OR_BRACKET.finditer(text):
        step = _STEP.get(m.group())
        if step is not None:
            depth += step
            if depth > limit:
                return m.start()
    return 0


def _lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in the strings of a parsed value, or None."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        return str(exc.object[exc.start])
    return None


def _int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _NumberError(text, f"an integer of {len(text.lstrip('-'))} digits (at most {_MAX_INT_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NumberError(text, f"the number {_clip(text)} is out of range")
    return value


def _constant(text: str) -> float:
    raise _NumberError(text, f"{text} is not a JSON number")


def _clip(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def loads(data: bytes | str, sniff: bool = True) -> Any:
    """Parse JSON text strictly (see the module docstring); JSONTextError says what is wrong and where.

    ``sniff``: see :func:`decode`.
    """
    text = decode(data, sniff) if isinstance(data, bytes | bytearray) else data
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except _NumberError as exc:
        raise JSONTextError(str(exc), text, max(text.find(exc.text), 0)) from None
    except RecursionError:  # json.loads recurses per level (bounded by the recursion limit, so no crash)
        raise JSONTextError(f"nested deeper than {MAX_JSON_DEPTH} levels", text, _crossing(text, MAX_JSON_DEPTH)) from None
    at = depth_exceeded_at(text)  # on valid JSON only: its strings are terminated, so every pass is linear
    if at is not None:
        raise JSONTextError(f"nested deeper than {MAX_JSON_DEPTH} levels", text, at)
    if _SURROGATE_ESCAPE.search(text) is not None:  # only escapes can make a surrogate in decoded UTF-8
        lone = _lone_surrogate(value)
        if lone is not None:
            escape = f"\\u{ord(lone):04x}"
            found = re.search(re.escape(escape), text, re.IGNORECASE)
            raise JSONTextError(
                f"{escape} is half of a UTF-16 surrogate pair, not a character; send the whole character",
                text, found.start() if found else 0,
            )
    return value


# -------------------------------------------------------------------------------- FastAPI hook


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

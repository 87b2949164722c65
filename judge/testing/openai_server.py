"""An OpenAI-compatible HTTP server on 127.0.0.1 for tests and benches: a scripted "judge" LLM.

It serves ``POST /v1/chat/completions`` and ``GET /v1/models`` (plus ``GET /_stats``) with
aiohttp, so litellm's real HTTP client path is exercised end to end
(``--backend openai/<name> --api-base http://127.0.0.1:PORT/v1``). Replies come from a script:
a function of the request (its messages, the candidate answer, how often that candidate was
asked) returning the reply text or a :class:`Reply` that injects a fault - a 429 with
``Retry-After``, a 500, a hang past the client timeout, a malformed body.

Two ways to run it:

* in a background thread of the test process (:class:`FakeOpenAIServer`): the script may be any
  closure, and ``server.counts`` is read directly;
* as a subprocess (:func:`spawn`, or ``python -m judge.testing.openai_server --port 0``), so the
  server has its own core and GIL in a benchmark; its counters are read from ``GET /_stats``.

Usage::

    with FakeOpenAIServer(reply=reference_judge, latency=0.05) as server:
        get_backend("openai/judge", api_base=server.url)
        ...
        assert server.counts["candidate text"] == 1
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class ChatRequest:
    """One chat completion request, as the script sees it."""

    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    n: int
    """Global request number (1-based)."""
    attempt: int
    """How many requests this request's key (usually its candidate) has made, this one included."""

    @property
    def first_user(self) -> str:
        """The first user message: the prompt (a re-ask appends to the conversation)."""
        for m in self.messages:
            if m.get("role") == "user":
                return str(m.get("content") or "")
        return ""

    @property
    def last_user(self) -> str:
        """The last user message (the correction message on a re-ask)."""
        for m in reversed(self.messages):
            if m.get("role") == "user":
                return str(m.get("content") or "")
        return ""

    @property
    def reasks(self) -> int:
        """How many re-asks this conversation carries (assistant turns already in it)."""
        return sum(1 for m in self.messages if m.get("role") == "assistant")

    def block(self, tag: str) -> str | None:
        """The text inside ``<tag>...</tag>`` of the prompt, or None."""
        text = self.first_user
        end = text.rfind(f"</{tag}>")
        start = text.rfind(f"<{tag}>", 0, end) if end >= 0 else -1
        if start < 0:  # (the rubric's own prose may mention a tag before the block)
            return None
        return text[start + len(tag) + 2 : end].strip()

    @property
    def candidate(self) -> str | None:
        """The candidate answer being judged."""
        return self.block("candidate_answer")

    @property
    def is_extraction(self) -> bool:
        """True for an MCQ option-extraction prompt."""
        return self.block("options") is not None


@dataclass
class Reply:
    """A scripted reply; the defaults are a 200 with ``content``."""

    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float | None = None
    """Seconds before answering (overrides the server latency); longer than the client timeout = a hang."""
    body: str | None = None
    """Raw response body (e.g. invalid JSON); overrides everything but status and headers."""
    model: str | None = None
    """``model`` field of the response (default: the requested model)."""


ReplyFn = Callable[[ChatRequest], "str | Reply"]


def rate_limited(retry_after: float = 1.0) -> Reply:
    """A 429 asking the client to wait ``retry_after`` seconds."""
    return Reply(
        status=429,
        headers={"Retry-After": f"{retry_after:g}"},
        body=json.dumps({"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}}),
    )


def server_error(status: int = 500) -> Reply:
    """A 5xx."""
    return Reply(status=status, body=json.dumps({"error": {"message": "internal error", "type": "server_error"}}))


def hang(seconds: float = 30.0) -> Reply:
    """Answer only after ``seconds`` (past the client timeout)."""
    return Reply(content='{"rationale": "late", "score": 1}', delay=seconds)


def verdict(score: float, rationale: str = "scripted") -> str:
    """The reply a well-behaved judge gives."""
    return json.dumps({"rationale": rationale, "score": score})


# ------------------------------------------------------------------------ built-in scripts


def _words(text: str) -> set[str]:
    return set(re.findall(r"[\w\u4e00-\u9fff]+", text.lower()))


def reference_judge(req: ChatRequest) -> str:
    """A deterministic toy judge: 1 when a reference is contained in the candidate, 0.5 on half word
    overlap, else 0. Extraction prompts get the standalone capital letters of the answer."""
    cand = req.candidate or ""
    if req.is_extraction:
        letters = sorted(set(re.findall(r"\b([A-H])\b", cand)))
        return json.dumps({"rationale": "letters seen", "letters": letters, "undecidable": False})
    refs = [r.strip().lstrip("- ").strip() for r in (req.block("reference") or "").splitlines()]
    refs = [r for r in refs if r and not r.startswith("(any one")]
    best = 0.0
    for ref in refs:
        if ref.lower() in cand.lower():
            best = 1.0
            break
        words = _words(ref)
        if words and len(words & _words(cand)) / len(words) >= 0.5:
            best = max(best, 0.5)
    return verdict(best, "toy judge: reference overlap")


def constant_judge(req: ChatRequest) -> str:
    """Always 1 (a benchmark script: the cheapest valid reply)."""
    return '{"rationale": "ok", "score": 1}'


# ------------------------------------------------------------------------------- server


class FakeOpenAIServer:
    """The server, run in a background thread with its own event loop (see module doc)."""

    def __init__(
        self,
        reply: ReplyFn = reference_judge,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        models: list[str] | None = None,
        key: Callable[[ChatRequest], str] | None = None,
    ) -> None:
        """``latency``: seconds before each reply, spread uniformly over ``latency * (1 +- jitter)``.
        ``api_key``: when set, other bearer tokens get a 401. ``models``: when set, other
        model names get a 404. ``key``: what requests are counted by (default: the candidate)."""
        self.reply = reply
        self.latency = latency
        self.jitter = jitter
        self._rng = random.Random(0)
        self.host = host
        self.port = port
        self.api_key = api_key
        self.models = models
        self.key = key or (lambda r: r.candidate if r.candidate is not None else r.last_user)
        self.counts: Counter[str] = Counter()
        """Requests per key (per candidate unless ``key`` says otherwise)."""
        self.statuses: Counter[int] = Counter()
        self.total = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.log: list[tuple[float, str, int]] = []
        """``(arrival time, key, status)`` per answered request."""
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """The OpenAI base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"http://{self.host}:{self.port}/v1"

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_stats", self._stats)
        app.router.add_post("/_reset", self._reset)
        return app

    async def serve(self) -> None:
        """Bind and start serving on the running loop (sets ``port`` when it was 0)."""
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    def start(self) -> FakeOpenAIServer:
        """Start in a background thread; returns once the port is bound."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.serve())
            except BaseException as exc:  # report a bind failure to the caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            pending = asyncio.all_tasks(loop)
            for task in pending:  # e.g. a scripted hang: do not wait it out
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving and join the thread."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget the counters."""
        with self._lock:
            self.counts.clear()
            self.statuses.clear()
            self.log.clear()
            self.total = 0
            self.max_in_flight = 0

    def stats(self) -> dict[str, Any]:
        """Counters as plain data (what ``GET /_stats`` returns)."""
        with self._lock:
            return {
                "total": self.total,
                "counts": dict(self.counts),
                "statuses": dict(self.statuses),
                "max_in_flight": self.max_in_flight,
            }

    # --------------------------------------------------------------------- handlers

    async def _models(self, request: web.Request) -> web.Response:
        names = self.models or ["fake-judge"]
        return web.json_response(
            {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"} for m in names]}
        )

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _chat(self, request: web.Request) -> web.Response:
        arrived = time.time()
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not JSON")
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_api_key")
        model = str(body.get("model", ""))
        if self.models is not None and model not in self.models:
            return _error(404, f"The model `{model}` does not exist", "model_not_found")
        with self._lock:
            self.total += 1
            n = self.total
            probe = ChatRequest(model, body.get("messages") or [], body, n, 0)
            k = self.key(probe)
            self.counts[k] += 1
            probe.attempt = self.counts[k]
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            try:
                out = self.reply(probe)
            except Exception as exc:  # a broken script is a 500, visible in the test
                out = Reply(status=500, body=json.dumps({"error": {"message": f"script failed: {exc!r}"}}))
            rep = out if isinstance(out, Reply) else Reply(content=str(out))
            delay = rep.delay
            if delay is None:
                delay = self.latency * (1 + self.jitter * (2 * self._rng.random() - 1)) if self.jitter else self.latency
            if delay > 0:
                await asyncio.sleep(delay)
            with self._lock:
                self.statuses[rep.status] += 1
                self.log.append((arrived, k, rep.status))
            if rep.body is not None:
                return web.Response(
                    status=rep.status, text=rep.body, headers=rep.headers, content_type="application/json"
                )
            if rep.status != 200:
                return _error(rep.status, "scripted error", headers=rep.headers)
            return web.json_response(_completion(body, rep, n), headers=rep.headers)
        finally:
            with self._lock:
                self.in_flight -= 1


def _error(status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error", "code": code}}, status=status, headers=headers
    )


def _completion(body: dict[str, Any], rep: Reply, n: int) -> dict[str, Any]:
    content = rep.content or ""
    prompt_chars = sum(len(str(m.get("content") or "")) for m in body.get("messages") or [])
    return {
        "id": f"chatcmpl-fake-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": rep.model or body.get("model", "fake-judge"),
        "system_fingerprint": "fp_fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": max(1, prompt_chars // 4),
            "completion_tokens": max(1, len(content) // 4),
            "total_tokens": max(1, prompt_chars // 4) + max(1, len(content) // 4),
        },
    }


# --------------------------------------------------------------------------- subprocess


def load_reply(path: str) -> ReplyFn:
    """``module:function`` -> the function (a name alone is looked up in this module)."""
    module, _, name = path.rpartition(":")
    fn = getattr(importlib.import_module(module or __name__), name)
    if not callable(fn):
        raise TypeError(f"{path} is not callable")
    return fn  # type: ignore[no-any-return]


@dataclass
class ServerProcess:
    """A server running in a subprocess (see :func:`spawn`)."""

    proc: subprocess.Popen[str]
    url: str

    def stats(self) -> dict[str, Any]:
        """``GET /_stats``."""
        import httpx

        return httpx.get(self.url.removesuffix("/v1") + "/_stats", timeout=10).json()  # type: ignore[no-any-return]

    def reset(self) -> None:
        """``POST /_reset``."""
        import httpx

        httpx.post(self.url.removesuffix("/v1") + "/_reset", timeout=10)

    def close(self) -> None:
        """Terminate the subprocess."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spawn(reply: str = "reference_judge", latency: float = 0.0, port: int = 0, jitter: float = 0.0) -> ServerProcess:
    """Start the server in a subprocess; returns once it listens."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "judge.testing.openai_server",
            "--port",
            str(port),
            "--latency",
            str(latency),
            "--jitter",
            str(jitter),
            "--reply",
            reply,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"fake server did not start: {line!r}")
    return ServerProcess(proc, line.split(" ", 1)[1])


def main(argv: list[str] | None = None) -> None:
    """``python -m judge.testing.openai_server``: serve until killed; prints ``READY <url>``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    ap.add_argument("--jitter", type=float, default=0.0, help="spread latency uniformly over latency*(1+-jitter)")
    ap.add_argument("--reply", default="reference_judge", help="module:function script (default reference_judge)")
    args = ap.parse_args(argv)
    server = FakeOpenAIServer(
        load_reply(args.reply), latency=args.latency, jitter=args.jitter, host=args.host, port=args.port
    )

    async def run() -> None:
        await server.serve()
        print(f"READY {server.url}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

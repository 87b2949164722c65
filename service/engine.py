"""The scoring engine: every ``POST /score`` runs on one dedicated event-loop thread.

Why a thread of its own rather than uvicorn's loop or the threadpool:

* the library's :class:`~judge.scoring.Scorer` is async but reads and writes SQLite
  synchronously, and the embedded judge scores on the CPU; on uvicorn's loop both would stall
  every other request (``/healthz`` included);
* LLM backends hold loop-bound state (a semaphore bounding calls in flight, HTTP clients);
  one long-lived loop lets every request share one backend object, so the concurrency and
  rate limits hold across requests, which a loop per request or per thread would break;
* the engine's :class:`~judge.store.Store` connection is used by that thread only.

Requests hand their tasks over with :meth:`ScoringEngine.score` and await the result.
Requests that arrive while the engine is busy are **batched**: one ``Scorer.ascore`` and one
stored run for all of them (one cache lookup, three writes), then each gets its own verdicts
back. A batch that fails (a backend error) is rescored request by request, so only the
request that caused it sees the error. Async (LLM) backends get one semaphore shared by all
requests, so ``JUDGE_CONCURRENCY`` bounds the calls in flight for the whole service.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judge.backends import Backend
from judge.errors import BackendError
from judge.models import Case, Judgment, Verdict
from judge.rubrics import Rubric
from judge.scoring import Scorer, Task
from judge.store import Store
from service.telemetry import Metrics

BackendFactory = Callable[[str], Backend]


def judge_model(backend: Backend) -> str:
    """The model a backend resolves to, or its spec."""
    model = getattr(backend, "model", None) or backend.params.get("model")
    return str(model) if model else backend.spec


@dataclass
class ScoreOutcome:
    """What one ``POST /score`` produced."""

    verdicts: list[Verdict]
    stats: dict[str, int]
    run_id: str
    model: str


class ScoringEngine:
    """Owns the scoring loop thread, its store connection and the backends built on it."""

    def __init__(
        self, store_path: str | Path, backend_for: BackendFactory, metrics: Metrics, concurrency: int = 16
    ) -> None:
        self.store_path = Path(store_path)
        self.backend_for = backend_for
        self.metrics = metrics
        self.concurrency = concurrency
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._backends: dict[str, Backend] = {}
        self._pending: list[_Pending] = []
        self._dispatch_scheduled = False
        self._batches: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------------- lifecycle

    def start(self, default_backend: str, timeout: float = 120.0) -> None:
        """Start the thread, open the store and build the default backend (errors propagate)."""
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="judge-scoring", daemon=True)
        self._thread.start()
        ready.wait()
        try:
            asyncio.run_coroutine_threadsafe(self._open(default_backend), loop).result(timeout)
        except BaseException:
            self.stop()
            raise

    async def _open(self, default_backend: str) -> None:
        self._store = Store.open(self.store_path)
        _ = self._backend(default_backend).params  # the embedded judge loads its lexicon here, not on request 1

    @property
    def alive(self) -> bool:
        """True while the loop thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the store and stop the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None

    async def _close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # --------------------------------------------------------------------------- scoring

    def _backend(self, spec: str) -> Backend:
        backend = self._backends.get(spec)
        if backend is None:
            backend = self.backend_for(spec)
            if not hasattr(backend, "judge_sync"):  # async (LLM): one in-flight bound for all requests
                backend = _Bounded(backend, self.concurrency)
            self._backends[spec] = backend
        return backend

    async def score(self, tasks: Sequence[Task], rubric: Rubric, backend: str, request_id: str) -> ScoreOutcome:
        """Score ``tasks`` on the engine thread (awaitable from any event loop).

        Task ids must be unique across concurrent requests (the route makes the verdict's
        ``model`` ``request:<id>``), since requests that arrive together share one batch.
        """
        if self._loop is None:
            raise RuntimeError("the scoring engine is not running")
        future = asyncio.run_coroutine_threadsafe(self._submit(list(tasks), rubric, backend, request_id), self._loop)
        return await asyncio.wrap_future(future)

    async def _submit(self, tasks: list[Task], rubric: Rubric, spec: str, request_id: str) -> ScoreOutcome:
        waiter: asyncio.Future[ScoreOutcome] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(tasks, rubric, spec, request_id, waiter))
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            asyncio.get_running_loop().call_soon(self._dispatch)
        return await waiter

    def _dispatch(self) -> None:
        """Everything submitted since the last dispatch becomes one batch per (rubric, backend)."""
        self._dispatch_scheduled = False
        groups: dict[tuple[str, str, str], list[_Pending]] = {}
        for p in self._pending:
            groups.setdefault((p.rubric.id, p.rubric.sha256, p.spec), []).append(p)
        self._pending = []
        for group in groups.values():
            task = asyncio.get_running_loop().create_task(self._run_batch(group))
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _run_batch(self, group: list[_Pending]) -> None:
        first = group[0]
        try:
            outcome = await self._score([t for p in group for t in p.tasks], first.rubric, first.spec,
                                        [p.request_id for p in group], count_errors=len(group) == 1)
        except Exception as exc:
            if len(group) == 1:
                if not first.waiter.done():
                    first.waiter.set_exception(exc)
                return
            # one request broke the batch: score each alone, so only that one gets the error;
            # whatever the batch finished is in the cache already
            await asyncio.gather(*(self._run_batch([p]) for p in group))
            return
        start = 0
        for p in group:
            part = outcome.verdicts[start : start + len(p.tasks)]
            start += len(p.tasks)
            if not p.waiter.done():  # a caller that went away
                p.waiter.set_result(ScoreOutcome(part, outcome.stats, outcome.run_id, outcome.model))

    async def _score(
        self, tasks: list[Task], rubric: Rubric, spec: str, request_ids: list[str], count_errors: bool = True
    ) -> ScoreOutcome:
        store = self._store
        assert store is not None
        try:
            backend = self._backend(spec)
            scorer = Scorer(backend, rubric, store, concurrency=self.concurrency)
            verdicts = await scorer.ascore(tasks)
        except BackendError:
            if count_errors:
                self.metrics.backend_error(spec)
            raise
        args: dict[str, Any] = {"requests": request_ids, "rubric": rubric.id, "backend": backend.spec}
        run_id = store.start_run("serve:score", args, len(tasks))
        store.add_verdicts(run_id, verdicts)
        store.finish_run(run_id, "complete", {"stats": scorer.stats, "n_verdicts": len(verdicts)})
        self.metrics.observe_verdicts("score", verdicts, scorer.stats)
        return ScoreOutcome(verdicts, dict(scorer.stats), run_id, judge_model(backend))


@dataclass
class _Pending:
    tasks: list[Task]
    rubric: Rubric
    spec: str
    request_id: str
    waiter: asyncio.Future[ScoreOutcome]


class _Bounded:
    """An async backend behind one semaphore shared by every request (the Scorer's own bound is per call)."""

    def __init__(self, inner: Backend, limit: int) -> None:
        self._inner = inner
        self.spec = inner.spec
        self._semaphore = asyncio.Semaphore(limit)

    @property
    def params(self) -> dict[str, Any]:
        return self._inner.params

    async def judge(self, case: Case, rubric: Rubric) -> Judgment:
        async with self._semaphore:
            return await self._inner.judge(case, rubric)

    async def extract(self, case: Case, rubric: Rubric) -> Judgment:
        async with self._semaphore:
            return await self._inner.extract(case, rubric)

    def __getattr__(self, name: str) -> Any:  # model, api_base, ... (never judge_sync: not wrapped then)
        return getattr(self._inner, name)

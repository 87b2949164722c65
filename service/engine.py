"""The scoring engine: ``POST /score`` is judged on threads of its own, never on uvicorn's loop.

Threads, each with an event loop of its own:

* **the backend loop** (``judge-backends``): async (LLM) backends are built and called here and
  nowhere else. They hold loop-bound state (a semaphore bounding the calls in flight, HTTP
  clients); one long-lived loop lets every request share one backend object, so
  ``JUDGE_CONCURRENCY`` bounds the calls in flight for the whole service. The loop only waits
  on the network: no judging runs on it.
* **two lanes**, ``light`` and ``heavy`` (``judge-light``, ``judge-heavy``), where the library's
  :class:`~judge.scoring.Scorer` runs: MCQ rules, cache keys, the embedded judge (CPU-bound),
  and the store reads and writes, on a :class:`~judge.store.Store` connection each lane owns.
  LLM calls a lane makes are handed to the backend loop and awaited.

A request's **cost** is the number of characters the judges read (question, references, options
and candidate of each item), which bounds its judging time once the judges are linear. A request
of at most :data:`LIGHT_CHARS` goes to the light lane, where requests that arrive together are
**batched** (one ``Scorer.ascore`` and one stored run: one cache lookup, three writes), each batch
holding at most :data:`LIGHT_CHARS`; so an ordinary request waits at most for one bounded batch.
Anything bigger goes to the heavy lane, each request alone, at most :data:`MAX_HEAVY_WAITING` of
them waiting (more: :class:`EngineBusy`, a 503 with ``Retry-After``). The two lanes run side by side:
CPU-bound Python shares one core through the GIL, which a busy thread hands over every switch
interval (5 ms), so a heavy request slows ordinary ones by a few milliseconds per step rather
than holding them for its whole duration. A batch that fails (a backend error) is rescored request
by request, so only the request that caused it sees the error.

:meth:`ScoringEngine.load` says how long requests have waited for a lane; ``/healthz`` reports
the light lane saturated when an ordinary request has waited more than
:data:`SATURATED_AFTER_SECONDS`, and ``/metrics`` shows both lanes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from judge.backends import Backend, OptionReader
from judge.errors import BackendError
from judge.models import Case, Judgment, Verdict
from judge.rubrics import Rubric
from judge.scoring import Scorer, ScoreStats, Task
from judge.store import Store
from service.telemetry import Metrics

BackendFactory = Callable[[str], Backend]
T = TypeVar("T")
log = logging.getLogger("judge.service")

LIGHT_CHARS = 20_000
"""A request the judges read at most this many characters of is ordinary (light lane); a light
batch holds at most this many characters (or one request)."""
MAX_HEAVY_WAITING = 8
"""Heavy requests waiting for the heavy lane at most; the next one is refused (503, Retry-After)."""
SATURATED_AFTER_SECONDS = 5.0
"""An ordinary request that waited this long for the light lane means the judge is saturated."""
LANES = ("light", "heavy")


def judge_model(backend: Backend) -> str:
    """The model a backend resolves to, or its spec."""
    model = getattr(backend, "model", None) or backend.params.get("model")
    return str(model) if model else backend.spec


def case_chars(case: Case) -> int:
    """Characters of ``case`` the judges read."""
    return (len(case.question) + len(case.candidate) + sum(map(len, case.references))
            + sum(map(len, (case.options or {}).values())))


def request_cost(tasks: Sequence[Task]) -> int:
    """Characters of a request the judges read: what its judging time grows with."""
    return sum(case_chars(t.case) for t in tasks)


class EngineBusy(Exception):
    """The heavy lane has :data:`MAX_HEAVY_WAITING` requests waiting already."""

    retry_after = 5

    def __init__(self, waiting: int) -> None:
        super().__init__(
            f"the judge is busy with {waiting} large requests; retry in a few seconds, or send smaller requests "
            f"(at most {LIGHT_CHARS} characters of question, references, options and candidates are judged at once "
            "without waiting behind large requests)"
        )


@dataclass
class ScoreOutcome:
    """What one ``POST /score`` produced."""

    verdicts: list[Verdict]
    stats: ScoreStats
    run_id: str
    model: str


@dataclass
class _Pending:
    tasks: list[Task]
    rubric: Rubric
    spec: str
    request_id: str
    token: int
    cost: int
    waiter: asyncio.Future[ScoreOutcome]


class _LoopThread:
    """A daemon thread running an event loop of its own."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self.loop = loop
        self.thread = threading.Thread(target=run, name=self.name, daemon=True)
        self.thread.start()
        ready.wait()

    def run(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule ``coro`` on this thread's loop (from any thread)."""
        if self.loop is None:
            coro.close()
            raise RuntimeError(f"the {self.name} thread is not running")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    @property
    def alive(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def stop(self, closing: Coroutine[Any, Any, None] | None, timeout: float) -> None:
        """Run ``closing`` on the loop (bounded by ``timeout``), then stop the loop and the thread."""
        loop, thread = self.loop, self.thread
        if loop is None or thread is None:
            if closing is not None:
                closing.close()
            return
        if thread.is_alive():
            try:
                if closing is not None:
                    asyncio.run_coroutine_threadsafe(closing, loop).result(timeout)
            except FutureTimeout:  # busy judging: the daemon thread dies with the process
                log.warning("the %s thread was still busy after %.0f s at shutdown", self.name, timeout)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout)
        elif closing is not None:
            closing.close()
        if not thread.is_alive():
            loop.close()
        self.loop = self.thread = None


class _Lane(_LoopThread):
    """Where requests are scored: a loop thread with its own store connection and queue."""

    def __init__(self, name: str, engine: ScoringEngine, batch_chars: int | None, max_waiting: int | None) -> None:
        super().__init__(f"judge-{name}")
        self.lane = name
        self.engine = engine
        self.batch_chars = batch_chars
        """Characters per batch at most (a batch holds one request at least); None: one request per batch."""
        self.max_waiting = max_waiting
        self.store: Store | None = None
        self._pending: list[_Pending] = []
        self._dispatch_scheduled = False
        self._batches: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()
        self._waiting: dict[int, float] = {}  # token -> when the request arrived (monotonic)
        self._tokens = itertools.count()
        self.running = 0
        """Batches being scored now."""

    # ------------------------------------------------------------------ bookkeeping (any thread)

    def admit(self) -> int:
        """Register an arriving request; EngineBusy when the lane's queue is full."""
        with self._lock:
            if self.max_waiting is not None and len(self._waiting) >= self.max_waiting:
                self.engine.metrics.scoring_refused(self.lane)
                raise EngineBusy(len(self._waiting))
            token = next(self._tokens)
            self._waiting[token] = time.monotonic()
            return token

    def started(self, tokens: Sequence[int]) -> None:
        """These requests left the queue (their batch started, or they went away)."""
        with self._lock:
            for t in tokens:
                self._waiting.pop(t, None)

    def load(self) -> dict[str, float]:
        """Requests waiting, batches running and the longest wait so far (seconds)."""
        with self._lock:
            oldest = min(self._waiting.values(), default=None)
            waiting = len(self._waiting)
        return {
            "waiting": waiting, "running": self.running,
            "oldest_wait_seconds": 0.0 if oldest is None else time.monotonic() - oldest,
        }

    # ----------------------------------------------------------------- on the lane's own loop

    async def open(self) -> None:
        self.store = Store.open(self.engine.store_path)

    async def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    async def submit(
        self, tasks: list[Task], rubric: Rubric, spec: str, request_id: str, token: int, cost: int
    ) -> ScoreOutcome:
        p = _Pending(tasks, rubric, spec, request_id, token, cost, asyncio.get_running_loop().create_future())
        self._pending.append(p)
        if not self._dispatch_scheduled:
            self._dispatch_scheduled = True
            asyncio.get_running_loop().call_soon(self._dispatch)
        return await p.waiter

    def _dispatch(self) -> None:
        """Everything submitted since the last dispatch becomes batches per (rubric, backend)."""
        self._dispatch_scheduled = False
        groups: dict[tuple[str, str, str], list[_Pending]] = {}
        for p in self._pending:
            groups.setdefault((p.rubric.id, p.rubric.sha256, p.spec), []).append(p)
        self._pending = []
        for group in groups.values():
            for batch in self._cut(group):
                task = asyncio.get_running_loop().create_task(self._run_batch(batch))
                self._batches.add(task)
                task.add_done_callback(self._batches.discard)

    def _cut(self, group: list[_Pending]) -> list[list[_Pending]]:
        """Consecutive batches of at most ``batch_chars`` characters (one request at least)."""
        if self.batch_chars is None:
            return [[p] for p in group]
        batches: list[list[_Pending]] = []
        size = 0
        for p in group:
            if batches and size + p.cost <= self.batch_chars:
                batches[-1].append(p)
                size += p.cost
            else:
                batches.append([p])
                size = p.cost
        return batches

    async def _run_batch(self, group: list[_Pending]) -> None:
        group = [p for p in group if not p.waiter.done()]  # callers that went away are not scored
        if not group:
            return
        self.started([p.token for p in group])
        first = group[0]
        self.running += 1
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
        finally:
            self.running -= 1
        start = 0
        for p in group:
            part = outcome.verdicts[start : start + len(p.tasks)]
            start += len(p.tasks)
            if not p.waiter.done():  # a caller that went away
                p.waiter.set_result(ScoreOutcome(part, outcome.stats, outcome.run_id, outcome.model))

    async def _score(
        self, tasks: list[Task], rubric: Rubric, spec: str, request_ids: list[str], count_errors: bool = True
    ) -> ScoreOutcome:
        store = self.store
        assert store is not None
        metrics = self.engine.metrics
        try:
            backend = self.engine.backend(spec)
            scorer = Scorer(backend, rubric, store, concurrency=self.engine.concurrency)
            verdicts = await scorer.ascore(tasks)
        except BackendError:
            if count_errors:
                metrics.backend_error(spec)
            raise
        args: dict[str, Any] = {"requests": request_ids, "rubric": rubric.id, "backend": backend.spec}
        with store.run("serve:score", args, len(tasks)) as run:
            run.add_verdicts(verdicts)
            run.summary = {"stats": scorer.stats.as_dict(), "n_verdicts": len(verdicts)}
        metrics.observe_verdicts("score", verdicts, scorer.stats)
        return ScoreOutcome(verdicts, scorer.stats, run.id, judge_model(backend))


class ScoringEngine:
    """Owns the backend loop, the two lanes, their store connections and the backends."""

    def __init__(
        self, store_path: str | Path, backend_for: BackendFactory, metrics: Metrics, concurrency: int = 16
    ) -> None:
        self.store_path = Path(store_path)
        self.backend_for = backend_for
        self.metrics = metrics
        self.concurrency = concurrency
        self._backend_loop = _LoopThread("judge-backends")
        self.lanes = {
            "light": _Lane("light", self, batch_chars=LIGHT_CHARS, max_waiting=None),
            "heavy": _Lane("heavy", self, batch_chars=None, max_waiting=MAX_HEAVY_WAITING),
        }
        self._backends: dict[str, Backend] = {}
        self._backends_lock = threading.Lock()

    # ------------------------------------------------------------------------- lifecycle

    def start(self, default_backend: str, rubric: Rubric | None = None, timeout: float = 120.0) -> None:
        """Start the threads, open the stores and build the default backend (errors propagate).

        With ``rubric``, a synchronous (embedded) backend judges one small case under it, so that
        its lexicon and the rubric's compiled tables are ready before the first request (about a
        second otherwise spent by request 1).
        """
        try:
            self._backend_loop.start()
            for lane in self.lanes.values():
                lane.start()
                lane.run(lane.open()).result(timeout)
            backend = self.backend(default_backend)
            _ = backend.params
            judge_sync = getattr(backend, "judge_sync", None)
            if judge_sync is not None and rubric is not None:
                judge_sync(Case(question="What color is the lesion?", references=["red"], candidate="red"), rubric)
        except BaseException:
            self.stop()
            raise

    @property
    def alive(self) -> bool:
        """True while every engine thread runs."""
        return self._backend_loop.alive and all(lane.alive for lane in self.lanes.values())

    def stop(self, timeout: float = 10.0) -> None:
        """Close the stores and stop the threads (lanes first: they may be waiting on the backend loop)."""
        for lane in self.lanes.values():
            lane.stop(lane.close(), timeout)
        self._backend_loop.stop(None, timeout)

    # --------------------------------------------------------------------------- scoring

    def backend(self, spec: str) -> Backend:
        """The backend for ``spec`` (built once, on the backend loop); any thread may call it."""
        with self._backends_lock:
            backend = self._backends.get(spec)
            if backend is None:
                built = self._backend_loop.run(self._build(spec)).result()
                backend = built if hasattr(built, "judge_sync") else _OnLoop(built, self._backend_loop)
                self._backends[spec] = backend
            return backend

    async def _build(self, spec: str) -> Backend:
        backend = self.backend_for(spec)
        if hasattr(backend, "judge_sync"):  # synchronous (embedded): called on the lanes directly
            return backend
        return _Bounded(backend, self.concurrency)  # async (LLM): one in-flight bound for all requests

    async def score(self, tasks: Sequence[Task], rubric: Rubric, backend: str, request_id: str) -> ScoreOutcome:
        """Score ``tasks`` on a lane (awaitable from any event loop); EngineBusy when the heavy lane is full.

        Task ids must be unique across concurrent requests (the route makes the verdict's
        ``model`` ``request:<id>``), since requests that arrive together share one batch.
        """
        tasks = list(tasks)
        cost = request_cost(tasks)
        lane = self.lanes["light" if cost <= LIGHT_CHARS else "heavy"]
        token = lane.admit()
        try:
            return await asyncio.wrap_future(lane.run(lane.submit(tasks, rubric, backend, request_id, token, cost)))
        finally:
            lane.started([token])  # no-op once its batch started; a caller that went away leaves the queue

    def load(self) -> dict[str, dict[str, float]]:
        """Per lane: requests waiting, batches running, the longest wait (seconds)."""
        return {name: lane.load() for name, lane in self.lanes.items()}

    def saturated(self) -> bool:
        """True when an ordinary request has waited more than :data:`SATURATED_AFTER_SECONDS` for a lane."""
        return self.lanes["light"].load()["oldest_wait_seconds"] > SATURATED_AFTER_SECONDS


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
        assert isinstance(self._inner, OptionReader), f"{self.spec} reads no MCQ answers"
        async with self._semaphore:
            return await self._inner.extract(case, rubric)

    def __getattr__(self, name: str) -> Any:  # model, api_base, ... (never judge_sync: not wrapped then)
        return getattr(self._inner, name)


class _OnLoop:
    """An async backend living on the backend loop, called from a lane's loop."""

    def __init__(self, inner: Backend, home: _LoopThread) -> None:
        self._inner = inner
        self._home = home
        self.spec = inner.spec

    @property
    def params(self) -> dict[str, Any]:
        return self._inner.params

    async def judge(self, case: Case, rubric: Rubric) -> Judgment:
        return await asyncio.wrap_future(self._home.run(self._inner.judge(case, rubric)))

    async def extract(self, case: Case, rubric: Rubric) -> Judgment:
        assert isinstance(self._inner, OptionReader), f"{self.spec} reads no MCQ answers"
        return await asyncio.wrap_future(self._home.run(self._inner.extract(case, rubric)))

    def __getattr__(self, name: str) -> Any:  # model, api_base, ... (never judge_sync: not wrapped then)
        return getattr(self._inner, name)

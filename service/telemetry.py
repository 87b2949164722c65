"""Prometheus metrics, written by hand: a few counters and one histogram, thread-safe.

Why not ``prometheus_client``: the service needs five metric families, the text format is
small and stable, and the library's multi-process mode (the only thing it would add for
``judge serve --workers N``) needs a shared directory and hooks anyway. Each process reports
its own counters; with ``--workers N`` a scrape sees the worker that answered it.

Every label value comes from a fixed set, so no request can grow the exposition: ``route`` is a
route *template* of the app (``/jobs/{job_id}``) or ``unmatched``; ``method`` one of
:data:`METHODS` or ``other``; ``status`` one of :data:`STATUSES` or its class (``4xx``);
``backend`` a spec the operator allowed; ``lane`` ``light`` or ``heavy``.

Families:

* ``judge_http_requests_total{route,method,status}``
* ``judge_http_request_duration_seconds{route,method}`` (histogram)
* ``judge_scoring_waiting{lane}``, ``judge_scoring_running{lane}``, ``judge_scoring_oldest_wait_seconds{lane}``
  (gauges, read from the engine at scrape time) and ``judge_scoring_refused_total{lane}``
* ``judge_verdicts_total{source,outcome}`` - source ``score`` or ``job``; outcome ``scored``/``unscored``
* ``judge_cache_hits_total`` / ``judge_cache_misses_total`` - backend judgments served from the store / computed
* ``judge_backend_errors_total{backend}`` - backend failures (``BackendError``)
* ``judge_jobs_total{state}`` - job state transitions
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Iterable, Sequence

from judge.models import Verdict
from judge.score_table import ScoreTable
from judge.scoring import ScoreStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""HTTP methods counted by name; any other is counted as ``other``."""
STATUSES = frozenset({200, 202, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 431, 500, 503})
"""Status codes the service answers with, counted by code; any other is counted by class (``4xx``)."""


def method_label(method: object) -> str:
    """``POST`` -> ``POST``; an invented method -> ``other``."""
    return method if isinstance(method, str) and method in METHODS else "other"


def status_label(status: int) -> str:
    """``422`` -> ``"422"``; a code outside :data:`STATUSES` -> its class, ``"4xx"``."""
    if status in STATUSES:
        return str(status)
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(str(v))}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Metrics:
    """The service's counters; every method is safe to call from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self._hist: dict[tuple[str, str], list[float]] = {}  # bucket counts..., +Inf, sum
        self.verdicts: Counter[tuple[str, str]] = Counter()
        self.cache: Counter[str] = Counter()
        self.backend_errors: Counter[str] = Counter()
        self.jobs: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    # ----------------------------------------------------------------------------- updates

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one HTTP request and its latency (``route`` must be a template; see the module docstring)."""
        method, code = method_label(method), status_label(status)
        with self._lock:
            self.requests[(route, method, code)] += 1
            hist = self._hist.setdefault((route, method), [0.0] * (len(BUCKETS) + 2))
            hist[bisect.bisect_left(BUCKETS, seconds)] += 1
            hist[-1] += seconds

    def observe_verdicts(self, source: str, verdicts: Iterable[Verdict], stats: ScoreStats) -> None:
        """Count verdicts by outcome, and the scorer's cache hits and misses."""
        unscored = total = 0
        for v in verdicts:
            total += 1
            unscored += v.score is None
        self._observe(source, total - unscored, unscored, stats)

    def observe_table(self, source: str, table: ScoreTable, stats: ScoreStats) -> None:
        """As :meth:`observe_verdicts`, from a run's table (a job's verdicts are not held in memory)."""
        total = sum(r.avg.n for r in table.rows)
        self._observe(source, total - table.unscored, table.unscored, stats)

    def _observe(self, source: str, scored: int, unscored: int, stats: ScoreStats) -> None:
        with self._lock:
            self.verdicts[(source, "scored")] += scored
            self.verdicts[(source, "unscored")] += unscored
            self.cache["hit"] += stats.cached
            self.cache["miss"] += stats.computed

    def backend_error(self, backend: str) -> None:
        """Count one backend failure."""
        with self._lock:
            self.backend_errors[backend] += 1

    def job_state(self, state: str) -> None:
        """Count one job entering ``state``."""
        with self._lock:
            self.jobs[state] += 1

    def scoring_refused(self, lane: str) -> None:
        """Count one request refused because ``lane`` was full."""
        with self._lock:
            self.refused[lane] += 1

    # ------------------------------------------------------------------------------ output

    def render(self, lanes: dict[str, dict[str, float]] | None = None) -> str:
        """The Prometheus text exposition format; ``lanes`` is the engine's load (gauges)."""
        with self._lock:
            requests = sorted(self.requests.items())
            hists = sorted((k, list(v)) for k, v in self._hist.items())
            verdicts = sorted(self.verdicts.items())
            cache = dict(self.cache)
            errors = sorted(self.backend_errors.items())
            jobs = sorted(self.jobs.items())
            refused = dict(self.refused)
        out: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        family("judge_http_requests_total", "counter", "HTTP requests by route template, method and status.")
        for (route, method, status), n in requests:
            out.append(f"judge_http_requests_total{_labels(('route', 'method', 'status'), (route, method, status))} {n}")

        name = "judge_http_request_duration_seconds"
        family(name, "histogram", "HTTP request latency in seconds.")
        for (route, method), hist in hists:
            cumulative = 0.0
            for bound, count in zip((*BUCKETS, float("inf")), hist[:-1], strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else _num(bound)
                labels = _labels(("route", "method"), (route, method), 'le="' + le + '"')
                out.append(f"{name}_bucket{labels} {_num(cumulative)}")
            out.append(f"{name}_sum{_labels(('route', 'method'), (route, method))} {hist[-1]!r}")
            out.append(f"{name}_count{_labels(('route', 'method'), (route, method))} {_num(cumulative)}")

        family("judge_verdicts_total", "counter", "Verdicts returned, by source (score, job) and outcome (scored, unscored).")
        for (source, outcome), n in verdicts:
            out.append(f"judge_verdicts_total{_labels(('source', 'outcome'), (source, outcome))} {n}")

        family("judge_cache_hits_total", "counter", "Backend judgments served from the store's cache.")
        out.append(f"judge_cache_hits_total {cache.get('hit', 0)}")
        family("judge_cache_misses_total", "counter", "Backend judgments computed (not in the cache).")
        out.append(f"judge_cache_misses_total {cache.get('miss', 0)}")

        family("judge_backend_errors_total", "counter", "Judge backend failures, by backend.")
        for backend, n in errors:
            out.append(f"judge_backend_errors_total{_labels(('backend',), (backend,))} {n}")

        family("judge_jobs_total", "counter", "Job state transitions, by the state entered.")
        for state, n in jobs:
            out.append(f"judge_jobs_total{_labels(('state',), (state,))} {n}")

        gauges = (
            ("judge_scoring_waiting", "waiting", "Score requests waiting for a lane."),
            ("judge_scoring_running", "running", "Batches being scored."),
            ("judge_scoring_oldest_wait_seconds", "oldest_wait_seconds", "How long the oldest waiting request has waited."),
        )
        for name, key, help_text in gauges:
            family(name, "gauge", help_text + " By lane (light: ordinary requests; heavy: large ones).")
            for lane, load in sorted((lanes or {}).items()):
                out.append(f"{name}{_labels(('lane',), (lane,))} {_num(load.get(key, 0))}")
        family("judge_scoring_refused_total", "counter", "Score requests refused (503) because the lane was full.")
        for lane in sorted(set(refused) | set(lanes or {})):
            out.append(f"judge_scoring_refused_total{_labels(('lane',), (lane,))} {refused.get(lane, 0)}")
        return "\n".join(out) + "\n"

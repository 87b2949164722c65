"""Whole-benchmark jobs: files under ``data_dir/jobs/<id>/``, state in the store's ``jobs`` table.

Life of a job::

    POST /jobs -> files saved and validated (a bad line is a 422, nothing is queued)
               -> row ``queued`` -> the worker claims it (``running``) -> ``complete`` | ``failed``

* **One worker thread per process** (:class:`JobRunner`) runs jobs one at a time through the
  library's :func:`~judge.score_run.score_items`, with a store connection of its own.
* **Claiming is atomic** (``UPDATE ... WHERE state = 'queued'``), so ``--workers N`` processes
  sharing one database never run a job twice.
* **Restarts resume.** A clean shutdown puts the running job back to ``queued``. After a crash
  the job stays ``running`` under its dead owner; the next start on the same host sees that the
  owner's process is gone and re-queues it (an owner on another host is trusted until its
  heartbeat is older than the lease). The rerun finds every finished judgment in the store's
  cache and computes only the rest.

The SQL for the ``jobs`` table lives here, next to its only user; the table itself is created
by the ``m002_jobs`` migration in :mod:`judge.store`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import sqlite_utils

from judge.backends import Backend, SyncBackend
from judge.errors import BackendError, InputError, JudgeError
from judge.models import Verdict
from judge.rubrics import load_rubric
from judge.score_run import VerdictFile, score_staged, write_outputs
from judge.staging import StagedInputs
from judge.store import Store, migration
from service.schemas import JobState
from service.telemetry import Metrics

log = logging.getLogger("judge.service.jobs")

BENCHMARK_FILE = "benchmark.jsonl"
OUT_DIR = "out"
RESULTS_CSV = "results.csv"
_SAFE_NAME = re.compile(r"[^\w.-]+")  # letters and digits of any script; no slashes, controls or bidi marks
_JOB_ID = re.compile(r"^[0-9a-f]{16}$")
RESULT_COLUMNS = (
    "item_id", "model", "ability", "question_type", "attribute", "language", "score", "unscored_reason",
    "method", "extracted", "rationale", "rubric", "rubric_sha", "backend", "cached", "latency_ms", "cache_key",
)


class JobInterrupted(Exception):
    """The service is stopping: the running job goes back to the queue."""


# --------------------------------------------------------------------------- the jobs table


@migration
def m002_jobs(db: sqlite_utils.Database) -> None:
    """Whole-benchmark jobs of the HTTP service; files live in data_dir/jobs/<id>/.

    Registered by importing this module: the store the service opens has the table, a store only the
    CLI opens does not need it. The name is permanent (it is how a store knows it was applied).
    """
    db.table("jobs").create(
        {
            "id": str, "state": str, "created_at": float, "started_at": float, "finished_at": float,
            "heartbeat_at": float, "owner": str, "attempts": int, "benchmark": str, "predictions": str,
            "split": str, "rubric": str, "backend": str, "done": int, "total": int, "unscored": int,
            "summary": str, "error": str, "run_id": str, "request_id": str,
        },
        pk="id",
    )
    db.table("jobs").create_index(["state", "created_at"])


@dataclass(frozen=True)
class JobRow:
    """One row of the ``jobs`` table, its JSON columns read."""

    id: str
    state: JobState
    created_at: float
    started_at: float | None
    finished_at: float | None
    heartbeat_at: float | None
    owner: str | None
    attempts: int
    benchmark: str
    predictions: list[str]
    """The caller's prediction file names."""
    split: str | None
    rubric: str
    backend: str
    done: int
    total: int
    unscored: int
    summary: dict[str, Any]
    error: str | None
    run_id: str | None
    request_id: str | None

    @classmethod
    def from_db(cls, row: dict[str, Any]) -> JobRow:
        """The row as the store returns it (JSON in text columns, NULL counts)."""
        return cls(**{
            **row,
            "predictions": json.loads(row["predictions"] or "[]"),
            "summary": json.loads(row["summary"]) if row.get("summary") else {},
            "attempts": row["attempts"] or 0, "done": row["done"] or 0, "total": row["total"] or 0,
            "unscored": row["unscored"] or 0,
        })


class JobRepo:
    """Reads and writes of the ``jobs`` table (each statement commits on its own)."""

    @staticmethod
    def insert(store: Store, record: dict[str, Any]) -> None:
        """Add a job row."""
        store.db.table("jobs").insert(record)

    @staticmethod
    def get(store: Store, job_id: str) -> JobRow | None:
        """One job's row, or None."""
        rows = list(store.db["jobs"].rows_where("id = ?", [job_id]))
        return JobRow.from_db(rows[0]) if rows else None

    @staticmethod
    def recent(store: Store, limit: int) -> list[JobRow]:
        """The newest jobs first."""
        return [JobRow.from_db(r) for r in store.db["jobs"].rows_where(order_by="created_at desc", limit=limit)]

    @staticmethod
    def with_state(store: Store, state: str) -> list[JobRow]:
        """Jobs in ``state``, oldest first."""
        return [JobRow.from_db(r) for r in store.db["jobs"].rows_where("state = ?", [state], order_by="created_at")]

    @staticmethod
    def claim(store: Store, job_id: str, owner: str) -> bool:
        """Take a queued job; False when another worker was first."""
        now = time.time()
        cur = store.db.execute(
            "update jobs set state = 'running', owner = ?, started_at = ?, heartbeat_at = ?, "
            "attempts = coalesce(attempts, 0) + 1, error = null where id = ? and state = 'queued'",
            [owner, now, now, job_id],
        )
        return cur.rowcount == 1

    @staticmethod
    def requeue(store: Store, job_id: str, owner: str | None) -> bool:
        """Put a running job back in the queue, if ``owner`` (None: any) still holds it."""
        cur = store.db.execute(
            "update jobs set state = 'queued', owner = null where id = ? and state = 'running' "
            "and (? is null or owner = ?)",
            [job_id, owner, owner],
        )
        return cur.rowcount == 1

    @staticmethod
    def progress(store: Store, job_id: str, done: int, unscored: int) -> None:
        """Record progress and a heartbeat."""
        store.db.execute(
            "update jobs set done = ?, unscored = ?, heartbeat_at = ? where id = ?",
            [done, unscored, time.time(), job_id],
        )

    @staticmethod
    def finish(store: Store, job_id: str, state: str, **fields: Any) -> None:
        """Mark a job complete or failed."""
        store.db.table("jobs").update(job_id, {"state": state, "finished_at": time.time(), "owner": None, **fields})


# ------------------------------------------------------------------------------ job creation


@dataclass
class NewJob:
    """A job being created: its id, directory and the names the caller gave its files."""

    id: str
    dir: Path
    benchmark_name: str
    prediction_names: list[str]

    @property
    def benchmark_path(self) -> Path:
        """Where the benchmark is kept."""
        return self.dir / BENCHMARK_FILE

    @property
    def prediction_paths(self) -> list[Path]:
        """Where the predictions are kept, in the caller's order."""
        return prediction_paths(self.dir, len(self.prediction_names))


def prediction_paths(job_dir: Path, n: int) -> list[Path]:
    """The stored prediction files of a job."""
    return [job_dir / f"predictions-{i}.jsonl" for i in range(n)]


def jobs_root(data_dir: Path) -> Path:
    """``data_dir/jobs``."""
    return data_dir / "jobs"


def valid_id(job_id: str) -> bool:
    """Whether ``job_id`` can be a job id (so it is safe in a path)."""
    return bool(_JOB_ID.match(job_id))


def display_name(name: str | None, default: str) -> str:
    """A caller's file name, reduced to something safe to echo in messages."""
    base = _SAFE_NAME.sub("_", Path(name or "").name).strip("._")[:100]
    return base or default


def start_job(data_dir: Path, benchmark_name: str, prediction_names: Sequence[str]) -> NewJob:
    """Make the directory of a new job."""
    job_id = uuid.uuid4().hex[:16]
    path = jobs_root(data_dir) / job_id
    path.mkdir(parents=True)
    return NewJob(job_id, path, benchmark_name, list(prediction_names))


def save_upload(source: BinaryIO, target: Path) -> None:
    """Copy an uploaded file (already spooled by the form parser) into the job directory."""
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, length=1 << 20)


def resolve_server_path(data_dir: Path, path: str, what: str) -> Path:
    """A caller-named server file, which must lie inside the data directory.

    Raises PermissionError for a path outside it and InputError for a missing file or a path
    the system cannot use (a NUL byte, a name too long).
    """
    root = data_dir.resolve()
    shown = path if len(path) <= 200 else f"{path[:200]}..."  # the caller's own path, quoted briefly
    try:
        candidate = Path(path)
        resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
        if not resolved.is_relative_to(root):
            raise PermissionError(f"{what}: {shown!r} is outside the server's data directory; upload the file instead")
        if not resolved.is_file():
            raise InputError("file not found on the server", path=shown)
    except (OSError, ValueError) as exc:  # PermissionError is an OSError: ours, keep it
        if isinstance(exc, PermissionError):
            raise
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"not a usable file name ({reason})", path=shown) from None
    return resolved


def validate_job(job: NewJob, split: str | None) -> int:
    """Read and validate the job's files; returns its (item, model) pair count.

    An InputError names the caller's file (not the server path) and the line.
    """
    names = {str(job.benchmark_path): job.benchmark_name}
    names.update({str(p): n for p, n in zip(job.prediction_paths, job.prediction_names, strict=True)})
    try:
        with StagedInputs.from_files(job.benchmark_path, job.prediction_paths, split) as staged:
            tasks, missing = staged.counts()
    except InputError as exc:
        where = names.get(exc.path or "", exc.path)
        problem = exc.problem
        for server, shown in names.items():
            problem = problem.replace(server, shown)
        raise InputError(problem, path=where, line=exc.line) from None
    return tasks + missing


def new_job_record(job: NewJob, *, split: str | None, rubric: str, backend: str, total: int, request_id: str) -> dict[str, Any]:
    """The ``jobs`` row of a freshly validated job."""
    return {
        "id": job.id, "state": "queued", "created_at": time.time(), "started_at": None, "finished_at": None,
        "heartbeat_at": None, "owner": None, "attempts": 0, "benchmark": job.benchmark_name,
        "predictions": json.dumps(job.prediction_names), "split": split, "rubric": rubric, "backend": backend,
        "done": 0, "total": total, "unscored": 0, "summary": None, "error": None, "run_id": None,
        "request_id": request_id,
    }


def public_files(provenance: dict[str, Any], benchmark: str, predictions: Sequence[str]) -> dict[str, Any]:
    """The table's file provenance with the caller's file names for the server paths (sha256 kept).

    A job's outputs are served to clients, and no response names a path on the server.
    """

    def named(info: Any, name: str) -> dict[str, Any]:
        sha = info.get("sha256") if isinstance(info, dict) else None
        return {"path": name, "sha256": sha}

    preds = provenance.get("predictions") or []
    return {
        "benchmark": named(provenance.get("benchmark"), benchmark),
        "predictions": [named(info, name) for info, name in zip(preds, predictions, strict=False)],
    }


def results_csv_header() -> str:
    """The first line of ``results.csv``."""
    buf = io.StringIO()
    csv.writer(buf).writerow(RESULT_COLUMNS)
    return buf.getvalue()


def results_csv_row(v: Verdict) -> str:
    """One verdict as a ``results.csv`` line."""
    buf = io.StringIO()
    row = v.model_dump()
    row["extracted"] = ",".join(v.extracted) if v.extracted is not None else ""
    row["cached"] = int(v.cached)
    csv.writer(buf).writerow(["" if row.get(c) is None else row[c] for c in RESULT_COLUMNS])
    return buf.getvalue()


def results_csv(verdicts: Sequence[Verdict]) -> str:
    """One CSV row per verdict."""
    return results_csv_header() + "".join(results_csv_row(v) for v in verdicts)


# ------------------------------------------------------------------------------ the worker


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobRunner:
    """The background worker of one process: claims queued jobs and runs them, one at a time."""

    def __init__(
        self,
        store_path: str | Path,
        data_dir: Path,
        backend_for: Callable[[str], Backend],
        metrics: Metrics,
        *,
        concurrency: int = 16,
        poll_seconds: float = 1.0,
        lease_seconds: float = 600.0,
    ) -> None:
        self.store_path = Path(store_path)
        self.data_dir = data_dir
        self.backend_for = backend_for
        self.metrics = metrics
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.host = socket.gethostname()
        self.token = uuid.uuid4().hex[:8]
        self.owner = f"{self.host}:{os.getpid()}:{self.token}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._sync_backends: dict[str, Backend] = {}
        self.current: str | None = None

    # ------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the worker thread (it re-queues orphaned jobs first)."""
        self._thread = threading.Thread(target=self._main, name="judge-jobs", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    @property
    def alive(self) -> bool:
        """True while the worker thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop; a running job is interrupted at its next progress report and re-queued."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("job worker still busy after %.0f s; its job resumes at the next start", timeout)

    # ----------------------------------------------------------------------------- loop

    def _main(self) -> None:
        store = Store.open(self.store_path)
        try:
            self.requeue_orphans(store)
            last_check = time.monotonic()
            while not self._stop.is_set():
                if time.monotonic() - last_check > min(60.0, self.lease_seconds / 4):
                    self.requeue_orphans(store)
                    last_check = time.monotonic()
                job_id = self._claim_next(store)
                if job_id is not None:
                    self._run(store, job_id)
                    continue
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
        except Exception:  # the worker must not die silently
            log.exception("job worker crashed")
        finally:
            store.close()

    def _claim_next(self, store: Store) -> str | None:
        for row in JobRepo.with_state(store, "queued"):
            if JobRepo.claim(store, row.id, self.owner):
                self.metrics.job_state("running")
                return row.id
        return None

    def requeue_orphans(self, store: Store) -> list[str]:
        """Re-queue running jobs whose worker is gone; returns their ids."""
        requeued = []
        now = time.time()
        for row in JobRepo.with_state(store, "running"):
            owner = row.owner or ""
            host, _, rest = owner.partition(":")
            pid_text, _, token = rest.partition(":")
            if owner == self.owner:
                continue
            orphan = False
            if host == self.host and pid_text.isdigit():
                pid = int(pid_text)
                orphan = not _pid_alive(pid) or (pid == os.getpid() and token != self.token)
            heartbeat = row.heartbeat_at or row.started_at or 0.0
            orphan = orphan or now - heartbeat > self.lease_seconds
            if orphan and JobRepo.requeue(store, row.id, row.owner):
                log.info("job %s re-queued (its worker %s is gone)", row.id, owner or "?")
                self.metrics.job_state("queued")
                requeued.append(row.id)
        return requeued

    def _backend(self, spec: str) -> Backend:
        """The embedded judge (sync) is kept; an LLM backend is built per job (its state is loop-bound)."""
        if spec in self._sync_backends:
            return self._sync_backends[spec]
        backend = self.backend_for(spec)
        if isinstance(backend, SyncBackend):
            self._sync_backends[spec] = backend
        return backend

    def _run(self, store: Store, job_id: str) -> None:
        row = JobRepo.get(store, job_id)
        assert row is not None
        self.current = job_id
        path = self.data_dir / "jobs" / job_id
        names = row.predictions
        bench = path / BENCHMARK_FILE
        preds = prediction_paths(path, len(names))
        log.info("job %s: running (attempt %s)", job_id, row.attempts)
        try:
            staged = StagedInputs.from_files(bench, preds, row.split)
            offset = staged.counts()[1]  # pairs without a prediction count as done
            last = 0.0

            def progress(done: int, total: int, unscored: int) -> None:
                nonlocal last
                if self._stop.is_set():
                    raise JobInterrupted
                now = time.monotonic()
                if now - last >= 0.5 or done == total:
                    last = now
                    JobRepo.progress(store, job_id, done + offset, unscored + offset)

            out = path / OUT_DIR
            csv_file = VerdictFile(out / RESULTS_CSV, render=results_csv_row, header=results_csv_header())
            try:
                with staged:
                    result = score_staged(
                        staged, store=store, benchmark=bench, predictions=preds, split=row.split,
                        backend=self._backend(row.backend), rubric=load_rubric(row.rubric),
                        concurrency=self.concurrency, progress=progress, out_dir=out, sinks=[csv_file],
                    )
            except BaseException:
                csv_file.discard()
                raise
            csv_file.commit()
            result.table.provenance.update(public_files(result.table.provenance, row.benchmark, names))
            write_outputs(result, out)
            reasons: dict[str, int] = {}
            for model_row in result.table.rows:
                for reason, n in model_row.unscored_reasons.items():
                    reasons[reason] = reasons.get(reason, 0) + n
            n_verdicts = sum(r.avg.n for r in result.table.rows)
            summary = {"stats": result.stats.as_dict(), "unscored_reasons": reasons, "n_verdicts": n_verdicts}
            JobRepo.finish(
                store, job_id, "complete", done=n_verdicts, total=n_verdicts,
                unscored=result.table.unscored, summary=json.dumps(summary), run_id=result.run_id,
            )
            self.metrics.observe_table("job", result.table, result.stats)
            self.metrics.job_state("complete")
            log.info("job %s: complete (%d verdicts, %d unscored)", job_id, n_verdicts, result.table.unscored)
        except JobInterrupted:
            JobRepo.requeue(store, job_id, self.owner)
            self.metrics.job_state("queued")
            log.info("job %s: interrupted by shutdown, re-queued", job_id)
        except JudgeError as exc:
            message = str(exc).replace(str(path) + os.sep, "")
            JobRepo.finish(store, job_id, "failed", error=message)
            self.metrics.job_state("failed")
            if isinstance(exc, BackendError):
                self.metrics.backend_error(row.backend)
            log.warning("job %s: failed: %s", job_id, message)
        except Exception:
            log.exception("job %s: internal error", job_id)
            JobRepo.finish(store, job_id, "failed", error="internal error (see the server log)")
            self.metrics.job_state("failed")
        finally:
            self.current = None

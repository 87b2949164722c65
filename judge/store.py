"""The SQLite store: cached judgments, runs and verdicts, through sqlite-utils.

* ``judgments`` - content-addressed cache: one row per cache key (hash of everything that
  determines a backend's answer). A rerun reads these and calls nothing.
* ``runs`` - one row per ``judge score`` / ``judge agreement`` / ``judge calibrate`` call, with its
  status, through one lifecycle (:meth:`Store.run`): ``running``, then ``failed`` on any error
  (writing verdicts included) or ``complete`` with its summary at the very end; a run that was
  killed stays ``running`` and is never reported as complete.
* ``verdicts`` - what each run decided for each (item, model, backend), with provenance.

Migrations are named and append-only and run in one write transaction, so any number of
processes may open (and create) the same store at once; the database is in WAL mode and every
write is committed as it comes, so a killed run loses no finished judgment. Every SQLite failure
(a read-only, damaged or locked file, a full disk) is a :class:`~judge.errors.StoreError` naming
the file and what to do, never a bare ``sqlite3`` traceback.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlite_utils
from sqlite_utils.db import NotFoundError

from judge.errors import StoreError
from judge.models import Judgment, Usage, Verdict

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[tuple[str, Migration]] = []
P = ParamSpec("P")
T = TypeVar("T")

_ELSEWHERE = "or point --db / JUDGE_DATA_DIR elsewhere"
_HINTS: tuple[tuple[str, str], ...] = (
    ("readonly", f"the file or its directory is read-only: make both writable, {_ELSEWHERE}"),
    ("malformed", f"the file is damaged: move it aside and a new one is made, {_ELSEWHERE}"),
    ("not a database", f"the file is not a SQLite database: move it aside, {_ELSEWHERE}"),
    ("unable to open", f"the path must be a file in a directory you can write, {_ELSEWHERE}"),
    ("locked", f"another process held the store for over 30 s: retry, {_ELSEWHERE}"),
    ("disk is full", "free some disk space"),
    ("disk i/o error", "the disk failed to read or write the file"),
)
"""What to do about an SQLite error, by a part of its message."""


def store_error(path: str | Path, exc: BaseException) -> StoreError:
    """``exc`` (an sqlite3 or OS error) as a one-line StoreError naming the file and what to do."""
    text = str(exc) or ("no such row" if isinstance(exc, NotFoundError) else type(exc).__name__)
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    hint = next((h for key, h in _HINTS if key in text.lower()), None)
    return StoreError(f"store {path}: {text}" + (f" ({hint})" if hint else ""))


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(value: Any) -> Any:
    """``value`` with every lone UTF-16 surrogate (which UTF-8 cannot encode) replaced by U+FFFD
    when it is text; anything else unchanged."""
    if not isinstance(value, str) or value.isascii():
        return value
    return _SURROGATE.sub("\ufffd", value)


def _translated(method: Callable[P, T]) -> Callable[P, T]:
    """Re-raise an sqlite3 error (or sqlite-utils' row-not-found) of a Store method as a :class:`StoreError`."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except (sqlite3.Error, NotFoundError) as exc:
            store = args[0]
            raise store_error(getattr(store, "path", "?"), exc) from None

    return wrapper


def migration(fn: Migration) -> Migration:
    """Register a migration; its function name is its permanent id."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("judgments").create(
        {
            "cache_key": str, "score": float, "unscored_reason": str, "rationale": str,
            "raw_output": str, "extracted": str, "rubric": str, "rubric_sha": str,
            "backend": str, "params": str, "latency_ms": float, "usage": str, "created_at": float,
        },
        pk="cache_key",
    )
    db.table("runs").create(
        {
            "id": str, "command": str, "args": str, "started_at": float, "finished_at": float,
            "status": str, "n_tasks": int, "summary": str,
        },
        pk="id",
    )
    db.table("verdicts").create(
        {
            "run_id": str, "item_id": str, "model": str, "backend": str, "ability": str,
            "question_type": str, "attribute": str, "language": str, "score": float,
            "unscored_reason": str, "rationale": str, "raw_output": str, "method": str,
            "extracted": str, "rubric": str, "rubric_sha": str, "params": str, "cache_key": str,
            "cached": int, "latency_ms": float, "usage": str,
        },
        pk=("run_id", "item_id", "model", "backend"),
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("verdicts").create_index(["cache_key"])


def _enable_wal(conn: sqlite3.Connection, attempts: int = 50) -> None:
    """Put the file in WAL mode (it stays so). Switching needs a moment alone with the file and
    SQLite answers "locked" at once, without waiting, while another connection is switching too:
    retry briefly instead of failing the second of two processes opening a new store together."""
    for attempt in range(attempts):
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))


@dataclass
class Run:
    """A run in progress, as :meth:`Store.run` yields it."""

    id: str
    store: Store
    summary: dict[str, Any] | None = None
    """Set by the body; stored with the run when it completes."""

    def add_verdicts(self, verdicts: Sequence[Verdict]) -> None:
        """Store verdicts of this run (committed at once)."""
        self.store.add_verdicts(self.id, verdicts)


class Store:
    """The project's database. Open with :meth:`open`; use from one thread."""

    def __init__(self, db: sqlite_utils.Database, path: str | Path = ":memory:") -> None:
        self.db = db
        self.path = str(path)

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open (creating and migrating) the store at ``path``; ``:memory:`` works for tests.

        Fails with a one-line StoreError when the file cannot be written (read-only, not a
        database, damaged) - before any work is done, not in the middle of a run.
        """
        conn: sqlite3.Connection | None = None
        try:
            if str(path) == ":memory:":
                conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            else:
                parent = Path(path).parent
                if parent.exists() and not parent.is_dir():
                    raise StoreError(f"store {path}: {parent} is not a directory ({_ELSEWHERE.removeprefix('or ')})")
                parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
                _enable_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            store = cls(sqlite_utils.Database(conn), path)
            store.migrate()
            store._check_writable()
        except (sqlite3.Error, OSError, StoreError) as exc:
            if conn is not None:
                conn.close()
            raise exc if isinstance(exc, StoreError) else store_error(path, exc) from None
        return store

    def _check_writable(self) -> None:
        """Write (and roll back) the header's user_version: a read-only file fails here, at open."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute(f"PRAGMA user_version={version}")
        finally:
            conn.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One explicit, committed transaction (the connection is in autocommit mode otherwise).

        ``BEGIN IMMEDIATE`` takes the write lock at once (waiting up to the busy timeout), so a
        transaction never fails half-way because another process wrote first.
        """
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @_translated
    def migrate(self) -> list[str]:
        """Apply the migrations not applied yet, in one write transaction; returns their names.

        Reading what is applied and applying the rest happen under one write lock, so processes
        that create the same new store together wait for each other instead of racing (one
        creates the tables, the others find them made).
        """
        applied = []
        with self.transaction():
            self.db.execute("CREATE TABLE IF NOT EXISTS [_migrations] ([name] TEXT PRIMARY KEY, [applied_at] FLOAT)")
            done = {row[0] for row in self.db.execute("SELECT name FROM [_migrations]").fetchall()}
            for name, fn in MIGRATIONS:
                if name in done:
                    continue
                fn(self.db)
                self.db.execute("INSERT INTO [_migrations] (name, applied_at) VALUES (?, ?)", [name, time.time()])
                applied.append(name)
        return applied

    # -------------------------------------------------------------- judgments (the cache)

    @_translated
    def get_judgments(self, keys: Iterable[str]) -> dict[str, Judgment]:
        """Cached judgments for the keys that have one."""
        found: dict[str, Judgment] = {}
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), 900):
            chunk = keys[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"select cache_key, score, unscored_reason, rationale, raw_output, extracted, "
                f"latency_ms, usage from judgments where cache_key in ({marks})",
                chunk,
            ).fetchall():
                # rows were validated when written: construct without re-validating (warm reruns)
                found[row[0]] = Judgment.model_construct(
                    score=row[1], unscored_reason=row[2], rationale=row[3] or "",
                    raw_output=row[4] or "", extracted=json.loads(row[5]) if row[5] else None,
                    latency_ms=row[6] or 0.0,
                    usage=Usage.model_construct(**json.loads(row[7])) if row[7] else Usage(),
                    transient=False,
                )
        return found

    @_translated
    def put_judgments(self, rows: Sequence[tuple[str, Judgment, dict[str, Any]]]) -> None:
        """Store judgments ``(cache_key, judgment, provenance)`` in one committed transaction.

        ``provenance`` holds ``rubric``, ``rubric_sha``, ``backend`` and ``params``.
        """
        if not rows:
            return
        now = time.time()
        records = [
            {
                "cache_key": key, "score": j.score, "unscored_reason": j.unscored_reason,
                "rationale": j.rationale, "raw_output": j.raw_output,
                "extracted": json.dumps(j.extracted) if j.extracted is not None else None,
                "rubric": prov.get("rubric"), "rubric_sha": prov.get("rubric_sha"),
                "backend": prov.get("backend"), "params": json.dumps(prov.get("params", {}), sort_keys=True),
                "latency_ms": j.latency_ms, "usage": j.usage.model_dump_json(), "created_at": now,
            }
            for key, j, prov in rows
        ]
        self._insert("judgments", records)

    @_translated
    def _insert(self, table: str, records: list[dict[str, Any]]) -> None:
        """``INSERT OR REPLACE`` many rows in one committed transaction.

        Plain ``executemany``: sqlite-utils' ``insert_all`` spends most of its time inspecting
        values, which is ten times slower on the tens of thousands of rows a run writes.
        """
        if not records:
            return
        columns = list(records[0])
        sql = (
            f"INSERT OR REPLACE INTO [{table}] ({', '.join(f'[{c}]' for c in columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})"
        )
        rows = [tuple(r[c] for c in columns) for r in records]
        with self.transaction():
            try:
                self.db.conn.executemany(sql, rows)
            except UnicodeEncodeError:  # a lone surrogate (e.g. in an LLM's reply) cannot be UTF-8
                self.db.conn.executemany(sql, [tuple(map(valid_text, row)) for row in rows])

    @_translated
    def count_judgments(self) -> int:
        """How many judgments are cached."""
        return self.db.table("judgments").count

    # -------------------------------------------------------------------- runs, verdicts

    @_translated
    def start_run(self, command: str, args: dict[str, Any], n_tasks: int) -> str:
        """Record a run as ``running``; returns its id."""
        run_id = uuid.uuid4().hex[:16]
        with self.transaction():
            self.db.table("runs").insert(
                {"id": run_id, "command": command, "args": json.dumps(args, default=str, sort_keys=True),
                 "started_at": time.time(), "finished_at": None, "status": "running", "n_tasks": n_tasks,
                 "summary": None}
            )
        return run_id

    @_translated
    def finish_run(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        """Mark a run ``complete`` or ``failed``."""
        with self.transaction():
            self.db.table("runs").update(
                run_id,
                {"status": status, "finished_at": time.time(),
                 "summary": json.dumps(summary, default=str) if summary is not None else None},
            )

    @contextmanager
    def run(self, command: str, args: dict[str, Any], n_tasks: int) -> Iterator[Run]:
        """The one lifecycle of a run::

            with store.run("score", args, n_tasks) as run:
                ...
                run.add_verdicts(verdicts)
                run.summary = {...}

        The run is recorded as ``running``; any exception in the body (writing its verdicts
        included, a Ctrl-C too) marks it ``failed`` and propagates; only a body that ends marks it
        ``complete``, with ``run.summary``.
        """
        handle = Run(self.start_run(command, args, n_tasks), self)
        try:
            yield handle
        except BaseException:
            with suppress(StoreError):  # a store that cannot record the failure: the first error matters
                self.finish_run(handle.id, "failed")
            raise
        self.finish_run(handle.id, "complete", handle.summary)

    @_translated
    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run's row."""
        return self.db.table("runs").get(run_id)

    @_translated
    def add_verdicts(self, run_id: str, verdicts: Sequence[Verdict]) -> None:
        """Store a run's verdicts in one committed transaction."""
        records = [
            {
                "run_id": run_id, "item_id": v.item_id, "model": v.model, "backend": v.backend,
                "ability": v.ability, "question_type": v.question_type, "attribute": v.attribute,
                "language": v.language, "score": v.score, "unscored_reason": v.unscored_reason,
                "rationale": v.rationale, "raw_output": v.raw_output, "method": v.method,
                "extracted": json.dumps(v.extracted) if v.extracted is not None else None,
                "rubric": v.rubric, "rubric_sha": v.rubric_sha, "params": json.dumps(v.params, sort_keys=True),
                "cache_key": v.cache_key, "cached": int(v.cached), "latency_ms": v.latency_ms,
                "usage": v.usage.model_dump_json(),
            }
            for v in verdicts
        ]
        self._insert("verdicts", records)

    @_translated
    def verdict_rows(self, run_id: str) -> list[dict[str, Any]]:
        """A run's stored verdicts."""
        return list(self.db.table("verdicts").rows_where("run_id = ?", [run_id]))

    def close(self) -> None:
        """Close the connection."""
        with suppress(sqlite3.Error):
            self.db.conn.close()

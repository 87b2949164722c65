"""The SQLite store: cached judgments, runs and verdicts, through sqlite-utils.

* ``judgments`` - content-addressed cache: one row per cache key (hash of everything that
  determines a backend's answer). A rerun reads these and calls nothing.
* ``runs`` - one row per ``judge score`` / ``judge agreement`` call, with its status; a run that
  was killed stays ``running``/``failed`` and is never reported as complete.
* ``verdicts`` - what each run decided for each (item, model, backend), with provenance.

Migrations are named and append-only; the database is in WAL mode and every write is
committed as it comes, so a killed run loses no finished judgment.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from judge.errors import StoreError
from judge.models import Judgment, Usage, Verdict

Migration = Callable[[sqlite_utils.Database], None]
MIGRATIONS: list[tuple[str, Migration]] = []


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


class Store:
    """The project's database. Open with :meth:`open`; use from one thread."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open (creating and migrating) the store at ``path``; ``:memory:`` works for tests."""
        try:
            if str(path) == ":memory:":
                db = sqlite_utils.Database(sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False))
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
                db = sqlite_utils.Database(conn)
                _enable_wal(conn)
                db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            store = cls(db)
            store.migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from None
        return store

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One explicit, committed transaction (the connection is in autocommit mode otherwise)."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def migrate(self) -> list[str]:
        """Apply the migrations not applied yet; returns their names."""
        table = self.db.table("_migrations")
        if not table.exists():
            self.db.table("_migrations").create({"name": str, "applied_at": float}, pk="name")
        done = {row["name"] for row in self.db.table("_migrations").rows}
        applied = []
        for name, fn in MIGRATIONS:
            if name in done:
                continue
            with self.transaction():
                fn(self.db)
                self.db.table("_migrations").insert({"name": name, "applied_at": time.time()})
            applied.append(name)
        return applied

    # -------------------------------------------------------------- judgments (the cache)

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
        with self.transaction():
            self.db.conn.executemany(sql, [tuple(r[c] for c in columns) for r in records])

    def count_judgments(self) -> int:
        """How many judgments are cached."""
        return self.db.table("judgments").count

    # -------------------------------------------------------------------- runs, verdicts

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

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any] | None = None) -> None:
        """Mark a run ``complete`` or ``failed``."""
        with self.transaction():
            self.db.table("runs").update(
                run_id,
                {"status": status, "finished_at": time.time(),
                 "summary": json.dumps(summary, default=str) if summary is not None else None},
            )

    def run(self, run_id: str) -> dict[str, Any]:
        """One run's row."""
        return self.db.table("runs").get(run_id)

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

    def verdict_rows(self, run_id: str) -> list[dict[str, Any]]:
        """A run's stored verdicts."""
        return list(self.db.table("verdicts").rows_where("run_id = ?", [run_id]))

    def close(self) -> None:
        """Close the connection."""
        self.db.conn.close()


@migration
def m002_jobs(db: sqlite_utils.Database) -> None:
    """Whole-benchmark jobs of the HTTP service (``service/jobs.py``); files live in data_dir/jobs/<id>/."""
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

"""A benchmark and its predictions, validated in one streaming pass and kept on disk, read back in chunks.

A run of a million answers must not hold a million records in memory. :class:`StagedInputs` reads
the benchmark and every prediction file line by line (each line validated as it is read, errors
naming ``file:line`` exactly as :mod:`judge.io` does), writes what scoring needs into a scratch
SQLite file, and checks what spans lines and files there - duplicate ids, duplicate ``(id, model)``
pairs, prediction ids the benchmark does not have - with the database's keys, a batch of rows at a
time, instead of dictionaries of every record. Scoring then reads the tasks back in bounded
chunks, in the order :func:`judge.scoring.tasks_for` gives them: models in order of first
appearance, items in benchmark order; and the ``(item, model)`` pairs without a prediction after them.

Usage::

    with StagedInputs.from_files("bench.jsonl", ["preds.jsonl"], split="test") as staged:
        for tasks in staged.task_chunks(10_000):
            ...
        for missing in staged.missing_chunks(10_000):
            ...
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from judge.errors import InputError
from judge.io import describe_validation_error, iter_jsonl
from judge.models import BenchmarkItem, Case, Prediction
from judge.scoring import Task

T = TypeVar("T")
BATCH = 2_000
"""Rows checked and written per statement while staging."""

_SCHEMA = """
create table keys (key text primary key, line integer not null) without rowid;
create table items (pos integer primary key, id text not null unique, split text not null, ability text,
                    question_type text, attribute text, language text, case_json text not null, gold text);
create table preds (model text not null, item_id text not null, text text not null, source text not null,
                    seq integer not null, primary key (model, item_id)) without rowid;
create temp table incoming (model text, item_id text, text text, source text, line integer, seq integer);
create index temp.incoming_pair on incoming (model, item_id, seq);
"""


@dataclass(frozen=True)
class MissingPair:
    """An ``(item, model)`` pair without a prediction, with what its verdict needs of the item."""

    item_id: str
    model: str
    ability: str | None
    question_type: str | None
    attribute: str | None
    language: str | None


class StagedInputs:
    """Validated inputs in a scratch SQLite file (deleted on :meth:`close`)."""

    def __init__(self, split: str | None, directory: str | Path | None = None) -> None:
        fd, name = tempfile.mkstemp(prefix="staged-", suffix=".db", dir=directory)
        os.close(fd)
        self.path = Path(name)
        self.split = split
        self.db = sqlite3.connect(name, isolation_level=None)
        self.db.execute("pragma journal_mode=truncate")  # a rollback journal: savepoints must undo a bad batch
        self.db.execute("pragma synchronous=off")
        self.db.execute("pragma temp_store=file")
        self.db.executescript(_SCHEMA)
        self._seq = 0
        self._models: list[str] | None = None

    # ------------------------------------------------------------------ building

    @classmethod
    def from_files(
        cls, benchmark: str | Path, predictions: Sequence[str | Path], split: str | None = None,
        directory: str | Path | None = None,
    ) -> StagedInputs:
        """Stage a benchmark file and prediction files; the first bad line raises InputError."""
        staged = cls(split, directory)
        try:
            staged._stage_benchmark(_validated(benchmark, BenchmarkItem), str(benchmark))
            for path in predictions:
                staged._stage_predictions(_validated(path, Prediction), str(path))
            if not staged._count("select count(*) from preds"):
                raise InputError("no predictions: pass prediction files or a benchmark that carries `prediction`",
                                 path=str(benchmark))
        except BaseException:
            staged.close()
            raise
        return staged

    @classmethod
    def from_records(
        cls, items: Iterable[BenchmarkItem], predictions: Iterable[Prediction], split: str | None = None,
    ) -> StagedInputs:
        """Stage records already validated (the library's in-memory API): a prediction whose id is not among
        the items is left out, as :func:`judge.scoring.tasks_for` leaves it out."""
        staged = cls(split)
        try:
            staged._stage_benchmark(enumerate(items, 1), "<items>", check_split=False)
            staged._stage_predictions(enumerate(predictions, 1), "<predictions>", known=False, empty_ok=True)
        except BaseException:
            staged.close()
            raise
        return staged

    def _stage_benchmark(self, items: Iterable[tuple[int, BenchmarkItem]], path: str, check_split: bool = True) -> None:
        keys: list[tuple[str, int]] = []
        rows: list[tuple[Any, ...]] = []
        embedded: list[tuple[int, Prediction]] = []
        with self._transaction():
            for lineno, item in items:
                keys.append((item.id if item.prediction is None else f"{item.id}\x00{item.model}", lineno))
                rows.append(_item_row(item))
                if item.prediction is not None and item.model is not None:
                    embedded.append((lineno, Prediction(id=item.id, model=item.model, prediction=item.prediction)))
                if len(rows) >= BATCH:
                    self._insert_items(keys, rows, path)
            self._insert_items(keys, rows, path)
        if not self._count("select count(*) from keys"):
            raise InputError("the file holds no records", path=path)
        if check_split and self.split and not self._count("select count(*) from items where split = ?", self.split):
            raise InputError(f"no items of split {self.split!r}", path=path)
        self._stage_predictions(embedded, path, known=False, empty_ok=True, source=path)

    def _insert_items(self, keys: list[tuple[str, int]], rows: list[tuple[Any, ...]], path: str) -> None:
        try:
            self.db.execute("savepoint batch")
            self.db.executemany("insert into keys (key, line) values (?, ?)", keys)
            self.db.execute("release batch")
        except sqlite3.IntegrityError:
            self.db.execute("rollback to batch")
            self.db.execute("release batch")
            for key, line in keys:  # the first duplicate, and where its id was first
                first = self.db.execute("select line from keys where key = ?", (key,)).fetchone()
                if first is not None:
                    raise InputError(f"duplicate id {key.split(chr(0))[0]!r} (first on line {first[0]})",
                                     path=path, line=line) from None
                self.db.execute("insert into keys (key, line) values (?, ?)", (key, line))
        # an id seen again (an item repeated to carry another model's prediction): the last copy's fields
        self.db.executemany(
            "insert into items (id, split, ability, question_type, attribute, language, case_json, gold) "
            "values (?, ?, ?, ?, ?, ?, ?, ?) on conflict(id) do update set split = excluded.split, "
            "ability = excluded.ability, question_type = excluded.question_type, attribute = excluded.attribute, "
            "language = excluded.language, case_json = excluded.case_json, gold = excluded.gold",
            rows,
        )
        keys.clear()
        rows.clear()

    def _stage_predictions(
        self, preds: Iterable[tuple[int, Prediction]], path: str, known: bool = True, empty_ok: bool = False,
        source: str | None = None,
    ) -> None:
        batch: list[tuple[str, str, str, str, int, int]] = []
        count = 0
        with self._transaction():
            for lineno, pred in preds:
                count += 1
                self._seq += 1
                batch.append((pred.model, pred.id, pred.prediction, source or path, lineno, self._seq))
                if len(batch) >= BATCH:
                    self._insert_preds(batch, path, known)
            self._insert_preds(batch, path, known)
        if not count and not empty_ok:
            raise InputError("the file holds no records", path=path)

    def _insert_preds(self, batch: list[tuple[str, str, str, str, int, int]], path: str, known: bool) -> None:
        """Check a batch against the benchmark and what came before, then keep the rows of the split scored."""
        if not batch:
            return
        db = self.db
        db.execute("delete from incoming")
        db.executemany("insert into incoming values (?, ?, ?, ?, ?, ?)", batch)
        problems = []
        if known:
            row = db.execute("select line, item_id from incoming where item_id not in (select id from items) "
                             "order by line limit 1").fetchone()
            if row:
                problems.append((row[0], f"id {row[1]!r} is not in the benchmark"))
        dup = self._first_duplicate()
        if dup:
            problems.append(dup)
        if problems:
            line, problem = min(problems)
            raise InputError(problem, path=path, line=line)
        split = " and i.split = ?" if self.split else ""
        db.execute(
            "insert into preds (model, item_id, text, source, seq) select n.model, n.item_id, n.text, "
            f"n.source || ':' || n.line, n.seq from incoming n join items i on i.id = n.item_id{split}",
            (self.split,) if self.split else (),
        )
        self._models = None
        batch.clear()

    def _first_duplicate(self) -> tuple[int, str] | None:
        """The earliest line of the batch whose ``(id, model)`` was answered before (earlier in it, or before it)."""
        row = self.db.execute(
            "select n.line, n.model, n.item_id, coalesce(p.source, ("
            "  select e.source || ':' || e.line from incoming e where e.model = n.model and e.item_id = n.item_id"
            "  and e.seq < n.seq order by e.seq limit 1)) "
            "from incoming n left join preds p on p.model = n.model and p.item_id = n.item_id "
            "where p.model is not null or exists (select 1 from incoming e where e.model = n.model "
            "and e.item_id = n.item_id and e.seq < n.seq) order by n.seq limit 1"
        ).fetchone()
        if row is None:
            return None
        line, model, item_id, first = row
        return line, f"model {model!r} already answered id {item_id!r} at {first}; give each run its own model name"

    def _count(self, sql: str, *args: Any) -> int:
        return int(self.db.execute(sql, args).fetchone()[0])

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    # ------------------------------------------------------------------- reading

    @property
    def models(self) -> list[str]:
        """Models in order of their first prediction among the items scored."""
        if self._models is None:
            self._models = [r[0] for r in self.db.execute(
                "select model from preds group by model order by min(seq)")]
        return self._models

    def counts(self) -> tuple[int, int]:
        """``(tasks, missing pairs)``."""
        items = self._count(self._items_where("select count(*) from items"), *self._split_args())
        tasks = self._count("select count(*) from preds")
        return tasks, items * len(self.models) - tasks

    def task_chunks(self, size: int) -> Iterator[list[Task]]:
        """Every task, in chunks of ``size`` (the last may be smaller): model by model, items in benchmark
        order; a chunk spans models, so a run smaller than a chunk is judged as one batch."""
        yield from _rechunk(
            (_task(model, *row) for model in self.models for row in self.db.execute(
                "select i.id, i.case_json, i.gold, p.text from items i join preds p "
                "on p.item_id = i.id and p.model = ? order by i.pos", (model,))),
            size,
        )

    def missing_chunks(self, size: int) -> Iterator[list[MissingPair]]:
        """Every ``(item, model)`` pair without a prediction, in chunks, in the order of :meth:`task_chunks`."""
        sql = self._items_where(
            "select id, ability, question_type, attribute, language from items i "
            "where not exists (select 1 from preds p where p.model = ? and p.item_id = i.id)"
        ) + " order by pos"
        yield from _rechunk(
            (MissingPair(r[0], model, r[1], r[2], r[3], r[4]) for model in self.models
             for r in self.db.execute(sql, (model, *self._split_args()))),
            size,
        )

    def _items_where(self, sql: str) -> str:
        if not self.split:
            return sql
        return sql + (" and " if " where " in sql else " where ") + "split = ?"

    def _split_args(self) -> tuple[str, ...]:
        return (self.split,) if self.split else ()

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close and delete the scratch file."""
        self.db.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> StagedInputs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("begin")

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.db.execute("commit" if exc_type is None else "rollback")


def _rechunk(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _validated(path: str | Path, model: type[Any]) -> Iterator[tuple[int, Any]]:
    for lineno, obj in iter_jsonl(path):
        try:
            yield lineno, model.model_validate(obj)
        except ValidationError as exc:
            raise InputError(describe_validation_error(exc), path=str(path), line=lineno) from None


def _item_row(item: BenchmarkItem) -> tuple[Any, ...]:
    case = {
        "question": item.question, "references": item.references, "ability": item.ability,
        "question_type": item.question_type, "attribute": item.attribute, "language": item.lang,
        "options": item.options,
    }
    gold = ",".join(sorted(item.gold_letters)) if item.question_type == "mcq" else None
    return (item.id, item.split, item.ability, item.question_type, item.attribute, item.lang,
            json.dumps(case, ensure_ascii=False), gold)


def _task(model: str, item_id: str, case_json: str, gold: str | None, text: str) -> Task:
    case = Case.model_construct(candidate=text, **json.loads(case_json))
    return Task(item_id, model, case, frozenset(gold.split(",")) if gold is not None else None)

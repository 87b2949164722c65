"""Reading the project's JSONL files, with errors that name file and line.

Every reader validates the whole file before returning, so a malformed line stops the
run before any scoring starts: nothing half-read is ever passed off as complete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from judge.errors import InputError
from judge.models import BenchmarkItem, GoldRating, Prediction

M = TypeVar("M", bound=BaseModel)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def describe_validation_error(error: ValidationError) -> str:
    """A pydantic error as one line: `field: problem; field: problem`."""
    parts = []
    for e in error.errors():
        loc = ".".join(str(x) for x in e["loc"])
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "literal_error":
            msg = f"{msg}, got {e.get('input')!r}"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-blank line; bad JSON raises InputError."""
    p = Path(path)
    if not p.is_file():
        raise InputError("file not found", path=str(path))
    with p.open(encoding="utf-8-sig") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"invalid JSON ({exc.msg} at column {exc.colno})", path=str(path), line=lineno) from None
            if not isinstance(obj, dict):
                raise InputError(f"expected a JSON object, got {type(obj).__name__}", path=str(path), line=lineno)
            yield lineno, obj


def read_models(path: str | Path, model: type[M]) -> list[tuple[int, M]]:
    """Parse every line of ``path`` as ``model``; the first bad line raises InputError."""
    rows: list[tuple[int, M]] = []
    for lineno, obj in iter_jsonl(path):
        try:
            rows.append((lineno, model.model_validate(obj)))
        except ValidationError as exc:
            raise InputError(describe_validation_error(exc), path=str(path), line=lineno) from None
    if not rows:
        raise InputError("the file holds no records", path=str(path))
    return rows


def read_benchmark(path: str | Path) -> list[BenchmarkItem]:
    """Read a benchmark JSONL file; ids must be unique."""
    seen: dict[str, int] = {}
    items = []
    for lineno, item in read_models(path, BenchmarkItem):
        key = item.id if item.prediction is None else f"{item.id}\x00{item.model}"
        if key in seen:
            raise InputError(f"duplicate id {item.id!r} (first on line {seen[key]})", path=str(path), line=lineno)
        seen[key] = lineno
        items.append(item)
    return items


def read_predictions(
    path: str | Path,
    known_ids: set[str] | None = None,
    seen: dict[tuple[str, str], str] | None = None,
) -> list[Prediction]:
    """Read a predictions JSONL file.

    ``(id, model)`` must be unique - within the file and across the files that share ``seen``
    (``(id, model) -> "file:line"``) - and every id must be in ``known_ids`` when given.
    """
    seen = {} if seen is None else seen
    preds = []
    for lineno, pred in read_models(path, Prediction):
        key = (pred.id, pred.model)
        if key in seen:
            raise InputError(
                f"model {pred.model!r} already answered id {pred.id!r} at {seen[key]}; "
                "give each run its own model name",
                path=str(path),
                line=lineno,
            )
        if known_ids is not None and pred.id not in known_ids:
            raise InputError(f"id {pred.id!r} is not in the benchmark", path=str(path), line=lineno)
        seen[key] = f"{path}:{lineno}"
        preds.append(pred)
    return preds


def read_gold(path: str | Path) -> list[GoldRating]:
    """Read a gold JSONL file; ids must be unique."""
    seen: dict[str, int] = {}
    rows = []
    for lineno, row in read_models(path, GoldRating):
        if row.id in seen:
            raise InputError(f"duplicate id {row.id!r} (first on line {seen[row.id]})", path=str(path), line=lineno)
        seen[row.id] = lineno
        rows.append(row)
    return rows

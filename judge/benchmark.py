"""Scoring a whole benchmark: read and validate the files, score, store, write the tables.

Usage::

    result = score_files("bench.jsonl", ["preds.jsonl"], store=Store.open(".judge/judge.db"))
    print(render_text(result.table))
    write_outputs(result, "out/")
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judge.backends import Backend, get_backend
from judge.errors import InputError
from judge.io import file_sha256, read_benchmark, read_predictions
from judge.models import BenchmarkItem, Prediction, Verdict
from judge.rubrics import Rubric, load_rubric
from judge.scoring import ProgressFn, Scorer, missing_verdicts, tasks_for
from judge.store import Store
from judge.tables import ScoreTable, build_table, render_csv, render_json, render_markdown


@dataclass
class RunResult:
    """What one scoring run produced."""

    run_id: str
    verdicts: list[Verdict]
    table: ScoreTable
    missing: list[tuple[str, str]]
    stats: dict[str, int] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)


def load_inputs(
    benchmark: str | Path, predictions: Sequence[str | Path], split: str | None = None
) -> tuple[list[BenchmarkItem], list[Prediction]]:
    """Read and validate the benchmark and prediction files (all of them, before any scoring)."""
    all_items = read_benchmark(benchmark)
    items = [i for i in all_items if i.split == split] if split else all_items
    if not items:
        raise InputError(f"no items of split {split!r}", path=str(benchmark))
    ids = {i.id for i in all_items}
    preds: list[Prediction] = []
    seen: dict[tuple[str, str], str] = {
        (i.id, i.model): str(benchmark) for i in items if i.prediction is not None and i.model is not None
    }
    for path in predictions:
        preds += read_predictions(path, known_ids=ids, seen=seen)
    if not preds and not any(i.prediction is not None for i in items):
        raise InputError("no predictions: pass prediction files or a benchmark that carries `prediction`", path=str(benchmark))
    return items, preds


def score_files(
    benchmark: str | Path,
    predictions: Sequence[str | Path] = (),
    *,
    split: str | None = None,
    **kwargs: Any,
) -> RunResult:
    """Read, validate and score a benchmark's prediction files; see :func:`score_items`."""
    items, preds = load_inputs(benchmark, predictions, split)
    return score_items(items, preds, benchmark=benchmark, predictions=predictions, split=split, **kwargs)


def score_items(
    items: Sequence[BenchmarkItem],
    preds: Sequence[Prediction],
    *,
    store: Store,
    benchmark: str | Path | None = None,
    predictions: Sequence[str | Path] = (),
    split: str | None = None,
    backend: str | Backend = "local",
    rubric: str | Rubric = "clinical/v3",
    backend_options: dict[str, Any] | None = None,
    concurrency: int = 16,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Score validated items and predictions, and record the run in the store."""
    rubric_obj = rubric if isinstance(rubric, Rubric) else load_rubric(rubric)
    backend_obj = backend if not isinstance(backend, str) else get_backend(backend, **(backend_options or {}))
    tasks, missing = tasks_for(items, preds)
    args = {
        "benchmark": str(benchmark), "predictions": [str(p) for p in predictions], "split": split,
        "rubric": rubric_obj.id, "backend": backend_obj.spec,
    }
    run_id = store.start_run("score", args, len(tasks) + len(missing))
    scorer = Scorer(backend_obj, rubric_obj, store, concurrency=concurrency, progress=progress)
    try:
        verdicts = scorer.score(tasks)
    except BaseException:
        store.finish_run(run_id, "failed")
        raise
    verdicts += missing_verdicts(missing, {i.id: i for i in items}, backend_obj.spec)
    provenance = {
        "run_id": run_id, "rubric": rubric_obj.id, "rubric_sha": rubric_obj.sha256,
        "backend": backend_obj.spec, "params": backend_obj.params, "split": split,
        "benchmark": _file_info(benchmark),
        "predictions": [_file_info(p) for p in predictions],
    }
    table = build_table(verdicts, provenance)
    store.add_verdicts(run_id, verdicts)
    store.finish_run(run_id, "complete", {"stats": scorer.stats, "n_verdicts": len(verdicts)})
    return RunResult(run_id, verdicts, table, missing, dict(scorer.stats), provenance)


def _file_info(path: str | Path | None) -> dict[str, str | None]:
    if path is None:
        return {"path": None, "sha256": None}
    return {"path": str(path), "sha256": file_sha256(path) if Path(path).is_file() else None}


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_outputs(result: RunResult, out_dir: str | Path) -> list[Path]:
    """Write scores.md, scores.csv, scores.json and verdicts.jsonl (each atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    verdict_lines = "".join(json.dumps(v.model_dump(), ensure_ascii=False) + "\n" for v in result.verdicts)
    files = {
        "verdicts.jsonl": verdict_lines,
        "scores.csv": render_csv(result.table),
        "scores.json": render_json(result.table),
        "scores.md": render_markdown(result.table),
    }
    written = []
    for name, text in files.items():
        _atomic_write(out / name, text)
        written.append(out / name)
    return written

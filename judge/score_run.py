"""Scoring a whole benchmark: read and validate the files, score, store, write the tables.

Usage::

    result = score_files("bench.jsonl", ["preds.jsonl"], store=Store.open(".judge/judge.db"))
    print(render_text(result.table))
    write_outputs(result, "out/")
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judge.backends import Backend, resolve_backends
from judge.errors import InputError
from judge.io import check_writable, file_sha256, read_benchmark, read_predictions
from judge.jury import JuryAgreement, Panel
from judge.models import BenchmarkItem, Prediction, Verdict
from judge.rubrics import Rubric, resolve_rubric
from judge.score_table import ScoreTable, build_table, render_csv, render_json, render_markdown
from judge.scoring import ProgressFn, ScoreStats, missing_verdicts, tasks_for
from judge.store import Store
from judge.usage import RunUsage, summarize_usage


@dataclass
class RunResult:
    """What one scoring run produced."""

    run_id: str
    verdicts: list[Verdict]
    table: ScoreTable
    missing: list[tuple[str, str]]
    stats: ScoreStats = field(default_factory=ScoreStats)
    provenance: dict[str, Any] = field(default_factory=dict)
    judges: dict[str, list[Verdict]] = field(default_factory=dict)
    """Jury runs: each judge's own verdicts, by backend spec (``verdicts`` holds the aggregate)."""
    jury: JuryAgreement | None = None
    """Jury runs: inter-judge agreement."""
    usage: RunUsage = field(default_factory=RunUsage)
    """LLM calls, tokens, cost and latency of the judgments computed in this run."""


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
    backends: Sequence[str | Backend] | None = None,
    rubric: str | Rubric = "clinical/v3",
    backend_options: dict[str, Any] | None = None,
    concurrency: int = 16,
    workers: int = 1,
    progress: ProgressFn | None = None,
) -> RunResult:
    """Score validated items and predictions, and record the run in the store.

    ``workers`` > 1 lets the embedded (synchronous) judge use that many processes on large runs.

    ``backends`` (two or more) makes a jury: every judge scores every answer (concurrently, each
    with ``concurrency`` calls in flight), each judge's verdicts are stored under its own spec and
    the aggregate (:mod:`judge.jury`) under ``jury(A,B,...)``; the table shows the aggregate.
    """
    rubric_obj = resolve_rubric(rubric)
    panel = Panel.build(resolve_backends(list(backends or [backend]), **(backend_options or {})), rubric_obj, store,
                        concurrency=concurrency, workers=workers, progress=progress)
    tasks, missing = tasks_for(items, preds)
    args = {
        "benchmark": str(benchmark), "predictions": [str(p) for p in predictions], "split": split,
        "rubric": rubric_obj.id, "backend": panel.spec, "judges": panel.specs,
    }
    with store.run("score", args, len(tasks) + len(missing)) as run:
        by_item = {i.id: i for i in items}
        result = asyncio.run(panel.ascore(tasks, lambda spec: missing_verdicts(missing, by_item, spec)))
        prov = panel.provenance()
        provenance: dict[str, Any] = {
            "run_id": run.id, "rubric": rubric_obj.id, "rubric_sha": rubric_obj.sha256,
            "backend": prov["backend"], "params": prov["params"], "split": split,
            "benchmark": _file_info(benchmark),
            "predictions": [_file_info(p) for p in predictions],
        }
        if "judges" in prov:
            provenance["judges"] = prov["judges"]
        for vs in result.judges.values():
            run.add_verdicts(vs)
        table = build_table(result.verdicts, provenance)
        run.add_verdicts(result.verdicts)
        usage = summarize_usage(result.judged)
        run.summary = {"stats": result.stats.as_dict(), "n_verdicts": len(result.verdicts), "usage": usage.model_dump()}
        if result.agreement is not None:
            run.summary["jury"] = result.agreement.as_dict()
    return RunResult(run.id, result.verdicts, table, missing, result.stats, provenance, result.judges,
                     result.agreement, usage)


def _file_info(path: str | Path | None) -> dict[str, str | None]:
    if path is None:
        return {"path": None, "sha256": None}
    return {"path": str(path), "sha256": file_sha256(path) if Path(path).is_file() else None}


def check_out_dir(out_dir: str | Path) -> None:
    """Fail now, before any scoring, unless ``out_dir`` is (or can be made) a directory we can write in."""
    check_writable(out_dir, option="--out", directory=True)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as fh:  # a lone surrogate: "?", not a crash
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_outputs(result: RunResult, out_dir: str | Path) -> list[Path]:
    """Write scores.md, scores.csv, scores.json and verdicts.jsonl (each atomically)."""
    out = Path(out_dir)
    try:
        return _write_outputs(result, out)
    except OSError as exc:
        raise InputError(f"cannot write the outputs: {exc.strerror or exc}", path=str(out)) from None


def _write_outputs(result: RunResult, out: Path) -> list[Path]:
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

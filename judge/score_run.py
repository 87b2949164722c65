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
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from judge.backends import Backend, resolve_backends
from judge.errors import InputError
from judge.io import check_writable, file_sha256, read_benchmark, read_predictions
from judge.jury import JuryAgreement, JuryTally, Panel, PanelResult
from judge.models import BenchmarkItem, Prediction, Verdict
from judge.rubrics import Rubric, resolve_rubric
from judge.score_table import ScoreTable, TableBuilder, render_csv, render_json, render_markdown
from judge.scoring import ProgressFn, ScoreStats, missing_verdict
from judge.staging import MissingPair, StagedInputs
from judge.store import Run, Store
from judge.usage import RunUsage, UsageTally

CHUNK = 10_000
"""Tasks scored, stored and written per step: memory grows with this, not with the run."""


@dataclass
class RunResult:
    """What one scoring run produced."""

    run_id: str
    table: ScoreTable
    missing: int
    """``(item, model)`` pairs without a prediction (each counted as 0)."""
    stats: ScoreStats = field(default_factory=ScoreStats)
    provenance: dict[str, Any] = field(default_factory=dict)
    jury: JuryAgreement | None = None
    """Jury runs: inter-judge agreement."""
    usage: RunUsage = field(default_factory=RunUsage)
    """LLM calls, tokens, cost and latency of the judgments computed in this run."""
    verdicts: list[Verdict] = field(default_factory=list)
    """Every verdict, when the run was asked to keep them (:func:`score_items`); else in the store and the sinks."""
    judges: dict[str, list[Verdict]] = field(default_factory=dict)
    """Jury runs that keep verdicts: each judge's own, by backend spec (``verdicts`` holds the aggregate)."""
    streamed: bool = False
    """True when ``verdicts.jsonl`` was written as the run went (:func:`score_files` with ``out_dir``)."""


class VerdictSink(Protocol):
    """Where a run's verdicts go as they are decided (a chunk at a time)."""

    def write(self, verdicts: Sequence[Verdict]) -> None: ...


class VerdictFile:
    """``verdicts.jsonl`` written as the run goes: into a scratch file outside the output folder, put in
    place only when the run completes, so a run that fails or is killed leaves no partial output."""

    def __init__(self, path: str | Path, render: Callable[[Verdict], str] | None = None, header: str = "") -> None:
        self.path = Path(path)
        self.render = render or (lambda v: json.dumps(v.model_dump(), ensure_ascii=False) + "\n")
        fd, tmp = tempfile.mkstemp(prefix="judge-verdicts-", suffix=self.path.suffix)
        self._tmp = Path(tmp)
        self._fh = os.fdopen(fd, "w", encoding="utf-8", errors="replace")  # a lone surrogate: "?", not a crash
        self._fh.write(header)

    def write(self, verdicts: Sequence[Verdict]) -> None:
        self._fh.write("".join(self.render(v) for v in verdicts))

    def commit(self) -> None:
        """Put the complete file in place (atomically, readable like the other outputs)."""
        self._fh.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self._tmp, 0o644)
        try:
            os.replace(self._tmp, self.path)
        except OSError:  # another file system: copy next to the target, then rename there
            fd, staged = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
            os.close(fd)
            shutil.copyfile(self._tmp, staged)
            os.chmod(staged, 0o644)
            os.replace(staged, self.path)
            self._tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        """Drop the partial file: a run that failed leaves no half-written output."""
        self._fh.close()
        self._tmp.unlink(missing_ok=True)


def load_inputs(
    benchmark: str | Path, predictions: Sequence[str | Path], split: str | None = None
) -> tuple[list[BenchmarkItem], list[Prediction]]:
    """Read and validate the benchmark and prediction files into memory (small inputs; see :func:`score_files`)."""
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
    out_dir: str | Path | None = None,
    **kwargs: Any,
) -> RunResult:
    """Read, validate and score a benchmark's prediction files in bounded memory; see :func:`score_staged`.

    The files are validated in one streaming pass (the first bad line stops the run before any
    scoring); with ``out_dir``, ``verdicts.jsonl`` is written there as the run goes (put in place at
    the end with :func:`write_outputs`).
    """
    with StagedInputs.from_files(benchmark, predictions, split) as staged:
        return score_staged(staged, benchmark=benchmark, predictions=predictions, split=split, out_dir=out_dir,
                            **kwargs)


def score_items(items: Sequence[BenchmarkItem], preds: Sequence[Prediction], **kwargs: Any) -> RunResult:
    """Score validated records held in memory; the result keeps every verdict (``RunResult.verdicts``)."""
    with StagedInputs.from_records(items, preds) as staged:
        return score_staged(staged, keep=True, **kwargs)


def score_staged(
    staged: StagedInputs,
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
    out_dir: str | Path | None = None,
    sinks: Sequence[VerdictSink] = (),
    keep: bool = False,
    chunk: int = CHUNK,
) -> RunResult:
    """Score staged inputs a chunk at a time, and record the run in the store.

    Each chunk is judged, stored, counted into the table and usage, and handed to the sinks before
    the next is read, so memory does not grow with the run. ``workers`` > 1 lets the embedded
    (synchronous) judge use that many processes. ``backends`` (two or more) makes a jury: every
    judge scores every answer, each judge's verdicts are stored under its own spec and the aggregate
    (:mod:`judge.jury`) under ``jury(A,B,...)``; the table shows the aggregate. ``keep`` keeps every
    verdict in the result (small runs; tests).
    """
    rubric_obj = resolve_rubric(rubric)
    panel_backends = resolve_backends(list(backends or [backend]), **(backend_options or {}))
    n_tasks, n_missing = staged.counts()
    counter = _Progress(progress, n_tasks * len(panel_backends))
    panel = Panel.build(panel_backends, rubric_obj, store, concurrency=concurrency, workers=workers,
                        progress=counter.chunk)
    args = {
        "benchmark": str(benchmark), "predictions": [str(p) for p in predictions], "split": split,
        "rubric": rubric_obj.id, "backend": panel.spec, "judges": panel.specs,
    }
    verdict_file = VerdictFile(Path(out_dir) / "verdicts.jsonl") if out_dir is not None else None
    collected = _Collected(panel.specs, keep)
    out = _RunOutputs(panel, [*sinks, *([verdict_file] if verdict_file else []), collected])
    try:
        with store.run("score", args, n_tasks + n_missing) as run:
            asyncio.run(_stream(staged, panel, run, out, counter, chunk))
            provenance = _provenance(run.id, rubric_obj, panel, split, benchmark, predictions)
            result = out.result(run.id, provenance, n_missing, collected)
            run.summary = {"stats": result.stats.as_dict(), "n_verdicts": out.n_verdicts,
                           "usage": result.usage.model_dump()}
            if result.jury is not None:
                run.summary["jury"] = result.jury.as_dict()
    except BaseException:
        if verdict_file is not None:
            verdict_file.discard()
        raise
    finally:
        panel.close()
    if verdict_file is not None:
        verdict_file.commit()
        result.streamed = True
    return result


async def _stream(staged: StagedInputs, panel: Panel, run: Run, out: _RunOutputs, counter: _Progress,
                  chunk: int) -> None:
    """Tasks a chunk at a time, then the pairs without a prediction; one event loop for the whole run."""
    for tasks in staged.task_chunks(chunk):
        counter.start_chunk(len(tasks) * len(panel.scorers))
        out.consume(run, await panel.ascore(tasks, lambda _spec: []))
    for pairs in staged.missing_chunks(chunk):
        def missing(spec: str, pairs: list[MissingPair] = pairs) -> list[Verdict]:
            return [missing_verdict(p.item_id, p.model, p.ability, p.question_type, p.attribute, p.language, spec)
                    for p in pairs]

        out.consume(run, await panel.ascore([], missing))


class _Progress:
    """Chunk-local progress reports turned into the run's (done, total, unscored)."""

    def __init__(self, report: ProgressFn | None, total: int) -> None:
        self.report, self.total = report, total
        self.before = self.unscored_before = 0
        self._chunk = self._chunk_unscored = 0

    def start_chunk(self, size: int) -> None:
        self.before += self._chunk
        self.unscored_before += self._chunk_unscored
        self._chunk, self._chunk_unscored = size, 0

    def chunk(self, done: int, _total: int, unscored: int) -> None:
        self._chunk_unscored = unscored
        if self.report is not None:
            self.report(self.before + done, self.total, self.unscored_before + unscored)


class _Collected:
    """A sink that keeps what it is given (``keep``): every verdict, and a jury's judges' own."""

    def __init__(self, specs: list[str], keep: bool) -> None:
        self.keep = keep
        self.verdicts: list[Verdict] = []
        self.judges: dict[str, list[Verdict]] = {s: [] for s in specs} if len(specs) > 1 else {}

    def write(self, verdicts: Sequence[Verdict]) -> None:
        if self.keep:
            self.verdicts.extend(verdicts)

    def write_judges(self, per_judge: dict[str, list[Verdict]]) -> None:
        if self.keep:
            for spec, vs in per_judge.items():
                self.judges[spec].extend(vs)


class _RunOutputs:
    """Everything a run accumulates from its chunks: the table, usage, a jury's agreement, the sinks."""

    def __init__(self, panel: Panel, sinks: list[VerdictSink]) -> None:
        self.panel, self.sinks = panel, sinks
        self.table = TableBuilder()
        self.usage = UsageTally()
        self.jury = JuryTally(panel.specs) if len(panel.specs) > 1 else None
        self.n_verdicts = 0

    def consume(self, run: Run, result: PanelResult) -> None:
        for vs in result.judges.values():
            run.add_verdicts(vs)
        run.add_verdicts(result.verdicts)
        self.table.add(result.verdicts)
        self.usage.add(result.judged)
        if self.jury is not None:
            self.jury.add(result.judges)
        for sink in self.sinks:
            sink.write(result.verdicts)
            if isinstance(sink, _Collected):
                sink.write_judges(result.judges)
        self.n_verdicts += len(result.verdicts)

    def result(self, run_id: str, provenance: dict[str, Any], n_missing: int, collected: _Collected) -> RunResult:
        table = self.table.table(provenance)
        stats = self.panel.stats()
        if self.jury is not None:
            stats.unscored = table.unscored  # of the jury's verdicts, not summed over judges
        return RunResult(
            run_id, table, n_missing, stats, provenance, self.jury.agreement() if self.jury else None,
            self.usage.summary(), collected.verdicts, collected.judges,
        )


def _provenance(
    run_id: str, rubric: Rubric, panel: Panel, split: str | None, benchmark: str | Path | None,
    predictions: Sequence[str | Path],
) -> dict[str, Any]:
    prov = panel.provenance()
    provenance: dict[str, Any] = {
        "run_id": run_id, "rubric": rubric.id, "rubric_sha": rubric.sha256,
        "backend": prov["backend"], "params": prov["params"], "split": split,
        "benchmark": _file_info(benchmark),
        "predictions": [_file_info(p) for p in predictions],
    }
    if "judges" in prov:
        provenance["judges"] = prov["judges"]
    return provenance


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
    files = {
        "scores.csv": render_csv(result.table),
        "scores.json": render_json(result.table),
        "scores.md": render_markdown(result.table),
    }
    if not result.streamed:  # written as the run went, else from the verdicts it kept
        files = {"verdicts.jsonl": "".join(json.dumps(v.model_dump(), ensure_ascii=False) + "\n"
                                           for v in result.verdicts), **files}
    written = [out / "verdicts.jsonl"] if result.streamed else []
    for name, text in files.items():
        _atomic_write(out / name, text)
        written.append(out / name)
    return written

"""Judging a gold set with one or more (backend, rubric) judges and building the agreement report.

Usage::

    report, judged = run_agreement("gold.jsonl", [("local", "v2"), ("local", "v3")], store=store)
    print(render_text(report))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judge.agreement import AgreementReport, JudgedScore, build_report
from judge.backends import Backend, resolve_judge
from judge.io import file_sha256, read_gold
from judge.models import GoldRating, Verdict
from judge.rubrics import Rubric
from judge.scoring import ProgressFn, Scorer, gold_tasks
from judge.store import Run, Store

JudgeSpec = tuple[str | Backend, str | Rubric]


def judge_label(backend: str, rubric: str) -> str:
    """How a judge is named in reports: ``backend · rubric``."""
    return f"{backend} · {rubric}"


def judge_gold(
    gold: Sequence[GoldRating],
    backend: Backend,
    rubric: Rubric,
    store: Store,
    *,
    concurrency: int = 16,
    progress: ProgressFn | None = None,
) -> list[Verdict]:
    """Score every rated candidate of a gold set (through the store's cache)."""
    return Scorer(backend, rubric, store, concurrency=concurrency, progress=progress).score(gold_tasks(gold))


CHUNK = 10_000
"""Gold candidates judged, stored and reduced to their scores per step: full verdicts never pile up."""


def _judge_in_chunks(
    gold: Sequence[GoldRating], backend: Backend, rubric: Rubric, run: Run, concurrency: int,
    progress: ProgressFn | None,
) -> list[JudgedScore]:
    """Each chunk's verdicts stored with the run and kept only as the scores the report needs."""
    scores: list[JudgedScore] = []
    with Scorer(backend, rubric, run.store, concurrency=concurrency) as scorer:
        for start in range(0, len(gold), CHUNK):
            if progress is not None:
                scorer.progress = lambda done, _total, unscored, start=start: progress(start + done, len(gold), unscored)
            verdicts = scorer.score(gold_tasks(gold[start : start + CHUNK]))
            run.add_verdicts(verdicts)
            scores += [JudgedScore.from_verdict(v) for v in verdicts]
    return scores


def run_agreement(
    gold_path: str | Path,
    judges: Sequence[JudgeSpec],
    *,
    store: Store,
    backend_options: dict[str, Any] | None = None,
    concurrency: int = 16,
    n_boot: int = 1000,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> tuple[AgreementReport, list[GoldRating], dict[str, list[JudgedScore]]]:
    """Judge the gold set with each judge and build the agreement report.

    Returns the report, the gold rows, and each judge's scores by label (for disagreements).
    """
    gold = read_gold(gold_path)
    built = [resolve_judge(b, r, **(backend_options or {})) for b, r in judges]  # all checked before any call
    judged: dict[str, list[JudgedScore]] = {}
    provenance: dict[str, dict[str, Any]] = {}
    args = {"gold": str(gold_path), "judges": [(b.spec, r.id) for b, r in built]}
    with store.run("agreement", args, len(gold)) as run:
        for backend, rubric in built:
            label = judge_label(backend.spec, rubric.id)
            judged[label] = _judge_in_chunks(gold, backend, rubric, run, concurrency, progress)
            provenance[label] = {"backend": backend.spec, "params": backend.params, "rubric": rubric.id,
                                 "rubric_sha256": rubric.sha256}
        report = build_report(
            gold, judged, gold_path=str(gold_path), gold_sha256=file_sha256(gold_path),
            provenance=provenance, n_boot=n_boot, seed=seed,
        )
        run.summary = {"alpha_ordinal": report.alpha_ordinal, "n": report.n}
    return report, gold, judged

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
from judge.backends import Backend, get_backend
from judge.io import file_sha256, read_gold
from judge.models import GoldRating, Verdict
from judge.rubrics import Rubric, load_rubric
from judge.scoring import ProgressFn, Scorer, gold_tasks
from judge.store import Store

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
    judged: dict[str, list[JudgedScore]] = {}
    provenance: dict[str, dict[str, Any]] = {}
    run_id = store.start_run("agreement", {"gold": str(gold_path), "judges": [
        (b if isinstance(b, str) else b.spec, r if isinstance(r, str) else r.id) for b, r in judges]}, len(gold))
    try:
        for backend_spec, rubric_spec in judges:
            backend = get_backend(backend_spec, **(backend_options or {})) if isinstance(backend_spec, str) else backend_spec
            rubric = load_rubric(rubric_spec) if isinstance(rubric_spec, str) else rubric_spec
            verdicts = judge_gold(gold, backend, rubric, store, concurrency=concurrency, progress=progress)
            store.add_verdicts(run_id, verdicts)
            label = judge_label(backend.spec, rubric.id)
            judged[label] = [JudgedScore.from_verdict(v) for v in verdicts]
            provenance[label] = {"backend": backend.spec, "params": backend.params, "rubric": rubric.id,
                                 "rubric_sha256": rubric.sha256}
    except BaseException:
        store.finish_run(run_id, "failed")
        raise
    report = build_report(
        gold, judged, gold_path=str(gold_path), gold_sha256=file_sha256(gold_path),
        provenance=provenance, n_boot=n_boot, seed=seed,
    )
    store.finish_run(run_id, "complete", {"alpha_ordinal": report.alpha_ordinal, "n": report.n})
    return report, gold, judged

"""The embedded clinical judge as a backend: deterministic, offline, no LLM.

It reads the rubric's equivalence tables and ``rubric.local`` parameters and scores open-ended
answers with the rules in :mod:`judge.clinical.judge`. It is a :class:`~judge.backends.SyncBackend`
but no :class:`~judge.backends.OptionReader`: it has no LLM to read a free-text MCQ answer the MCQ
rules left undecided, so the scorer counts such an answer as choosing nothing instead of guessing.

Usage::

    backend = LocalBackend()
    judgment = backend.judge_sync(case, load_rubric("v3"))
"""

from __future__ import annotations

import time
from typing import Any

from judge.clinical.judge import ENGINE, ENGINE_VERSION, judge_case
from judge.clinical.lexicon import lexicon_sha
from judge.models import Case, Judgment
from judge.rubrics import Rubric

_MAX_RAW = 2000


class LocalBackend:
    """Backend ``local``: the embedded deterministic clinical judge."""

    spec = "local"

    @property
    def params(self) -> dict[str, Any]:
        """Engine name and version and the lexicon's content hash (all part of the cache key)."""
        return {"engine": ENGINE, "engine_version": ENGINE_VERSION, "lexicon_sha": lexicon_sha()}

    def judge_sync(self, case: Case, rubric: Rubric) -> Judgment:
        """Score ``case`` under ``rubric``; never raises on odd input."""
        t0 = time.perf_counter()
        try:
            outcome = judge_case(case, rubric)
        except Exception as exc:
            return Judgment(
                score=None,
                unscored_reason=f"local judge error: {type(exc).__name__}: {exc}",
                rationale="the embedded judge failed on this case",
                latency_ms=(time.perf_counter() - t0) * 1000,
            )
        raw = "; ".join(outcome.trace)
        if outcome.score is None:
            return Judgment(
                score=None,
                unscored_reason=outcome.unscored or outcome.rationale,
                rationale=outcome.rationale,
                latency_ms=(time.perf_counter() - t0) * 1000,
            )
        return Judgment(
            score=outcome.score,
            rationale=outcome.rationale or "scored by the embedded judge",
            raw_output=raw[:_MAX_RAW],
            latency_ms=(time.perf_counter() - t0) * 1000,
        )

    async def judge(self, case: Case, rubric: Rubric) -> Judgment:
        """Asynchronous :meth:`judge_sync` (the work is CPU-bound and fast; no thread hop)."""
        return self.judge_sync(case, rubric)

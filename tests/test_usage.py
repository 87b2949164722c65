"""Run usage: computed judgments only, each cache key once; p95 by nearest rank; the printed line."""

from __future__ import annotations

from judge.models import Usage, Verdict
from judge.usage import render_usage, summarize_usage


def _v(key: str, ms: float, cost: float | None = 0.001, cached: bool = False, calls: int = 1) -> Verdict:
    return Verdict(
        item_id=key,
        model="m",
        score=1.0,
        method="critic",
        rubric="r",
        rubric_sha="s",
        backend="openai/x",
        cache_key=key,
        cached=cached,
        latency_ms=ms,
        usage=Usage(calls=calls, prompt_tokens=100, completion_tokens=10, cost_usd=cost),
    )


def test_summary_counts_each_computed_judgment_once():
    vs = [_v(f"k{i}", ms=float(i + 1)) for i in range(20)]
    vs += [_v("k0", ms=1.0), _v("cached", ms=5.0, cached=True), _v("rules", ms=0.0, calls=0)]
    u = summarize_usage(vs)
    assert (u.judgments, u.calls, u.prompt_tokens, u.completion_tokens) == (20, 20, 2000, 200)
    assert abs(u.cost_usd - 0.02) < 1e-12 and u.cost_unknown == 0
    assert u.mean_latency_ms == 10.5 and u.p95_latency_ms == 19.0  # nearest rank: ceil(0.95 * 20) = 19th


def test_unknown_cost_is_not_zero():
    u = summarize_usage([_v("a", 10, cost=None), _v("b", 20, cost=None)])
    assert u.cost_usd is None and u.cost_unknown == 2
    assert "cost unknown" in render_usage(u)
    mixed = summarize_usage([_v("a", 10, cost=0.5), _v("b", 20, cost=None)])
    assert "cost $0.5000 (+1 judgments of unknown cost)" in render_usage(mixed)

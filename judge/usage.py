"""What a run cost: LLM calls, tokens, dollars and latency, summed from its verdicts' usage.

Only verdicts computed in this run count (a verdict served from the cache cost nothing now), and
each cache key once (identical answers are judged once and shared).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from judge.models import Verdict


class RunUsage(BaseModel):
    """LLM usage of one run."""

    model_config = ConfigDict(extra="forbid")

    judgments: int = Field(default=0, description="Backend judgments computed in this run.")
    calls: int = Field(default=0, description="LLM calls (retries and re-asks included).")
    prompt_tokens: int = Field(default=0, description="Prompt tokens.")
    completion_tokens: int = Field(default=0, description="Completion tokens.")
    cost_usd: float | None = Field(default=None, description="Cost where litellm's cost map knows the model.")
    cost_unknown: int = Field(default=0, description="Judgments whose cost is unknown (not in the cost map).")
    mean_latency_ms: float | None = Field(default=None, description="Mean wall time per judgment.")
    p95_latency_ms: float | None = Field(default=None, description="95th percentile wall time per judgment.")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]  # nearest rank


class UsageTally:
    """Usage summed as verdicts come, a chunk at a time (latencies kept as a compact array for the p95).

    Identical cases within a chunk are judged once and share that judgment's usage: each cache key
    counts once per :meth:`add`. Across chunks a repeated case is served from the cache (``cached``),
    which costs nothing.
    """

    def __init__(self) -> None:
        self.usage = RunUsage()
        self._latencies = array("d")
        self._costs = array("d")

    def add(self, verdicts: Iterable[Verdict]) -> None:
        seen: set[str] = set()
        out = self.usage
        for v in verdicts:
            if v.cached or v.usage.calls == 0 or v.cache_key in seen or v.method.startswith("jury:"):
                continue
            seen.add(v.cache_key)
            out.judgments += 1
            out.calls += v.usage.calls
            out.prompt_tokens += v.usage.prompt_tokens
            out.completion_tokens += v.usage.completion_tokens
            if v.usage.cost_usd is None:
                out.cost_unknown += 1
            else:
                self._costs.append(v.usage.cost_usd)
            self._latencies.append(v.latency_ms)

    def summary(self) -> RunUsage:
        """The run's usage so far."""
        out = self.usage.model_copy()
        if self._costs:
            out.cost_usd = sum(self._costs)
        if self._latencies:
            out.mean_latency_ms = sum(self._latencies) / len(self._latencies)
            out.p95_latency_ms = _p95(list(self._latencies))
        return out


def summarize_usage(verdicts: Iterable[Verdict]) -> RunUsage:
    """Usage of the judgments computed (not cached) behind ``verdicts``, each cache key once."""
    tally = UsageTally()
    tally.add(verdicts)
    return tally.summary()


def render_usage(u: RunUsage) -> str:
    """One line for the end of ``judge score``."""
    if u.cost_usd is None:
        cost = "cost unknown (model not in litellm's cost map)"
    else:
        cost = f"cost ${u.cost_usd:.4f}" + (f" (+{u.cost_unknown} judgments of unknown cost)" if u.cost_unknown else "")
    lat = ""
    if u.mean_latency_ms is not None and u.p95_latency_ms is not None:
        lat = f", latency mean {u.mean_latency_ms:.0f} ms, p95 {u.p95_latency_ms:.0f} ms"
    return (
        f"LLM usage: {u.calls} calls for {u.judgments} judgments, {u.prompt_tokens:,} prompt + "
        f"{u.completion_tokens:,} completion tokens, {cost}{lat}"
    )

"""Juries: several judges score the same answers; one aggregate verdict per answer, and how well they agree.

``judge score ... --backend A --backend B --backend C`` scores every answer with each judge (each
through its own cache), stores every judge's verdicts (the ``verdicts`` table is keyed by
``(run_id, item_id, model, backend)``), and stores the aggregate under backend ``jury(A,B,C)``.

The aggregation rule (see ``docs/decisions/juries.md``), over the judges that scored the answer:

* **quorum**: more than half of the jury must have scored it, else the aggregate is unscored
  (``jury: only 1 of 2 judges scored``) - a jury verdict never rests on a minority;
* **an odd number scored (3, 5, ...)**: the median, which is always one judge's own score;
* **two scored**: the mean rounded *down* to the scale - when they are one step apart the stricter
  score (1 & 0.5 -> 0.5, 0.5 & 0 -> 0), when they disagree completely half credit (1 & 0 -> 0.5).
  For MCQ answers read by the judges (partial credit off the 0/0.5/1 scale) the lower score;
* **an even number >= 4 scored**: the two middle scores, combined by the two-judge rule.

MCQ answers the rules decided are not judged per backend: every judge's Scorer returns the same
rule verdict, which is the aggregate as is.

Agreement between judges (Krippendorff's alpha, ordinal, over every judge; exact agreement and
alpha for each pair) is computed on the critic verdicts (open-ended answers) that both judges
scored; MCQ verdicts are left out, since the rules, not the judges, decided most of them.
"""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from judge.backends import Backend
from judge.models import Usage, Verdict
from judge.rubrics import Rubric
from judge.scoring import ProgressFn, Scorer, ScoreStats, Task, cache_key
from judge.store import Store

RULE_MEDIAN = "median"
RULE_TWO = "mean-down"
RULE_TWO_MCQ = "min"


def jury_spec(specs: Sequence[str]) -> str:
    """The backend name of a jury's aggregate verdicts: ``jury(A,B,C)``."""
    return f"jury({','.join(specs)})"


def floor_to_scale(value: float) -> float:
    """The largest scale point (0, 0.5, 1) not above ``value``."""
    from judge.models import SCALE

    return max(s for s in SCALE if s <= value + 1e-9)


def combine_two(a: float, b: float, on_scale: bool = True) -> float:
    """The two-judge rule: the mean rounded down to the scale (critic), or the lower score (MCQ)."""
    return floor_to_scale((a + b) / 2) if on_scale else min(a, b)


def combine_scores(scores: Sequence[float | None], on_scale: bool = True) -> tuple[float | None, str]:
    """Aggregate one answer's scores from a jury (None = that judge did not score it).

    Returns ``(score, rule)``; ``score`` is None when fewer than a majority scored it.
    """
    n = len(scores)
    scored = sorted(s for s in scores if s is not None)
    k = len(scored)
    if n == 0 or 2 * k <= n:
        return None, "quorum"
    if k == 1:
        return scored[0], "single"
    if k == 2:
        return combine_two(scored[0], scored[1], on_scale), RULE_TWO if on_scale else RULE_TWO_MCQ
    if k % 2:
        return scored[k // 2], RULE_MEDIAN
    return combine_two(scored[k // 2 - 1], scored[k // 2], on_scale), RULE_MEDIAN


def _fmt(score: float | None) -> str:
    return "-" if score is None else f"{score:g}"


def _sum_usage(verdicts: Sequence[Verdict]) -> Usage:
    total = Usage()
    costs = [v.usage.cost_usd for v in verdicts if v.usage.cost_usd is not None]
    for v in verdicts:
        total.calls += v.usage.calls
        total.prompt_tokens += v.usage.prompt_tokens
        total.completion_tokens += v.usage.completion_tokens
    total.cost_usd = sum(costs) if costs else None
    return total


def _judged_by_backend(v: Verdict) -> bool:
    return v.method in ("critic", "mcq:llm")


def aggregate(per_judge: Mapping[str, Sequence[Verdict]]) -> list[Verdict]:
    """One aggregate verdict per (item, model), in the first judge's order, under ``jury(...)``."""
    specs = list(per_judge)
    spec = jury_spec(specs)
    index = [{(v.item_id, v.model): v for v in per_judge[s]} for s in specs]
    out: list[Verdict] = []
    for first in per_judge[specs[0]]:
        key = (first.item_id, first.model)
        members = [ix[key] for ix in index if key in ix]
        if not any(_judged_by_backend(v) for v in members):  # rule-decided MCQ, or no prediction
            out.append(first.model_copy(update={"backend": spec}))
            continue
        on_scale = first.method == "critic"
        scores = [v.score for v in members] + [None] * (len(specs) - len(members))
        score, rule = combine_scores(scores, on_scale)
        votes = " | ".join(f"{s}: {_fmt(v.score)}" for s, v in zip(specs, members, strict=False))
        reason = None
        if score is None:
            why = "; ".join(
                f"{s}: {v.unscored_reason}" for s, v in zip(specs, members, strict=False) if v.score is None
            )
            reason = f"jury: only {sum(s is not None for s in scores)} of {len(specs)} judges scored ({why})"
        out.append(
            Verdict(
                item_id=first.item_id,
                model=first.model,
                ability=first.ability,
                question_type=first.question_type,
                attribute=first.attribute,
                language=first.language,
                score=score,
                unscored_reason=reason,
                rationale=f"{votes} -> {_fmt(score)} ({rule})",
                raw_output="",
                method=f"jury:{rule}",
                extracted=None,
                rubric=first.rubric,
                rubric_sha=first.rubric_sha,
                backend=spec,
                params={"judges": {s: v.params for s, v in zip(specs, members, strict=False)}},
                cache_key=cache_key("jury", [v.cache_key for v in members]),
                cached=all(v.cached for v in members),
                latency_ms=max(v.latency_ms for v in members),
                usage=_sum_usage(members),
            )
        )
    return out


# --------------------------------------------------------------------------- agreement


@dataclass(frozen=True)
class PairAgreement:
    """How two judges agree on the answers both scored."""

    a: str
    b: str
    n: int
    """Answers both judges scored."""
    exact: float | None
    """Share of those with the same score."""
    alpha: float | None
    """Krippendorff's alpha (ordinal) of the two; None when undefined (too few answers, no variation)."""


@dataclass(frozen=True)
class JuryAgreement:
    """Inter-judge agreement of a jury on open-ended (critic) verdicts."""

    judges: list[str]
    n: int
    """Answers at least two judges scored."""
    alpha: float | None
    """Krippendorff's alpha (ordinal) over every judge; None when undefined."""
    unanimous: float | None
    """Share of answers scored by every judge on which they all agree."""
    pairs: list[PairAgreement] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for JSON)."""
        return {
            "judges": self.judges,
            "n": self.n,
            "alpha": self.alpha,
            "unanimous": self.unanimous,
            "pairs": [p.__dict__ for p in self.pairs],
        }


def _alpha(rows: list[list[float | None]]) -> float | None:
    """Krippendorff's alpha (ordinal) of judges x answers; the agreement report's rule for "undefined"."""
    from judge.agreement import krippendorff_alpha  # numpy, scikit-learn: only when a jury is measured

    return krippendorff_alpha([list(unit) for unit in zip(*rows, strict=True)]) if rows and rows[0] else None


def judge_agreement(per_judge: Mapping[str, Sequence[Verdict]]) -> JuryAgreement:
    """Krippendorff's alpha and exact agreement between the judges of a jury (critic verdicts only)."""
    tally = JuryTally(list(per_judge))
    tally.add(per_judge)
    return tally.agreement()


class JuryTally:
    """The judges' critic scores, aligned answer by answer, kept as they come (compact arrays)."""

    def __init__(self, specs: Sequence[str]) -> None:
        self.specs = list(specs)
        self.rows: dict[str, array[float]] = {s: array("d") for s in self.specs}

    def add(self, per_judge: Mapping[str, Sequence[Verdict]]) -> None:
        """One chunk of every judge's verdicts (the same answers for each judge)."""
        scores: dict[tuple[str, str], dict[str, float | None]] = {}
        for s in self.specs:
            for v in per_judge[s]:
                if v.method == "critic":
                    scores.setdefault((v.item_id, v.model), {})[s] = v.score
        for by_judge in scores.values():  # each answer is in one chunk only
            for s in self.specs:
                value = by_judge.get(s)
                self.rows[s].append(math.nan if value is None else value)

    def agreement(self) -> JuryAgreement:
        rows = [[None if math.isnan(x) else x for x in self.rows[s]] for s in self.specs]
        n_keys = len(rows[0]) if rows else 0
        n = sum(1 for i in range(n_keys) if sum(r[i] is not None for r in rows) >= 2)
        full = [i for i in range(n_keys) if all(r[i] is not None for r in rows)]
        unanimous = sum(1 for i in full if len({r[i] for r in rows}) == 1) / len(full) if full else None
        pairs = []
        for (sa, ra), (sb, rb) in combinations(zip(self.specs, rows, strict=True), 2):
            both = [(x, y) for x, y in zip(ra, rb, strict=True) if x is not None and y is not None]
            exact = sum(1 for x, y in both if x == y) / len(both) if both else None
            pairs.append(PairAgreement(sa, sb, len(both), exact, _alpha([ra, rb])))
        return JuryAgreement(self.specs, n, _alpha(rows), unanimous, pairs)


def render_agreement(report: JuryAgreement) -> str:
    """The agreement report as text (printed after the score table)."""

    def num(x: float | None, pct: bool = False) -> str:
        if x is None:
            return "n/a"
        return f"{100 * x:.1f}%" if pct else f"{x:.3f}"

    lines = [
        f"Inter-judge agreement on {report.n} open-ended answers ({len(report.judges)} judges): "
        f"Krippendorff alpha (ordinal) {num(report.alpha)}, unanimous {num(report.unanimous, True)}"
    ]
    width = max((len(p.a) + len(p.b) for p in report.pairs), default=0) + 5
    for p in report.pairs:
        lines.append(
            f"  {(p.a + ' vs ' + p.b):<{width}} n={p.n:<5} exact {num(p.exact, True):>6}  alpha {num(p.alpha)}"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------- the panel


@dataclass
class PanelResult:
    """What a panel decided for a set of tasks."""

    verdicts: list[Verdict]
    """One verdict per task (and per missing prediction): the judge's own, or the jury's aggregate."""
    judges: dict[str, list[Verdict]]
    """A jury's judges' own verdicts, by spec; empty for a panel of one."""
    agreement: JuryAgreement | None
    """A jury's inter-judge agreement; None for a panel of one."""
    stats: ScoreStats
    """The judges' counts (a jury's unscored count is its aggregate's)."""

    @property
    def judged(self) -> list[Verdict]:
        """Every verdict a judge made itself (what cost LLM calls)."""
        return [v for vs in self.judges.values() for v in vs] if self.judges else self.verdicts


class Panel:
    """One judge, or a jury whose scores are reduced to one verdict per answer (like inspect_ai's reducers).

    Every judge scores every task through its own :class:`~judge.scoring.Scorer` (its own cache keys,
    concurrently); the reducer is :func:`aggregate`, and a panel of one is its own aggregate. Callers never
    ask which kind they hold.
    """

    def __init__(self, scorers: Sequence[Scorer]) -> None:
        self.scorers = list(scorers)
        self.specs = [s.backend.spec for s in self.scorers]
        self.spec = self.specs[0] if len(self.scorers) == 1 else jury_spec(self.specs)

    @classmethod
    def build(
        cls, backends: Sequence[Backend], rubric: Rubric, store: Store, *, concurrency: int = 16, workers: int = 1,
        progress: ProgressFn | None = None,
    ) -> Panel:
        """A scorer per backend; their progress reported as one sum."""
        shared: list[tuple[int, int, int]] = [(0, 0, 0)] * len(backends)
        return cls([
            Scorer(b, rubric, store, concurrency=concurrency, workers=workers, progress=_part(progress, shared, i))
            for i, b in enumerate(backends)
        ])

    def close(self) -> None:
        """Stop every scorer's worker processes."""
        for scorer in self.scorers:
            scorer.close()

    def stats(self) -> ScoreStats:
        """The judges' counts so far, summed."""
        total = ScoreStats()
        for scorer in self.scorers:
            total.add(scorer.stats)
        return total

    def provenance(self) -> dict[str, Any]:
        """Backend and parameters of the panel's verdicts (and a jury's judges)."""
        if len(self.scorers) == 1:
            backend = self.scorers[0].backend
            return {"backend": self.spec, "params": backend.params}
        params = {"judges": {s.backend.spec: s.backend.params for s in self.scorers}}
        return {"backend": self.spec, "params": params, "judges": self.specs}

    async def ascore(self, tasks: Sequence[Task], missing: Callable[[str], list[Verdict]]) -> PanelResult:
        """Score ``tasks`` with every judge; ``missing(spec)`` gives a judge's verdicts for absent predictions."""
        results = await asyncio.gather(*(s.ascore(tasks) for s in self.scorers))
        per_judge = {spec: vs + missing(spec) for spec, vs in zip(self.specs, results, strict=True)}
        stats = self.stats()
        if len(self.scorers) == 1:
            return PanelResult(per_judge[self.spec], {}, None, stats)
        verdicts = aggregate(per_judge)
        stats.unscored = sum(v.score is None for v in verdicts)  # of the jury's verdicts, not summed over judges
        return PanelResult(verdicts, per_judge, judge_agreement(per_judge), stats)


def _part(progress: ProgressFn | None, state: list[tuple[int, int, int]], index: int) -> ProgressFn | None:
    """Judge ``index``'s progress callback: records its counts in ``state``, reports the panel's sums."""
    if progress is None or len(state) == 1:
        return progress

    def update(done: int, total: int, unscored: int) -> None:
        state[index] = (done, total, unscored)
        progress(sum(s[0] for s in state), sum(s[1] for s in state), sum(s[2] for s in state))

    return update

"""What calibration optimizes and what it reports: pure functions over aligned scores.

* :func:`ordinal_credit` is the per-candidate objective: ``1 - |judge - gold|`` on the 0 / 0.5 / 1
  scale, so missing a 1 by 0.5 costs half of calling it 0; an unscored or unparseable verdict earns 0
  (for the optimizer a reply it cannot read is as bad as the worst miss; the agreement figures
  themselves still leave unscored verdicts out and count them).
* :func:`figure` is the reported number: Krippendorff's alpha (ordinal) with its bootstrap 95 % CI,
  from :func:`judge.agreement.compare_scores`, plus the counts behind it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from judge.models import GoldRating


def ordinal_credit(pred: float | None, gold: float) -> float:
    """``1 - |pred - gold|``; an unscored prediction (None) earns 0."""
    if pred is None:
        return 0.0
    return 1.0 - abs(float(pred) - float(gold))


def mean_credit(preds: Sequence[float | None], golds: Sequence[float]) -> float:
    """Mean :func:`ordinal_credit` (0 for an empty set)."""
    if not golds:
        return 0.0
    return sum(ordinal_credit(p, g) for p, g in zip(preds, golds, strict=True)) / len(golds)


def gold_scores(rows: Sequence[GoldRating]) -> list[float]:
    """The gold consensus of each row."""
    from judge.calibrate.split import gold_score

    return [gold_score(r) for r in rows]


def alpha_ordinal(preds: Sequence[float | None], golds: Sequence[float]) -> float | None:
    """Krippendorff's alpha (ordinal) of judge vs gold, without a CI (cheap: used for selection)."""
    import numpy as np

    from judge.agreement import alpha_from_counts, score_codes, value_counts

    g, j = score_codes(golds), score_codes(preds)
    keep = j >= 0
    if not keep.any():
        return None
    return alpha_from_counts(value_counts(np.column_stack([g[keep], j[keep]])), "ordinal")


class Figure(BaseModel):
    """Agreement of one judge with the gold consensus on one part of the split."""

    model_config = ConfigDict(extra="forbid")

    n: int = Field(description="Gold candidates in the part.")
    n_scored: int = Field(description="Candidates the judge scored (the alpha uses these).")
    alpha_ordinal: float | None = Field(description="Krippendorff's alpha, ordinal level.")
    ci95: list[float] | None = Field(description="Bootstrap 95 % CI of alpha_ordinal [low, high].")
    exact_agreement: float | None = Field(description="Share where judge = gold consensus.")
    mean_credit: float = Field(description="Mean 1 - |judge - gold| (unscored = 0): the optimizer's objective.")

    def short(self) -> str:
        """``0.712 [0.65, 0.77]``."""
        if self.alpha_ordinal is None:
            return "n/a"
        ci = f" [{self.ci95[0]:.2f}, {self.ci95[1]:.2f}]" if self.ci95 else ""
        return f"{self.alpha_ordinal:.3f}{ci}"


def figure(
    preds: Sequence[float | None], golds: Sequence[float], *, n_boot: int = 1000, seed: int = 0, key: str = "overall"
) -> Figure:
    """Alpha (ordinal) with its bootstrap CI, exact agreement and mean credit."""
    from judge.agreement import compare_scores

    m = compare_scores(list(golds), list(preds), n_boot=n_boot, seed=seed, key=key, full_ci=False)
    ci = m.ci.get("alpha_ordinal")
    return Figure(
        n=m.n,
        n_scored=m.n_scored,
        alpha_ordinal=m.alpha_ordinal,
        ci95=[round(ci.low, 4), round(ci.high, 4)] if ci else None,
        exact_agreement=m.exact_agreement,
        mean_credit=round(mean_credit(preds, golds), 4),
    )
